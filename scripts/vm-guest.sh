#!/bin/sh
# Second stage of the test VM, on the host's root: load device-mapper, start
# udevd when asked, run the command, report its exit code to the host.
x=/run/xchg
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts 2>/dev/null
mount -t tmpfs tmpfs /dev/shm 2>/dev/null
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
mount -t tmpfs tmpfs /mnt 2>/dev/null
for m in loop dm-mod dm-thin-pool dm-flakey dm-delay ext4 xfs; do
  modprobe "$m" || echo "vm: modprobe $m failed" >&2
done
ip link set lo up 2>/dev/null
hostname devmapper-vm 2>/dev/null
if [ "$(cat $x/udev)" = 1 ]; then
  /lib/systemd/systemd-udevd --daemon --resolve-names=never >/dev/null 2>&1 || echo "vm: udevd did not start" >&2
  udevadm trigger --action=add >/dev/null 2>&1
  udevadm settle --timeout=30 >/dev/null 2>&1
  export DEVMAPPER_VM_UDEV=1
else
  export DEVMAPPER_VM_UDEV=0
fi
export HOME=/tmp/home PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mkdir -p "$HOME"
export DEVMAPPER_IN_VM=1
. "$x/env"
cd "$(cat $x/cwd)"
# Through a pipe, so the command sees a plain stream rather than the serial
# console's tty (test runners then print logs, not live-redrawn screens).
( sh "$x/cmd" </dev/null; echo $? > "$x/rc" ) 2>&1 | cat
sync
echo 0 > /proc/sys/kernel/printk
busybox poweroff -f 2>/dev/null || echo o > /proc/sysrq-trigger
