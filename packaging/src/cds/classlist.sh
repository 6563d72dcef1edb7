#!/bin/bash
# classlist.sh DIST XEN_ROOT - records the classes a daemon start loads into DIST/vtpmback.classlist, the class
# list that 'vtpmback cds-archive' makes the class-data sharing archive from (packaging/README.md, "Start").
# Run by the packaging build (package phase) on the distribution folder it has just laid out; -Dcds.skip=true
# skips it (the package then has no class list and makes no archive: the daemon starts, more slowly).
#
# The start it records is a daemon's on a host with no guest: `DIST/bin/vtpmback daemon` with host = simulated
# against a private real xenstored (test/xenstored/run-xenstored.sh, Xen 4.17 from XEN_ROOT), up to "ready", then
# SIGTERM and its orderly stop. The pool of ready-made TPMs is off (manufacture-pool = 0), so that nothing runs
# beside the start and the list is the same at every build. Needs gcc (the xenstored shim) and swtpm in PATH.
# The list names classes only: it holds on any host; the archive made from it holds only for one JVM and class path.
set -euo pipefail
dist=$(cd "${1:?usage: classlist.sh DIST XEN_ROOT}" && pwd)
xen_root=${2:?usage: classlist.sh DIST XEN_ROOT}
repo=$(cd "$(dirname "$(readlink -f "$0")")/../../.." && pwd)
out=$dist/vtpmback.classlist
work=$(mktemp -d "${TMPDIR:-/tmp}/vtpmback-classlist.XXXXXX")
pid=
cleanup() {
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	XEN_ROOT=$xen_root "$repo/test/xenstored/run-xenstored.sh" stop "$work/xsd" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
fail() {
	[ -f "$work/daemon.log" ] && sed 's/^/    /' "$work/daemon.log" >&2
	echo "classlist.sh: $* (build with -Dcds.skip=true to make a package without class list)" >&2
	exit 1
}

eval "$(XEN_ROOT=$xen_root "$repo/test/xenstored/run-xenstored.sh" start "$work/xsd")" ||
	fail "no private xenstored from XEN_ROOT=$xen_root (scripts/fetch-xen-debs.sh makes it)"
export LD_LIBRARY_PATH XENSTORED_PATH
mkdir -m 0700 "$work/run"
jail=()
[ "$(id -u)" = 0 ] || jail=(--set swtpm-jail=no)
# no archive (VTPMBACK_CDS_ARCHIVE=): the list is the same with or without one, and an old one is no help here
VTPMBACK_CDS_ARCHIVE= VTPMBACK_JAVA_OPTS="-XX:DumpLoadedClassList=$work/classlist" "$dist/bin/vtpmback" daemon \
	--set host=simulated --set "simulation-dir=$work/sim" --set "xenstored-socket=$XENSTORED_PATH" \
	--set "state-dir=$work/state" --set "runtime-dir=$work/run" --set manufacture-pool=0 "${jail[@]}" \
	>"$work/daemon.log" 2>&1 &
pid=$!
for _ in $(seq 1200); do
	grep -q "vtpmback: ready " "$work/daemon.log" && break
	kill -0 "$pid" 2>/dev/null || fail "the daemon exited before it was ready"
	sleep 0.05
done
grep -q "vtpmback: ready " "$work/daemon.log" || fail "the daemon was not ready within 60 s"
sleep 0.5 # what it does right after READY=1 (watchdog, control socket) is part of every start too
kill -TERM "$pid"
wait "$pid" || true
pid=
grep -q "VtpmDaemon: stopped" "$work/daemon.log" || fail "the daemon did not stop in order"
[ -s "$work/classlist" ] || fail "the JVM wrote no class list"
mv "$work/classlist" "$out"
echo "classlist.sh: $(grep -vc '^@' "$out") classes of a daemon start in $out"
