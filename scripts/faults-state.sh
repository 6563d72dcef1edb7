#!/bin/bash
# faults-state.sh [--long] [--points N] [--mode power|kill|both] [--seed S] [--minutes M] [--verbose]
#   The state fault suite (issue 10): the packaged daemon (host = simulated, real xenstored, real
#   swtpm) cut at random points of its real work - NV counter writes, reboots, save/restore,
#   migration handover, manufacture, `vtpmback import` beside it - then started again; the guest's acknowledged NV counter and
#   every manufactured vTPM are checked after each restart.
#     power: the daemon and its swtpm processes die, the state folder keeps only what fsync made
#            durable (test/crashfs/crashfs.c, an LD_PRELOAD power-cut model), the runtime folder
#            is emptied;
#     kill:  kill -9 of the daemon alone (its swtpm processes are taken over).
#   Cut points: at the daemon's n-th fsync/rename in the state folder (inside the save after a
#   command), after a random delay into the operation, or at rest.
#   Default: 20 points per mode (the CI profile); --long: 1000 per mode. --minutes M stops each
#   mode after M minutes with the points done so far (the summary says how many).
#   Prints one line per mode, e.g.
#     FAULTS state power points=20 lost=0 unloadable=0 phantom=0 hung=0 seed=... duration=... result=PASS
#   and exits non-zero if any acknowledged write or vTPM was lost, or a state did not load.
# Env: XEN_ROOT (default build/xen-root), MVN_ARGS (extra Maven arguments, e.g. -o).
set -euo pipefail
repo=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
cd "$repo"

points=20 mode=both seed= minutes= verbose=false
while [ $# -gt 0 ]; do
	case $1 in
	--long) points=1000 ;;
	--points) points=$2; shift ;;
	--mode) mode=$2; shift ;;
	--seed) seed=$2; shift ;;
	--minutes) minutes=$2; shift ;;
	--verbose) verbose=true ;;
	*) echo "usage: $0 [--long] [--points N] [--mode power|kill|both] [--seed S] [--minutes M] [--verbose]" >&2; exit 2 ;;
	esac
	shift
done
case $mode in power | kill | both) ;; *) echo "$0: --mode power|kill|both" >&2; exit 2 ;; esac

summary=$repo/test/target/faults-state/summary.txt
mkdir -p "$(dirname "$summary")"
rm -f "$summary"
args=(-B ${MVN_ARGS:-} verify -pl test -am "-Dxen.root=${XEN_ROOT:-$repo/build/xen-root}"
	-Dtest='StateFaultsTest,CrashFsTest' -Dsurefire.failIfNoSpecifiedTests=false
	"-Dfaults.state.points=$points" "-Dfaults.state.mode=$mode" "-Dfaults.state.summary=$summary"
	"-Dfaults.state.verbose=$verbose" "-Dfaults.state.progress=$repo/test/target/faults-state/progress")
[ -n "$seed" ] && args+=("-Dfaults.state.seed=$seed")
[ -n "$minutes" ] && args+=("-Dfaults.state.minutes=$minutes")
log=$repo/test/target/faults-state/mvn.log
echo "==> mvn ${args[*]} (log: $log; machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
set +e
mvn "${args[@]}" >"$log" 2>&1
rc=$?
set -e
grep -E '^(FAULTS state|point |  point )' "$log" || true
if [ ! -s "$summary" ]; then
	grep -E "ERROR|FAIL" "$log" | head -40
	echo "FAULTS state: no summary (mvn exit $rc)"
	exit 1
fi
cat "$summary"
bad=$(grep -cv ' lost=0 unloadable=0 phantom=0 .*result=PASS$' "$summary" || true)
if [ "$rc" -ne 0 ] || [ "$bad" -ne 0 ]; then
	echo "FAULTS state: FAILED (mvn exit $rc, $bad mode(s) with losses)"
	exit 1
fi
exit 0
