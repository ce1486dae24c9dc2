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
#   BENCH net-dpdk format=F mpps=X dpdk_mpps=Y ratio=X/Y idle=I
# (I: our backend's idle poll turns / all poll turns while measured), and
# from one run of our backend under callgrind (data path only:
# --toggle-collect=process_tx*):
#   BENCH net-dpdk-ipf format=F ipf=N frames=M
#
# Usage: bench/net-dpdk.sh BUILD_DIR (scripts/bench net-dpdk builds and
# calls it).  Needs root (hugepages).  Environment: NET_DPDK_ROUNDS (3),
# NET_DPDK_SECS (6, per measurement), NET_DPDK_WARM (2),
# NET_DPDK_FORMATS ("split packed"), NET_DPDK_FE_CPU (1), NET_DPDK_BE_CPU (0),
# NET_DPDK_CALLGRIND (1; 0 skips it), NET_DPDK_BACKEND_ARGS (extra
# arguments for our backend).
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
be_pid=""
fe_pid=""
cleanup() {
	set +e
	[ -n "$be_pid" ] && kill -KILL "$be_pid" 2>/dev/null && wait "$be_pid" 2>/dev/null
	[ -n "${fe_pid:-}" ] && kill -KILL "$fe_pid" 2>/dev/null && wait "$fe_pid" 2>/dev/null
	rm -f /dev/hugepages/${prefix}* 2>/dev/null
	[ -n "$mounted" ] && umount "$mounted" 2>/dev/null
	echo "$old_nr" > /proc/sys/vm/nr_hugepages
	rm -rf "$tmp"
}
trap cleanup EXIT

# Hugepages: the frontend's memory must be shared with the backend
# (hugetlbfs files, --single-file-segments: one fd per memseg list).
if [ "$old_nr" -lt $hugepages ]; then
	echo $hugepages > /proc/sys/vm/nr_hugepages
fi
if ! grep -q '^[^ ]* [^ ]* hugetlbfs' /proc/mounts; then
	mkdir -p /dev/hugepages
	mount -t hugetlbfs nodev /dev/hugepages
	mounted=/dev/hugepages
fi
free=$(awk '/HugePages_Free/ { print $2 }' /proc/meminfo)
[ "$free" -ge 256 ] || { echo "net-dpdk: only $free free hugepages" >&2; exit 1; }

eal_common=(--no-pci --single-file-segments)
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
		--file-prefix="${prefix}fe" --vdev="$vdev" -- -i "${pmd_common[@]}"
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
	fe_pps=$(grep -E '^ *Rx-pps:' "$log" | sed -n 2p | awk '{ print $2 }')
}

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.0f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# One measurement of @kind on @format: sets pps and idle (fraction).
measure() {
	local kind=$1 format=$2 n=$3 sock=$tmp/$1.sock
	idle=-
	be_wrap=()
	start_backend "$kind" "$sock" "$tmp/be-$kind-$format-$n.log"
	run_frontend "$format" "$sock" "$tmp/fe-$kind-$format-$n.log" "$kind"
	pps=$fe_pps
	stop_backend
	if [ "$kind" = ours ]; then
		idle=$(grep -E 'vhost-user-net: stats ' "$tmp/be-$kind-$format-$n.log" | sed -n 2p |
			sed -E 's/.*poll_turns=([0-9]+) idle_turns=([0-9]+).*/\2 \1/' |
			awk '{ if ($2 > 0) printf "%.3f\n", $1 / $2; else print "-" }')
	fi
	pps=${pps:-0}
}

[ "$rounds" -gt 0 ] || formats_timed=""
for format in ${formats_timed-$formats}; do
	: >"$tmp/ours.$format"
	: >"$tmp/dpdk.$format"
	: >"$tmp/idle.$format"
	for ((r = 1; r <= rounds; r++)); do
		# alternate which backend goes first
		if [ $((r % 2)) -eq 1 ]; then order="ours dpdk"; else order="dpdk ours"; fi
		for kind in $order; do
			measure "$kind" "$format" "$r"
			echo "# net-dpdk format=$format round=$r backend=$kind pps=$pps${idle:+ idle=$idle}" >&2
			echo "$pps" >>"$tmp/$kind.$format"
			[ "$kind" = ours ] && echo "$idle" >>"$tmp/idle.$format"
		done
	done
	o=$(median <"$tmp/ours.$format")
	d=$(median <"$tmp/dpdk.$format")
	i=$(grep -v -- - "$tmp/idle.$format" | median || true)
	awk -v f="$format" -v o="$o" -v d="$d" -v i="${i:--}" 'BEGIN {
		printf "BENCH net-dpdk format=%s mpps=%.2f dpdk_mpps=%.2f ratio=%.2f idle=%s\n",
			f, o / 1e6, d / 1e6, (d > 0 ? o / d : 0), i }'
done

# Instructions per frame of our backend's data path under callgrind.
if [ "${NET_DPDK_CALLGRIND:-1}" = 1 ] && command -v valgrind >/dev/null; then
	for format in $formats; do
		out=$tmp/callgrind.$format
		be_wrap=(valgrind --tool=callgrind --callgrind-out-file="$out"
			 --toggle-collect="process_tx*")
		log=$tmp/be-cg-$format.log
		start_backend ours "$tmp/cg.sock" "$log"
		run_frontend "$format" "$tmp/cg.sock" "$tmp/fe-cg-$format.log" ours
		stop_backend
		ir=$(grep -E '^(summary|totals):' "$out" | head -1 | awk '{ print $2 }')
		total_frames=$(grep -E 'vhost-user-net: total ' "$log" |
			sed -E 's/.*rx_frames=([0-9]+).*/\1/')
		awk -v f="$format" -v ir="${ir:-0}" -v n="${total_frames:-0}" 'BEGIN {
			printf "BENCH net-dpdk-ipf format=%s ipf=%.0f frames=%d\n", f, (n > 0 ? ir / n : 0), n }'
	done
fi
