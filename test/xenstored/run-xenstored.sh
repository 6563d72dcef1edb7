#!/bin/bash
# run-xenstored.sh - run a real Debian (Xen 4.17) xenstored without Xen,
# one private instance per directory, for tests and manual experiments.
# (The Java fixture org.vtpmback.test.xenstored.XenstoredDaemon follows the same
# recipe itself, so that the JVM is the daemon's parent and reaps it.)
#
#   run-xenstored.sh start DIR   start daemon, wait until it answers, print env
#   run-xenstored.sh stop DIR    stop it (SIGTERM, then SIGKILL after 2 s)
#   run-xenstored.sh env DIR     print the client environment again
#
# Env knobs:
#   XSD_FLAVOUR=c|ocaml  c (default): cxenstored, socket path via XENSTORED_PATH.
#                        (remembered in DIR/flavour for later env/stop calls)
#                        ocaml: oxenstored; its socket path is hard-wired to
#                        /run/xenstored/socket, so it runs in a private mount
#                        namespace (needs root, or unprivileged user namespaces).
#   XEN_ROOT             where xen-utils-4.17/xenstore-utils/libxen* are
#                        dpkg -x'ed or installed (/). Default: the repo's
#                        build/xen-root (made by scripts/fetch-xen-debs.sh);
#                        if that is absent but /usr/lib/xen-4.17/bin/xenstored
#                        is installed, /.
#   XSD_SHIM_SRC         shim source (default: xsd-shim.c next to this script)
#   XSD_TRACE=1          cxenstored: write a protocol trace to DIR/trace
#   XSD_ARGS             extra daemon arguments (cxenstored only)
#   XSD_OCONF_EXTRA      extra oxenstored.conf line(s), e.g. "test-eagain = true"
#   XSD_START_TIMEOUT    seconds to wait for readiness (default 10)
set -euo pipefail

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { sed -n '2,11p' "$0" >&2; exit 2; }
mkdir -p "$dir"; dir=$(cd "$dir" && pwd)

repo=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
if [ -z "${XEN_ROOT:-}" ]; then
	XEN_ROOT=$repo/build/xen-root
	if [ ! -x "$XEN_ROOT/usr/lib/xen-4.17/bin/xenstored" ] && [ -x /usr/lib/xen-4.17/bin/xenstored ]; then
		XEN_ROOT=/
	fi
fi
XEN_ROOT=${XEN_ROOT%/}
bindir=$XEN_ROOT/usr/lib/xen-4.17/bin
if [ "$cmd" = start ] && [ ! -x "$bindir/xenstored" ]; then
	echo "no Xen 4.17 xenstored in XEN_ROOT=${XEN_ROOT:-/}; run $repo/scripts/fetch-xen-debs.sh" >&2
	exit 1
fi
clientbin=$XEN_ROOT/usr/bin
libpath=$XEN_ROOT/usr/lib/x86_64-linux-gnu
flavour=${XSD_FLAVOUR:-$(cat "$dir/flavour" 2>/dev/null || echo c)}
if [ "$flavour" = ocaml ]; then sock=$dir/run/socket; else sock=$dir/socket; fi

client_env() {
	[ -n "$XEN_ROOT" ] && echo "LD_LIBRARY_PATH=$libpath"
	echo "XENSTORED_PATH=$sock"
	echo "XSD_SHIM_DIR=$dir"
}

alive() { # a pid that exists and is not a zombie
	local st
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

case $cmd in
env) client_env ;;

start)
	if [ -f "$dir/daemon.pid" ] && alive "$(cat "$dir/daemon.pid")"; then
		echo "already running in $dir" >&2; exit 1
	fi
	src=${XSD_SHIM_SRC:-$(dirname "$(readlink -f "$0")")/xsd-shim.c}
	if [ ! -f "$dir/xsd-shim.so" ] || [ "$src" -nt "$dir/xsd-shim.so" ]; then
		gcc -shared -fPIC -O2 -o "$dir/xsd-shim.so" "$src" -ldl
	fi
	echo "$flavour" > "$dir/flavour"
	rm -f "$sock" "$dir/evtchn" "$dir"/ring-* "$dir/xsd_kva"
	rm -rf "$dir/domstate"; mkdir -p "$dir/domstate"
	export LD_LIBRARY_PATH="$libpath${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
	denv=(env XSD_SHIM_DIR="$dir" LD_PRELOAD="$dir/xsd-shim.so")
	if [ "$flavour" = ocaml ]; then
		mkdir -p "$dir/run"
		printf 1 > "$dir/xsd_port"; truncate -s 4096 "$dir/xsd_kva"
		cat > "$dir/oxenstored.conf" <<-EOF
		pid-file = $dir/pid
		persistent = false
		xenstored-log-file = $dir/xenstored.log
		xenstored-log-level = info
		access-log-file = $dir/access.log
		xenstored-kva = $dir/xsd_kva
		xenstored-port = $dir/xsd_port
		${XSD_OCONF_EXTRA:-}
		EOF
		uns=(unshare -m --propagation private)
		[ "$(id -u)" = 0 ] || uns=(unshare -U -r -m --propagation private)
		# Private tmpfs on /run (host /run untouched), socket dir bound to $dir/run.
		"${uns[@]}" sh -c 'mount -t tmpfs xsd /run && mkdir /run/xenstored &&
			mount --bind "$0/run" /run/xenstored && exec "$@"' \
			"$dir" "${denv[@]}" "$bindir/oxenstored" --no-fork \
			--config-file "$dir/oxenstored.conf" \
			</dev/null >"$dir/daemon.out" 2>&1 &
	else
		trace=(); [ "${XSD_TRACE:-0}" = 1 ] && trace=(-T "$dir/trace")
		"${denv[@]}" XENSTORED_RUNDIR="$dir" XENSTORED_PATH="$sock" \
			"$bindir/xenstored" -N -F "$dir/pid" "${trace[@]}" ${XSD_ARGS:-} \
			</dev/null >"$dir/daemon.out" 2>&1 &
	fi
	pid=$!; echo "$pid" > "$dir/daemon.pid"
	deadline=$(( $(date +%s%N) + ${XSD_START_TIMEOUT:-10} * 1000000000 ))
	until [ -S "$sock" ] && XENSTORED_PATH=$sock "$clientbin/xenstore-exists" / 2>/dev/null; do
		if ! alive "$pid"; then
			echo "xenstored died during start-up:" >&2; cat "$dir/daemon.out" >&2; exit 1
		fi
		if [ "$(date +%s%N)" -gt "$deadline" ]; then
			echo "xenstored not ready after ${XSD_START_TIMEOUT:-10}s" >&2
			kill "$pid" 2>/dev/null; exit 1
		fi
		sleep 0.01
	done
	client_env
	;;

stop)
	[ -f "$dir/daemon.pid" ] || exit 0
	pid=$(cat "$dir/daemon.pid")
	if alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 200); do alive "$pid" || break; sleep 0.01; done
		alive "$pid" && kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$dir/daemon.pid" "$sock"
	;;
*) echo "unknown command $cmd" >&2; exit 2 ;;
esac
