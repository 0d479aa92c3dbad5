#!/bin/busybox sh
# First stage of the test VM: reach the host's root over 9p, then hand over.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules/order 2>/dev/null); do insmod "/modules/$m.ko" || echo "initramfs: insmod $m failed"; done
p9="trans=virtio,version=9p2000.L,msize=262144"
mount -t 9p -o "$p9,ro,cache=loose" rootfs /newroot || { echo "initramfs: cannot mount the root share"; poweroff -f; }
for d in tmp run var/tmp; do mount -t tmpfs -o mode=1777 tmpfs "/newroot/$d"; done
mkdir -p /newroot/run/xchg
mount -t 9p -o "$p9" xchg /newroot/run/xchg
project=$(cat /newroot/run/xchg/project)
mkdir -p "/newroot$project" 2>/dev/null
mount -t 9p -o "$p9" project "/newroot$project" || { echo "initramfs: cannot mount the project share"; poweroff -f; }
mount --move /dev /newroot/dev
mount --move /proc /newroot/proc
mount --move /sys /newroot/sys
exec switch_root /newroot /bin/sh "$project/scripts/vm-guest.sh"
