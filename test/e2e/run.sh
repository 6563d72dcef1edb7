#!/bin/bash
# test/e2e/run.sh [build|host-packages|rootfs|boot|all|hostile|systemd|shell|judge [log]]  (default: all)
#
# The real-Xen end-to-end test: Xen 4.17 + a Debian bookworm PV dom0 under
# QEMU (TCG, no KVM needed), the vtpmback daemon started in dom0 before any
# `xl create`, and tiny PV guests whose Linux xen-tpmfront talks to it.  The
# scenarios (dom0-scenarios.sh) print "E2E-SCENARIO <n> <name> PASS|FAIL <s>";
# this script exits non-zero if any selected scenario failed or is missing.
# Needs root (apt-get, debootstrap) and deb.debian.org.  See README.md.
#
#   build : host packages, dom0 rootfs (cached), dom0 root image (cached),
#           vtpmback build, domU initramfs, payload image
#   host-packages: only apt-get what the host lacks (qemu, debootstrap, ...)
#   rootfs: only the dom0 rootfs and image (cached), no apt-get: what CI makes
#           in the background while its tests run
#   boot  : boot under QEMU, run the scenarios, judge the serial log
#   hostile: build + boot with scenario 9 (hostile-guest) only, for fast
#           iteration (same as E2E_SCENARIOS=9 ... all)
#   systemd: build + the systemd boot only: scenario 10, dom0 with systemd as
#           PID 1 and vtpmback from its .deb (same as E2E_SCENARIOS=10 ... all)
#   shell : boot to an interactive dom0 shell on the serial console
#
# Environment:
#   E2E_WORK=<dir>        work dir (default <repo>/build/e2e)
#   VTPMBACK_DIST=<dir>   vtpmback distribution (bin/vtpmback, lib/*.jar);
#                         default: packaging/target/vtpmback-*/ built with
#                         `mvn -B -q package -pl packaging -am -DskipTests`
#   E2E_SKIP_MVN=1        do not run Maven, use what VTPMBACK_DIST points at
#   E2E_SCENARIOS=1,2,3   scenarios to run (default 1,2,3,4,5,6,7,8,9,10,11,12,13,14); all but 10
#                         share one boot, 10 (systemd) boots dom0 on its own
#   VTPMBACK_DEB=<file>   the .deb scenario 10 installs (default
#                         packaging/target/vtpmback_*_all.deb)
#   E2E_SD_TIMEOUT=1800   hard limit in seconds on the systemd boot
#   E2E_RESTART_LOSSLESS=1  scenario 10 fails if systemctl restart cost the
#                         TPM 1.2 guest a command (default: counted, reported)
#   E2E_HOSTILE_ROUNDS=3  rounds of scenario 9 in the one boot
#   E2E_HOTPLUG_ROUNDS=5  attach/detach rounds of scenario 11
#   E2E_BACKEND=java      java (the product) | proof (C proof backend, for
#                         developing the harness only)
#   E2E_TIMEOUT=3300      hard limit in seconds on the QEMU run
#   E2E_READY_RE=...      daemon log line meaning "ready" (ERE)
#   E2E_LOG_LEVEL=info    the daemon's log-level (debug shows every xenbus step)
#   E2E_PROBE=1           time swtpm's CMD_INIT (TPM 1.2 and 2.0) in dom0 first
#   E2E_SKIP_APT=1        do not apt-get the host packages
#   E2E_MIRROR=...        Debian mirror (default http://deb.debian.org/debian)
#   SMP=2 MEM=3072        QEMU vCPUs and memory (MiB)
#   E2E_CPU=Westmere      QEMU CPU model (see the note at E2E_CPU below)
set -euo pipefail

HERE=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
W=${E2E_WORK:-$REPO/build/e2e}
MODE=${1:-all}
SMP=${SMP:-2}
# No AVX: with -cpu max, QEMU 7.2's TCG AVX/AVX2 emulation made dom0 processes
# fault at random (the JVM's GC, libc and ld.so in short-lived tools, libcrypto
# in swtpm) and once produced wrong SHA-256 digests in dom0's JVM (jar
# verification failed); with AVX/AVX2 off the faults vanished.  Keep a pre-AVX
# model (README, "Traps").
E2E_CPU=${E2E_CPU:-Westmere}
MEM=${MEM:-3072}
E2E_TIMEOUT=${E2E_TIMEOUT:-3300}
[ "$MODE" = hostile ] && E2E_SCENARIOS=${E2E_SCENARIOS:-9}
[ "$MODE" = systemd ] && E2E_SCENARIOS=${E2E_SCENARIOS:-10}
E2E_SCENARIOS=${E2E_SCENARIOS:-1,2,3,4,5,6,7,8,9,10,11,12,13,14}
E2E_SD_TIMEOUT=${E2E_SD_TIMEOUT:-1800}
E2E_RESTART_LOSSLESS=${E2E_RESTART_LOSSLESS:-0}
E2E_HOSTILE_ROUNDS=${E2E_HOSTILE_ROUNDS:-3}
E2E_HOTPLUG_ROUNDS=${E2E_HOTPLUG_ROUNDS:-5}
E2E_BACKEND=${E2E_BACKEND:-java}
E2E_READY_RE=${E2E_READY_RE:-serving backend domain 0}
E2E_LOG_LEVEL=${E2E_LOG_LEVEL:-info}
E2E_PROBE=${E2E_PROBE:-0}
MIRROR=${E2E_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm

now() { date +%s.%N; }
el() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b-a}'; }
log() { echo "e2e: $*"; }
die() { echo "e2e: ERROR: $*" >&2; exit 1; }
phase_start() { PH_T=$(now); PH_NAME=$1; }
phase_end() { local d; d=$(el "$PH_T" "$(now)"); log "phase $PH_NAME: ${d}s${1:+ ($1)}"; echo "$PH_NAME $d" >> "$W/timings"; }

mkdir -p "$W"
W=$(cd "$W" && pwd)
case "$W" in *,*) die "work dir path must not contain a comma (qemu -initrd list): $W";; esac

# ------------------------------------------------------------------ build
host_packages() {
  phase_start host-packages
  local pkgs=(qemu-system-x86 debootstrap busybox-static cpio e2fsprogs gzip xz-utils gcc libc6-dev linux-libc-dev)
  local missing=() p
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    [ "${E2E_SKIP_APT:-0}" = 1 ] && die "missing host packages: ${missing[*]}"
    [ "$(id -u)" = 0 ] || die "missing host packages: ${missing[*]}; run as root"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  fi
  phase_end "${missing[*]:-all present}"
}

# The dom0 root file system and its image are cached: rebuilt only when the
# package list, the debootstrap command or the stub init change.
rootfs_inputs() {
  echo "debootstrap --variant=minbase --include=$(grep -v '^#' "$HERE/rootfs-packages.txt" | xargs | tr ' ' ,) $SUITE rootfs $MIRROR"
  cat "$HERE/rootfs-packages.txt" "$HERE/dom0-stub-init.sh"
  declare -f customize_rootfs
}

customize_rootfs() {  # $1 = rootfs dir
  install -m 0755 "$HERE/dom0-stub-init.sh" "$1/e2e-init"
  mkdir -p "$1/e2e"
  # etcd runs only in scenarios 13 and 14, started by hand; the package's unit would start it in
  # every systemd boot (scenario 10)
  ln -sf /dev/null "$1/etc/systemd/system/etcd.service"
  # the daemon and the scenarios log to the serial console; keep apt quiet
  rm -rf "$1"/var/cache/apt/archives/*.deb
}

rootfs() {
  local want have
  want=$(rootfs_inputs | sha256sum | cut -d' ' -f1)
  have=$(cat "$W/rootfs.stamp" 2>/dev/null || true)
  if [ "$want" = "$have" ] && [ -s "$W/rootfs.img" ] && [ -x "$W/rootfs/usr/lib/xen-4.17/bin/xl" ]; then
    log "dom0 rootfs and image up to date (stamp $want), reused"
    return
  fi
  [ "$(id -u)" = 0 ] || die "debootstrap needs root"
  phase_start debootstrap
  rm -f "$W/rootfs.stamp" "$W/rootfs.img"
  rm -rf "$W/rootfs"
  local inc
  inc=$(grep -v '^#' "$HERE/rootfs-packages.txt" | xargs | tr ' ' ,)
  if ! debootstrap --variant=minbase --include="$inc" "$SUITE" "$W/rootfs" "$MIRROR" > "$W/debootstrap.log" 2>&1; then
    tail -30 "$W/debootstrap.log"; die "debootstrap failed (log $W/debootstrap.log)"
  fi
  customize_rootfs "$W/rootfs"
  phase_end "$(du -sh "$W/rootfs" | cut -f1)"
  phase_start rootfs-image
  truncate -s 3G "$W/rootfs.img.tmp"
  mke2fs -q -t ext4 -d "$W/rootfs" -L e2eroot "$W/rootfs.img.tmp"
  mv "$W/rootfs.img.tmp" "$W/rootfs.img"
  echo "$want" > "$W/rootfs.stamp"
  phase_end "$(du -h "$W/rootfs.img" | cut -f1) used"
}

kernel_files() {
  KVER=$(ls "$W/rootfs/lib/modules" | sort -V | tail -1)
  cp "$W/rootfs/boot/vmlinuz-$KVER" "$W/vmlinuz"
  cp "$W/rootfs/boot/initrd.img-$KVER" "$W/dom0-initrd.img"
  zcat "$W/rootfs/boot/xen-4.17-amd64.gz" > "$W/xen.elf"   # qemu multiboot wants plain ELF
  # The guests boot the uncompressed kernel (an ELF with Xen notes): libxc
  # then copies it instead of xz-unpacking it in dom0, which is slow under TCG.
  local off
  rm -f "$W/vmlinux"
  off=$(LC_ALL=C grep -abo -P '\xfd7zXZ\x00' "$W/vmlinuz" | head -n 1 | cut -d: -f1)
  if [ -n "$off" ]; then
    tail -c +$((off + 1)) "$W/vmlinuz" | xz -dc 2>/dev/null > "$W/vmlinux" || true
  fi
  if [ "$(head -c 4 "$W/vmlinux" 2>/dev/null | od -An -c | tr -d ' ')" != 177ELF ]; then
    log "could not unpack vmlinuz; the guests boot the compressed kernel"
    cp "$W/vmlinuz" "$W/vmlinux"
  fi
}

find_dist() {
  if [ -n "${VTPMBACK_DIST:-}" ]; then DIST=$VTPMBACK_DIST; return; fi
  DIST=$(ls -d "$REPO"/packaging/target/vtpmback-*/ 2>/dev/null | grep -v '\.tar' | sort -V | tail -1 || true)
  DIST=${DIST%/}
}

dist() {
  [ "$E2E_BACKEND" = java ] || { log "E2E_BACKEND=$E2E_BACKEND: vtpmback build not needed"; DIST=; return; }
  phase_start vtpmback-build
  if [ -z "${VTPMBACK_DIST:-}" ] && [ "${E2E_SKIP_MVN:-0}" != 1 ]; then
    (cd "$REPO" && mvn -B -q package -pl packaging -am -DskipTests) || die "maven build failed"
  fi
  find_dist
  [ -n "$DIST" ] && [ -x "$DIST/bin/vtpmback" ] && ls "$DIST"/lib/*.jar >/dev/null 2>&1 ||
    die "no vtpmback distribution (bin/vtpmback, lib/*.jar) at '${DIST:-packaging/target/vtpmback-*}'; set VTPMBACK_DIST"
  # scenario 10 installs the package itself (the same Maven build makes it)
  DEB=${VTPMBACK_DEB:-$(ls "$REPO"/packaging/target/vtpmback_*_all.deb 2>/dev/null | sort -V | tail -1 || true)}
  if sd_scenarios >/dev/null; then
    [ -n "$DEB" ] && [ -s "$DEB" ] || die "scenario 10 needs the .deb: none at packaging/target/vtpmback_*_all.deb; set VTPMBACK_DEB"
  fi
  phase_end "$DIST${DEB:+, $DEB}"
}

domu_initrd() {
  phase_start domu-initramfs
  local d=$W/domu-root f
  rm -rf "$d"; mkdir -p "$d"/{bin,lib,proc,sys,dev,tmp}
  cp /bin/busybox "$d/bin/busybox"
  ln -s busybox "$d/bin/sh"
  install -m 0755 "$HERE/domu-init.sh" "$d/init"
  f=$(find "$W/rootfs/lib/modules/$KVER" -name 'xen-tpmfront.ko*' | head -1)
  [ -n "$f" ] || die "xen-tpmfront.ko not found in the dom0 kernel modules"
  case "$f" in *.xz) xz -dc "$f" > "$d/lib/xen-tpmfront.ko";; *) cp "$f" "$d/lib/xen-tpmfront.ko";; esac
  # scenario 9's hostile guest: the malicious frontend (static, no libc in the
  # initramfs) and the evtchn/gntalloc drivers it opens, where they are modules
  gcc -O2 -Wall -static -o "$d/bin/hostile-front" "$HERE/hostile/hostile-front.c" || die "cannot build hostile-front"
  local m
  for m in xen-evtchn xen-gntalloc; do
    f=$(find "$W/rootfs/lib/modules/$KVER" -name "$m.ko*" | head -1)
    [ -n "$f" ] || continue
    case "$f" in *.xz) xz -dc "$f" > "$d/lib/$m.ko";; *) cp "$f" "$d/lib/$m.ko";; esac
  done
  (cd "$d" && find . | cpio -o -H newc --quiet | gzip -9) > "$W/domu-initrd.gz"
  phase_end "$(stat -c %s "$W/domu-initrd.gz") bytes"
}

# Everything that changes from run to run goes on a small second disk
# (/dev/vdb, mounted at /e2e in dom0) so the big root image stays cached.
payload() {
  phase_start payload-image
  local p=$W/payload
  rm -rf "$p"; mkdir -p "$p"
  install -m 0755 "$HERE/dom0-init.sh" "$HERE/dom0-scenarios.sh" "$HERE/dom0-systemd.sh" "$HERE/tpm-cmds.sh" "$p/"
  [ -n "${DEB:-}" ] && cp "$DEB" "$p/vtpmback.deb"
  cp "$W/domu-initrd.gz" "$p/"
  cp "$W/vmlinux" "$p/domu-kernel"
  if [ -n "${DIST:-}" ]; then
    mkdir -p "$p/vtpmback"
    cp -a "$DIST"/. "$p/vtpmback/"
    # the class-data sharing archive holds only for this host's JVM and this folder's path (dom0's JVM
    # would ignore it): 20 MB less to copy
    rm -f "$p/vtpmback/vtpmback.jsa"
  fi
  if [ "$E2E_BACKEND" = proof ]; then
    mkdir -p "$p/proof"
    gcc -O2 -static -o "$p/proof/mini-vtpmback" "$HERE/proof/mini-vtpmback.c"
    install -m 0755 "$HERE/proof/proof-backend.sh" "$p/proof/"
  fi
  echo "$KVER" > "$p/kver"
  (cd "$REPO" && git describe --always --dirty 2>/dev/null || echo unknown) > "$p/build-id"
  local kb
  kb=$(du -sk --apparent-size "$p" | cut -f1)
  rm -f "$W/payload.img"
  truncate -s $(( (kb * 2 + 32768) * 1024 )) "$W/payload.img"
  mke2fs -q -t ext4 -d "$p" -L e2epayload "$W/payload.img"
  phase_end "$(du -sh "$p" | cut -f1)"
}

build() {
  : > "$W/timings"
  [ "${E2E_SKIP_APT:-0}" = 1 ] || host_packages
  rootfs
  kernel_files
  dist
  domu_initrd
  payload
}

# ------------------------------------------------------------------ boot
# The scenarios of each boot: 10 (systemd) boots dom0 on its own, the others share the classic one.
classic_scenarios() { echo "$E2E_SCENARIOS" | tr , '\n' | grep -v -x 10 | paste -sd, | grep .; }
sd_scenarios() { echo "$E2E_SCENARIOS" | tr , '\n' | grep -x 10 | paste -sd, | grep .; }

qemu_args() {  # $1 = extra dom0 kernel args, $2 = dom0's init (default /e2e-init)
  Q=(qemu-system-x86_64 -accel tcg,thread=multi -cpu "$E2E_CPU" -smp "$SMP" -m "$MEM"
    -display none -nodefaults -no-reboot -monitor none -pidfile "$W/qemu.pid"
    -kernel "$W/xen.elf"
    -append "console=com1 com1=115200,8n1 dom0_mem=1536M,max:1536M dom0_max_vcpus=1 loglvl=all guest_loglvl=all noreboot smap=0"
    -initrd "$W/vmlinuz root=/dev/vda rw console=hvc0 earlyprintk=xen init=${2:-/e2e-init} $1,$W/dom0-initrd.img"
    -drive "file=$W/rootfs.img,if=virtio,format=raw,snapshot=on,cache=unsafe"
    -drive "file=$W/payload.img,if=virtio,format=raw,readonly=on")
}

# Lines of the serial log for one scenario (start marker to result line)
# plus the failure dump dom0 prints after it.
scenario_section() {  # $1 = log, $2 = scenario number
  awk -v n="$2" '
    $2 == "E2E-SCENARIO-START" && $3 == n { on = 1 }
    on || ($2 == "E2E-DUMP" && $3 == n) { print }
    $2 == "E2E-SCENARIO" && $3 == n { on = 0 }' "$1" | cut -d' ' -f2- | tail -n "${E2E_SECTION_LINES:-400}"
}

# boot: every selected scenario, in one boot or two (1-9 classic, 10 under systemd)
boot() {
  local rc=0 list
  if list=$(classic_scenarios); then boot_one classic "$list" "$E2E_TIMEOUT" || rc=1; fi
  if list=$(sd_scenarios); then boot_one systemd "$list" "$E2E_SD_TIMEOUT" || rc=1; fi
  return $rc
}

boot_one() {  # $1 = classic|systemd, $2 = its scenarios, $3 = hard timeout (s)
  [ -s "$W/payload.img" ] && [ -s "$W/rootfs.img" ] || die "nothing built in $W; run '$0 build' first"
  local E2E_SCENARIOS=$2 E2E_TIMEOUT=$3
  # no commas (qemu's -initrd list) nor spaces: ':' for ',' and octal escapes
  local args="e2e_scenarios=$(echo "$E2E_SCENARIOS" | tr , :) e2e_hostile_rounds=$E2E_HOSTILE_ROUNDS e2e_hotplug_rounds=$E2E_HOTPLUG_ROUNDS e2e_backend=$E2E_BACKEND e2e_log_level=$E2E_LOG_LEVEL e2e_probe=$E2E_PROBE e2e_ready_re=$(echo "$E2E_READY_RE" | sed 's/ /\\040/g; s/,/\\054/g')"
  if [ "$1" = systemd ]; then
    # systemd as PID 1; it runs /e2e-init as kernel-command-line.service (systemd-run-generator);
    # no login prompt on the console the host parses; status lines only for failures
    qemu_args "$args e2e_systemd e2e_restart_lossless=$E2E_RESTART_LOSSLESS systemd.run=/e2e-init systemd.mask=serial-getty@hvc0.service systemd.show_status=error" /lib/systemd/systemd
  else
    qemu_args "$args"
  fi
  LOG=$W/serial-$(date +%Y%m%d-%H%M%S)-$1.log
  ln -sf "$(basename "$LOG")" "$W/serial.log"
  log "booting Xen + dom0 ($1: scenarios $E2E_SCENARIOS) under QEMU (hard timeout ${E2E_TIMEOUT}s), serial log $LOG"
  phase_start boot-$1
  local T0 rc=0
  T0=$(now)
  # timestamp every serial line on the host (seconds since qemu start)
  set +e
  timeout --kill-after=10 "$E2E_TIMEOUT" "${Q[@]}" -serial stdio </dev/null 2>&1 |
    while IFS= read -r l; do
      l=${l%$'\r'}
      printf '%7.1f %s\n' "$(el "$T0" "${EPOCHREALTIME/,/.}")" "$l"
      case $l in *E2E-SCENARIO\ *|*E2E-PHASE*|*E2E-FATAL*|*E2E-PROBE*) echo "e2e: [$(el "$T0" "${EPOCHREALTIME/,/.}")s] $l" >&2;; esac
    done > "$LOG"
  local qrc=${PIPESTATUS[0]}
  set -e
  phase_end "qemu exit $qrc"
  [ "$qrc" = 124 ] || [ "$qrc" = 137 ] && log "QEMU hit the hard timeout of ${E2E_TIMEOUT}s"
  judge "$LOG" || rc=1
  return $rc
}

judge() {  # $1 = serial log
  local lg=$1 n line res failed=0
  echo "=================== e2e summary ==================="
  grep -a -E ' E2E-(PHASE|PROBE) ' "$lg" | sed 's/^/  /' || true
  for n in ${E2E_SCENARIOS//,/ }; do
    line=$(grep -a -E "^ *[0-9.]+ E2E-SCENARIO $n " "$lg" | tail -1 | cut -d' ' -f2- || true)
    line=$(echo "$line" | sed 's/^ *[0-9.]* //')
    if [ -z "$line" ]; then
      echo "E2E-SCENARIO $n MISSING"; failed=1
      continue
    fi
    echo "$line"
    res=$(echo "$line" | awk '{print $4}')
    [ "$res" = PASS ] || failed=1
  done
  if [ $failed = 1 ]; then
    for n in ${E2E_SCENARIOS//,/ }; do
      if ! grep -a -qE "E2E-SCENARIO $n [^ ]+ PASS" "$lg"; then
        echo "------------------- serial log, scenario $n -------------------"
        scenario_section "$lg" "$n"
      fi
    done
    if ! grep -aq 'E2E-SCENARIO ' "$lg"; then
      echo "------------------- last 120 serial lines -------------------"
      tail -120 "$lg"
    fi
    # CI shows only the tail of its output: the failed checks last, one line each, so they survive
    echo "------------------- failed checks -------------------"
    grep -a -E ' E2E-CHECK [0-9]+ FAIL: ' "$lg" | cut -d' ' -f2- | cut -c1-400 | tail -n 40 || true
    grep -a -E ' E2E-SCENARIO [0-9]+ [^ ]+ (PASS|FAIL) ' "$lg" | cut -d' ' -f2- | sed 's/^ *[0-9.]* //' || true
    echo "e2e: FAIL (full serial log: $lg)"
    return 1
  fi
  echo "e2e: PASS (serial log: $lg)"
}

case "$MODE" in
  build) build ;;
  host-packages) host_packages ;;
  rootfs) rootfs ;;
  boot)  KVER=$(cat "$W/payload/kver" 2>/dev/null || true); boot ;;
  all|hostile|systemd) build; boot ;;
  shell) qemu_args "e2e_shell"; exec "${Q[@]}" -serial mon:stdio ;;
  judge) lg=${2:-$W/serial.log}
    # a systemd boot's log holds scenario 10 only, a classic one the others
    case $(readlink -f "$lg") in
      *-systemd.log) E2E_SCENARIOS=$(sd_scenarios || echo 10) ;;
      *) E2E_SCENARIOS=$(classic_scenarios || echo "$E2E_SCENARIOS") ;;
    esac
    judge "$lg" ;;
  *) echo "usage: $0 [build|host-packages|rootfs|boot|all|hostile|systemd|shell|judge [log]]" >&2; exit 2 ;;
esac
