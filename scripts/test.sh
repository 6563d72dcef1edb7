#!/bin/bash
# test.sh [MAVEN ARGS...] - THE test command (README "Run the tests").
#
# On a fresh Debian 12 machine, as root (sudo scripts/test.sh):
#  1. apt-get installs what is missing: gcc swtpm swtpm-tools tpm2-tools maven
#     openjdk-17-jdk-headless (nothing, and no apt-get update, if all present);
#  2. scripts/fetch-xen-debs.sh: Debian's Xen 4.17 user space into build/xen-root
#     (no hypervisor; the tests run the real xenstored under an LD_PRELOAD shim);
#  3. mvn -B verify "$@" over the whole reactor, e.g. scripts/test.sh -Dtest=XenstoredDaemonTest;
#  4. scripts/check-jna-fence.sh (the build must reject JNA outside native-bindings);
#  5. sums the surefire reports; fails if anything failed or if no test ran.
# Env: XEN_ROOT=<dir> uses/creates the Xen user space there instead of build/xen-root.
#      SKIP_APT=1 never runs apt-get (only reports what is missing).
set -euo pipefail

repo=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
cd "$repo"
start=$(date +%s)
log() { echo "==> $*"; }

# ---------------------------------------------------------------- 1. packages
scripts/install-deps.sh

# ---------------------------------------------------------------- 2. Xen user space
xen_root=${XEN_ROOT:-$repo/build/xen-root}
log "Xen 4.17 user space in $xen_root"
scripts/fetch-xen-debs.sh "$xen_root"

# ---------------------------------------------------------------- 3. build and test
# Drop old reports so that the summary counts this run only.
rm -rf ./*/target/surefire-reports ./*/target/failsafe-reports
log "mvn -B verify -Dxen.root=$xen_root $*"
set +e
mvn -B verify -Dxen.root="$xen_root" "$@"
mvn_rc=$?
set -e

# ---------------------------------------------------------------- 4. JNA fence
fence_rc=0
if [ "$mvn_rc" -eq 0 ]; then
	log "JNA fence check"
	scripts/check-jna-fence.sh || fence_rc=$?
else
	log "JNA fence check skipped (the build failed)"
fi

# ---------------------------------------------------------------- 5. summary
# Count <testcase> elements and their <failure>/<error>/<skipped> children: the
# <testsuite> totals are unreliable for @Nested classes.
tests=0 failures=0 errors=0 skipped=0
count() { { grep -o "$1" "$2" || true; } | wc -l; }
shopt -s nullglob
reports=(./*/target/surefire-reports/TEST-*.xml)
for f in "${reports[@]}"; do
	tests=$((tests + $(count '<testcase[ >]' "$f")))
	failures=$((failures + $(count '<failure[ >/]' "$f")))
	errors=$((errors + $(count '<error[ >/]' "$f")))
	skipped=$((skipped + $(count '<skipped[ >/]' "$f")))
done
elapsed=$(( $(date +%s) - start ))
echo
echo "==================== vtpmback test summary ===================="
printf 'tests %d, failures %d, errors %d, skipped %d  (%d report files, %d s)\n' \
	"$tests" "$failures" "$errors" "$skipped" "${#reports[@]}" "$elapsed"
echo "reports: $repo/<module>/target/surefire-reports/"
status=0
[ "$mvn_rc" -eq 0 ] || { echo "FAIL: mvn verify exited with $mvn_rc"; status=1; }
[ "$fence_rc" -eq 0 ] || { echo "FAIL: JNA fence check"; status=1; }
[ $((failures + errors)) -eq 0 ] || { echo "FAIL: $failures failed, $errors errors"; status=1; }
[ "$tests" -gt 0 ] || { echo "FAIL: no tests ran"; status=1; }
[ "$status" -eq 0 ] && echo "PASS"
exit "$status"
