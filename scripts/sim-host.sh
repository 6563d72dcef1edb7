# sim-host.sh - sourced by scripts/demo.sh and scripts/bench.sh (not run on its own): a private real
# xenstored (test/xenstored/run-xenstored.sh) and `vtpmback daemon` from the distribution with
# host = simulated, the way an operator would run it on a host without Xen.
# The caller is in the repository root and has set xen_root (the Xen user space), dist (the unpacked
# distribution) and a log function.

# sim_jail_settings: the daemon's jail settings for a run next to other daemons. As root the jail is on, on a
# uid range of this shell's own (the formula of DaemonProcess.testUidBase in test/): a daemon's start
# SIGKILLs every process of its range (SwtpmStrays), so on the default range it would end the swtpm
# processes of any other daemon or test run on the machine. Not root, or SIM_NO_JAIL=1: no jail.
sim_jail_settings() {
	if [ "$(id -u)" = 0 ] && [ -z "${SIM_NO_JAIL:-}" ]; then
		echo "--set swtpm-uid-base=$((0x70000000 + 4096 * (1 + $$ % 4096)))"
	else
		echo "--set swtpm-jail=no"
	fi
}

# sim_host_start WORK SIM_DIR RUNTIME_DIR NAME: xenstored in WORK/xsd, the daemon with its state in
# WORK/state and its log in WORK/daemon.log; returns once the daemon serves. Sets daemon_pid and
# exports XENSTORED_PATH and LD_LIBRARY_PATH. On failure prints the log and exits, naming NAME.
# As root swtpm runs jailed on a uid range of this run's own (sim_jail_settings), so that neither this daemon's
# start nor another's kills the other's swtpm processes; SIM_NO_JAIL=1 runs swtpm unjailed even as root.
sim_host_start() {
	local work=$1 sim=$2 runtime=$3 name=$4
	log "starting a private xenstored (Xen 4.17 cxenstored) in $work/xsd"
	eval "$(XEN_ROOT=$xen_root test/xenstored/run-xenstored.sh start "$work/xsd")"
	export LD_LIBRARY_PATH XENSTORED_PATH

	log "starting: $dist/bin/vtpmback daemon --set host=simulated ... (log: $work/daemon.log)"
	"$dist/bin/vtpmback" daemon \
		--set host=simulated --set "simulation-dir=$sim" --set "xenstored-socket=$XENSTORED_PATH" \
		--set "state-dir=$work/state" --set "runtime-dir=$runtime" \
		$(sim_jail_settings) \
		>"$work/daemon.log" 2>&1 &
	daemon_pid=$!
	for _ in $(seq 300); do
		grep -qs "serving backend domain" "$work/daemon.log" && return 0
		kill -0 "$daemon_pid" 2>/dev/null || { cat "$work/daemon.log"; echo "$name: the daemon exited" >&2; exit 1; }
		sleep 0.1
	done
	cat "$work/daemon.log"
	echo "$name: daemon not ready" >&2
	exit 1
}

# sim_host_stop WORK: stops the daemon (SIGTERM: it saves its vTPMs) and the xenstored. Idempotent.
# A daemon stop leaves its swtpm processes running for the next daemon (docs/lifecycle.md); nothing
# takes them over here, so they are stopped too (by pid, as they were the daemon's children).
sim_host_stop() {
	local swtpms=
	if [ -n "${daemon_pid:-}" ]; then
		swtpms=$(pgrep -P "$daemon_pid" -x swtpm || true)
		kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
	fi
	daemon_pid=
	for pid in $swtpms; do
		[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = swtpm ] && kill "$pid" 2>/dev/null || true
	done
	XEN_ROOT=$xen_root test/xenstored/run-xenstored.sh stop "$1/xsd" || true
}
