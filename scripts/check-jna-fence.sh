#!/bin/bash
# check-jna-fence.sh - prove that the build rejects JNA outside native-bindings.
#
# Drops a throw-away class that uses com.sun.jna.Pointer into the xenstore
# module, builds native-bindings + xenstore offline up to process-classes, and
# expects forbiddenapis to fail the build with "Forbidden class/interface use:
# com.sun.jna...". The probe (source and class) is always removed again.
# Exit 0 only if the build was rejected for that reason. Run after a normal
# build (it uses -o, so the Maven plugins must already be in ~/.m2).
set -euo pipefail

repo=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
cd "$repo"
pkgdir=org/vtpmback/xenstore
src=xenstore/src/main/java/$pkgdir/JnaFenceProbe.java
cls=xenstore/target/classes/$pkgdir

if [ -e "$src" ]; then
	echo "check-jna-fence: $src already exists; refusing to overwrite it" >&2
	exit 2
fi
cleanup() { rm -f "$src" "$cls"/JnaFenceProbe*.class; }
trap cleanup EXIT

cat > "$src" <<'JAVA'
package org.vtpmback.xenstore;

import com.sun.jna.Pointer;

/** Temporary probe written by scripts/check-jna-fence.sh; must never be committed. */
final class JnaFenceProbe {
    private JnaFenceProbe() {
    }

    static Object probe() {
        return new Pointer(0L);
    }
}
JAVA

set +e
out=$(mvn -q -B -o process-classes -pl native-bindings,xenstore 2>&1)
rc=$?
set -e

if [ "$rc" -eq 0 ]; then
	echo "check-jna-fence: FAIL - the build accepted com.sun.jna.Pointer in the xenstore module" >&2
	exit 1
fi
if grep -q "Forbidden class/interface use: com.sun.jna" <<<"$out"; then
	echo "check-jna-fence: OK - JNA outside native-bindings is rejected:"
	grep -m1 "Forbidden class/interface use: com.sun.jna" <<<"$out" | sed -e "s/\x1b\[[0-9;]*m//g" -e "s/^/  /"
	exit 0
fi
echo "check-jna-fence: FAIL - the build failed (rc=$rc), but not because of the JNA fence:" >&2
echo "$out" | tail -n 40 >&2
exit 1
