#!/bin/bash
# faults.sh [--long] [--no-build] [guest|state|all] [GUEST OPTIONS] - the fault suites (docs/reliability.md).
#   guest  a hostile guest against the packaged daemon (issue 9): fuzzed shared pages, hostile xenstore
#          writes over the guest's own xenstored connection, writes to its backend's nodes on cxenstored
#          and oxenstored, a notification flood during RSA key generation, swtpm killed / crashing in a
#          loop / hung mid-command, a save failing with ENOSPC; a neighbour guest measured throughout
#          (org.vtpmback.test.faults.guest.GuestFaults, host = simulated, real xenstored, real swtpm);
#   state  scripts/faults-state.sh (power cuts and kill -9 around saves, issue 10), if present;
#   all    both (the default).
# Profiles: short (default; CI, a few minutes on 2 cores) and --long (10^6 pages, 10^5 xenstore steps;
# run by hand, `nice -n 10`, figures go to docs/reliability.md). Each suite prints one
# `FAULTS <suite> <case> key=value ... result=PASS|FAIL` line per case and exits non-zero when a count
# the issue fixes is violated; latency is reported as ratios only.
# GUEST OPTIONS go to GuestFaults: --seed N, --cases pages,xenstore,backend-nodes,keygen-flood,swtpm,enospc,
#   --pages N, --writes N, --hang, --answer-bound SECONDS, --daemon-java-opts "OPTS" (extra, after the launcher's).
# --no-build uses what the last build left (packaging/target, test/target/test-classes).
# Env: XEN_ROOT=<dir> the Xen user space (default build/xen-root, fetched if missing);
#      FAULTS_WORK=<dir> work folder (default a new /tmp/vtpmback-faults.XXXXXX, removed after a pass);
#      FAULTS_STATE_POINTS=N cut points per mode of the state suite's short profile (default 20; CI: 10);
#      SKIP_APT=1 never runs apt-get. Root is needed for the ENOSPC case (a tmpfs state-dir).
set -euo pipefail
repo=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
cd "$repo"
log() { echo "==> $*"; }

build=1 long=0 what=all
args=()
for a in "$@"; do
	case $a in
		--no-build) build=0 ;;
		--long) long=1 ;;
		guest|state|all) what=$a ;;
		-h|--help) sed -n '2,20p' "$0"; exit 0 ;;
		*) args+=("$a") ;;
	esac
done

scripts/install-deps.sh >/dev/null
xen_root=${XEN_ROOT:-$repo/build/xen-root}
scripts/fetch-xen-debs.sh "$xen_root" >/dev/null
# libxenstore of the Xen user space, for the daemon and for the suite's own toolstack emulator.
export LD_LIBRARY_PATH=$xen_root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
status=0

run_guest() {
	if [ "$build" = 1 ]; then
		log "building (mvn -B -q package -DskipTests)"
		mvn -B -q package -DskipTests -Dxen.root="$xen_root"
	fi
	local dist
	dist=$(ls -d packaging/target/vtpmback-*/ 2>/dev/null | head -1)
	dist=${dist%/}
	[ -n "$dist" ] && [ -d test/target/test-classes/org/vtpmback/test/faults/guest ] \
		|| { echo "faults: nothing built yet; run without --no-build" >&2; return 1; }
	local work=${FAULTS_WORK:-$(mktemp -d /tmp/vtpmback-faults.XXXXXX)}
	mkdir -p "$work"
	local profile=()
	[ "$long" = 1 ] && profile=(--long)
	log "guest fault suite ($([ "$long" = 1 ] && echo long || echo short) profile), work folder $work"
	set +e
	java -Dxen.root="$xen_root" -Dvtpmback.root="$repo" \
		-cp "$dist/lib/*:test/target/test-classes:backend/target/test-classes" \
		org.vtpmback.test.faults.guest.GuestFaults --work "$work" --dist "$dist" ${profile[@]+"${profile[@]}"} \
		${args[@]+"${args[@]}"}
	local rc=$?
	set -e
	# The suite unmounts its tmpfs and stops its processes; this covers a suite that was killed.
	for m in "$work"/*/state; do mountpoint -q "$m" 2>/dev/null && umount "$m"; done
	if [ "$rc" -ne 0 ]; then
		log "guest fault suite FAILED (exit $rc); daemon logs and state are in $work"
	elif [ -z "${FAULTS_WORK:-}" ]; then
		rm -rf "$work"
	fi
	return "$rc"
}

run_state() {
	if [ -x scripts/faults-state.sh ]; then
		local profile=()
		[ "$long" = 1 ] && profile=(--long)
		[ "$long" = 1 ] || [ -z "${FAULTS_STATE_POINTS:-}" ] || profile=(--points "$FAULTS_STATE_POINTS")
		scripts/faults-state.sh ${profile[@]+"${profile[@]}"}
	else
		echo "FAULTS state skipped: scripts/faults-state.sh is not in this tree yet (the statefaults part)"
	fi
}

if [ "$what" = guest ] || [ "$what" = all ]; then
	run_guest || status=1
fi
if [ "$what" = state ] || [ "$what" = all ]; then
	run_state || status=1
fi
exit "$status"
