#!/bin/sh
# The e2e scenarios, run in dom0 by dom0-init.sh once xenstored and
# xenconsoled are up.  Each prints
#   E2E-SCENARIO-START <n> <name> ...
#   E2E-CHECK <n> ok|FAIL: ...          (one per check)
#   E2E-DUMP <n> ...                    (state dump, on failure only)
#   E2E-SCENARIO <n> <name> PASS|FAIL <seconds>
# Env (from the kernel command line, see dom0-init.sh): E2E_SCENARIOS,
# E2E_BACKEND (java|proof), E2E_READY_RE.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
. /e2e/tpm-cmds.sh
E2E_SCENARIOS=${E2E_SCENARIOS:-1,2,3,4,5,6,7,8}
E2E_BACKEND=${E2E_BACKEND:-java}
E2E_READY_RE=${E2E_READY_RE:-serving backend domain 0}
KVER=$(cat /e2e/kver)
R=/run/e2e
CONSOLE=/var/log/xen/console
DLOG=/var/log/vtpmback.log
CONF=/etc/vtpmback/vtpmback.conf
VTPMBACK=/usr/lib/vtpmback/bin/vtpmback
# the two vTPMs: one TPM 1.2 instance, one TPM 2.0 instance
U12=6f1c2a3e-1200-4e2e-8000-000000000012
U20=6f1c2a3e-2000-4e2e-8000-000000000020
mkdir -p $R /var/lib/e2e
echo 0 > $R/seq

up() { cut -d' ' -f1 /proc/uptime; }
since() { awk -v a="$1" -v b="$(up)" 'BEGIN{printf "%.1f", b-a}'; }
say() { echo "E2E-LOG $(up) $*"; }
selected() { case ",$E2E_SCENARIOS," in *",$1,"*) return 0;; esac; return 1; }

# ---------------------------------------------------------------- scenario bookkeeping
SN=0
begin() { SN=$1; SNAME=$2; ST0=$(up); : > $R/fail-$SN; echo "E2E-SCENARIO-START $SN $SNAME dom0-uptime=$ST0"; }
ok() { echo "E2E-CHECK $SN ok: $*"; }
bad() { echo "E2E-CHECK $SN FAIL: $*"; echo "$*" >> $R/fail-$SN; }
check() { # check <description> <command...>: ok if the command succeeds
  d=$1; shift
  if "$@"; then ok "$d"; else bad "$d"; fi
}
finish() {
  res=PASS
  [ -s $R/fail-$SN ] && res=FAIL
  [ $res = FAIL ] && dump | sed "s/^/E2E-DUMP $SN /"
  echo "E2E-SCENARIO $SN $SNAME $res $(since $ST0)"
}
dump() {
  # a JVM thread dump goes to the daemon's stdout, i.e. its log (and the serial log)
  p=$(cat $R/daemon.pid 2>/dev/null); [ -n "$p" ] && [ "$E2E_BACKEND" = java ] && kill -QUIT $p 2>/dev/null && sleep 3
  echo "---- vtpmback log (last 60 lines) ----"; tail -n 60 $DLOG 2>/dev/null
  echo "---- dom0 event channel interrupts ----"; grep -i -E 'evtchn|xen-dyn' /proc/interrupts 2>/dev/null | head -20
  echo "---- xl list ----"; xl list 2>&1
  echo "---- xenstore backend/vtpm ----"; xenstore-ls -f /local/domain/0/backend/vtpm 2>&1 | head -60
  for d in $(xenstore-list /local/domain 2>/dev/null); do
    [ "$d" = 0 ] && continue
    echo "---- xenstore /local/domain/$d/device/vtpm ----"; xenstore-ls -f /local/domain/$d/device/vtpm 2>&1 | head -20
  done
  echo "---- processes ----"; ps -eo pid,etimes,args 2>/dev/null | grep -E 'swtpm|java|vtpm' | grep -v grep
  for g in $CONSOLE/guest-*.log; do
    [ -f "$g" ] || continue
    echo "---- $g (last 25 lines) ----"; tail -n 25 "$g" | tr -d '\r'
    n=${g##*guest-}; n=${n%.log}; n=${n%--incoming}
    [ -n "$(domid_of $n)" ] && { echo "---- $n: tpm kernel messages, xenbus state ----"; gcmd $n 'tpmlog | tail -n 15; fstate; cat /proc/interrupts | grep -i -E "evtchn|xen" | head -5'; }
  done
}

# ---------------------------------------------------------------- the backend
write_config() {
  # the daemon refuses a state-dir open to group or others, and a group/other-writable runtime-dir
  mkdir -p /etc/vtpmback; install -d -m 0700 /var/lib/vtpmback /run/vtpmback
  cat > $CONF <<EOF
# written by test/e2e/dom0-scenarios.sh
host = xen
backend-domid = 0
state-dir = /var/lib/vtpmback
runtime-dir = /run/vtpmback
default-tpm-family = 1.2
tpm-family.$U12 = 1.2
tpm-family.$U20 = 2.0
log-level = ${E2E_LOG_LEVEL:-info}
EOF
}

ready_count() { n=$(grep -c -E "$E2E_READY_RE" $DLOG 2>/dev/null); echo "${n:-0}"; }

# daemon_start: start the backend in the background; wait for its readiness line
daemon_start() {
  # local: the scenarios keep their own n0 and t0 across this call
  local n0 t0 i
  n0=$(ready_count); t0=$(up)
  case $E2E_BACKEND in
    # C1 only: in this emulated single-vCPU dom0 the C2 compiler alone burnt about 100 s of CPU
    # in the daemon's first 15 minutes, slowing its start and the guests' first answers
    java)  VTPMBACK_JAVA_OPTS=${E2E_JAVA_OPTS--XX:TieredStopAtLevel=1} setsid $VTPMBACK daemon --config $CONF >> $DLOG 2>&1 < /dev/null & ;;
    proof) setsid /e2e/proof/proof-backend.sh $CONF >> $DLOG 2>&1 < /dev/null & ;;
  esac
  DPID=$!
  echo $DPID > $R/daemon.pid
  i=0
  while [ "$(ready_count)" -le "$n0" ]; do
    if ! kill -0 $DPID 2>/dev/null; then
      wait $DPID; say "backend exited with status $? before it was ready"; return 1
    fi
    i=$((i+1)); [ $i -gt 1500 ] && { say "backend not ready after 300 s"; return 1; }
    sleep 0.2
  done
  # the launcher may run java as a child instead of exec'ing it
  case $(readlink /proc/$DPID/exe 2>/dev/null) in
    *java*) ;;
    *) c=$(pgrep -P $DPID java | head -1); [ -n "$c" ] && DPID=$c && echo $DPID > $R/daemon.pid ;;
  esac
  say "backend ($E2E_BACKEND) ready after $(since $t0)s, pid $DPID"
}

# daemon_stop: SIGTERM, wait up to 40 s; prints the exit status
daemon_stop() {
  local t0 i
  DPID=$(cat $R/daemon.pid)
  t0=$(up)
  kill -TERM $DPID 2>/dev/null || { say "backend pid $DPID not running"; return 1; }
  i=0
  while kill -0 $DPID 2>/dev/null; do
    i=$((i+1)); [ $i -gt 200 ] && { say "backend did not stop within 40 s, killing"; kill -KILL $DPID; return 1; }
    sleep 0.2
  done
  say "backend stopped after $(since $t0)s"
}

# ---------------------------------------------------------------- guests
domid_of() { xl domid "$1" 2>/dev/null; }

# console_log <name>: the guest's console log. xenconsoled names the file after
# the domain's name when it first sees the domain: a domain that came in by
# local migration logs to guest-<name>--incoming.log.
console_log() {
  l=$(ls -t $CONSOLE/guest-$1.log $CONSOLE/guest-$1--incoming.log 2>/dev/null | head -n 1)
  echo "${l:-$CONSOLE/guest-$1.log}"
}

# wait_ready <name> <log> <t0>: until the guest's init reports on its console
wait_ready() {
  i=0
  while ! grep -aq E2E-GUEST-READY $2 2>/dev/null; do
    i=$((i+1)); [ $i -gt 1800 ] && { say "guest $1: no E2E-GUEST-READY within 360 s"; return 1; }
    sleep 0.2
  done
  say "guest $1: $(grep -a E2E-GUEST-READY $2 | tr -d '\r') ($(since $3)s)"
  grep -aq 'E2E-GUEST-READY tpm0=yes' $2 || return 1
  # xen-tpmfront registers /dev/tpm0 before the backend connects. A vTPM's
  # first start manufactures it (RSA EK generation: 60-160 s in this emulated
  # dom0, about a second on hardware) and the guest kernel's TPM commands time
  # out meanwhile; wait for Connected so that the scenarios' commands do not.
  bs=/local/domain/0/backend/vtpm/$(domid_of $1)/0/state
  i=0
  while [ "$(xenstore-read $bs 2>/dev/null)" != 4 ]; do
    i=$((i+1)); [ $i -gt 2000 ] && { say "guest $1: backend $bs not Connected within 400 s"; return 1; }
    sleep 0.2
  done
  say "guest $1: backend Connected ($(since $3)s)"
}

# guest_create <name> <vtpm-uuid>: xl create; waits for the guest agent
guest_create() {
  name=$1; uuid=$2; L=$CONSOLE/guest-$name.log
  [ -f $L ] && mv $L $L.$(date +%s)
  cat > $R/$name.cfg <<EOF
type = "pv"
name = "$name"
kernel = "/e2e/domu-kernel"
ramdisk = "/e2e/domu-initrd.gz"
extra = "console=hvc0 loglevel=4"
memory = 160
vcpus = 1
vtpm = [ "backend=0,uuid=$uuid" ]
on_poweroff = "destroy"
on_crash = "destroy"
EOF
  t0=$(up)
  timeout 180 xl -v create $R/$name.cfg > $R/xl-create-$name.out 2>&1
  rc=$?
  grep -v -E 'detail:|^$' $R/xl-create-$name.out | tail -n 40 | sed "s/^/E2E-XL $name| /"
  say "xl create $name: rc=$rc after $(since $t0)s"
  [ $rc = 0 ] || return 1
  wait_ready $name $L $t0
}

# gcmd <name> <shell...>: run a shell command in the guest; prints its output
# lines, returns its status (99 on timeout)
gcmd() {
  name=$1; shift
  seq=$(( $(cat $R/seq) + 1 )); echo $seq > $R/seq
  L=$(console_log $name)
  id=$(domid_of $name)
  [ -n "$id" ] || { echo "no domain $name"; return 98; }
  tty=$(xenstore-read /local/domain/$id/console/tty 2>/dev/null)
  [ -n "$tty" ] || { echo "no console tty for $name"; return 98; }
  printf 'E2E-CMD %s %s\n' "$seq" "$*" > "$tty"
  i=0
  while ! grep -aq "^E2E-G $seq rc=" $L; do
    i=$((i+1)); [ $i -gt 300 ] && { echo "guest $name: no answer to command $seq within 60 s"; return 99; }
    sleep 0.2
  done
  tr -d '\r' < $L | sed -n "s/^E2E-G $seq| //p"
  return "$(tr -d '\r' < $L | sed -n "s/^E2E-G $seq rc=//p" | tail -n 1)"
}

# tpm <name> <hex>: one raw TPM command in the guest; sets RSP (hex) and RC
tpm() {
  out=$(gcmd "$1" "tpm $2")
  RSP=$(echo "$out" | sed -n 's/^TPMRSP //p' | tail -n 1)
  RC=$(rsp_rc "$RSP")
  say "tpm $1 $(echo $2 | cut -c1-20).. -> ${RSP:-($out)}"
  [ -n "$RSP" ]
}

# guest_destroy <name>: xl destroy, output in $R/xl-destroy-<name>.out
guest_destroy() {
  t0=$(up)
  timeout 120 xl -v destroy "$1" > $R/xl-destroy-$1.out 2>&1
  rc=$?
  DESTROY_SECS=$(since $t0)
  grep -v -E 'detail:|^$' $R/xl-destroy-$1.out | tail -n 20 | sed "s/^/E2E-XL $1| /"
  say "xl destroy $1: rc=$rc after ${DESTROY_SECS}s"
  return $rc
}

# xenstored's trace file (--trace-file, see dom0-init.sh): every request with
# its payload, NULs shown as blanks or kept; WRITE payload is "<path> <value>".
TRACE=/run/xenstored-trace.log
trace_mark() { wc -l < $TRACE; }
# trace_writes <from-line> <path>: the values written to <path> since the mark
trace_writes() {
  tail -n +$(( $1 + 1 )) $TRACE | tr '\000' ' ' | grep -a '^IN ' |
    sed -n "s|.* WRITE ($2 \([^ )]*\).*|\1|p" | xargs
}

is_rc0() { [ "$RC" = 00000000 ]; }

# ---------------------------------------------------------------- scenarios
scenario1() {
  begin 1 boot
  if guest_create domu12 $U12; then ok "xl create domu12 (TPM 1.2 vtpm) and /dev/tpm0 in the guest"
  else bad "xl create domu12 or no /dev/tpm0"; fi
  if tpm domu12 $T12_GETRANDOM && is_rc0 && [ "$(rsp_len $RSP)" = 22 ]; then ok "TPM_GetRandom(8) on TPM 1.2: $RSP"
  else bad "TPM_GetRandom on TPM 1.2: rsp '$RSP'"; fi
  if tpm domu12 $T12_PCRREAD16 && is_rc0 && [ "$(rsp_len $RSP)" = 30 ]; then ok "TPM_PCRRead(16) on TPM 1.2: $RSP"
  else bad "TPM_PCRRead(16) on TPM 1.2: rsp '$RSP'"; fi
  v=$(gcmd domu12 'cat /sys/class/tpm/tpm0/tpm_version_major')
  say "domu12 kernel sees TPM version major '$v'"

  if guest_create domu20 $U20; then ok "xl create domu20 (TPM 2.0 vtpm) and /dev/tpm0 in the guest"
  else bad "xl create domu20 or no /dev/tpm0"; fi
  if tpm domu20 $T20_GETRANDOM && is_rc0 && [ "$(rsp_len $RSP)" = 20 ]; then ok "TPM2_GetRandom(8) on TPM 2.0: $RSP"
  else bad "TPM2_GetRandom on TPM 2.0: rsp '$RSP'"; fi
  if tpm domu20 $T20_PCRREAD16 && is_rc0; then ok "TPM2_PCR_Read(sha256:16) on TPM 2.0: $RSP"
  else bad "TPM2_PCR_Read on TPM 2.0: rsp '$RSP'"; fi
  finish
}

# wait_tpm0 <name> <seconds>: until the guest has /dev/tpm0 again (after a
# restore xen-tpmfront removes the chip and probes it anew)
wait_tpm0() {
  wt0=$(up)
  while ! gcmd "$1" 'tpmdev' >/dev/null; do
    # elapsed time, not attempts: a guest that does not answer costs 60 s a try
    if [ "$(awk -v a="$wt0" -v b="$(up)" -v m="$2" 'BEGIN{print (b-a > m)}')" = 1 ]; then
      say "$1: no /dev/tpm0 (or no answer from the guest) within $2 s"; return 1
    fi
    sleep 3
  done
  say "$1: /dev/tpm0 present ($(since $wt0)s)"
}

ensure_guest() { # ensure_guest <name> <uuid>: a running guest with /dev/tpm0
  if [ -n "$(domid_of $1)" ]; then
    wait_tpm0 "$1" 240 && return 0
    say "$1 runs without /dev/tpm0: destroying it and booting it again"
    guest_destroy "$1"
  fi
  guest_create "$1" "$2"
}

# device_nodes <name>: sets id (the domid), fe and be (its vtpm 0 xenstore nodes)
device_nodes() {
  id=$(domid_of $1)
  fe=/local/domain/$id/device/vtpm/0
  be=/local/domain/0/backend/vtpm/$id/0
}

# await_reattach <domid> <log line>: the readiness line comes before the daemon
# has re-attached the running guests (restarting their swtpm): wait for its
# re-attach line for this device in the daemon log after that line
await_reattach() {
  local t0 i
  t0=$(up); i=0
  while ! tail -n +$(($2 + 1)) $DLOG | grep -q -E "(domain $1 vtpm 0|$1/0)[: ].*${E2E_REATTACH_RE:-re-attached}"; do
    i=$((i+1)); [ $i -gt 1200 ] && { bad "no re-attach line for domain $1 vtpm 0 within 240 s"; return 1; }
    sleep 0.2
  done
  say "re-attach of domain $1 vtpm 0 seen $(since $t0)s after the readiness line"
}

scenario3() {
  begin 3 daemon-restart
  ensure_guest domu12 $U12 || bad "could not start domu12"
  device_nodes domu12
  tpm domu12 $T12_GETRANDOM && is_rc0 || bad "TPM command before the restart failed: '$RSP'"
  m=$(trace_mark)
  before=$(gcmd domu12 'fstate; tpmlog | wc -l')
  if daemon_stop; then ok "daemon stopped on SIGTERM"; else bad "daemon did not stop on SIGTERM"; fi
  sleep 2
  n0=$(wc -l < $DLOG)
  if daemon_start; then ok "daemon started again"; else bad "daemon did not start again"; fi
  await_reattach $id $n0
  if tpm domu12 $T12_GETRANDOM && is_rc0; then ok "guest's next TPM command after the restart works: $RSP"
  else bad "guest's TPM command after the restart: rsp '$RSP'"; fi
  if tpm domu12 $T12_PCRREAD16 && is_rc0; then ok "and the one after: TPM_PCRRead rc 0"
  else bad "second TPM command after the restart: rsp '$RSP'"; fi
  fe_vals=$(trace_writes $m $fe/state)
  be_vals=$(trace_writes $m $be/state)
  say "state writes during the restart (xenstored trace): frontend '$fe_vals' backend '$be_vals'; now frontend $(xenstore-read $fe/state) backend $(xenstore-read $be/state)"
  if [ -z "$fe_vals" ] && [ "$(xenstore-read $fe/state)" = 4 ]; then ok "frontend state stayed 4 (Connected) throughout: no write to it"
  else bad "frontend state was written during the restart: '$fe_vals'"; fi
  case " $be_vals " in
    *" 5 "*|*" 6 "*) bad "backend wrote state '$be_vals' (Closing/Closed) during the restart" ;;
    *) ok "backend never wrote Closing/Closed (writes: '$be_vals')" ;;
  esac
  after=$(gcmd domu12 'fstate; tpmlog | wc -l; tpmdev')
  say "guest before: $(echo $before) after: $(echo $after)"
  b1=$(echo "$before" | head -n 1); a1=$(echo "$after" | head -n 1)
  b2=$(echo "$before" | sed -n 2p); a2=$(echo "$after" | sed -n 2p)
  if [ "$a1" = Connected ] && [ "$b1" = Connected ]; then ok "guest kernel's xenbus state Connected before and after"
  else bad "guest kernel's xenbus state '$b1' before, '$a1' after"; fi
  # While the daemon is away the guest kernel's own TPM use (hwrng) may time
  # out ("send(): error -62"): expected, reported.  What must not happen is
  # the chip going away.
  if [ "$b2" = "$a2" ]; then ok "no new TPM messages in the guest kernel log"
  else say "guest kernel logged $((a2 - b2)) TPM message(s) during the restart: $(gcmd domu12 'tpmlog | tail -n 3' | xargs)"; fi
  gone=$(gcmd domu12 'tpmlog | grep -i -E "unregist|remov|clos" | tail -n 3')
  if [ -z "$gone" ] && echo "$after" | grep -q /dev/tpm0; then ok "guest kept /dev/tpm0, no unregister/remove/close TPM message"
  else bad "guest TPM chip went away: ${gone:-/dev/tpm0 missing}"; fi
  finish
}

scenario5() {
  begin 5 save-restore
  ensure_guest domu12 $U12 || bad "could not start domu12"
  tpm domu12 $T12_EXTEND16 && is_rc0 || bad "TPM_Extend(16) before save: '$RSP'"
  tpm domu12 $T12_PCRREAD16 && is_rc0 || bad "TPM_PCRRead(16) before save: '$RSP'"
  pcr_before=$(rsp_tail "$RSP" 10)
  say "PCR16 before save: $pcr_before"
  t0=$(up)
  if timeout 180 xl -v save domu12 /var/lib/e2e/domu12.save > $R/xl-save.out 2>&1; then ok "xl save domu12 ($(since $t0)s)"
  else bad "xl save domu12 failed"; fi
  grep -v -E 'detail:|^$' $R/xl-save.out | tail -n 20 | sed 's/^/E2E-XL save| /'
  # The documented restore path (docs/lifecycle.md): `vtpmback restore <savefile>` runs
  # xl restore -p, sets the backend `resume` key, and unpauses.
  t0=$(up)
  if [ "$E2E_BACKEND" = java ]; then
    timeout 180 $VTPMBACK restore /var/lib/e2e/domu12.save > $R/restore.out 2>&1; rc=$?
  else
    echo "the proof backend has no restore path" > $R/restore.out; rc=1
  fi
  sed 's/^/E2E-LOG restore| /' $R/restore.out | tail -n 30
  if [ $rc = 0 ]; then ok "vtpmback restore ($(since $t0)s)"
  else bad "vtpmback restore: rc=$rc"; fi
  if [ -n "$(domid_of domu12)" ]; then
    wait_tpm0 domu12 300 || bad "domu12 has no /dev/tpm0 after the restore"
    if tpm domu12 $T12_PCRREAD16 && is_rc0; then
      pcr_after=$(rsp_tail "$RSP" 10)
      if [ "$pcr_after" = "$pcr_before" ]; then ok "PCR16 after restore equals PCR16 before save ($pcr_after)"
      else bad "PCR16 after restore $pcr_after, before save $pcr_before"; fi
    else bad "TPM_PCRRead(16) after restore: '$RSP'"; fi
  else
    bad "no domu12 after restore"
  fi
  finish
}

scenario4() {
  begin 4 reboot-keeps-keys
  ensure_guest domu12 $U12 || bad "could not start domu12"
  tpm domu12 $T12_PCRREAD16 && is_rc0 || bad "TPM_PCRRead(16): '$RSP'"
  # the value right after Startup(CLEAR): what the PCR must be after the reboot
  pcr_reset=$(printf '%040d' 0)
  nvdata=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
  if tpm domu12 $T12_NV_DEFINE && is_rc0; then ok "TPM_NV_DefineSpace(0x$E2E_NV_INDEX)"
  else bad "TPM_NV_DefineSpace: '$RSP'"; fi
  if tpm domu12 "$(t12_nv_write $nvdata)" && is_rc0; then ok "TPM_NV_WriteValue $nvdata"
  else bad "TPM_NV_WriteValue: '$RSP'"; fi
  tpm domu12 $T12_EXTEND16 && is_rc0 || bad "TPM_Extend(16): '$RSP'"
  tpm domu12 $T12_PCRREAD16 && is_rc0 || bad "TPM_PCRRead(16): '$RSP'"
  pcr_ext=$(rsp_tail "$RSP" 10)
  say "PCR16 before the reboot: $pcr_ext"
  [ "$pcr_ext" != "$pcr_reset" ] || bad "PCR16 is still the reset value after the extend"
  # reboot = destroy + create with the same vtpm uuid (xl reboot of this PV
  # guest would be the same from the backend's point of view: a new device)
  guest_destroy domu12 || bad "xl destroy domu12 before the reboot"
  if guest_create domu12 $U12; then ok "domu12 booted again with the same vtpm uuid"
  else bad "domu12 did not boot again"; fi
  if tpm domu12 $T12_NV_READ && is_rc0; then
    got=$(rsp_tail "$RSP" 14)
    if [ "$got" = "$nvdata" ]; then ok "NV index kept its data over the reboot ($got)"
    else bad "NV data after the reboot '$got', written '$nvdata'"; fi
  else bad "TPM_NV_ReadValue after the reboot: '$RSP'"; fi
  if tpm domu12 $T12_PCRREAD16 && is_rc0; then
    pcr=$(rsp_tail "$RSP" 10)
    if [ "$pcr" = "$pcr_reset" ]; then ok "PCR16 back to its reset value after the reboot"
    else bad "PCR16 after the reboot is $pcr, not the reset value $pcr_reset"; fi
  else bad "TPM_PCRRead(16) after the reboot: '$RSP'"; fi
  finish
}

scenario2() {
  begin 2 teardown
  # at least the TPM 2.0 guest; destroy every e2e guest and check each
  ensure_guest domu20 $U20 || bad "could not start domu20"
  for name in domu20 domu12; do
    id=$(domid_of $name)
    [ -n "$id" ] || continue
    be=/local/domain/0/backend/vtpm/$id/0
    n0=$(wc -l < $DLOG)
    m=$(trace_mark)
    if guest_destroy $name; then ok "xl destroy $name (${DESTROY_SECS}s)"; else bad "xl destroy $name failed"; fi
    if grep -q -E 'unable to remove device|devices_destroy failed' $R/xl-destroy-$name.out; then
      bad "libxl: $(grep -E 'unable to remove device|devices_destroy failed' $R/xl-destroy-$name.out | head -n 2 | xargs)"
    else ok "libxl reported no 'unable to remove device'"; fi
    sleep 2
    vals=$(trace_writes $m $be/state)
    case " $vals " in
      *" 6 "*) ok "backend state went to Closed (6): writes '$vals'" ;;
      *) bad "backend state never written Closed (6): writes '$vals'" ;;
    esac
    newlog=$(tail -n +$((n0 + 1)) $DLOG)
    rel="(domain $id vtpm 0|$id/0)[: ].*(disconnected|device gone|released)"
    if echo "$newlog" | grep -q -E "$rel"; then
      ok "daemon released the device: $(echo "$newlog" | grep -E "$rel" | head -n 3 | sed 's/^.*\] //' | xargs)"
    else bad "no release line for device $id/0 in the daemon log"; fi
    if [ -z "$(domid_of $name)" ]; then ok "$name is gone"; else bad "$name still listed"; fi
  done
  finish
}

# daemon_log_since <line>: the daemon's log after that line
daemon_log_since() { tail -n +$(( $1 + 1 )) $DLOG; }

scenario6() {
  begin 6 guest-reboot
  # The guest reboots itself: Xen records the shutdown reason "reboot", xl's
  # monitor destroys the domain and creates it again under a new domid. The
  # daemon must read that reason through libxenctrl (orderly TPM shutdown, keys
  # kept) and start the new domain's vTPM clear.
  ensure_guest domu12 $U12 || bad "could not start domu12"
  old=$(domid_of domu12)
  nvdata=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
  if ! { tpm domu12 "$(t12_nv_write $nvdata)" && is_rc0; }; then
    # scenario 4 did not run: define the index first
    tpm domu12 $T12_NV_DEFINE && is_rc0 || bad "TPM_NV_DefineSpace: '$RSP'"
    tpm domu12 "$(t12_nv_write $nvdata)" && is_rc0 || bad "TPM_NV_WriteValue: '$RSP'"
  fi
  ok "TPM_NV_WriteValue $nvdata"
  tpm domu12 $T12_EXTEND16 && is_rc0 || bad "TPM_Extend(16): '$RSP'"
  tpm domu12 $T12_PCRREAD16 && is_rc0 || bad "TPM_PCRRead(16): '$RSP'"
  say "PCR16 before the reboot: $(rsp_tail "$RSP" 10)"
  n0=$(wc -l < $DLOG)
  # no answer will come: write the command straight to the guest's console, and
  # move the log aside so that the new domain's console gets a fresh one
  L=$(console_log domu12)
  tty=$(xenstore-read /local/domain/$old/console/tty)
  printf 'E2E-CMD 0 reboot -f\n' > "$tty"
  mv $L $L.before-reboot
  t0=$(up); new=
  while :; do
    new=$(domid_of domu12)
    [ -n "$new" ] && [ "$new" != "$old" ] && break
    if [ "$(awk -v a="$t0" -v b="$(up)" 'BEGIN{print (b-a > 180)}')" = 1 ]; then new=; break; fi
    sleep 0.5
  done
  if [ -n "$new" ]; then ok "the guest rebooted itself: domain $old -> $new ($(since $t0)s, xl's monitor re-created it)"
  else bad "no new domain domu12 within 180 s of the guest's reboot (old domain $old: '$(xl list 2>&1 | grep domu12)')"; fi
  if [ -n "$new" ] && wait_ready domu12 $CONSOLE/guest-domu12.log $t0; then ok "domu12 came back with /dev/tpm0"
  else bad "domu12 did not come back with /dev/tpm0"; fi
  ended=$(daemon_log_since $n0 | grep -E "domain $old vtpm 0: .*domain $old ended with" | head -n 1 | sed 's/^.*: domain/domain/')
  say "daemon: $ended"
  case $ended in
    *"ended with REBOOT: saving as SHUTDOWN"*) ok "daemon read the shutdown reason REBOOT from Xen: orderly TPM shutdown, permanent state saved" ;;
    *"saving as SHUTDOWN"*) ok "daemon saved an orderly shutdown (the domain was gone when asked: '$ended')" ;;
    *) bad "daemon did not save the rebooted domain as SHUTDOWN: '${ended:-no line}'" ;;
  esac
  start=$(daemon_log_since $n0 | grep -E "domain $new vtpm 0: .*start mode" | head -n 1 | sed 's/^.*start mode/start mode/')
  case $start in
    "start mode CLEAR"*) ok "new domain's vTPM: $start" ;;
    *) bad "new domain's vTPM did not start clear: '${start:-no line}'" ;;
  esac
  if tpm domu12 $T12_NV_READ && is_rc0 && [ "$(rsp_tail "$RSP" 14)" = "$nvdata" ]; then ok "NV index kept its data over the guest's reboot"
  else bad "NV data after the guest's reboot: '$RSP', written '$nvdata'"; fi
  if tpm domu12 $T12_PCRREAD16 && is_rc0 && [ "$(rsp_tail "$RSP" 10)" = "$(printf '%040d' 0)" ]; then ok "PCR16 back to its reset value"
  else bad "PCR16 after the guest's reboot: '$RSP'"; fi
  finish
}

scenario8() {
  begin 8 daemon-crash
  # kill -9 of the daemon under a running guest, then a new daemon (what
  # systemd's Restart=on-failure does): the swtpm processes outlive the daemon,
  # the new one takes their running state, so the guest keeps its PCRs.
  ensure_guest domu12 $U12 || bad "could not start domu12"
  device_nodes domu12
  tpm domu12 $T12_EXTEND16 && is_rc0 || bad "TPM_Extend(16) before the crash: '$RSP'"
  tpm domu12 $T12_PCRREAD16 && is_rc0 || bad "TPM_PCRRead(16) before the crash: '$RSP'"
  pcr_before=$(rsp_tail "$RSP" 10)
  say "PCR16 before the crash: $pcr_before"
  m=$(trace_mark)
  swtpms=$(pgrep -x swtpm | xargs)
  kill -KILL "$(cat $R/daemon.pid)"
  sleep 2
  if kill -0 "$(cat $R/daemon.pid)" 2>/dev/null; then bad "daemon still alive after SIGKILL"; else ok "daemon killed with SIGKILL"; fi
  left=$(pgrep -x swtpm | xargs)
  if [ -n "$left" ] && [ "$left" = "$swtpms" ]; then ok "its swtpm processes live on ($left)"
  else bad "swtpm processes before the kill '$swtpms', after '$left'"; fi
  n0=$(wc -l < $DLOG)
  if daemon_start; then ok "daemon started again"; else bad "daemon did not start again"; fi
  await_reattach $id $n0
  took=$(daemon_log_since $n0 | grep -E 'took over the running TPM state' | head -n 1 | sed 's/^.*\] //')
  if [ -n "$took" ]; then ok "$took"; else bad "no take-over line in the daemon log"; fi
  start=$(daemon_log_since $n0 | grep -E "domain $id vtpm 0: .*start mode" | head -n 1 | sed 's/^.*start mode/start mode/')
  case $start in
    "start mode RESTORE"*DAEMON_CRASHED*) ok "$start" ;;
    *) bad "the re-attach did not resume the survivor's state: '${start:-no start line}'" ;;
  esac
  if tpm domu12 $T12_PCRREAD16 && is_rc0 && [ "$(rsp_tail "$RSP" 10)" = "$pcr_before" ]; then ok "PCR16 after the crash equals PCR16 before it"
  else bad "PCR16 after the crash: '$RSP', before: $pcr_before"; fi
  for p in $swtpms; do kill -0 $p 2>/dev/null && bad "survivor swtpm $p still runs after the take-over"; done
  fe_vals=$(trace_writes $m $fe/state)
  be_vals=$(trace_writes $m $be/state)
  if [ -z "$fe_vals" ] && [ -z "$be_vals" ]; then ok "neither state node was written (the guest never saw its TPM go away)"
  else bad "state writes during the crash and restart: frontend '$fe_vals' backend '$be_vals'"; fi
  finish
}

# /e2e is read-only: the "ssh" that xl migrate runs to reach localhost
LOCALSSH=$R/localssh
printf '# xl migrate -s: "<this> <host> xl migrate-receive ...": run it here\nshift\nexec "$@"\n' > $LOCALSSH

scenario7() {
  begin 7 local-migrate
  # Local migration of the TPM 2.0 guest with stock xl, the documented way:
  # xl migrate -p (the domain stays paused on arrival), then vtpmback
  # resume-domain (marks resume, unpauses). Both devices of the uuid exist at once.
  ensure_guest domu20 $U20 || bad "could not start domu20"
  old=$(domid_of domu20)
  tpm domu20 $T20_EXTEND16 && is_rc0 || bad "TPM2_PCR_Extend(16): '$RSP'"
  tpm domu20 $T20_PCRREAD16 && is_rc0 || bad "TPM2_PCR_Read(16): '$RSP'"
  pcr_before=$(rsp_digest "$RSP")
  say "PCR16 (sha256) before the migration: $pcr_before"
  n0=$(wc -l < $DLOG)
  t0=$(up)
  # /run is noexec in this dom0: xl runs "exec <sshcommand> localhost xl migrate-receive -p"
  timeout 300 xl -v migrate -p -s "sh $LOCALSSH" domu20 localhost > $R/xl-migrate.out 2>&1; rc=$?
  grep -v -E 'detail:|^$' $R/xl-migrate.out | tail -n 25 | sed 's/^/E2E-XL migrate| /'
  new=$(domid_of domu20)
  say "domu20: domain $old before, ${new:-none} after; $(xl list 2>&1 | grep domu20 | xargs)"
  if [ $rc = 0 ] && [ -n "$new" ] && [ "$new" != "$old" ]; then ok "xl migrate -p domu20 localhost: domain $old -> $new ($(since $t0)s)"
  else bad "xl migrate -p domu20 localhost: rc=$rc, domain $old -> '${new:-none}'"; finish; return; fi
  t0=$(up)
  timeout 180 $VTPMBACK resume-domain domu20 > $R/resume.out 2>&1; rc=$?
  sed 's/^/E2E-LOG resume-domain| /' $R/resume.out | tail -n 20
  if [ $rc = 0 ]; then ok "vtpmback resume-domain domu20 ($(since $t0)s)"
  else bad "vtpmback resume-domain domu20: rc=$rc"; fi
  if [ -n "$new" ]; then
    wait_tpm0 domu20 300 || bad "domu20 has no TPM device after the migration"
    if tpm domu20 $T20_PCRREAD16 && is_rc0; then
      pcr_after=$(rsp_digest "$RSP")
      if [ "$pcr_after" = "$pcr_before" ]; then ok "PCR16 after the migration equals PCR16 before ($pcr_after)"
      else bad "PCR16 after the migration $pcr_after, before $pcr_before"; fi
    else bad "TPM2_PCR_Read(16) after the migration: '$RSP'"; fi
  fi
  ended=$(daemon_log_since $n0 | grep -E "domain $old vtpm 0: .*ended with" | head -n 1 | sed 's/^.*: domain/domain/')
  case $ended in
    *"ended with SUSPEND: saving as SUSPENDED"*) ok "source: $ended" ;;
    *) bad "source domain's vTPM not saved as SUSPENDED: '${ended:-no line}'" ;;
  esac
  start=$(daemon_log_since $n0 | grep -E "domain $new vtpm 0: .*start mode" | head -n 1 | sed 's/^.*start mode/start mode/')
  case $start in
    "start mode RESTORE"*) ok "destination: $start" ;;
    *) bad "destination's vTPM did not restore: '${start:-no line}'" ;;
  esac
  finish
}

# ---------------------------------------------------------------- main
write_config
: > $DLOG
tail -n +1 -F $DLOG 2>/dev/null | sed -u 's/^/E2E-VTPMBACK| /' &
for g in domu12 domu20 domu20--incoming; do
  tail -n 0 -F $CONSOLE/guest-$g.log 2>/dev/null | sed -u "s/\r\$//; s/^/E2E-DOMU $g| /" &
done
t0=$(up); java -version 2>&1 | head -n 1 | sed 's/^/E2E-INFO /'
echo "E2E-PHASE java-version dom0-uptime=$(up) took=$(since $t0)s"

# E2E_PROBE=1: how long swtpm's CMD_INIT takes here on a fresh state (the
# daemon bounds every control-channel answer)
probe_swtpm() { # $1 = 1.2|2.0
  d=/tmp/probe-$1; rm -rf $d; mkdir -p $d
  [ $1 = 2.0 ] && f=--tpm2 || f=
  t0=$(up)
  swtpm socket $f --tpmstate dir=$d --server type=unixio,path=$d/s --ctrl type=unixio,path=$d/c --log file=$d/log,level=1 &
  sp=$!
  while [ ! -S $d/c ]; do sleep 0.05; done
  t1=$(up)
  swtpm_ioctl --unix $d/c -i > $d/out 2>&1; rc=$?
  t2=$(up)
  swtpm_ioctl --unix $d/c -i > $d/out2 2>&1
  t3=$(up)
  kill $sp 2>/dev/null
  echo "E2E-PROBE swtpm TPM $1: socket after $(awk -v a=$t0 -v b=$t1 'BEGIN{print b-a}')s, first CMD_INIT $(awk -v a=$t1 -v b=$t2 'BEGIN{print b-a}')s (rc $rc $(cat $d/out | xargs)), second CMD_INIT $(awk -v a=$t2 -v b=$t3 'BEGIN{print b-a}')s"
}
if [ "${E2E_PROBE:-0}" = 1 ]; then probe_swtpm 1.2; probe_swtpm 2.0; fi

echo "E2E-PHASE backend-start dom0-uptime=$(up) backend=$E2E_BACKEND"
if ! daemon_start; then
  echo "E2E-FATAL the backend did not start; no scenario can run"
  tail -n 60 $DLOG | sed 's/^/E2E-FATAL log| /'
  for n in $(echo $E2E_SCENARIOS | tr , ' '); do echo "E2E-SCENARIO $n - FAIL 0"; done
  exit 1
fi
echo "E2E-PHASE backend-ready dom0-uptime=$(up)"

for n in 1 3 8 5 4 6 7 2; do
  if selected $n; then
    echo "E2E-PHASE scenario-$n dom0-uptime=$(up)"
    scenario$n
  fi
done
echo "E2E-PHASE scenarios-done dom0-uptime=$(up)"
grep -a -m 3 'WRITE (/local/domain/0/backend/vtpm' $TRACE | tr '\000' '@' | sed 's/^/E2E-LOG trace sample: /' 
# stop the daemon last, so its shutdown shows in the log
daemon_stop >/dev/null 2>&1
sleep 1
exit 0
