#!/usr/bin/env bash
# Description: DPDK's virtio-user driver (dpdk-testpmd, net_virtio_user0,
# unmodified) against examples/vhost-user-net.  testpmd forwards between
# two ports: net_pcap0 reads frames from a pcap file and writes what it
# gets back into another; net_virtio_user0 is the driver of our backend.
# So every frame goes pcap -> virtio tx -> our backend -> virtio rx ->
# pcap, and tests/dpdk/netcheck.c checks that all of them came back, in
# order, with the right content (loopback: unchanged; macswap: addresses
# swapped).  Split and packed rings (packed_vq=1), mergeable rx buffers
# and in-order on and off, the backend kick-driven and polling.  Then
# frames of 3 segments from testpmd's own generator, looped for a few
# seconds (run_multiseg), and a backend killed and restarted under
# virtio-user in server mode (run_restart), without and with
# --inflight-file.  testpmd runs with --no-huge (its memory is a memfd it shares with the backend),
# --no-pci and its own --file-prefix: nothing of the host is changed.
# Usage: dpdk_virtio_user.sh BUILD_DIR.  Exit 77 (skip) only when DPDK
# cannot be installed.
set -euo pipefail

build=$(cd "${1:?usage: dpdk_virtio_user.sh BUILD_DIR}" && pwd)
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$src/scripts/dpdk-lib.sh"
ours=$build/examples/vhost-user-net
check=$build/tests/dpdk_netcheck
frames=3000

if ! "$src/scripts/install-deps" --dpdk || ! dpdk_have; then
	echo "SKIP: DPDK cannot be installed (scripts/install-deps --dpdk)"
	exit 77
fi

tmp=$(mktemp -d /tmp/vq-dpdk-vu.XXXXXX)
be_pid=""
fe_pid=""
cleanup() {
	set +e
	[ -n "$fe_pid" ] && kill -KILL "$fe_pid" 2>/dev/null && wait "$fe_pid" 2>/dev/null
	[ -n "$be_pid" ] && kill -KILL "$be_pid" 2>/dev/null && wait "$be_pid" 2>/dev/null
	dpdk_forget "vqdvu$$"
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*"
	for f in "$tmp"/*.log; do echo "---- $f"; tail -40 "$f"; done
	exit 1
}

"$check" pcap-gen "$tmp/in.pcap" $frames

# run FORMAT MODE BACKEND_OPTS VIRTIO_USER_OPTS
run() {
	local format=$1 mode=$2 beopt=$3 vuopt=$4 sock=$tmp/net.sock vdev n=0 i
	local what="$format ring, --mode=$mode $beopt, virtio_user $vuopt"

	rm -f "$sock" "$tmp/out.pcap" "$tmp"/*.log
	# shellcheck disable=SC2086
	"$ours" --socket-path="$sock" --mode="$mode" $beopt >"$tmp/backend.log" 2>&1 &
	be_pid=$!
	dpdk_wait_log "$tmp/backend.log" "$mode mode" 10 "$be_pid" || fail "$what: backend did not start"
	vdev="net_virtio_user0,path=$sock,$vuopt"
	[ "$format" = packed ] && vdev+=",packed_vq=1"
	dpdk_start fe "$tmp/testpmd.log" -l 0,1 --no-pci --no-huge -m 512 --file-prefix="vqdvu$$" \
		--vdev="net_pcap0,rx_pcap=$tmp/in.pcap,tx_pcap=$tmp/out.pcap" --vdev="$vdev" -- \
		-i --nb-cores=1 --total-num-mbufs=8192 --no-flush-rx
	dpdk_wait_log "$tmp/testpmd.log" "testpmd> " 60 "$fe_pid" || fail "$what: testpmd did not start"
	grep -q "$format ring" "$tmp/backend.log" || fail "$what: not a $format ring"
	# io forwarding that waits for room on tx instead of dropping
	dpdk_cmd fe "set fwd io retry"
	dpdk_cmd fe "set burst tx delay 1000 retry 10000"
	dpdk_cmd fe "start"
	# until everything is back in the pcap port (its TX counter), 60 s at most
	for ((i = 0; i < 120; i++)); do
		sleep 0.5
		dpdk_cmd fe "show port stats 0"
		sleep 0.2
		n=$(grep -E '^ *TX-packets: *[0-9]+ +TX-errors' "$tmp/testpmd.log" | tail -1 | awk '{ print $2 }' || true)
		[ "${n:-0}" -ge $frames ] && break
	done
	dpdk_cmd fe "stop"
	dpdk_quit fe || fail "$what: testpmd failed"
	fe_pid=""
	kill -TERM "$be_pid"
	wait "$be_pid" || fail "$what: backend failed"
	be_pid=""
	[ "${n:-0}" -ge $frames ] || fail "$what: only ${n:-0} of $frames frames came back"
	grep -q "exit (tx $frames, rx $frames, dropped 0" "$tmp/backend.log" ||
		fail "$what: the backend did not answer every frame: $(grep exit "$tmp/backend.log")"
	local swap=""
	[ "$mode" = macswap ] && swap=macswap
	"$check" pcap-cmp "$tmp/in.pcap" "$tmp/out.pcap" $swap || fail "$what: wrong frames"
	echo "ok: $what"
}

# rx_stat N FIELD: field FIELD of the Nth "RX-packets: ... RX-missed ..."
# line testpmd printed ("show port stats"): 2 is the packet count, 6 the
# byte count.
rx_stat() {
	grep -E '^ *RX-packets: *[0-9]+ +RX-missed' "$tmp/testpmd.log" |
		awk -v n="$1" -v f="$2" 'NR == n { print $f }'
}

# run_multiseg FORMAT VIRTIO_USER_OPTS: frames of 3 segments (3072 bytes)
# from testpmd itself (txonly's generator, "start tx_first"), looped by the
# backend and forwarded back by testpmd (io, one port) for a few seconds:
# multi-descriptor tx buffers (DPDK sends them as an indirect table on
# packed rings, some entries marked writable) and rx spread over
# mergeable buffers, returned in order.  The queue must not break, the
# frames must keep coming back (the count still grows after 3 s) and
# every one must come back 3072 bytes long (testpmd's byte count, read
# after "stop": while forwarding runs, the packet and byte counters of one
# "show port stats" are read at different moments).
run_multiseg() {
	local format=$1 vuopt=$2 sock=$tmp/net.sock vdev n1 n2 n3 b3
	local what="$format ring, 3-segment frames, virtio_user $vuopt"

	rm -f "$sock" "$tmp"/*.log
	"$ours" --socket-path="$sock" --mode=loopback >"$tmp/backend.log" 2>&1 &
	be_pid=$!
	dpdk_wait_log "$tmp/backend.log" "loopback mode" 10 "$be_pid" || fail "$what: backend did not start"
	vdev="net_virtio_user0,path=$sock,$vuopt"
	[ "$format" = packed ] && vdev+=",packed_vq=1"
	dpdk_start fe "$tmp/testpmd.log" -l 0,1 --no-pci --no-huge -m 512 --file-prefix="vqdvu$$" \
		--vdev="$vdev" -- -i --nb-cores=1 --total-num-mbufs=8192 --max-pkt-len=9000 \
		--enable-scatter
	dpdk_wait_log "$tmp/testpmd.log" "testpmd> " 60 "$fe_pid" || fail "$what: testpmd did not start"
	grep -q "$format ring" "$tmp/backend.log" || fail "$what: not a $format ring"
	dpdk_cmd fe "set txpkts 1024,1024,1024"
	dpdk_cmd fe "set fwd io"
	dpdk_cmd fe "start tx_first 2"
	sleep 3
	dpdk_cmd fe "show port stats 0"
	sleep 1
	dpdk_cmd fe "show port stats 0"
	sleep 0.5
	dpdk_cmd fe "stop"
	dpdk_cmd fe "show port stats 0"
	dpdk_quit fe || fail "$what: testpmd failed"
	fe_pid=""
	kill -TERM "$be_pid"
	wait "$be_pid" || fail "$what: backend failed"
	be_pid=""
	! grep -q 'vqcore error\|broken' "$tmp/backend.log" || fail "$what: the backend broke a queue"
	grep -q "bad_tx=0 too_big=0 no_reply=0 rx_error=0" "$tmp/backend.log" ||
		fail "$what: the backend counted errors: $(grep exit "$tmp/backend.log")"
	# two samples while forwarding, one after: packets, and bytes received
	n1=$(rx_stat 1 2)
	n2=$(rx_stat 2 2)
	n3=$(rx_stat 3 2)
	b3=$(rx_stat 3 6)
	[ -n "$n1" ] && [ -n "$n2" ] && [ -n "$n3" ] && [ -n "$b3" ] ||
		fail "$what: no port stats from testpmd"
	[ "$n1" -ge 10000 ] || fail "$what: only $n1 frames came back in 3 s"
	[ "$n2" -gt "$n1" ] || fail "$what: frames stopped coming back after $n1"
	[ "$b3" -eq $((n3 * 3072)) ] ||
		fail "$what: $n3 frames came back with $b3 bytes, not 3072 each"
	echo "ok: $what ($n3 frames back, 3072 bytes each)"
}

# run_restart FORMAT BACKEND_OPTS: testpmd's virtio-user listens
# (server=1) and takes a restarted backend back.  Our backend connects
# (--client), loops testpmd's frames (io forwarding, "start tx_first"),
# is killed (SIGKILL) mid-traffic and started again; testpmd then sends
# new frames (on a packed ring virtio-user drops the ones in flight when
# the backend goes).  Pass: frames come back before and after the
# restart, and still after another second; neither backend broke a queue.
run_restart() {
	local format=$1 beopt=$2 sock=$tmp/srv.sock vdev n1 n2 n3 i
	local what="$format ring, backend restarted under virtio-user server=1 $beopt"

	rm -f "$sock" "$tmp"/*.log
	vdev="net_virtio_user0,path=$sock,server=1,queue_size=256"
	[ "$format" = packed ] && vdev+=",packed_vq=1"
	dpdk_start fe "$tmp/testpmd.log" -l 0,1 --no-pci --no-huge -m 512 --file-prefix="vqdvu$$" \
		--vdev="$vdev" -- -i --nb-cores=1 --total-num-mbufs=8192
	for ((i = 0; i < 100; i++)); do
		[ -S "$sock" ] && break
		kill -0 "$fe_pid" 2>/dev/null || fail "$what: testpmd exited"
		sleep 0.2
	done
	[ -S "$sock" ] || fail "$what: testpmd does not listen on $sock"
	# shellcheck disable=SC2086
	"$ours" --socket-path="$sock" --mode=loopback --client $beopt >"$tmp/backend1.log" 2>&1 &
	be_pid=$!
	dpdk_wait_log "$tmp/testpmd.log" "testpmd> " 60 "$fe_pid" || fail "$what: testpmd did not start"
	dpdk_wait_log "$tmp/backend1.log" "tx queue started" 30 "$be_pid" ||
		fail "$what: the backend's queues did not start"
	grep -q "$format ring" "$tmp/backend1.log" || fail "$what: not a $format ring"
	dpdk_cmd fe "set fwd io"
	dpdk_cmd fe "start tx_first 2"
	sleep 2
	dpdk_cmd fe "show port stats 0"
	sleep 0.3
	kill -KILL "$be_pid"
	wait "$be_pid" 2>/dev/null || true
	be_pid=""
	# shellcheck disable=SC2086
	"$ours" --socket-path="$sock" --mode=loopback --client $beopt >"$tmp/backend2.log" 2>&1 &
	be_pid=$!
	dpdk_wait_log "$tmp/backend2.log" "tx queue started" 30 "$be_pid" ||
		fail "$what: the restarted backend's queues did not start"
	dpdk_cmd fe "stop"
	dpdk_cmd fe "start tx_first 2"
	sleep 2
	dpdk_cmd fe "show port stats 0"
	sleep 1
	dpdk_cmd fe "show port stats 0"
	sleep 0.3
	dpdk_cmd fe "stop"
	dpdk_quit fe || fail "$what: testpmd failed"
	fe_pid=""
	wait "$be_pid" || fail "$what: the restarted backend failed"
	be_pid=""
	! grep -q 'vqcore error\|broken' "$tmp"/backend*.log || fail "$what: a backend broke a queue"
	n1=$(rx_stat 1 2)
	n2=$(rx_stat 2 2)
	n3=$(rx_stat 3 2)
	[ -n "$n1" ] && [ -n "$n2" ] && [ -n "$n3" ] || fail "$what: no port stats from testpmd"
	[ "$n1" -ge 10000 ] || fail "$what: only $n1 frames came back before the restart"
	[ "$n2" -ge $((n1 + 10000)) ] || fail "$what: $((n2 - n1)) frames came back after the restart"
	[ "$n3" -gt "$n2" ] || fail "$what: frames stopped coming back after the restart"
	echo "ok: $what ($n1 frames back before, $((n3 - n1)) after)"
}

run split loopback "" "queue_size=256"
run split macswap "--poll" "queue_size=1024,mrg_rxbuf=0,in_order=0"
run packed loopback "--poll" "queue_size=256"
run packed macswap "" "queue_size=1024,mrg_rxbuf=0,in_order=0"
run_multiseg split "queue_size=256,mrg_rxbuf=1,in_order=1"
run_multiseg packed "queue_size=256,mrg_rxbuf=1,in_order=1"
run_multiseg packed "queue_size=256,mrg_rxbuf=1,in_order=0"
run_restart split ""
run_restart packed "--poll"
# and with the backends' inflight record in a file: the second one resumes
# from what the first one recorded there
rm -f "$tmp/net.inflight"
run_restart split "--inflight-file=$tmp/net.inflight"
rm -f "$tmp/net.inflight"
run_restart packed "--poll --inflight-file=$tmp/net.inflight"
echo "PASS: DPDK virtio-user against vhost-user-net, split and packed"
