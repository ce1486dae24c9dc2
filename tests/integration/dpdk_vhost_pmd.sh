#!/usr/bin/env bash
# Description: our vhost-user client (the driver side, vqcore_vuc_*)
# against DPDK's vhost PMD (dpdk-testpmd, net_vhost0, unmodified), testpmd
# forwarding the port to itself: what the client sends on tx comes back on
# its rx.  tests/dpdk/netcheck.c vuc-echo sends frames of 60..1514 bytes
# and checks each one comes back, in order, with the right content: as
# sent with io forwarding, addresses swapped with macswap.  Split and
# packed rings, each in both forwarding modes; each also with tx frames as
# 3-descriptor chains (every other one indirect) and rx buffers of 512
# bytes, so frames come back over several mergeable buffers.  testpmd runs with
# --no-huge, --no-pci and its own --file-prefix: nothing of the host is
# changed.
# Usage: dpdk_vhost_pmd.sh BUILD_DIR.  Exit 77 (skip) only when DPDK
# cannot be installed.
set -euo pipefail

build=$(cd "${1:?usage: dpdk_vhost_pmd.sh BUILD_DIR}" && pwd)
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$src/scripts/dpdk-lib.sh"
check=$build/tests/dpdk_netcheck
frames=5000

if ! "$src/scripts/install-deps" --dpdk || ! dpdk_have; then
	echo "SKIP: DPDK cannot be installed (scripts/install-deps --dpdk)"
	exit 77
fi

tmp=$(mktemp -d /tmp/vq-dpdk-vh.XXXXXX)
fe_pid=""
cleanup() {
	set +e
	[ -n "$fe_pid" ] && kill -KILL "$fe_pid" 2>/dev/null && wait "$fe_pid" 2>/dev/null
	dpdk_forget "vqdvh$$"
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*"
	tail -60 "$tmp/testpmd.log"
	exit 1
}

sock=$tmp/vhost.sock
dpdk_start fe "$tmp/testpmd.log" -l 0,1 --no-pci --no-huge -m 512 --file-prefix="vqdvh$$" \
	--vdev="net_vhost0,iface=$sock,queues=1" -- -i --nb-cores=1 --total-num-mbufs=8192
dpdk_wait_log "$tmp/testpmd.log" "testpmd> " 60 "$fe_pid" || fail "testpmd did not start"
[ -S "$sock" ] || fail "no vhost-user socket at $sock"
for fwd in io macswap; do
	dpdk_cmd fe "set fwd $fwd"
	dpdk_cmd fe "start"
	for format in split packed; do
		timeout 120 "$check" vuc-echo "$sock" $format $frames $fwd ||
			fail "$format ring, $fwd forwarding"
		echo "ok: $format ring, testpmd $fwd forwarding"
		timeout 120 "$check" vuc-echo "$sock" $format $frames $fwd chains ||
			fail "$format ring, $fwd forwarding, chained and indirect tx, small rx buffers"
		echo "ok: $format ring, testpmd $fwd forwarding, chained and indirect tx, small rx buffers"
	done
	dpdk_cmd fe "stop"
done
dpdk_quit fe || fail "testpmd failed"
fe_pid=""
echo "PASS: our vhost-user client against DPDK's vhost PMD, split and packed"
