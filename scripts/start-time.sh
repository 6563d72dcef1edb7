#!/bin/bash
# start-time.sh - how long `vtpmback daemon` takes from exec to ready (issue 13, "Start-up"), over
# several starts against a private real xenstored with host = simulated (scripts/sim-host.sh's recipe).
#
#   scripts/start-time.sh [-n RUNS] [DIST] [-- DAEMON OPTIONS]
#
# DIST is a built distribution folder (default: the newest packaging/target/vtpmback-*/; build it
# with mvn -B package -pl packaging -am -DskipTests). One state folder serves every start, as on a
# host: a first start, not counted, makes the master key and fills the pool of ready-made TPMs
# (manufacture-pool, default 2), and is stopped once the pool is full. Then RUNS counted starts
# (default 10), each stopped with SIGTERM once ready. Nothing else runs: the host has no guest. DAEMON
# OPTIONS go to every start, e.g. -- --set manufacture-pool=0.
#
# exec-to-ready is measured from outside, as systemd sees it: from just before the launcher is exec'd to
# the moment its READY=1 arrives on NOTIFY_SOCKET (sd_notify(3); the kernel stamps each datagram on
# arrival, SO_TIMESTAMP, so a slow receiver does not count), and the daemon loads libsystemd as under its unit. The daemon's own breakdown ("ready N s
# after exec: ...") is printed beside it, and the CPU time the daemon had used when READY=1 arrived (user +
# system, its own and its waited-for children's, from /proc): on a busy machine the wall time says more about
# the other jobs than about the daemon, its CPU time much less.
# Output: one START line per run, then
#   START-SUMMARY runs=N exec_to_ready_median=S min=S max=S cpu_median=S java_opts='...' cds=app|jdk|off
# Env: VTPMBACK_JAVA_OPTS (passed to the launcher, e.g. -Xshare:off), XEN_ROOT (default build/xen-root),
#      START_WORK=<dir> (default: a new /tmp/vtpmback-start.XXXXXX, removed at the end unless KEEP=1).
set -uo pipefail
repo=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
cd "$repo"
log() { echo "==> $*"; }
die() { echo "start-time: $*" >&2; exit 2; }

runs=10
while [ $# -gt 0 ]; do
	case $1 in
		-n) runs=${2:?-n needs a number}; shift 2 ;;
		-h|--help) sed -n '2,22p' "$0"; exit 0 ;;
		-*) die "unknown option $1 (see --help)" ;;
		*) break ;;
	esac
done
dist=
if [ $# -gt 0 ] && [ "$1" != -- ]; then dist=$1; shift; fi
[ "${1:-}" = -- ] && shift
extra=("$@")
dist=${dist:-$(ls -d packaging/target/vtpmback-*/ 2>/dev/null | sort -V | tail -1)}
dist=${dist%/}
[ -x "$dist/bin/vtpmback" ] || die "no distribution at '${dist}' (mvn -B package -pl packaging -am -DskipTests)"
xen_root=${XEN_ROOT:-$repo/build/xen-root}

work=${START_WORK:-$(mktemp -d /tmp/vtpmback-start.XXXXXX)}
mkdir -p "$work"
# the runtime folder on tmpfs, as on a host (/run/vtpmback): the daemon warns about a disk there
runtime=$(mktemp -d /dev/shm/vtpmback-start.XXXXXX)
cleanup() {
	[ -n "${daemon_pid:-}" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
	[ -n "${notify_pid:-}" ] && kill "$notify_pid" 2>/dev/null
	XEN_ROOT=$xen_root test/xenstored/run-xenstored.sh stop "$work/xsd" >/dev/null 2>&1
	rm -rf "$runtime"
	if [ "${KEEP:-0}" = 1 ]; then echo "kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# the service manager's end of sd_notify: one line "<arrival time> <assignments>" per datagram
export NOTIFY_SOCKET=$work/notify.sock
python3 -c '
import socket, struct, sys
SO_TIMESTAMP = getattr(socket, "SO_TIMESTAMP", 29)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMP, 1)  # the kernel stamps each datagram as it arrives
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        data, anc, _, _ = s.recvmsg(4096, 256)
        stamp = [struct.unpack("qq", d[:16]) for level, kind, d in anc if level == socket.SOL_SOCKET and kind == SO_TIMESTAMP]
        sec, usec = stamp[0]
        out.write("%d.%06d %s\n" % (sec, usec, data.decode().replace("\n", " ")))
' "$NOTIFY_SOCKET" "$work/notify.log" &
notify_pid=$!
for _ in $(seq 200); do [ -S "$NOTIFY_SOCKET" ] && break; sleep 0.05; done
[ -S "$NOTIFY_SOCKET" ] || die "the sd_notify receiver (python3) did not start"
log "private xenstored in $work/xsd"
eval "$(XEN_ROOT=$xen_root test/xenstored/run-xenstored.sh start "$work/xsd")" || die "cannot start xenstored"
export LD_LIBRARY_PATH XENSTORED_PATH

daemon_args=(daemon --set host=simulated --set "simulation-dir=$work/sim" --set "xenstored-socket=$XENSTORED_PATH"
	--set "state-dir=$work/state" --set "runtime-dir=$runtime")
# jailed as root, on a uid range of this run's own, never the default one that other daemons use (sim-host.sh)
. scripts/sim-host.sh
read -ra jail <<<"$(sim_jail_settings)"
daemon_args+=("${jail[@]}")
daemon_args+=("${extra[@]}")

# start_daemon LOG: starts the daemon, returns once it logged "ready" and sent READY=1; sets daemon_pid,
# t0, t1 (when READY=1 arrived), cpu (its CPU seconds just after), ready_line. Fails if it exits first or takes more than 120 s.
start_daemon() {
	local out=$1 line notified
	: >"$out"
	notified=$(wc -l <"$work/notify.log" 2>/dev/null || echo 0)
	t0=$EPOCHREALTIME
	coproc DAEMON { exec "$dist/bin/vtpmback" "${daemon_args[@]}" 2>&1; }
	daemon_pid=$DAEMON_PID
	exec {daemon_out}<&"${DAEMON[0]}"
	ready_line=
	while IFS= read -r -t 120 line <&"$daemon_out"; do
		printf '%s\n' "$line" >>"$out"
		case $line in
			*"vtpmback: ready "*) ready_line=$line; break ;;
		esac
	done
	if [ -n "$ready_line" ]; then
		for _ in $(seq 500); do
			t1=$(tail -n +"$((notified + 1))" "$work/notify.log" | awk '/READY=1/ { print $1; exit }')
			if [ -n "$t1" ]; then
				# CPU seconds the daemon (and the children it waited for) used up to now: fields 14-17 after the name
				cpu=$(sed 's/.*) //' "/proc/$daemon_pid/stat" | awk '{ printf "%.2f", ($12 + $13 + $14 + $15) / 100 }')
				# and per thread kind (main, C1/C2 compiler, GC, ...): where that CPU went
				for task in /proc/"$daemon_pid"/task/*; do
					sed 's/^[0-9]* (\(.*\)) [A-Z] \(.*\)/\1|\2/' "$task/stat" 2>/dev/null
				done | awk -F'|' '{ split($2, f, " "); name = $1; sub(/[#0-9]+$/, "", name); cpu[name] += (f[11] + f[12]) / 100 }
					END { for (n in cpu) if (cpu[n] > 0) printf "%s=%.2f ", n, cpu[n]; print "" }' >"$out.threads"
				return 0
			fi
			sleep 0.01
		done
		die "the daemon logged ready but sent no READY=1 to $NOTIFY_SOCKET"
	fi
	cat "$out"
	die "the daemon exited or did not get ready within 120 s (above)"
}

# stop_daemon LOG: SIGTERM, then the rest of its output into LOG.
stop_daemon() {
	kill "$daemon_pid" 2>/dev/null
	cat <&"$daemon_out" >>"$1"
	wait "$daemon_pid" 2>/dev/null
	exec {daemon_out}<&-
	daemon_pid=
}

log "first start (not counted): master key, pool of ready-made TPMs"
start_daemon "$work/first.log"
for _ in $(seq 600); do
	# the pool is full when the filler has nothing left to make (2 entries, the default; none if it is off)
	n=$(ls "$work/state/pool"/*.vtpm 2>/dev/null | wc -l)
	[ "$n" -ge 2 ] && break
	[[ " ${extra[*]} " = *" manufacture-pool=0 "* ]] && break
	sleep 0.2
done
stop_daemon "$work/first.log"
log "pool: $(ls "$work/state/pool"/*.vtpm 2>/dev/null | wc -l) ready-made TPM(s)"

times=()
cpus=()
for i in $(seq "$runs"); do
	start_daemon "$work/run$i.log"
	stop_daemon "$work/run$i.log"
	s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
	times+=("$s")
	cpus+=("$cpu")
	echo "START run=$i exec_to_ready=${s}s cpu=${cpu}s ${ready_line#*vtpmback: }"
	echo "START-THREADS run=$i $(cat "$work/run$i.log.threads")"
done

# which classes came from a class-data sharing archive, asked of a JVM with the same options: app (vtpmback's own:
# the launcher's archive), jdk (only the JDK's default archive) or off
loads=$(VTPMBACK_JAVA_OPTS="${VTPMBACK_JAVA_OPTS:-} -Xlog:class+load=info" "$dist/bin/vtpmback" --version 2>&1)
cds=off
grep -q 'java.lang.Object source: shared objects file' <<<"$loads" && cds=jdk
grep -q 'org.vtpmback.hotplug.cli.Main source: shared objects file' <<<"$loads" && cds=app
cpu_median=$(printf '%s\n' "${cpus[@]}" | sort -n | awk '{ c[NR] = $1 } END { printf "%.2f", (NR % 2) ? c[(NR + 1) / 2] : (c[NR / 2] + c[NR / 2 + 1]) / 2 }')
printf '%s\n' "${times[@]}" | sort -n | awk -v cpu="$cpu_median" -v n="$runs" -v opts="${VTPMBACK_JAVA_OPTS:-}" -v cds="$cds" -v extra="${extra[*]}" '
	{ t[NR] = $1 }
	END {
		med = (n % 2) ? t[(n + 1) / 2] : (t[n / 2] + t[n / 2 + 1]) / 2
		printf "START-SUMMARY runs=%d exec_to_ready_median=%.3fs min=%.3fs max=%.3fs cpu_median=%ss java_opts=\x27%s\x27 cds=%s daemon_options=\x27%s\x27\n", n, med, t[1], t[n], cpu, opts, cds, extra
	}'
