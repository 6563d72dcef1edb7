#!/bin/bash
# fetch-xen-debs.sh [DEST] - download Debian's Xen 4.17 user space (no hypervisor)
# and unpack it with dpkg -x into DEST (default: build/xen-root in the repo).
#
# The tests run the real xenstored (cxenstored and oxenstored) from DEST under
# an LD_PRELOAD shim (test/xenstored/), and the xenstore client links against
# DEST's libxenstore.so.4. Nothing is installed on the system.
#
# Idempotent: DEST/.xen-debs.stamp lists the unpacked package=version lines;
# when it names exactly the packages below and DEST holds the files the tests
# need, nothing is done. Delete the stamp (or DEST) to refresh.
# .debs are cached in build/debs. Needs apt-get and dpkg (Debian 12 / bookworm).
set -euo pipefail

repo=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
dest=${1:-$repo/build/xen-root}
debs=$repo/build/debs
stamp_name=.xen-debs.stamp

packages=(
	xen-utils-4.17 xenstore-utils libxenstore4 libxenmisc4.17 libxencall1
	libxendevicemodel1 libxenevtchn1 libxenforeignmemory1 libxengnttab1
	libxentoolcore1 libxentoollog1
)
# Files whose presence means DEST is complete enough for the tests.
required=(
	usr/lib/xen-4.17/bin/xenstored
	usr/lib/xen-4.17/bin/oxenstored
	usr/lib/xen-4.17/bin/xenstore-control
	usr/bin/xenstore-read
	usr/bin/xenstore-write
	usr/bin/xenstore-exists
	usr/lib/x86_64-linux-gnu/libxenstore.so.4
)

die() { echo "fetch-xen-debs: $*" >&2; exit 1; }

complete() {
	local f
	[ -f "$dest/$stamp_name" ] || return 1
	[ "$(sed 's/=.*//' "$dest/$stamp_name")" = "$(printf '%s\n' "${packages[@]}")" ] || return 1
	for f in "${required[@]}"; do [ -e "$dest/$f" ] || return 1; done
}

if complete; then
	echo "fetch-xen-debs: $dest is up to date ($(head -n1 "$dest/$stamp_name"))"
	exit 0
fi

command -v apt-get >/dev/null 2>&1 ||
	die "apt-get not found. This script needs a Debian 12 (bookworm) system with apt-get and dpkg;
otherwise unpack these packages (Xen 4.17) with 'dpkg -x' into $dest yourself:
  ${packages[*]}"
command -v dpkg >/dev/null 2>&1 || die "dpkg not found (needed for dpkg -x)"

# A fresh system (e.g. a Debian container) may have empty apt lists.
if ! apt-cache show xen-utils-4.17 >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ]; then
		echo "fetch-xen-debs: apt does not know xen-utils-4.17 yet; running apt-get update"
		apt-get update -q || die "apt-get update failed"
	else
		die "apt does not know xen-utils-4.17: run 'sudo apt-get update' (Debian 12 bookworm, main) and retry"
	fi
fi

mkdir -p "$debs" "$dest"
# absolute before the cd below: a relative DEST would otherwise be read from build/debs
dest=$(cd "$dest" && pwd)
cd "$debs"
# Fetch what is not already in build/debs (apt-get download writes to cwd).
missing=()
for p in "${packages[@]}"; do
	compgen -G "${p}_*.deb" >/dev/null || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "fetch-xen-debs: apt-get download ${missing[*]}"
	if ! apt-get download "${missing[@]}"; then
		die "apt-get download failed. If apt does not know these packages yet, run 'apt-get update' (as root) and retry.
The packages come from Debian 12 (bookworm) main."
	fi
fi

stamp=()
for p in "${packages[@]}"; do
	deb=$(ls -t "${p}"_*.deb 2>/dev/null | head -n1)
	[ -n "$deb" ] || die "no .deb for $p in $debs"
	dpkg -x "$deb" "$dest"
	stamp+=("$(dpkg-deb -f "$deb" Package)=$(dpkg-deb -f "$deb" Version)")
done
for f in "${required[@]}"; do
	[ -e "$dest/$f" ] || die "unpacked, but $dest/$f is missing"
done
printf '%s\n' "${stamp[@]}" > "$dest/$stamp_name"
echo "fetch-xen-debs: unpacked ${#packages[@]} packages into $dest"
