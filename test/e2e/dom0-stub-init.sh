#!/bin/sh
# PID 1 of dom0 (init=/e2e-init), baked into the cached dom0 root image.
# Everything that changes between runs (the vtpmback build, the scenario
# scripts, the domU initramfs) is on the second disk, the payload image:
# mount it and hand over to its dom0-init.sh.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mountpoint -q /proc || mount -t proc proc /proc
mountpoint -q /sys  || mount -t sysfs sys /sys
mountpoint -q /dev  || mount -t devtmpfs dev /dev
mkdir -p /e2e
i=0; while [ ! -b /dev/vdb ] && [ $i -lt 50 ]; do sleep 0.2; i=$((i+1)); done
if mount -o ro /dev/vdb /e2e && [ -x /e2e/dom0-init.sh ]; then
  exec /e2e/dom0-init.sh
fi
echo "E2E-FATAL payload disk /dev/vdb missing or without dom0-init.sh"
busybox poweroff -f
