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

vq_guest_setup net
for mode in split packed; do
	# shellcheck disable=SC2086
	vq_guest_round $mode "$bin" --socket-path="$VQ_SOCK" --mode=icmpecho \
		${VQ_NET_ARGS:-} -- --test=net --ip="${VQ_NET_IP:-192.0.2.1/24}" \
		--peer="${VQ_NET_PEER:-192.0.2.2}"
done
vq_guest_finish "vhost-user-net in a real guest, split and packed"
