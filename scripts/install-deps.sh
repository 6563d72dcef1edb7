#!/bin/bash
# install-deps.sh - installs what building, testing and the demo need on Debian 12 (as root):
# gcc swtpm swtpm-tools tpm2-tools maven openjdk-17-jdk-headless python3 (the stand-in
# for systemd's notify socket in ServiceNotifyTest) libsystemd0 (sd_notify, bound through JNA)
# asciidoctor (the man pages of the .deb) etcd-server etcd-client (the 3-member etcd cluster
# that the pool tests start on loopback, docs/pool.md). Does nothing (and needs no root)
# when all are present. Env: SKIP_APT=1 only reports what is missing.
#
# Debian's etcd-server starts its own etcd (etcd.service, on 2379/2380) when it is installed. The
# tests start their own members on free ports and want no other etcd on the machine, so that
# service is never started here: a policy-rc.d that refuses every start covers the apt-get run
# (unless the machine already has one, as containers do), and on a systemd host etcd.service is
# then disabled, so it does not start at boot either. An operator who wants this machine to be a
# pool member enables it by hand (docs/pool.md).
set -euo pipefail
log() { echo "==> $*"; }

packages=(gcc swtpm swtpm-tools tpm2-tools maven openjdk-17-jdk-headless python3 libsystemd0 asciidoctor
	etcd-server etcd-client)
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# policy-rc.d exit 101 = "action forbidden": invoke-rc.d and deb-systemd-invoke start nothing.
policy=/usr/sbin/policy-rc.d
our_policy=0
no_service_starts() {
	[ -e "$policy" ] && return 0
	printf '#!/bin/sh\n# scripts/install-deps.sh: no service starts during its apt-get run\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	our_policy=1
	trap allow_service_starts EXIT
}
allow_service_starts() {
	if [ "$our_policy" = 1 ]; then rm -f "$policy"; our_policy=0; fi
}
keep_etcd_service_off() {
	[ -d /run/systemd/system ] || return 0   # no systemd as init: nothing starts it at boot
	systemctl list-unit-files etcd.service >/dev/null 2>&1 || return 0
	systemctl disable --now etcd.service >/dev/null 2>&1 || true
	log "etcd.service disabled (the tests start their own etcd members)"
}

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
	for p in "${packages[@]}"; do installed "$p" || missing+=("$p"); done
else
	# Not Debian: check the commands instead and hope for the best.
	for c in gcc swtpm swtpm_setup tpm2_startup mvn javac asciidoctor etcd etcdctl; do
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
	no_service_starts
	apt-get install -y -q --no-install-recommends "${missing[@]}"
	allow_service_starts
	keep_etcd_service_off
else
	log "packages present: ${packages[*]}"
fi

