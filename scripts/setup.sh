#!/usr/bin/env bash
# Sets up a fresh machine: system packages (the test VM's kernel and tools,
# libdevmapper for the addon), npm packages, and the build.
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=(qemu-system-x86 linux-image-amd64 busybox-static cpio udev dmsetup libdevmapper-dev pkg-config
      thin-provisioning-tools e2fsprogs xfsprogs lvm2 util-linux kmod containerd runc
      protobuf-compiler libprotobuf-dev systemd)
# zsh: the CLI's completion test runs the zsh script in a real zsh.
pkgs+=(zsh)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# `npm ci` refuses this registry's lock files (platform packages of other
# systems are absent from it), so install from the lock with `npm install`.
npm install --no-audit --no-fund
npm run build:ts
