#!/bin/bash
# bench-results.sh DIR - turns the benchmark output that scripts/bench.sh keeps in DIR into a CSV and a chart
# (run by bench.sh after each run; run it by hand on a results folder of several runs):
#  - DIR/bench.csv: every result line of every DIR/output-*.txt, one figure a line:
#      kind,case,side,clients,commands,ops_s,median_us,p99_us,figure,value,target,result
#    kind "row" is a line of the summary table (case ... p99_us filled); RATIO (RATIO-INIT, RATIO-DELAYED), SCALE, STORM, POOL and FIRST_START lines
#    give one CSV line per figure (figure, value); GOAL and GUARD lines also the target and the result (met,
#    NOT met, ok, FAILED).
#  - DIR/bench.png, when gnuplot is installed (Debian: gnuplot-nox; not among install-deps.sh's packages, as
#    only this chart needs it), one panel per kind of data present: the latency CDF of raw swtpm and the relay
#    for mix-x1 (DIR/latency-mix-x1.dat, written by RelayBenchmark); throughput and the daemon's CPU per command
#    against the number of guests (the mix-xN cases); the daemon's RSS and threads against the number of guests
#    attached (bench.sh --scale). Without gnuplot it says so and writes only the CSV.
set -euo pipefail
dir=${1:?usage: bench-results.sh DIR (a results folder of scripts/bench.sh)}
shopt -s nullglob
outputs=("$dir"/output-*.txt)
[ ${#outputs[@]} -gt 0 ] || { echo "bench-results: no output-*.txt in $dir" >&2; exit 1; }

awk -v OFS=, '
function figures(kind, c, first,    i, k, v, clients) {
	clients = ""
	for (i = first; i <= NF; i++) if ($i ~ /^(clients|guests)=/) { clients = substr($i, index($i, "=") + 1) }
	for (i = first; i <= NF; i++) {
		if ($i ~ /:$/) break                  # "threads_by_name:", "busiest:": details, not figures
		if ($i !~ /^[A-Za-z_\/.-]+=/) continue  # "(12-34)" ranges of FIRST_START and the like
		k = substr($i, 1, index($i, "=") - 1); v = substr($i, index($i, "=") + 1)
		print kind, c, "", clients, "", "", "", "", k, v, "", ""
	}
}
BEGIN { print "kind,case,side,clients,commands,ops_s,median_us,p99_us,figure,value,target,result" }
/^[a-z][^ ]* +[a-z-]+ +[0-9]+ +[0-9]+ +[0-9.]+ +[0-9.]+ +[0-9.]+$/ { print "row", $1, $2, $3, $4, $5, $6, $7, "", "", "", ""; next }
/^RATIO-INIT / { figures($1, "connect-init", 2); next }
/^RATIO-DELAYED / { figures($1, "resume-delayed", 2); next }
/^(RATIO|FIRST_START) / { figures($1, $2, 3); next }
/^SCALE / { if ($2 ~ /=/) figures("SCALE", "scale", 2); else figures("SCALE", "scale-" $2, 3); next }
/^STORM / { if ($2 ~ /=/) figures("STORM", "storm", 2); else figures("STORM", "storm-" $2, 3); next }
/^POOL / { c = "pool-" $2; if ($3 ~ /^store=/) { c = c "-" substr($3, 7); $3 = "" }; figures("POOL", c, 3); next }
/^(GOAL|GUARD) / {
	# GOAL <case> <figure>=<value> target <op> <bound>: met | NOT met
	k = substr($3, 1, index($3, "=") - 1); v = substr($3, index($3, "=") + 1)
	t = $5 " " $6; sub(/:$/, "", t)
	r = $0; sub(/^[^:]*: /, "", r)
	print $1, $2, "", "", "", "", "", "", k, v, t, r
}' "${outputs[@]}" >"$dir/bench.csv"
echo "==> results: $dir/bench.csv ($(($(wc -l <"$dir/bench.csv") - 1)) figures)"

if ! command -v gnuplot >/dev/null 2>&1; then
	echo "==> no chart: gnuplot is not installed (Debian: apt-get install gnuplot-nox), only the CSV was written"
	exit 0
fi
# the panels' data, from the CSV
awk -F, '$1 == "row" && $2 ~ /^mix-x[0-9]+$/ { ops[$4, $3] = $6; n[$4] = 1 }
	$1 == "RATIO" && $2 ~ /^mix-x[0-9]+$/ && ($9 == "daemon_cpu_us_per_cmd" || $9 == "swtpm_cpu_us_per_cmd") { cpu[$4, $9] = $10 }
	END { for (c in n) print c, ops[c, "raw"], ops[c, "relay"], cpu[c, "daemon_cpu_us_per_cmd"], cpu[c, "swtpm_cpu_us_per_cmd"] }' \
	"$dir/bench.csv" | sort -n >"$dir/guests.dat"
# the first sample at each count (the last one is taken again after the boot storm)
awk -F, '$1 == "SCALE" && $2 == "scale" && $9 == "daemon_rss_mib" && !($4 in rss) { rss[$4] = $10 }
	$1 == "SCALE" && $2 == "scale" && $9 == "daemon_threads" && !($4 in thr) { thr[$4] = $10 }
	END { for (g in rss) print g, rss[g], thr[g] }' "$dir/bench.csv" | sort -n >"$dir/scale.dat"
panels=()
[ -s "$dir/latency-mix-x1.dat" ] && panels+=(cdf)
[ -s "$dir/guests.dat" ] && panels+=(guests)
[ -s "$dir/scale.dat" ] && panels+=(scale)
for f in guests scale; do [ -s "$dir/$f.dat" ] || rm -f "$dir/$f.dat"; done
[ ${#panels[@]} -gt 0 ] || { echo "==> no chart: no latency, mix or scale figures in $dir"; exit 0; }
{
	echo "set terminal pngcairo size $((420 * ${#panels[@]})),360 font 'sans,9'"
	echo "set output '$dir/bench.png'"
	echo "set multiplot layout 1,${#panels[@]} title 'vtpmback relay vs raw swtpm ($(date -u +%Y-%m-%d), $(nproc) CPUs)'"
	echo "set grid; set key bottom right"
	for p in "${panels[@]}"; do
		case $p in
			cdf) cat <<-EOF
				set title 'mix-x1: latency CDF'; set logscale x; set xlabel 'latency (µs, log)'; set ylabel 'fraction of commands'
				set yrange [0:1]; unset y2tics; unset y2label
				plot '$dir/latency-mix-x1.dat' using 2:1 with lines lw 2 title 'raw swtpm', '' using 3:1 with lines lw 2 title 'relay'
				unset logscale x; set yrange [*:*]
				EOF
				;;
			guests) cat <<-EOF
				set title 'mix-xN: throughput and CPU per command'; set logscale x 2; set xlabel 'guests (clients) at once'
				set ylabel 'commands/s (all guests)'; set y2label 'CPU µs per command'; set ytics nomirror; set y2tics
				set yrange [0:*]; set y2range [0:*]; set key below maxrows 2
				plot '$dir/guests.dat' using 1:2 with linespoints lw 2 title 'raw ops/s', '' using 1:3 with linespoints lw 2 title 'relay ops/s', \\
				     '' using 1:4 axes x1y2 with linespoints dt 2 title 'daemon CPU/cmd', '' using 1:5 axes x1y2 with linespoints dt 3 title 'swtpm CPU/cmd'
				unset logscale x; set key inside bottom right maxrows auto
				EOF
				;;
			scale) cat <<-EOF
				set title 'one daemon, N guests attached'; set xlabel 'guests attached'
				set ylabel 'daemon RSS (MiB)'; set y2label 'daemon threads'; set ytics nomirror; set y2tics
				set yrange [0:*]; set y2range [0:*]; set key bottom right
				plot '$dir/scale.dat' using 1:2 with linespoints lw 2 title 'RSS MiB', '' using 1:3 axes x1y2 with linespoints lw 2 title 'threads'
				EOF
				;;
		esac
	done
	echo "unset multiplot"
} >"$dir/bench.gp"
gnuplot "$dir/bench.gp"
echo "==> chart: $dir/bench.png (${panels[*]})"
