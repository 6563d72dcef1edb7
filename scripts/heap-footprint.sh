#!/bin/bash
# heap-footprint.sh [--no-build] [--steps 1,8,24] - the daemon's live heap per guest, to size -Xmx
# (packaging/README.md, "Memory"):
#  1. builds the distribution and the test classes (mvn -B -q package -DskipTests), unless --no-build;
#  2. starts a private real xenstored and the vtpmback daemon from the distribution (its launcher, so
#     with the launcher's heap flags) with host = simulated, as scripts/bench.sh does;
#  3. runs org.vtpmback.test.bench.HeapFootprint: boots guests in steps, a burst of commands in each,
#     then the daemon's live heap after a full GC (jcmd GC.class_histogram), threads and RSS per step;
#  4. stops everything.
# Env: XEN_ROOT=<dir> the Xen user space (default build/xen-root); VTPMBACK_MAX_HEAP / VTPMBACK_JAVA_OPTS
#      go to the launcher as in production.
set -euo pipefail
repo=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
cd "$repo"
log() { echo "==> $*"; }

build=1
steps=1,8,24
while [ $# -gt 0 ]; do
	case $1 in
		--no-build) build=0 ;;
		--steps) steps=$2; shift ;;
		-h|--help) sed -n '2,11p' "$0"; exit 0 ;;
		*) echo "heap-footprint: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done

xen_root=${XEN_ROOT:-$repo/build/xen-root}
scripts/fetch-xen-debs.sh "$xen_root" >/dev/null
if [ "$build" = 1 ]; then
	log "building (mvn -B -q package -DskipTests)"
	mvn -B -q package -DskipTests -Dxen.root="$xen_root"
fi
dist=$(ls -d packaging/target/vtpmback-*/ 2>/dev/null | head -1)
dist=${dist%/}
[ -n "$dist" ] && [ -d test/target/test-classes/org/vtpmback/test/bench ] \
	|| { echo "heap-footprint: nothing built yet; run without --no-build" >&2; exit 1; }
classpath="$dist/lib/*:test/target/test-classes:backend/target/test-classes"

work=$(mktemp -d /tmp/vtpmback-heap.XXXXXX)
shm=/dev/shm
[ -d "$shm" ] && [ -w "$shm" ] || shm=/tmp
runtime=$(mktemp -d "$shm/vtpmback-heap.XXXXXX") # short: UNIX socket paths end at 107 bytes
. scripts/sim-host.sh
cleanup() {
	sim_host_stop "$work"
	rm -rf "$runtime" "$work"
}
trap cleanup EXIT
sim_host_start "$work" "$runtime/sim" "$runtime/daemon" heap-footprint
# the launcher execs java: the daemon's pid is the JVM's
log "daemon JVM: $(tr '\0' ' ' <"/proc/$daemon_pid/cmdline" | grep -o -- '-X[^ ]*' | tr '\n' ' ')"
java -cp "$classpath" org.vtpmback.test.bench.HeapFootprint \
	--xenstored "$XENSTORED_PATH" --sim "$runtime/sim" --work "$work/guests" --daemon-pid "$daemon_pid" --steps "$steps"
