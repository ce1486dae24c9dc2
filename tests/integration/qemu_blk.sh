#!/usr/bin/env bash
# Description: an unmodified QEMU (TCG) boots an unmodified Debian kernel
# whose initramfs drives examples/vhost-user-blk through the guest's own
# virtio_blk driver: it writes a random pattern (buffered + fsync, and
# O_DIRECT 4 KiB), drops the page cache, reads it back with O_DIRECT and
# compares checksums; the disk file must then hold the pattern.  Done once
# on a split ring and once with packed=on, where the guest must see
# VIRTIO_F_RING_PACKED (bit 34) negotiated (QEMU silently falls back to
# split when the backend does not offer it).
# Usage: qemu_blk.sh BUILD_DIR.  Exit 77 (skip) only when QEMU cannot be
# installed.
# Environment: VQ_BLK_ARGS = extra backend arguments.
set -euo pipefail

build=$(cd "${1:?usage: qemu_blk.sh BUILD_DIR}" && pwd)
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=$build/examples/vhost-user-blk
. "$src/scripts/guest/lib.sh"

if ! "$src/scripts/install-deps" --qemu || ! command -v qemu-system-x86_64 >/dev/null; then
	echo "SKIP: QEMU cannot be installed (scripts/install-deps --qemu)"
	exit 77
fi
"$src/scripts/guest/build-guest.sh" >/dev/null

work=$(mktemp -d /tmp/vqcore-qemu-blk-XXXXXX)
VQ_SOCK=$work/blk.sock
cleanup() {
	vq_backend_stop || true
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail=0
for mode in split packed; do
	img=$work/disk-$mode.img
	truncate -s 64M "$img"
	# shellcheck disable=SC2086
	if ! vq_backend_start "$work/backend-$mode.log" "$bin" --socket-path="$VQ_SOCK" \
		--blk-file="$img" ${VQ_BLK_ARGS:-}; then
		echo "FAIL: $mode: the backend did not start"
		fail=1
		continue
	fi
	pk=()
	[ $mode = packed ] && pk=(--packed)
	if ! "$src/scripts/guest/run-qemu.sh" --test=blk --socket="$VQ_SOCK" "${pk[@]}" \
		--check-file="$img" --log="$work/console-$mode.log" --timeout=120; then
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
[ $fail -eq 0 ] && echo "PASS: vhost-user-blk in a real guest, split and packed"
exit $fail
