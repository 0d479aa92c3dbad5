#!/usr/bin/env bash
# Sets up a fresh machine: system packages (the test VM's kernel and tools,
# libdevmapper for the addon, binutils and qemu-user for the package tests,
# Debian's arm64 package lists for their arm64 sysroot), npm packages, and the build.
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=(qemu-system-x86 linux-image-amd64 busybox-static cpio udev dmsetup libdevmapper-dev pkg-config
      thin-provisioning-tools e2fsprogs xfsprogs lvm2 util-linux kmod containerd runc
      binutils qemu-user g++ make python3
      protobuf-compiler libprotobuf-dev systemd)
# zsh: the CLI's completion test runs the zsh script in a real zsh.
pkgs+=(zsh)
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
# arm64 packages are only downloaded and unpacked into a sysroot
# (scripts/pack-consumer.sh), never installed; apt needs their lists.
update=0
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  $SUDO dpkg --add-architecture arm64
  update=1
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] || [ "$update" = 1 ]; then
  $SUDO apt-get update -qq
fi
if [ ${#missing[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# `npm ci` refuses this registry's lock files (platform packages of other
# systems are absent from it), so install from the lock with `npm install`.
npm install --no-audit --no-fund
# The addon for development and the in-VM tests (build/Release); the four
# published binaries are built by `npm run prebuild` (scripts/pack-consumer.sh).
npm run build:native
npm run build:ts
