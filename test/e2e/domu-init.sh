#!/bin/sh
# PID 1 of the e2e PV guests (static busybox initramfs + xen-tpmfront.ko).
#
# Loads the frontend, reports whether /dev/tpm0 appeared, then serves as an
# agent on its console (hvc0): dom0 writes lines "E2E-CMD <seq> <shell>" into
# the guest's console pty; the guest evaluates <shell>, prints each output line
# as "E2E-G <seq>| <line>" and finally "E2E-G <seq> rc=<status>".  xenconsoled
# logs the console to /var/log/xen/console/guest-<name>.log where dom0 reads
# the answers.  `tpm <hex>` sends one raw command through /dev/tpm0 and prints
# "TPMRSP <hex>".
#
# With e2e_role=hostile on the kernel command line (scenario 9) the guest loads
# no xen-tpmfront: its vtpm device stays unbound and /bin/hostile-front plays a
# malicious frontend from userspace through /dev/xen/xenbus, /dev/xen/gntalloc
# and /dev/xen/evtchn.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
stty -echo 2>/dev/null
up() { cut -d' ' -f1 /proc/uptime; }
echo "E2E-GUEST init uptime=$(up) kernel=$(uname -r)"

ROLE=
for a in $(cat /proc/cmdline); do case $a in e2e_role=*) ROLE=${a#*=} ;; esac; done

if [ "$ROLE" = hostile ]; then
  # the guest's own xenbus device is built in; evtchn and gntalloc may be modules
  for m in xen-evtchn xen-gntalloc; do [ -f /lib/$m.ko ] && insmod /lib/$m.ko; done
  devs=; for d in xenbus evtchn gntalloc; do [ -c /dev/xen/$d ] && devs="$devs$d,"; done
  echo "E2E-GUEST-READY tpm0=no role=hostile devices=$devs uptime=$(up)"
else
# tpm core is built in (CONFIG_TCG_TPM=y); the frontend is a module
# (CONFIG_TCG_XEN=m, alias xen:vtpm).  Its probe may wait for the backend.
insmod /lib/xen-tpmfront.ko &
ip=$!
# wait up to 300 s, or until insmod returned without a chip
i=0; while [ ! -e /dev/tpm0 ] && [ $i -lt 1200 ]; do
  kill -0 $ip 2>/dev/null || { sleep 1; [ -e /dev/tpm0 ] || break; }
  sleep 0.25; i=$((i+1))
done
if [ -e /dev/tpm0 ]; then
  echo "E2E-GUEST-READY tpm0=yes uptime=$(up) tpm_version_major=$(cat /sys/class/tpm/tpm0/tpm_version_major 2>/dev/null)"
else
  echo "E2E-GUEST-READY tpm0=no uptime=$(up)"
  dmesg | grep -i -E 'tpm|vtpm|xenbus' | sed 's/^/E2E-GUEST dmesg: /'
fi
fi

# tpmdev: the guest's TPM character device. After a resume xen-tpmfront removes its chip and probes
# a new one, which may get the next number (tpm1) while the old one is still referenced.
tpmdev() { for d in /dev/tpm[0-9]*; do [ -c "$d" ] && { echo "$d"; return 0; }; done; return 1; }
# tpm <hex>: one raw TPM command on the TPM device (one write, one read, same fd)
# tpmdev_hp: a hot-plugged second TPM device (scenario 11), the highest-numbered one but tpm0 (the
# guest's own). Not by tpm_version_major: xen-tpmfront never probes for TPM 2.0, so every vTPM says 1.
tpmdev_hp() { d=$(ls /dev/tpm[1-9]* 2>/dev/null | tail -n 1); [ -c "$d" ] && echo "$d"; }
# tpm_hp <hex>: tpm on that device
tpm_hp() { TPMDEV=$(tpmdev_hp) || { echo "TPMERR no hot-plugged TPM device"; return 1; }; tpm "$1"; r=$?; TPMDEV=; return $r; }
tpm() {
  dev=${TPMDEV:-$(tpmdev)} || { echo "TPMERR no /dev/tpm0"; return 1; }
  printf "$(echo "$1" | sed 's/../\\x&/g')" > /tmp/cmd
  exec 3<>"$dev" || { echo "TPMERR open $dev"; return 1; }
  if ! dd if=/tmp/cmd bs=4096 count=1 2>/tmp/dd.err >&3; then
    echo "TPMERR write $(cat /tmp/dd.err | head -1)"; exec 3<&-; return 1
  fi
  r=$(dd bs=4096 count=1 <&3 2>/tmp/dd.err | hexdump -v -e '1/1 "%02x"')
  exec 3<&-
  [ -n "$r" ] || { echo "TPMERR read $(head -1 /tmp/dd.err)"; return 1; }
  echo "TPMRSP $r"
}
# tpm_burst <hex> <n>: the command <n> times back to back; "BURST n=<n> ok=<answers with rc 0> s=<seconds>"
tpm_burst() {
  bn=0; bok=0; bt0=$(up)
  while [ $bn -lt "$2" ]; do
    bn=$((bn+1)); r=$(tpm "$1")
    case $r in "TPMRSP "????????????00000000*) bok=$((bok+1)) ;; esac
  done
  echo "BURST n=$bn ok=$bok s=$(awk -v a=$bt0 -v b=$(up) 'BEGIN{printf "%.1f", b-a}')"
}
# frontend state as the guest kernel sees it (xenbus sysfs), and TPM events
fstate() { cat /sys/bus/xen/devices/vtpm-0/state 2>/dev/null || echo none; }
tpmlog() { dmesg | grep -i -E 'tpm|vtpm' ; true; }
# wl_start <hex> <pause>: the working guest's load while a hostile neighbour
# runs: the command in a loop, one line per command in /tmp/wl.out
# ("<n> <seconds> TPMRSP <hex>" or "... TPMERR ..."). Nothing else may use the
# TPM meanwhile (one opener at a time). wl_stop ends it and prints
# "WL total=<n> ok=<n> max=<seconds>" (ok: the response starts with $3 if given,
# else any TPMRSP) and the first lines that were not ok.
wl_start() {
  rm -f /tmp/wl.stop /tmp/wl.out /tmp/wl.t
  ( n=0
    while [ ! -e /tmp/wl.stop ]; do
      n=$((n+1)); t0=$(up); r=$(tpm "$1" 2>&1); t1=$(up)
      echo "$n $(awk -v a=$t0 -v b=$t1 'BEGIN{printf "%.2f", b-a}') $r" >> /tmp/wl.out
      echo "$n $t0 $t1" >> /tmp/wl.t
      sleep "${2:-1}"
    done
    echo end >> /tmp/wl.out ) </dev/null >/dev/null 2>&1 &
}
wl_stop() {
  touch /tmp/wl.stop
  i=0; while ! grep -q '^end' /tmp/wl.out 2>/dev/null && [ $i -lt 600 ]; do sleep 0.2; i=$((i+1)); done
  grep -v '^end' /tmp/wl.out | awk -v want="TPMRSP ${1:-}" '
    { n++; if ($2 > max) max = $2; r = $3 " " $4
      if (index(r, want) == 1) ok++; else if (bad < 5) { bad++; badl[bad] = $0 } }
    END { printf "WL total=%d ok=%d max=%.2f\n", n, ok, max; for (i = 1; i <= bad; i++) print "WL not ok: " badl[i] }'
}

# wl_gap [<hex>]: after wl_stop, the commands that were not answered (as wl_stop judges) and the
# longest time between two answered ones (end to end, guest uptime):
# "WLGAP lost=<n> gap=<s> from=<t> to=<t> first=<t> last=<t>"
wl_gap() {
  awk -v want="TPMRSP ${1:-}" 'NR == FNR { t1[$1] = $3; t0[$1] = $2; next }
    $1 != "end" { ok = index($3 " " $4, want) == 1
      if (first == "") first = t0[$1]; last = t1[$1]
      if (!ok) { lost++; next }
      if (prev != "" && t1[$1] - prev > gap) { gap = t1[$1] - prev; from = prev; to = t1[$1] }
      prev = t1[$1] }
    END { printf "WLGAP lost=%d gap=%.2f from=%s to=%s first=%s last=%s\n", lost, gap, from, to, first, last }' \
    /tmp/wl.t /tmp/wl.out
}

while :; do
  if read -r line; then
    case $line in
      E2E-CMD\ *)
        set -- $line
        seq=$2
        cmd=${line#E2E-CMD $seq }
        out=$(eval "$cmd" 2>&1); rc=$?
        [ -n "$out" ] && echo "$out" | sed "s/^/E2E-G $seq| /"
        echo "E2E-G $seq rc=$rc"
        ;;
    esac
  else
    sleep 1
  fi
done
