#!/usr/bin/env bash
# Description: an unmodified QEMU (TCG) boots an unmodified Debian kernel
# whose initramfs drives examples/vhost-user-blk through the guest's own
# virtio_blk driver: it writes a random pattern (buffered + fsync, and
# O_DIRECT 4 KiB), drops the page cache, reads it back with O_DIRECT and
# compares checksums; the disk file must then hold the pattern.  Done once
# on a split ring and once with packed=on, where the guest must see
# VIRTIO_F_RING_PACKED (bit 34) negotiated (QEMU silently falls back to
# split when the backend does not offer it).  Split and packed run at QEMU's
# defaults (two vCPUs, no num-queues: a queue per vCPU), packed once more
# with num-queues=1.
# Usage: qemu_blk.sh BUILD_DIR.  Exit 77 (skip) only when QEMU cannot be
# installed.
# Environment: VQ_BLK_ARGS = extra backend arguments.
set -euo pipefail

build=$(cd "${1:?usage: qemu_blk.sh BUILD_DIR}" && pwd)
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=$build/examples/vhost-user-blk
. "$src/scripts/guest/lib.sh"

vq_guest_setup blk
# QEMU's defaults: two vCPUs and no num-queues, so QEMU asks for a queue
# per vCPU; then the old one-queue set-up.
for run in "split --smp=2" "packed --smp=2" "packed --smp=1 --num-queues=1"; do
	set -- $run
	mode=$1
	shift
	img=$VQ_WORK/disk.img
	rm -f "$img"
	truncate -s 64M "$img"
	# shellcheck disable=SC2086
	vq_guest_round $mode "$bin" --socket-path="$VQ_SOCK" --blk-file="$img" \
		${VQ_BLK_ARGS:-} -- --test=blk --check-file="$img" "$@"
done
vq_guest_finish "vhost-user-blk in a real guest, split and packed"
