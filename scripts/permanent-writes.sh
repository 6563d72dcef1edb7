#!/bin/bash
# permanent-writes.sh [--extends N] - which TPM 2.0 commands make swtpm rewrite its permanent state, i.e. how
# many checkpoints (one fdatasync each) a realistic guest command mix costs through vtpmback (docs/benchmarks.md,
# "Checkpoints per command mix"). vtpmback checkpoints after exactly the commands that rewrite swtpm's permall file.
#
# Starts one swtpm (TPM 2.0, the flags vtpmback uses for the state, TCP on localhost), runs a guest's life with
# tpm2-tools step by step - boot probing, measured boot and IMA extends, hwrng reads, a disk unlock with a
# PCR-sealed key, attestation (EK, AK, quote), a persistent SRK, an NV counter, a wrong password (dictionary
# attack counter), a reboot - and counts, per step, the TPM commands swtpm answered and the times it rewrote
# tpm2-00.permall (strace of swtpm: responses written, renames of the permall file).
# Prints one line per step and a total, e.g.
#   STEP ima-extends commands=500 permanent_writes=0
#   PERMANENT_WRITES mix commands=... writes=... per_1000_commands=...
# Needs swtpm, tpm2-tools (tcti swtpm) and strace; changes nothing outside a temp folder.
set -euo pipefail
extends=500
while [ $# -gt 0 ]; do
	case $1 in
	--extends) extends=$2; shift ;;
	-h | --help) sed -n '2,15p' "$0"; exit 0 ;;
	*) echo "usage: $0 [--extends N]" >&2; exit 2 ;;
	esac
	shift
done
for t in swtpm strace tpm2_getrandom tpm2_createprimary; do
	command -v "$t" >/dev/null || { echo "$0: $t is missing (apt-get install swtpm tpm2-tools strace)" >&2; exit 78; }
done

work=$(mktemp -d /tmp/permanent-writes.XXXXXX)
port=$((20000 + RANDOM % 20000))
cleanup() {
	[ -f "$work/swtpm.pid" ] && kill "$(cat "$work/swtpm.pid")" 2>/dev/null || true
	[ -n "${strace_pid:-}" ] && kill "$strace_pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
mkdir "$work/state"
swtpm socket --tpm2 --tpmstate "dir=$work/state,mode=0600" --server "type=tcp,port=$port,bindaddr=127.0.0.1" \
	--ctrl "type=tcp,port=$((port + 1)),bindaddr=127.0.0.1" --flags not-need-init,startup-clear \
	--daemon --pid "file=$work/swtpm.pid"
for _ in $(seq 50); do [ -s "$work/swtpm.pid" ] && break; sleep 0.1; done
export TPM2TOOLS_TCTI="swtpm:host=127.0.0.1,port=$port"
strace -f -s 2 -e trace=write,rename -p "$(cat "$work/swtpm.pid")" -o "$work/trace" 2>/dev/null &
strace_pid=$!
sleep 1
cd "$work"
q() { "$@" >/dev/null 2>"$work/last.err" || { echo "$0: $* failed: $(tail -3 "$work/last.err")" >&2; return 1; }; }
# As the kernel's resource manager (/dev/tpmrm0) does: no object stays loaded between tools (swtpm has 3 slots).
t() {
	q "$@"
	for kind in -t -l -s; do tpm2_flushcontext "$kind" >/dev/null 2>&1 || true; done
}
step_no=0
steps=()
# A step ends with GetRandom of a size no other command asks for: its response (12 + size bytes) marks the end.
mark() {
	step_no=$((step_no + 1))
	steps+=("$1")
	tpm2_getrandom $((40 + step_no)) >/dev/null
}

# Kernel and firmware probing at boot; the kernel's hwrng reads GetRandom now and then.
q tpm2_selftest --fulltest
for c in properties-fixed properties-variable algorithms commands pcrs handles-persistent; do q tpm2_getcap "$c"; done
q tpm2_pcrread sha256:0,1,2,3,4,5,6,7
mark boot-probing
for i in $(seq 20); do q tpm2_getrandom 32; done
mark hwrng-reads
for i in $(seq "$extends"); do q tpm2_pcrextend "10:sha256=$(printf '%064x' "$i")"; done
mark ima-extends
q tpm2_readclock
q tpm2_pcrread sha256:10
mark clock-and-pcr-reads
# Disk unlock as systemd-cryptenroll sets it up (once) and systemd-cryptsetup does it (every boot).
t tpm2_createprimary -C o -G ecc -c srk.ctx
q tpm2_pcrread -o pcr.bin sha256:7
q tpm2_createpolicy --policy-pcr -l sha256:7 -f pcr.bin -L pcr.policy
echo -n "disk key" >secret
t tpm2_create -C srk.ctx -L pcr.policy -i secret -u sealed.pub -r sealed.priv
mark enroll-sealed-key
for boot in 1 2 3; do
	t tpm2_createprimary -C o -G ecc -c srk.ctx
	t tpm2_load -C srk.ctx -u sealed.pub -r sealed.priv -c sealed.ctx
	q tpm2_startauthsession --policy-session -S session.ctx
	q tpm2_policypcr -S session.ctx -l sha256:7
	t tpm2_unseal -c sealed.ctx -p session:session.ctx
done
mark unlock-x3
# Attestation: EK and AK, then quotes.
t tpm2_createek -c ek.ctx -G rsa -u ek.pub
t tpm2_createak -C ek.ctx -c ak.ctx -G rsa -g sha256 -s rsassa -u ak.pub -n ak.name
mark create-ek-ak
for i in 1 2 3; do t tpm2_quote -c ak.ctx -l sha256:0,7,10 -q "abcd0$i" -m q.msg -s q.sig; done
mark quotes-x3
# Once per guest: a persistent SRK (systemd-tpm2-setup), an NV counter bumped now and then.
t tpm2_createprimary -C o -G ecc -c srk2.ctx
t tpm2_evictcontrol -C o -c srk2.ctx 0x81000001
mark persist-srk
q tpm2_nvdefine 0x1500020 -C o -s 8 -a "ownerread|ownerwrite|authread|authwrite|nt=counter"
mark nv-define-counter
for i in 1 2 3; do q tpm2_nvincrement 0x1500020 -C o; done
mark nv-increment-x3
# A wrong password on a key under dictionary-attack protection (the lockout counter is permanent state).
t tpm2_createprimary -C o -G ecc -c srk.ctx
t tpm2_create -C srk.ctx -p right -u pw.pub -r pw.priv
t tpm2_load -C srk.ctx -u pw.pub -r pw.priv -c pw.ctx
mark da-key-setup
q tpm2_sign -c pw.ctx -p wrong -g sha256 -o sig.bin secret 2>/dev/null || true
q tpm2_flushcontext -t
mark wrong-password
# The guest reboots: TPM2_Shutdown(CLEAR), then TPM2_Startup(CLEAR) (vtpmback sends the Startup itself).
q tpm2_shutdown -c
q tpm2_startup -c
mark reboot
sleep 0.5
kill "$strace_pid" 2>/dev/null || true
wait "$strace_pid" 2>/dev/null || true
strace_pid=

# Per step: responses written (lines "write(N, "\200\1..." or "\200\2..."), permall renames, up to the step's marker.
awk -v names="${steps[*]}" '
	BEGIN { n = split(names, step, " "); s = 1 }
	/write\([0-9]+, "\\200\\[12]/ {
		match($0, /= [0-9]+$/); len = substr($0, RSTART + 2) + 0
		if (len == 12 + 40 + s) { printf "STEP %s commands=%d permanent_writes=%d\n", step[s], cmds, writes; tc += cmds; tw += writes; \
			if (step[s] != "enroll-sealed-key" && step[s] != "persist-srk" && step[s] != "nv-define-counter" && step[s] != "da-key-setup") { mc += cmds; mw += writes } \
			cmds = 0; writes = 0; s++; next }
		cmds++
	}
	/rename\(.*TMP2-00\.permall/ { writes++ }
	END {
		printf "PERMANENT_WRITES all commands=%d writes=%d per_1000_commands=%.1f\n", tc, tw, tc ? 1000 * tw / tc : 0
		printf "PERMANENT_WRITES recurring commands=%d writes=%d per_1000_commands=%.1f (without the one-time set-up steps)\n", mc, mw, mc ? 1000 * mw / mc : 0
	}' "$work/trace"
