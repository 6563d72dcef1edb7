#!/bin/bash
# install-deps.sh - installs what building, testing and the demo need on Debian 12 (as root):
# gcc swtpm swtpm-tools tpm2-tools maven openjdk-17-jdk-headless python3 (the stand-in
# for systemd's notify socket in ServiceNotifyTest) libsystemd0 (sd_notify, bound through JNA)
# asciidoctor (the man pages of the .deb). Does nothing (and needs no root)
# when all are present. Env: SKIP_APT=1 only reports what is missing.
set -euo pipefail
log() { echo "==> $*"; }

packages=(gcc swtpm swtpm-tools tpm2-tools maven openjdk-17-jdk-headless python3 libsystemd0 asciidoctor)
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
missing=()
if command -v dpkg-query >/dev/null 2>&1; then
	for p in "${packages[@]}"; do installed "$p" || missing+=("$p"); done
else
	# Not Debian: check the commands instead and hope for the best.
	for c in gcc swtpm swtpm_setup tpm2_startup mvn javac asciidoctor; do
		command -v "$c" >/dev/null 2>&1 || missing+=("$c")
	done
fi
if [ ${#missing[@]} -gt 0 ]; then
	if [ "${SKIP_APT:-0}" = 1 ] || ! command -v apt-get >/dev/null 2>&1; then
		echo "test.sh: missing: ${missing[*]} (install them, or run on Debian 12 as root)" >&2
		exit 1
	fi
	if [ "$(id -u)" != 0 ]; then
		echo "test.sh: missing packages: ${missing[*]}; run as root (sudo scripts/test.sh) to install them" >&2
		exit 1
	fi
	log "apt-get install ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing[@]}"
else
	log "packages present: ${packages[*]}"
fi

