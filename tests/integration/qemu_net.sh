#!/usr/bin/env bash
# Description: an unmodified QEMU (TCG) boots an unmodified Debian kernel
# whose virtio_net driver talks to examples/vhost-user-net --mode=icmpecho:
# the guest sets eth0 to 192.0.2.1/24 and pings 192.0.2.2, which only the
# backend answers (ARP and ICMP echo; the traffic never leaves the
# guest<->backend virtqueues), with 56- and 1400-byte payloads; every
# request must be answered.  Done once on a split ring and once with
# packed=on, where the guest must see VIRTIO_F_RING_PACKED (bit 34)
# negotiated.
# Usage: qemu_net.sh BUILD_DIR.  Exit 77 (skip) only when QEMU cannot be
# installed.
# Environment: VQ_NET_ARGS = extra backend arguments; VQ_NET_IP (guest
# address/len, default 192.0.2.1/24) and VQ_NET_PEER (default 192.0.2.2).
set -euo pipefail

build=$(cd "${1:?usage: qemu_net.sh BUILD_DIR}" && pwd)
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=$build/examples/vhost-user-net
. "$src/scripts/guest/lib.sh"

if ! "$src/scripts/install-deps" --qemu || ! command -v qemu-system-x86_64 >/dev/null; then
	echo "SKIP: QEMU cannot be installed (scripts/install-deps --qemu)"
	exit 77
fi
"$src/scripts/guest/build-guest.sh" >/dev/null

work=$(mktemp -d /tmp/vqcore-qemu-net-XXXXXX)
VQ_SOCK=$work/net.sock
cleanup() {
	vq_backend_stop || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail=0
for mode in split packed; do
	# shellcheck disable=SC2086
	if ! vq_backend_start "$work/backend-$mode.log" "$bin" --socket-path="$VQ_SOCK" \
		--mode=icmpecho ${VQ_NET_ARGS:-}; then
		echo "FAIL: $mode: the backend did not start"
		fail=1
		continue
	fi
	pk=()
	[ $mode = packed ] && pk=(--packed)
	if ! "$src/scripts/guest/run-qemu.sh" --test=net --socket="$VQ_SOCK" "${pk[@]}" \
		--ip="${VQ_NET_IP:-192.0.2.1/24}" --peer="${VQ_NET_PEER:-192.0.2.2}" \
		--log="$work/console-$mode.log" --timeout=120; then
		echo "FAIL: $mode: guest test failed; backend output:"
		sed 's/^/  backend: /' "$work/backend-$mode.log"
		fail=1
	fi
	rc=0
	vq_backend_stop || rc=$?
	if [ $rc -ne 0 ]; then
		echo "FAIL: $mode: the backend exited with status $rc; its output:"
		sed 's/^/  backend: /' "$work/backend-$mode.log"
		fail=1
	fi
done
[ $fail -eq 0 ] && echo "PASS: vhost-user-net in a real guest, split and packed"
exit $fail
