#!/bin/bash
# demo.sh - the quick start's main job, on any Debian 12 machine (no hypervisor needed), as root:
#  1. installs what is missing (scripts/install-deps.sh) and Debian's Xen 4.17 user space
#     (scripts/fetch-xen-debs.sh, unpacked into build/xen-root, no hypervisor);
#  2. builds the distribution (packaging/target/vtpmback-<version>/);
#  3. starts a private real xenstored (test/xenstored/run-xenstored.sh) and the vtpmback daemon from
#     the distribution with host = simulated, its state in a fresh work folder;
#  4. plays libxl and a Linux guest against it (org.vtpmback.test.demo.Demo): first boot, tpm2-tools,
#     reboot (NV kept, PCRs reset), save + vtpmback-style restore (PCRs kept), poweroff;
#  5. prints the daemon's log and stops everything.
# Env: DEMO_WORK=<dir> (default: a new /tmp/vtpmback-demo.XXXXXX, kept for inspection).
set -euo pipefail
repo=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
cd "$repo"
log() { echo "==> $*"; }

scripts/install-deps.sh
xen_root=$repo/build/xen-root
scripts/fetch-xen-debs.sh "$xen_root" >/dev/null
log "building (mvn -B -q package -DskipTests)"
mvn -B -q package -DskipTests -Dxen.root="$xen_root"
dist=$(ls -d packaging/target/vtpmback-*/ | head -1)
dist=${dist%/}

work=${DEMO_WORK:-$(mktemp -d /tmp/vtpmback-demo.XXXXXX)}
mkdir -p "$work"
# shellcheck source=scripts/sim-host.sh
. scripts/sim-host.sh
cleanup() { sim_host_stop "$work"; }
trap cleanup EXIT
sim_host_start "$work" "$work/sim" "$work/run" demo

log "playing the guest (libxl + Linux xen-tpmfront emulators, tpm2-tools through /dev/tpm0's stand-in)"
set +e
java -cp "$dist/lib/*:test/target/test-classes" org.vtpmback.test.demo.Demo "$XENSTORED_PATH" "$work/sim" "$work/guest"
rc=$?
set -e

log "the daemon's log"
sed 's/^/    /' "$work/daemon.log"
"$dist/bin/vtpmback" list --set "state-dir=$work/state" --set "runtime-dir=$work/run" 2>/dev/null \
	| sed 's/^/    /' || true
[ "$rc" -eq 0 ] && log "demo passed; everything is in $work" || log "demo FAILED (exit $rc); everything is in $work"
exit "$rc"
