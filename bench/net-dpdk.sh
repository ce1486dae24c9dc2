#!/usr/bin/env bash
# Description: the vhost-user-net data path against DPDK's, with the same
# unmodified DPDK frontend.  The frontend is dpdk-testpmd with
# net_virtio_user0 (io forwarding, 1024 descriptors, one forwarding core,
# 1024 64-byte frames injected with "start tx_first 32" then circulating).
# It runs alternately against
#   ours: examples/vhost-user-net --mode=loopback --poll
#   dpdk: dpdk-testpmd with net_vhost0 (io forwarding, port looped to itself)
# on a split ring and on a packed one (virtio_user packed_vq=1).  Frontend
# and backend each get one core (taskset + --lcores): the frontend the one
# core, the backend the other, both backends polling.
#
# Prints, per format, the medians of the rounds:
#   BENCH net-dpdk format=F mpps=X dpdk_mpps=Y ratio=R idle=I busy=B
#         burst=S fe_rx_empty=E dpdk_fe_rx_empty=D
# (R: median of the rounds' ours/dpdk ratios; I: our backend's idle poll
# turns / all its poll turns while measured; B: the share of its time in
# turns that found frames (every 64th turn timed): an idle turn is short
# and a busy one long, so 1 - I overstates how busy it is, but a busy
# turn goes on through bursts of a frame or two, so B overstates it too;
# S: our backend's frames per burst that moved frames (at most 32): near
# 32, frames wait for the backend; near 1, it waits for them; E and D: the
# share of the frontend's rx polls that found nothing, against ours and
# against DPDK's backend, from testpmd's --record-burst-stats over the
# whole forwarding run), and
# from one run of our backend under callgrind (data path only, see below):
#   BENCH net-dpdk-ipf format=F ipf=N ipf_raw=N2 frames=M ...
# and from one run of DPDK's vhost PMD backend under callgrind (all of it):
#   BENCH net-dpdk-ipf-dpdk format=F ipf=N vhost_lib=L frames=M
#
# Usage: bench/net-dpdk.sh BUILD_DIR (scripts/bench net-dpdk builds and
# calls it).  Needs root (hugepages).  Environment: NET_DPDK_ROUNDS (3),
# NET_DPDK_SECS (6, per measurement), NET_DPDK_WARM (2),
# NET_DPDK_FORMATS ("split packed"), NET_DPDK_FE_CPU (1), NET_DPDK_BE_CPU (0),
# NET_DPDK_CALLGRIND (1; 0 skips both callgrind runs, "ours" runs only our
# backend's), NET_DPDK_BACKEND_ARGS (extra
# arguments for our backend), NET_DPDK_KEEP (1 keeps the logs).
set -euo pipefail

build=$(cd "${1:?usage: net-dpdk.sh BUILD_DIR}" && pwd)
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$src/scripts/dpdk-lib.sh"
ours=$build/examples/vhost-user-net
rounds=${NET_DPDK_ROUNDS:-3}
secs=${NET_DPDK_SECS:-6}
warm=${NET_DPDK_WARM:-2}
formats=${NET_DPDK_FORMATS:-split packed}
fe_cpu=${NET_DPDK_FE_CPU:-1}
be_cpu=${NET_DPDK_BE_CPU:-0}
hugepages=512                 # 2 MiB pages: 1 GiB for both testpmds

[ -x "$ours" ] || { echo "net-dpdk: $ours not built" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "net-dpdk: needs root (hugepages)" >&2; exit 1; }
"$src/scripts/install-deps" --dpdk
dpdk_have || { echo "net-dpdk: dpdk-testpmd missing after install" >&2; exit 1; }

tmp=$(mktemp -d /tmp/vq-net-dpdk.XXXXXX)
prefix=vqnd$$
old_nr=$(cat /proc/sys/vm/nr_hugepages)
mounted=""
hugedir=""
be_pid=""
fe_pid=""
cleanup() {
	set +e
	[ -n "$be_pid" ] && kill -KILL "$be_pid" 2>/dev/null && wait "$be_pid" 2>/dev/null
	[ -n "${fe_pid:-}" ] && kill -KILL "$fe_pid" 2>/dev/null && wait "$fe_pid" 2>/dev/null
	[ -n "$hugedir" ] && rm -f "$hugedir/$prefix"* 2>/dev/null
	dpdk_forget "${prefix}be" "${prefix}fe"
	[ -n "$mounted" ] && umount "$mounted" 2>/dev/null
	echo "$old_nr" > /proc/sys/vm/nr_hugepages
	if [ "${NET_DPDK_KEEP:-0}" = 1 ]; then echo "net-dpdk: logs kept in $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

# Hugepages: the frontend's memory must be shared with the backend
# (hugetlbfs files, --single-file-segments: one fd per memseg list).
if [ "$old_nr" -lt $hugepages ]; then
	echo $hugepages > /proc/sys/vm/nr_hugepages
fi
hugedir=$(awk '$3 == "hugetlbfs" { print $2; exit }' /proc/mounts)
if [ -z "$hugedir" ]; then
	hugedir=$tmp/huge
	mkdir -p "$hugedir"
	mount -t hugetlbfs nodev "$hugedir"
	mounted=$hugedir
fi
free=$(awk '/HugePages_Free/ { print $2 }' /proc/meminfo)
[ "$free" -ge 256 ] || { echo "net-dpdk: only $free free hugepages" >&2; exit 1; }

eal_common=(--no-pci --single-file-segments --huge-dir="$hugedir")
pmd_common=(--nb-cores=1 --rxd=1024 --txd=1024 --forward-mode=io --total-num-mbufs=16384)

# start_backend ours|dpdk SOCK LOG
start_backend() {
	local kind=$1 sock=$2 log=$3
	rm -f "$sock"
	if [ "$kind" = ours ]; then
		# shellcheck disable=SC2086
		taskset -c "$be_cpu" "${be_wrap[@]}" "$ours" --socket-path="$sock" \
			--mode=loopback --poll ${NET_DPDK_BACKEND_ARGS:-} >"$log" 2>&1 &
		be_pid=$!
		dpdk_wait_log "$log" "loopback mode" 30 "$be_pid"
	else
		taskset -c "$be_cpu" dpdk-testpmd --lcores="0@$be_cpu,1@$be_cpu" "${eal_common[@]}" \
			--file-prefix="${prefix}be" --vdev "net_vhost0,iface=$sock,queues=1" -- \
			"${pmd_common[@]}" --stats-period=3600 >"$log" 2>&1 &
		be_pid=$!
		dpdk_wait_log "$log" "socket created" 30 "$be_pid"
	fi
}

stop_backend() {
	kill -INT "$be_pid" 2>/dev/null || true
	wait "$be_pid" || true
	be_pid=""
}

# run_frontend FORMAT SOCK LOG BACKEND_KIND: inject, warm up, measure.
# Sets fe_pps: the frontend's Rx-pps over the measured interval.
run_frontend() {
	local format=$1 sock=$2 log=$3 kind=$4 vdev
	vdev="net_virtio_user0,path=$sock,queue_size=1024"
	[ "$format" = packed ] && vdev+=",packed_vq=1"
	dpdk_start fe "$log" --lcores="0@$fe_cpu,1@$fe_cpu" "${eal_common[@]}" \
		--file-prefix="${prefix}fe" --vdev="$vdev" -- -i "${pmd_common[@]}" \
		--record-burst-stats
	if ! dpdk_wait_log "$log" "testpmd> " 60 "$fe_pid"; then
		echo "net-dpdk: frontend did not start:" >&2
		cat "$log" >&2
		return 1
	fi
	dpdk_cmd fe "start tx_first 32"
	sleep "$warm"
	dpdk_cmd fe "show port stats 0"
	[ "$kind" = ours ] && kill -USR1 "$be_pid"
	sleep "$secs"
	dpdk_cmd fe "show port stats 0"
	[ "$kind" = ours ] && kill -USR1 "$be_pid"
	dpdk_cmd fe "stop"
	dpdk_quit fe || true
	fe_pid=""
	fe_pps=$(grep -E '^ *Rx-pps:' "$log" | sed -n 2p | awk '{ print $2 }' || true)
	# "RX-bursts : N [P% of 0 pkts + ...]": P, or 0 when no poll was empty
	fe_empty=$(grep -E '^ *RX-bursts' "$log" | head -1 |
		sed -nE 's/.*\[([0-9]+)% of 0 pkts.*/\1/p; t; s/.*/0/p' || true)
}

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# One measurement of @kind on @format: sets pps, empty (the frontend's
# empty rx polls, %), and for ours idle and busy (fractions).
measure() {
	local kind=$1 format=$2 n=$3 sock=$tmp/$1.sock
	idle=-
	busy=-
	burst=-
	be_wrap=()
	start_backend "$kind" "$sock" "$tmp/be-$kind-$format-$n.log"
	run_frontend "$format" "$sock" "$tmp/fe-$kind-$format-$n.log" "$kind"
	pps=$fe_pps
	empty=${fe_empty:--}
	stop_backend
	if [ "$kind" = ours ]; then
		idle=$(grep -E 'vhost-user-net: stats ' "$tmp/be-$kind-$format-$n.log" | sed -n 2p |
			sed -E 's/.*poll_turns=([0-9]+) idle_turns=([0-9]+).*/\2 \1/' |
			awk '{ if ($2 > 0) printf "%.3f\n", $1 / $2; else print "-" }' || true)
		busy=$(grep -E 'vhost-user-net: stats ' "$tmp/be-$kind-$format-$n.log" | sed -n 2p |
			sed -nE 's/.* busy_time=([0-9.]+).*/\1/p' || true)
		busy=${busy:--}
		burst=$(grep -E 'vhost-user-net: stats ' "$tmp/be-$kind-$format-$n.log" | sed -n 2p |
			sed -nE 's/.* bursts=([0-9]+) tx_frames=([0-9]+).*/\2 \1/p' |
			awk '{ if ($2 > 0) printf "%.1f\n", $1 / $2; else print "-" }' || true)
		burst=${burst:--}
	fi
	pps=${pps:-0}
}

[ "$rounds" -gt 0 ] || formats_timed=""
for format in ${formats_timed-$formats}; do
	: >"$tmp/ours.$format"
	: >"$tmp/dpdk.$format"
	: >"$tmp/idle.$format"
	: >"$tmp/busy.$format"
	: >"$tmp/burst.$format"
	: >"$tmp/empty-ours.$format"
	: >"$tmp/empty-dpdk.$format"
	: >"$tmp/ratio.$format"
	for ((r = 1; r <= rounds; r++)); do
		# alternate which backend goes first
		if [ $((r % 2)) -eq 1 ]; then order="ours dpdk"; else order="dpdk ours"; fi
		for kind in $order; do
			measure "$kind" "$format" "$r"
			echo "# net-dpdk format=$format round=$r backend=$kind pps=$pps fe_rx_empty=$empty%${idle:+ idle=$idle busy=$busy burst=$burst}" >&2
			echo "$pps" >>"$tmp/$kind.$format"
			echo "$empty" >>"$tmp/empty-$kind.$format"
			[ "$kind" = ours ] && echo "$idle" >>"$tmp/idle.$format"
			[ "$kind" = ours ] && echo "$busy" >>"$tmp/busy.$format"
			[ "$kind" = ours ] && echo "$burst" >>"$tmp/burst.$format"
			eval "pps_$kind=$pps"
		done
		awk -v o="$pps_ours" -v d="$pps_dpdk" 'BEGIN { printf "%.4f\n", (d > 0 ? o / d : 0) }' \
			>>"$tmp/ratio.$format"
	done
	o=$(median <"$tmp/ours.$format")
	d=$(median <"$tmp/dpdk.$format")
	i=$(grep -v -- - "$tmp/idle.$format" | median || true)
	b=$(grep -v -- - "$tmp/busy.$format" | median || true)
	fb=$(grep -v -- - "$tmp/burst.$format" | median || true)
	eo=$(grep -v -- - "$tmp/empty-ours.$format" | median || true)
	ed=$(grep -v -- - "$tmp/empty-dpdk.$format" | median || true)
	q=$(median <"$tmp/ratio.$format")
	# ratio: the median of the rounds' ratios (each round runs both
	# backends back to back, so a slow patch of the machine hits both)
	awk -v f="$format" -v o="$o" -v d="$d" -v i="${i:--}" -v q="$q" -v b="${b:--}" \
		-v eo="${eo:--}" -v ed="${ed:--}" -v fb="${fb:--}" 'BEGIN {
		printf "BENCH net-dpdk format=%s mpps=%.2f dpdk_mpps=%.2f ratio=%.2f idle=%s busy=%s burst=%s fe_rx_empty=%s%% dpdk_fe_rx_empty=%s%%\n",
			f, o / 1e6, d / 1e6, q, i, b, fb, eo, ed }'
done

# Instructions per frame of our backend's data path under callgrind.
# Counting only inside process_tx (the poll turn's work), with dumps
# (callgrind_control -d) at the edges of two intervals: one with the
# frontend up and no traffic, which gives the cost of an idle poll turn,
# and one with traffic.  ipf = (instructions - idle turns x idle cost) /
# frames, so that a frontend slower than the callgrind-slowed backend does
# not count; ipf_raw counts everything.
cg_ir() { # the instructions of one dump file
	grep -E '^(summary|totals):' "$1" | head -1 | awk '{ print $2 }' || true
}
cg_stats() { # KEY of the Nth stats line of LOG
	grep -E 'vhost-user-net: stats ' "$1" | sed -n "$2p" | sed -E "s/.* $3=([0-9]+).*/\1/" || true
}
cg_ndumps() { find "$tmp" -name "${out##*/}.*" | wc -l; }
cg_dump() { # dump, wait for the file to appear
	local before
	before=$(cg_ndumps)
	callgrind_control -d "$be_pid" >/dev/null 2>&1
	for ((i = 0; i < 100; i++)); do
		[ "$(cg_ndumps)" -gt "$before" ] && return 0
		sleep 0.1
	done
	echo "net-dpdk: callgrind dump did not appear" >&2
	return 1
}
# Our backend's report (SIGUSR1): it ends its poll turn, prints its
# counters and dumps its counts itself (CALLGRIND_DUMP_STATS), so that a
# dump and a stats line cover the same interval.  A dump requested from
# outside lands somewhere inside a turn, which under callgrind can last
# the whole measurement: the frames of the stats line then belong to
# another interval than the instructions (ipf off by up to 40%).
cg_report() {
	local before
	before=$(cg_ndumps)
	kill -USR1 "$be_pid"
	for ((i = 0; i < 100; i++)); do
		[ "$(cg_ndumps)" -gt "$before" ] && return 0
		sleep 0.1
	done
	echo "net-dpdk: our backend did not dump at its report (built without valgrind/callgrind.h?)" >&2
	return 1
}
cg=${NET_DPDK_CALLGRIND:-1}
if [ "$cg" != 0 ] && command -v valgrind >/dev/null; then
	for format in $formats; do
		out=$tmp/callgrind.$format
		be_wrap=(valgrind --tool=callgrind --compress-strings=no --callgrind-out-file="$out"
			 --toggle-collect="process_tx*")
		log=$tmp/be-cg-$format.log
		flog=$tmp/fe-cg-$format.log
		start_backend ours "$tmp/cg.sock" "$log"
		vdev="net_virtio_user0,path=$tmp/cg.sock,queue_size=1024"
		[ "$format" = packed ] && vdev+=",packed_vq=1"
		dpdk_start fe "$flog" --lcores="0@$fe_cpu,1@$fe_cpu" "${eal_common[@]}" \
			--file-prefix="${prefix}fe" --vdev="$vdev" -- -i "${pmd_common[@]}"
		dpdk_wait_log "$flog" "testpmd> " 60 "$fe_pid" || { cat "$flog" >&2; exit 1; }
		sleep 1
		cg_report                                 # setup: dump 1, stats 1
		sleep 2
		cg_report                                 # idle: dump 2, stats 2
		dpdk_cmd fe "start tx_first 32"
		sleep "$warm"
		cg_report                                 # warm-up: dump 3, stats 3
		sleep "$secs"
		cg_report                                 # measured: dump 4, stats 4
		dpdk_cmd fe "stop"
		dpdk_quit fe || true
		fe_pid=""
		stop_backend
		idle_ir=$(cg_ir "$out.2")
		idle_turns=$(cg_stats "$log" 2 poll_turns)
		ir=$(cg_ir "$out.4")
		turns=$(cg_stats "$log" 4 poll_turns)
		idle=$(cg_stats "$log" 4 idle_turns)
		frames=$(cg_stats "$log" 4 rx_frames)
		awk -v f="$format" -v iir="${idle_ir:-0}" -v it="${idle_turns:-0}" -v ir="${ir:-0}" \
			-v t="${turns:-0}" -v i="${idle:-0}" -v n="${frames:-0}" 'BEGIN {
			per_idle = it > 0 ? iir / it : 0
			if (n == 0) n = -1
			printf "BENCH net-dpdk-ipf format=%s ipf=%.0f ipf_raw=%.0f frames=%d idle_turns=%d turns=%d idle_turn_ir=%.0f\n",
				f, (ir - i * per_idle) / n, ir / n, n, i, t, per_idle }'
	done
fi

# The same count for DPDK's vhost PMD backend (testpmd, io forwarding), so
# the figure above has DPDK's beside it from the same script: everything
# the backend process executes between two dumps (callgrind slows it far
# below the frontend's rate, so it is never idle), divided by the frames
# the frontend got back meanwhile.  vhost_lib is the part inside DPDK's
# vhost library (rte_vhost_dequeue_burst and rte_vhost_enqueue_burst,
# inclusive); the rest is the PMD, testpmd and mbuf handling.
#   BENCH net-dpdk-ipf-dpdk format=F ipf=N vhost_lib=L frames=M
fe_rx() { # RX-packets of the Nth "show port stats" in LOG
	grep -E '^ *RX-packets: *[0-9]+ +RX-missed' "$1" | sed -n "$2p" | awk '{ print $2 }' || true
}
cg_incl() { # inclusive instructions of the functions matching $2 in dump $1
	callgrind_annotate --inclusive=yes --threshold=100 --auto=no "$1" 2>/dev/null |
		grep -E "$2" | awk '{ gsub(",", "", $1); s += $1 } END { print s + 0 }'
}
if [ "$cg" = 1 ] && command -v valgrind >/dev/null; then
	for format in $formats; do
		out=$tmp/callgrind.dpdk-$format
		log=$tmp/be-cg-dpdk-$format.log
		flog=$tmp/fe-cg-dpdk-$format.log
		rm -f "$tmp/cg-dpdk.sock"
		# its own memory without hugepages (valgrind), the frontend's
		# mapped from the fds it sends
		taskset -c "$be_cpu" valgrind --tool=callgrind --compress-strings=no \
			--callgrind-out-file="$out" dpdk-testpmd --lcores="0@$be_cpu,1@$be_cpu" \
			--no-pci --no-huge -m 512 --file-prefix="${prefix}cgbe" \
			--vdev "net_vhost0,iface=$tmp/cg-dpdk.sock,queues=1" -- \
			"${pmd_common[@]}" --stats-period=3600 >"$log" 2>&1 &
		be_pid=$!
		dpdk_wait_log "$log" "socket created" 120 "$be_pid" || { cat "$log" >&2; exit 1; }
		vdev="net_virtio_user0,path=$tmp/cg-dpdk.sock,queue_size=1024"
		[ "$format" = packed ] && vdev+=",packed_vq=1"
		dpdk_start fe "$flog" --lcores="0@$fe_cpu,1@$fe_cpu" "${eal_common[@]}" \
			--file-prefix="${prefix}fe" --vdev="$vdev" -- -i "${pmd_common[@]}"
		dpdk_wait_log "$flog" "testpmd> " 60 "$fe_pid" || { cat "$flog" >&2; exit 1; }
		dpdk_cmd fe "start tx_first 32"
		sleep "$warm"
		dpdk_cmd fe "show port stats 0"
		cg_dump                                   # up to here: dump 1
		sleep "$secs"
		dpdk_cmd fe "show port stats 0"
		cg_dump                                   # measured: dump 2
		dpdk_cmd fe "stop"
		dpdk_quit fe || true
		fe_pid=""
		stop_backend
		sleep 0.5
		n1=$(fe_rx "$flog" 1)
		n2=$(fe_rx "$flog" 2)
		ir=$(cg_ir "$out.2")
		lib=$(cg_incl "$out.2" 'rte_vhost_(de|en)queue_burst')
		awk -v f="$format" -v ir="${ir:-0}" -v lib="${lib:-0}" -v n1="${n1:-0}" -v n2="${n2:-0}" 'BEGIN {
			n = n2 - n1
			if (n <= 0) n = -1
			printf "BENCH net-dpdk-ipf-dpdk format=%s ipf=%.0f vhost_lib=%.0f frames=%d\n",
				f, ir / n, lib / n, n }'
	done
fi
