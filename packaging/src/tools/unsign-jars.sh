#!/bin/bash
# unsign-jars.sh LIB - rewrites every signed jar in LIB (Bouncy Castle's three) without its signature: the
# signature files (META-INF/*.SF, *.RSA, *.DSA, *.EC) go, and the manifest keeps its main section only (bcprov's
# per-entry digests alone are 0.8 MB). Run by the packaging build on the distribution folder it has just laid out.
#
# Why: the JVM checks a signed jar when it loads the first class from it (the signature, then a digest of every
# class it loads from it): 0.25 s to 1 s on a loaded 2-core host, at a daemon's start (the pool of ready-made TPMs
# readies its binding with the EK CA) and at each command that uses Bouncy Castle; and class-data sharing cannot
# archive a class from a signed jar. Nothing checks the signature's signer: OpenJDK does not require a signed JCE
# provider, and vtpmback registers none (it hands Bouncy Castle's provider object to the builders that need it).
# What is installed is checked by dpkg's md5sums like every other file. The classes are not touched.
set -euo pipefail
lib=${1:?usage: unsign-jars.sh LIB}
python3 - "$lib" <<'PY'
import os, re, sys, zipfile
SIGNATURE = re.compile(r"META-INF/[^/]+\.(SF|RSA|DSA|EC)$", re.IGNORECASE)
lib = sys.argv[1]
for name in sorted(os.listdir(lib)):
    path = os.path.join(lib, name)
    if not name.endswith(".jar"):
        continue
    with zipfile.ZipFile(path) as jar:
        if not any(SIGNATURE.match(i.filename) for i in jar.infolist()):
            continue
        tmp = path + ".unsigned"
        with zipfile.ZipFile(tmp, "w") as out:
            for info in jar.infolist():
                if SIGNATURE.match(info.filename):
                    continue
                data = jar.read(info)
                if info.filename == "META-INF/MANIFEST.MF":
                    # the main section ends at the first empty line; the per-entry sections after it are digests
                    text = data.decode("utf-8").replace("\r\n", "\n")
                    data = (text.split("\n\n", 1)[0] + "\n\n").replace("\n", "\r\n").encode("utf-8")
                out.writestr(info, data)
    st = os.stat(path)
    os.chmod(tmp, st.st_mode & 0o7777)
    os.replace(tmp, path)
    print("unsign-jars.sh: %s without its signature (%d -> %d bytes)" % (name, st.st_size, os.path.getsize(path)))
PY
