#!/bin/bash
# bench.sh [--no-build] [--quick] [OPTIONS] - what the vtpmback relay costs compared with talking to
# swtpm directly, as ratios against a baseline measured in the same run (README "Benchmark"):
#  1. builds the distribution and the test classes (mvn -B -q package -DskipTests), unless --no-build;
#  2. starts a private real xenstored (test/xenstored/run-xenstored.sh) and the vtpmback daemon from
#     the distribution with host = simulated, as scripts/demo.sh does; its runtime-dir is on a tmpfs
#     (/dev/shm, as /run in production), its state-dir on disk (the work folder, as /var/lib/vtpmback);
#  3. runs org.vtpmback.test.bench.RelayBenchmark: raw swtpm vs the relay, same commands, same swtpm; the NV_Write
#     cases (one guest, and as many as the largest mix case) also run raw swtpm with its state in the work folder,
#     on the state-dir's file system (the fair baseline for a state change) beside raw swtpm on the tmpfs and, for
#     reference, raw swtpm in a synchronous folder of that disk (chattr +S: raw-durable, where the flag takes), and print
#     GOAL lines (issue 13: NV_Write <= 1.2x raw on disk; many guests' aggregate >= 0.8x raw on disk);
#  4. stops everything; scripts/bench-results.sh turns the output into results/bench.csv (every result line, one
#     figure a line) and, with gnuplot installed, results/bench.png (latency CDF of mix-x1, throughput and CPU per
#     command against guests); removes the work folder but results/ if the benchmark passed (unless BENCH_WORK is set).
# OPTIONS go to the benchmark: --quick (under a minute after the build), --commands N, --warmup N,
#   --guests 1,4,16, --rounds N, --nv-commands N, --nv-warmup N; --help lists them.
# bench.sh --first-start [--no-build] [--quick] [--rounds N] [--probe-delay MS] instead runs
#   org.vtpmback.test.bench.FirstStartBenchmark on the private xenstored: the wait for a new uuid's first start
#   (frontend Initialised -> backend Connected) next to an existing vTPM's reboot, TPM 2.0 and 1.2, with a
#   stocked pool of ready-made TPMs and with none, each on a daemon of its own (FIRST_START lines, ratios).
# bench.sh --connect [--no-build] [--quick] [--rounds N] [--guests K] [--resume-delay MS] instead runs
#   org.vtpmback.test.bench.ConnectBenchmark on the private xenstored with a daemon of its own: an existing vTPM's
#   connect (the frontend's Initialised -> Connected -> first answer; a booting guest and at once) against raw swtpm's
#   spawn to first answer, a resume (probed MS after InitWait, default 50, and at once) against swtpm's own migration
#   sequence, and a daemon restart under K running guests (exec to ready, ready to the last guest's answer); CONNECT,
#   RATIO-INIT, RATIO-DELAYED, RATIO and GOAL lines.
# bench.sh --pool [--no-build] [--quick] [--rounds N] [--nv-commands N] [--failovers N] [--lease-ttl S] instead runs
#   org.vtpmback.test.bench.PoolBenchmark (issue 14): a 3-member etcd cluster (Debian's etcd-server; its data in the work
#   folder, beside the daemons' state) and daemons of its own on private xenstoreds: NV_Write latency and throughput,
#   connect and resume times with store = etcd against store = local (POOL lines, ratios etcd / local), then the
#   failover time after a host's death (host A SIGKILLed, host B re-creates the guest: lease TTL + start).
# bench.sh --datapath [--no-build] [--commands N] [--prime N] [--strace|--perf] instead runs
#   org.vtpmback.test.bench.DataPathProfile against the daemon: one guest, the command mix; per daemon thread the CPU
#   time and context switches per relayed command, swtpm's own CPU per command, and with --strace the daemon's system
#   calls counted over the same window, or with --perf a perf record of it (kept in the work folder; the daemon writes
#   its JIT symbols to /tmp/perf-<pid>.map at exit) (docs/benchmarks.md, "Data path: where the microseconds go").
# bench.sh --scale [--no-build] [--quick] [--guests N] [--storm N] [--idle-seconds S] instead runs
#   org.vtpmback.test.bench.ScaleBenchmark against the daemon: N guests (default 256; quick 32) attached in steps, the
#   daemon's RSS and threads at each (SCALE lines; threads per guest), its CPU idle with none and with all, then a boot
#   storm of 64 (quick 16) existing vTPMs at once (STORM: InitWait and Connected times against libxl's 10 s; STORM split:
#   the domain's and the device's transactions, their attempts, and commit to InitWait, the daemon's part); GOAL lines.
# bench.sh --guard [--no-build] [--cpu-bound X] [--throughput-bound X] [--commands N] instead runs
#   org.vtpmback.test.bench.BenchGuard (CI's regression guard, about a minute): one guest's mix, raw and relay
#   alternating; exit 1 if the daemon's CPU per relayed command exceeds 3 times its swtpm's, or the relay's throughput
#   falls below 0.1 of raw swtpm's (ratios only, never absolute times; GUARD lines name the ratio and its bound).
# Env: XEN_ROOT=<dir> the Xen user space (default build/xen-root, fetched if missing);
#      BENCH_WORK=<dir> work folder (default a new /tmp/vtpmback-bench.XXXXXX; kept when given);
#      BENCH_RESULTS=<dir> where output-<mode>.txt, bench.csv and bench.png go (default <work>/results): give
#        several runs (e.g. the default one and --scale) the same folder for one CSV and one chart of them all;
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
connect=0
pool=0
datapath=0
scale=0
guard=0
strace_counts=0
perf_record=0
args=()
for a in "$@"; do
	case $a in
		--no-build) build=0 ;;
		--first-start) first_start=1 ;;
		--connect) connect=1 ;;
		--pool) pool=1 ;;
		--datapath) datapath=1 ;;
		--scale) scale=1 ;;
		--guard) guard=1 ;;
		--strace) strace_counts=1 ;;
		--perf) perf_record=1 ;;
		-h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
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
results=${BENCH_RESULTS:-$work/results}
mkdir -p "$results"
results=$(cd "$results" && pwd)
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

# measure NAME CLASS ARGS...: runs org.vtpmback.test.bench.CLASS, its output also kept in $results/output-NAME.txt
# (what bench-results.sh reads); sets rc to its exit code.
measure() {
	local name=$1 class=$2
	shift 2
	set +e
	java -cp "$classpath" "org.vtpmback.test.bench.$class" "$@" 2>&1 | tee "$results/output-$name.txt"
	rc=${PIPESTATUS[0]}
	set -e
}

# finish WHAT: stops the daemon and xenstored, writes the CSV and the chart, says where everything is, and exits
# with rc; the work folder goes, all but its results, if the run passed and BENCH_WORK is not set.
finish() {
	local what=$1
	cleanup
	trap - EXIT
	scripts/bench-results.sh "$results" || log "no CSV: bench-results.sh failed"
	if [ "$guard" = 1 ] && [ "$rc" -eq 1 ]; then
		log "bench guard FAILED: a ratio is worse than its bound (the GUARD line above says which; figures in $results)"
	elif [ "$rc" -ne 0 ]; then
		log "$what FAILED (exit $rc); the daemon's log ends with:"
		tail -n 30 "$work/daemon.log" 2>/dev/null | sed 's/^/    /'
		log "everything is in $work"
	elif [ -z "${BENCH_WORK:-}" ] && [ "$perf_record" = 0 ]; then
		find "$work" -mindepth 1 -maxdepth 1 ! -path "$results" -exec rm -rf {} +
	fi
	exit "$rc"
}

swtpm_version=$(swtpm --version 2>&1 | head -1 | sed 's/.*version //')
if [ "$first_start" = 1 ]; then
	# daemons of its own (one per pool setting), on a private xenstored only
	log "starting a private xenstored (Xen 4.17 cxenstored) in $work/xsd"
	eval "$(XEN_ROOT=$xen_root test/xenstored/run-xenstored.sh start "$work/xsd")"
	export LD_LIBRARY_PATH XENSTORED_PATH
	log "first-start benchmark: swtpm $swtpm_version"
	measure first-start FirstStartBenchmark --xenstored "$XENSTORED_PATH" --work "$work/fs" --runtime "$runtime" \
		${args[@]+"${args[@]}"}
	[ "$rc" -eq 0 ] || log "the first-start daemons' logs: $work/fs/*/daemon/daemon.log"
	finish "first-start benchmark"
fi
if [ "$connect" = 1 ]; then
	# a daemon of its own (it restarts it), on a private xenstored only
	log "starting a private xenstored (Xen 4.17 cxenstored) in $work/xsd"
	eval "$(XEN_ROOT=$xen_root test/xenstored/run-xenstored.sh start "$work/xsd")"
	export LD_LIBRARY_PATH XENSTORED_PATH
	log "connect benchmark: swtpm $swtpm_version"
	measure connect ConnectBenchmark --xenstored "$XENSTORED_PATH" --work "$work/cn" --runtime "$runtime" \
		${args[@]+"${args[@]}"}
	[ "$rc" -eq 0 ] || log "the daemon's log: $work/cn/daemon/daemon.log"
	finish "connect benchmark"
fi
if [ "$pool" = 1 ]; then
	# its own etcd cluster, xenstoreds and daemons (test classes XenstoredDaemon, EtcdCluster, DaemonProcess)
	log "pool benchmark: swtpm $swtpm_version, $(/usr/bin/etcd --version 2>/dev/null | head -1)"
	set +e
	# the daemons load libxenstore from the Xen user space, as run-xenstored.sh's users do
	LD_LIBRARY_PATH="$xen_root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
		java -Dxen.root="$xen_root" -Dvtpmback.root="$repo" -cp "$classpath" org.vtpmback.test.bench.PoolBenchmark \
		--work "$work/pool" --runtime "$runtime" ${args[@]+"${args[@]}"} 2>&1 | tee "$results/output-pool.txt"
	rc=${PIPESTATUS[0]}
	set -e
	finish "pool benchmark"
fi
sim_host_start "$work" "$runtime/sim" "$runtime/daemon" bench
if [ "$scale" = 1 ]; then
	log "scale benchmark: swtpm $swtpm_version"
	measure scale ScaleBenchmark --xenstored "$XENSTORED_PATH" --sim "$runtime/sim" --work "$work/scale" \
		--daemon-pid "$daemon_pid" ${args[@]+"${args[@]}"}
	finish "scale benchmark"
elif [ "$guard" = 1 ]; then
	log "benchmark guard: swtpm $swtpm_version"
	measure guard BenchGuard --xenstored "$XENSTORED_PATH" --sim "$runtime/sim" --work "$work/guard" \
		--runtime "$runtime/raw" --daemon-pid "$daemon_pid" ${args[@]+"${args[@]}"}
	finish "benchmark guard"
elif [ "$datapath" = 1 ]; then
	daemon_pid_was=$daemon_pid
	log "data-path profile: swtpm $swtpm_version"
	measure datapath DataPathProfile --xenstored "$XENSTORED_PATH" --sim "$runtime/sim" --work "$work/profile" \
		--daemon-pid "$daemon_pid" $([ "$strace_counts" = 1 ] && echo "--strace $work/strace.txt") \
		$([ "$perf_record" = 1 ] && echo "--perf $work/perf.data") ${args[@]+"${args[@]}"}
	# the daemon exits in finish and writes /tmp/perf-<pid>.map
	[ "$perf_record" = 0 ] || log "perf report --no-children -i $work/perf.data (daemon pid $daemon_pid_was; JIT symbols in /tmp/perf-$daemon_pid_was.map)"
	finish "data-path profile"
fi

log "benchmark: swtpm $swtpm_version"
measure relay RelayBenchmark --xenstored "$XENSTORED_PATH" --sim "$runtime/sim" --work "$work/bench" --runtime "$runtime/raw" \
	--daemon-state "$work/state" --daemon-pid "$daemon_pid" --results "$results" ${args[@]+"${args[@]}"}
finish benchmark
