#!/bin/sh
# Dom0 side of the e2e run, exec'd by /e2e-init (PID 1) from the payload disk
# mounted at /e2e.  Brings up the Xen user space (xenstored, xenconsoled),
# installs vtpmback at /usr/lib/vtpmback, then runs dom0-scenarios.sh and
# powers off (Xen's ACPI S5 makes QEMU exit).  Everything goes to hvc0,
# which Xen forwards to the serial log; lines the host parses start E2E-.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export LANG=C
# The systemd boot (run.sh systemd): systemd is PID 1 and runs /e2e-init as its
# kernel-command-line.service; the Debian way brings up Xen's daemons there.
grep -qw e2e_systemd /proc/cmdline && exec sh /e2e/dom0-systemd.sh
XEN=/usr/lib/xen-4.17/bin
up() { cut -d' ' -f1 /proc/uptime; }
phase() { echo "E2E-PHASE $1 dom0-uptime=$(up)${2:+ $2}"; }

mountpoint -q /run || mount -t tmpfs tmpfs /run
mkdir -p /dev/pts /dev/shm && mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /tmp
hostname dom0
phase dom0-init "kernel=$(uname -r) build=$(cat /e2e/build-id)"

# kernel command line: e2e_scenarios=1,2,3 e2e_backend=java|proof e2e_ready_re=... e2e_shell
E2E_SCENARIOS=1,2,3,4,5,6,7,8,9; E2E_HOSTILE_ROUNDS=3; E2E_BACKEND=java; E2E_READY_RE="serving backend domain 0"; SHELLMODE=
E2E_LOG_LEVEL=info; E2E_PROBE=0
for a in $(cat /proc/cmdline); do
  case $a in
    e2e_scenarios=*) E2E_SCENARIOS=$(echo "${a#*=}" | tr : ,) ;;
    e2e_hostile_rounds=*) E2E_HOSTILE_ROUNDS=${a#*=} ;;
    e2e_hotplug_rounds=*) E2E_HOTPLUG_ROUNDS=${a#*=} ;;
    e2e_backend=*) E2E_BACKEND=${a#*=} ;;
    e2e_ready_re=*) E2E_READY_RE=$(printf '%b' "${a#*=}") ;;
    e2e_log_level=*) E2E_LOG_LEVEL=${a#*=} ;;
    e2e_probe=*) E2E_PROBE=${a#*=} ;;
    e2e_shell) SHELLMODE=1 ;;
  esac
done
export E2E_SCENARIOS E2E_HOSTILE_ROUNDS E2E_HOTPLUG_ROUNDS E2E_BACKEND E2E_READY_RE E2E_LOG_LEVEL E2E_PROBE

mkdir -p /run/xen /run/xenstored /var/lib/xen /var/log/xen/console /var/run/xen /run/e2e
for m in xenfs xen-evtchn xen-gntdev xen-gntalloc xen-privcmd; do modprobe $m 2>/dev/null; done
mount -t xenfs xenfs /proc/xen
export XENSTORED_ROOTDIR=/run/xenstored
# the trace file records every request with its payload: the scenarios read
# from it who wrote which xenbus state (a watch would miss short-lived values)
$XEN/xenstored --pid-file /run/xenstored.pid --trace-file /run/xenstored-trace.log
i=0; while ! xenstore-read -s / >/dev/null 2>&1 && [ $i -lt 300 ]; do sleep 0.2; i=$((i+1)); done
$XEN/xen-init-dom0 >/dev/null
$XEN/xenconsoled --pid-file=/run/xenconsoled.pid --log=guest --log-dir=/var/log/xen/console
xl info | grep -E 'xen_version|free_memory' | sed 's/^/E2E-INFO /'
phase dom0-ready

# vtpmback, installed as a package would put it
if [ -d /e2e/vtpmback ]; then
  cp -a /e2e/vtpmback /usr/lib/vtpmback
fi

if [ -n "$SHELLMODE" ]; then
  echo "E2E: interactive dom0 shell (poweroff -f to stop); scenarios: sh /e2e/dom0-scenarios.sh"
  setsid sh -c 'exec sh </dev/hvc0 >/dev/hvc0 2>&1'
  busybox poweroff -f
fi

sh /e2e/dom0-scenarios.sh
phase dom0-done "rc=$?"
sync
busybox poweroff -f
