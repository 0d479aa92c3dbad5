#!/usr/bin/env bash
# The bench's own setup (not the project's: nothing at run time needs Go):
# Debian's Go toolchain and containerd's 1.6 sources, then
# bench/build/containerd-devmapper, containerd's devmapper snapshotter code
# behind a line protocol (bench/containerd-go/main.go), built offline in
# GOPATH mode against /usr/share/gocode. Rebuilt only when main.go is newer
# than the binary. Run on the host: the test guest sees the host's root
# read-only and runs the binary from there.
set -euo pipefail
cd "$(dirname "$0")"
pkgs=(golang-go golang-github-containerd-containerd-dev)
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  # Lists first when apt has none for them (a fresh machine or container).
  if ! apt-cache show "${missing[@]}" >/dev/null 2>&1; then $SUDO apt-get update -qq; fi
  echo "bench/setup.sh: installing ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
bin=build/containerd-devmapper
if [ ! -x "$bin" ] || [ containerd-go/main.go -nt "$bin" ]; then
  echo "bench/setup.sh: building $bin (containerd $(dpkg-query -W -f='${Version}' golang-github-containerd-containerd-dev))" >&2
  mkdir -p build
  # GOPATH mode against Debian's sources: no module download, no network.
  (cd containerd-go && GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$PWD/../build/go-cache" GOFLAGS= \
    go build -trimpath -o "../$bin.tmp" . && mv "../$bin.tmp" "../$bin")
fi
