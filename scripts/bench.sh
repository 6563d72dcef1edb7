#!/bin/bash
# bench.sh [--no-build] [--quick] [OPTIONS] - what the vtpmback relay costs compared with talking to
# swtpm directly, as ratios against a baseline measured in the same run (README "Benchmark"):
#  1. builds the distribution and the test classes (mvn -B -q package -DskipTests), unless --no-build;
#  2. starts a private real xenstored (test/xenstored/run-xenstored.sh) and the vtpmback daemon from
#     the distribution with host = simulated, as scripts/demo.sh does; its runtime-dir is on a tmpfs
#     (/dev/shm, as /run in production), its state-dir on disk (the work folder, as /var/lib/vtpmback);
#  3. runs org.vtpmback.test.bench.RelayBenchmark: raw swtpm vs the relay, same commands, same swtpm; the NV_Write
#     cases (one guest, and as many as the largest mix case) also run raw swtpm with its state in the work folder,
#     on the state-dir's file system (the fair baseline for a state change) beside raw swtpm on the tmpfs, and print
#     GOAL lines (issue 13: NV_Write <= 1.2x raw on disk; many guests' aggregate >= 0.8x raw on disk);
#  4. stops everything; removes the work folder if the benchmark passed (unless BENCH_WORK is set).
# OPTIONS go to the benchmark: --quick (under a minute after the build), --commands N, --warmup N,
#   --guests 1,4,16, --rounds N, --nv-commands N, --nv-warmup N; --help lists them.
# bench.sh --first-start [--no-build] [--quick] [--rounds N] [--probe-delay MS] instead runs
#   org.vtpmback.test.bench.FirstStartBenchmark on the private xenstored: the wait for a new uuid's first start
#   (frontend Initialised -> backend Connected) next to an existing vTPM's reboot, TPM 2.0 and 1.2, with a
#   stocked pool of ready-made TPMs and with none, each on a daemon of its own (FIRST_START lines, ratios).
# bench.sh --datapath [--no-build] [--commands N] [--prime N] [--strace|--perf] instead runs
#   org.vtpmback.test.bench.DataPathProfile against the daemon: one guest, the command mix; per daemon thread the CPU
#   time and context switches per relayed command, swtpm's own CPU per command, and with --strace the daemon's system
#   calls counted over the same window, or with --perf a perf record of it (kept in the work folder; the daemon writes
#   its JIT symbols to /tmp/perf-<pid>.map at exit) (docs/benchmarks.md, "Data path: where the microseconds go").
# Env: XEN_ROOT=<dir> the Xen user space (default build/xen-root, fetched if missing);
#      BENCH_WORK=<dir> work folder (default a new /tmp/vtpmback-bench.XXXXXX; kept when given);
#      BENCH_DIST=<dir> the distribution whose daemon is measured (default packaging/target/vtpmback-*; another
#        checkout's, to compare versions in runs made the same way);
#      SIM_NO_JAIL=1 swtpm unjailed (scripts/sim-host.sh: on a machine where other daemons start meanwhile);
#      SKIP_APT=1 never runs apt-get (scripts/install-deps.sh only reports what is missing).
set -euo pipefail
repo=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
cd "$repo"
log() { echo "==> $*"; }

build=1
first_start=0
datapath=0
strace_counts=0
perf_record=0
args=()
for a in "$@"; do
	case $a in
		--no-build) build=0 ;;
		--first-start) first_start=1 ;;
		--datapath) datapath=1 ;;
		--strace) strace_counts=1 ;;
		--perf) perf_record=1 ;;
		-h|--help) sed -n '2,29p' "$0"; exit 0 ;;
		*) args+=("$a") ;;
	esac
done

scripts/install-deps.sh
xen_root=${XEN_ROOT:-$repo/build/xen-root}
scripts/fetch-xen-debs.sh "$xen_root" >/dev/null
if [ "$build" = 1 ]; then
	log "building (mvn -B -q package -DskipTests)"
	mvn -B -q package -DskipTests -Dxen.root="$xen_root"
fi
dist=${BENCH_DIST:-$(ls -d packaging/target/vtpmback-*/ 2>/dev/null | head -1)}
dist=${dist%/}
[ -n "$dist" ] && [ -d test/target/test-classes/org/vtpmback/test/bench ] \
	|| { echo "bench: nothing built yet; run without --no-build" >&2; exit 1; }
classpath="$dist/lib/*:test/target/test-classes:backend/target/test-classes"

work=${BENCH_WORK:-$(mktemp -d /tmp/vtpmback-bench.XXXXXX)}
mkdir -p "$work"
shm=/dev/shm
[ -d "$shm" ] && [ -w "$shm" ] || shm=/tmp
runtime=$(mktemp -d "$shm/vtpmback-bench.XXXXXX") # short: UNIX socket paths end at 107 bytes
# shellcheck source=scripts/sim-host.sh
. scripts/sim-host.sh
cleanup() {
	sim_host_stop "$work"
	rm -rf "$runtime"
}
trap cleanup EXIT
if [ "$first_start" = 1 ]; then
	# daemons of its own (one per pool setting), on a private xenstored only
	log "starting a private xenstored (Xen 4.17 cxenstored) in $work/xsd"
	eval "$(XEN_ROOT=$xen_root test/xenstored/run-xenstored.sh start "$work/xsd")"
	export LD_LIBRARY_PATH XENSTORED_PATH
	log "first-start benchmark: swtpm $(swtpm --version 2>&1 | head -1 | sed 's/.*version //')"
	set +e
	java -cp "$classpath" org.vtpmback.test.bench.FirstStartBenchmark --xenstored "$XENSTORED_PATH" \
		--work "$work/fs" --runtime "$runtime" ${args[@]+"${args[@]}"}
	rc=$?
	set -e
	if [ "$rc" -ne 0 ]; then
		log "first-start benchmark FAILED (exit $rc); the daemons' logs: $work/fs/*/daemon/daemon.log"
	elif [ -z "${BENCH_WORK:-}" ]; then
		cleanup
		trap - EXIT
		rm -rf "$work"
	fi
	exit "$rc"
fi
sim_host_start "$work" "$runtime/sim" "$runtime/daemon" bench
if [ "$datapath" = 1 ]; then
	daemon_pid_was=$daemon_pid
	log "data-path profile: swtpm $(swtpm --version 2>&1 | head -1 | sed 's/.*version //')"
	set +e
	java -cp "$classpath" org.vtpmback.test.bench.DataPathProfile --xenstored "$XENSTORED_PATH" --sim "$runtime/sim" \
		--work "$work/profile" --daemon-pid "$daemon_pid" $([ "$strace_counts" = 1 ] && echo "--strace $work/strace.txt") \
		$([ "$perf_record" = 1 ] && echo "--perf $work/perf.data") ${args[@]+"${args[@]}"}
	rc=$?
	set -e
	if [ "$perf_record" = 1 ]; then
		cleanup # the daemon exits and writes /tmp/perf-<pid>.map
		trap - EXIT
		log "perf report --no-children -i $work/perf.data (daemon pid $daemon_pid_was; JIT symbols in /tmp/perf-$daemon_pid_was.map)"
	elif [ "$rc" -eq 0 ] && [ -z "${BENCH_WORK:-}" ]; then
		cleanup
		trap - EXIT
		rm -rf "$work"
	fi
	exit "$rc"
fi

log "benchmark: swtpm $(swtpm --version 2>&1 | head -1 | sed 's/.*version //')"
set +e
java -cp "$classpath" org.vtpmback.test.bench.RelayBenchmark \
	--xenstored "$XENSTORED_PATH" --sim "$runtime/sim" --work "$work/bench" --runtime "$runtime/raw" \
	--daemon-state "$work/state" --daemon-pid "$daemon_pid" ${args[@]+"${args[@]}"}
rc=$?
set -e

if [ "$rc" -ne 0 ]; then
	log "benchmark FAILED (exit $rc); the daemon's log ends with:"
	tail -n 30 "$work/daemon.log" | sed 's/^/    /'
	log "everything is in $work"
elif [ -z "${BENCH_WORK:-}" ]; then
	cleanup
	trap - EXIT
	rm -rf "$work"
fi
exit "$rc"
