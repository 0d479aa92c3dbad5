#!/usr/bin/env bash
# Run one command inside a QEMU guest that boots Debian's kernel, so tests
# touch a real device-mapper even when the host kernel has none.
#
# usage: scripts/vm.sh [--udev] [--timeout SECONDS] [--mem MIB] [--] COMMAND...
#
# The host's / is shared read-only over 9p and becomes the guest's root; the
# project directory is shared read-write at the same path, so node_modules and
# the built addon are used as they are. The guest's exit code is this
# script's exit code; a guest that does not boot or does not report is 125.
set -euo pipefail

udev=0
timeout_s=${DEVMAPPER_VM_TIMEOUT:-1800}
mem=${DEVMAPPER_VM_MEM:-4096}
while [ $# -gt 0 ]; do
  case "$1" in
    --udev) udev=1; shift ;;
    --timeout) timeout_s=$2; shift 2 ;;
    --mem) mem=$2; shift 2 ;;
    --) shift; break ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "vm.sh: no command given" >&2; exit 2; }

die() { echo "vm.sh: $*" >&2; exit 125; }
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 is missing: apt-get install qemu-system-x86"
command -v busybox >/dev/null || [ -x /bin/busybox ] || die "busybox is missing: apt-get install busybox-static"
kver=${DEVMAPPER_VM_KERNEL:-$(ls /lib/modules 2>/dev/null | grep -- '-amd64$' | sort -V | tail -n 1)}
[ -n "$kver" ] && [ -f "/boot/vmlinuz-$kver" ] || die "no Debian kernel found: apt-get install linux-image-amd64"
modroot=/lib/modules/$kver
[ -f "$modroot/kernel/drivers/md/dm-thin-pool.ko" ] || [ -f "$modroot/kernel/drivers/md/dm-thin-pool.ko.xz" ] \
  || die "kernel $kver has no dm-thin-pool module"

project=$(cd "$(dirname "$0")/.." && pwd)
cache=${DEVMAPPER_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/devmapper-vm}
mkdir -p "$cache"
initrd=$cache/initramfs-$kver.cpio.gz

# The initramfs holds only busybox and the modules needed to reach the 9p root;
# every other module loads from the host's /lib/modules once the root is there.
build_initrd() {
  local dir; dir=$(mktemp -d)
  mkdir -p "$dir"/{bin,dev,proc,sys,newroot,modules}
  cp "$(command -v busybox || echo /bin/busybox)" "$dir/bin/busybox"
  for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci netfs fscache 9pnet 9pnet_virtio 9p; do
    f=$(find "$modroot/kernel" -name "$m.ko*" | head -n 1)
    [ -n "$f" ] || continue # built in
    case "$f" in
      *.xz) xz -dc "$f" > "$dir/modules/$m.ko" ;;
      *.zst) zstd -qdc "$f" > "$dir/modules/$m.ko" ;;
      *) cp "$f" "$dir/modules/$m.ko" ;;
    esac
    echo "$m" >> "$dir/modules/order"
  done
  cp "$project/scripts/vm-initramfs-init.sh" "$dir/init"
  chmod +x "$dir/init"
  (cd "$dir" && find . | cpio -o -H newc --quiet | gzip -1) > "$initrd.tmp"
  mv "$initrd.tmp" "$initrd"
  rm -rf "$dir"
}
if [ ! -f "$initrd" ] || [ "$project/scripts/vm-initramfs-init.sh" -nt "$initrd" ]; then
  build_initrd
fi

# The exchange folder carries the command in and the exit code out.
xchg=$(mktemp -d "${TMPDIR:-/tmp}/devmapper-vm.XXXXXX")
trap 'rm -rf "$xchg"' EXIT
printf '%s\n' "$project" > "$xchg/project"
printf '%s\n' "$PWD" > "$xchg/cwd"
printf '%s\n' "$udev" > "$xchg/udev"
# Pass the caller's own settings (CI and DEVMAPPER_*) through to the guest.
env | grep -E '^(CI|DEVMAPPER_[A-Z0-9_]*|VITEST_[A-Z0-9_]*|NODE_OPTIONS|FORCE_COLOR)=' | sed "s/'/'\\\\''/g; s/=/='/; s/\$/'/; s/^/export /" > "$xchg/env" || true
{ printf 'exec'; printf ' %q' "$@"; printf '\n'; } > "$xchg/cmd"

accel="tcg,thread=multi"
set +e
timeout --foreground -k 10 "$timeout_s" qemu-system-x86_64 \
  -accel "$accel" -cpu max -smp "${DEVMAPPER_VM_CPUS:-2}" -m "$mem" \
  -kernel "/boot/vmlinuz-$kver" -initrd "$initrd" \
  -append "console=ttyS0 quiet loglevel=3 panic=-1 no_timer_check devmapper.kver=$kver" \
  -nodefaults -no-reboot -display none -serial stdio -monitor none \
  -virtfs local,path=/,mount_tag=rootfs,security_model=none,readonly=on,multidevs=remap \
  -virtfs "local,path=$project,mount_tag=project,security_model=none,multidevs=remap" \
  -virtfs "local,path=$xchg,mount_tag=xchg,security_model=none" \
  </dev/null
qrc=$?
set -e
if [ -f "$xchg/rc" ]; then
  exit "$(cat "$xchg/rc")"
fi
if [ "$qrc" = 124 ]; then die "guest timed out after ${timeout_s}s"; fi
die "guest did not report an exit code (qemu exit $qrc): it did not boot or crashed"
