#!/usr/bin/env bash
# reporter-guests-linux: "how many guests fit" (the free page reporting
# series' experiment) with real Linux guests.
#
# Unmodified Debian kernels boot one after another under QEMU (TCG), each
# with G MiB of memfd guest memory.  Each guest (scripts/guest/init,
# vqtest=hog) fills F MiB of tmpfs (most of its free memory), deletes it
# and idles.  After a guest has freed its memory, the host waits until its
# memfd has given back two thirds of F or SETTLE seconds have passed, then
# adds up the allocated blocks of every running guest's memfd (what the
# guests really hold on the host) and launches the next guest only when
# that sum plus G (the most a new guest can take) stays within the budget
# B.  Once with reporting (each guest has a balloon-report backend and
# -device vhost-user-device-pci,virtio-id=5; the guest loads
# virtio_balloon) and once without (no balloon device).  It prints
#   BENCH reporter-guests-linux budget_mib=B guest_mib=G with=W without=O
# and a line with the time memory took to come back: from the guest's
# "freed" console line until its memfd had given back two thirds of F
# (polled every 0.2 s).  A count that reaches MAX is a lower bound
# (capped=1 on the line).
#
# Usage: bench/reporter-guests-linux.sh BUILD_DIR   (or scripts/bench
# reporter-guests-linux).  Environment: VQ_BUDGET_MIB (1280),
# VQ_GUEST_MIB (384), VQ_FILL_MIB (256), VQ_SETTLE (30), VQ_MAX_GUESTS (10),
# VQ_SMP (1).  It needs QEMU 10 and makes the QEMU copy of
# scripts/guest/qemu-vud.sh.
set -euo pipefail

build=$(cd "${1:?usage: reporter-guests-linux.sh BUILD_DIR}" && pwd)
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
budget=${VQ_BUDGET_MIB:-1280}
gmib=${VQ_GUEST_MIB:-384}
fill=${VQ_FILL_MIB:-256}
settle=${VQ_SETTLE:-30}
max=${VQ_MAX_GUESTS:-10}
export VQ_SMP=${VQ_SMP:-1}
export VQCORE_GUEST_MEM=${gmib}M
MiB=$((1024 * 1024))

"$src/scripts/install-deps" --qemu >&2
command -v qemu-system-x86_64 >/dev/null || { echo "reporter-guests-linux: no QEMU" >&2; exit 1; }
"$src/scripts/guest/build-guest.sh" >/dev/null
VQ_QEMU=$("$src/scripts/guest/qemu-vud.sh" | tail -n 1)
export VQ_QEMU
[ -x "$build/examples/balloon-report" ] || { echo "reporter-guests-linux: no $build/examples/balloon-report" >&2; exit 1; }

VQ_WORK=$(mktemp -d "/tmp/vqcore-guests-fit-XXXXXX")
. "$src/scripts/guest/qemu-lib.sh"

bpids=()
stop_all() {
	local p
	vq_qemu_kill_all
	VQ_QEMU_NAMES=()
	for p in "${bpids[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	bpids=()
}
trap 'stop_all; rm -rf "$VQ_WORK"' EXIT
trap 'exit 1' INT TERM

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# mem_bytes PID: allocated bytes of QEMU PID's guest memory memfd.
mem_bytes() {
	local f
	for f in /proc/"$1"/fd/*; do
		if [ "$(readlink "$f" 2>/dev/null)" = "/memfd:memory-backend-memfd (deleted)" ]; then
			stat -L -c '%b %B' "$f" | awk '{ print $1 * $2 }'
			return 0
		fi
	done
	echo 0
}

# used PIDS...: the sum over the guests.
used() {
	local p t=0
	for p in "$@"; do
		t=$((t + $(mem_bytes "$p")))
	done
	echo $t
}

# run 0|1: launch guests under the budget; prints "COUNT CAPPED BACK_MS..."
run() {
	local rep=$1 n=0 pids=() name pid u peak t0 ms back=() dev=() capped=0 sock
	trap stop_all EXIT # this runs in a subshell: its guests end with it
	while :; do
		u=$(used "${pids[@]}")
		if [ $((u + gmib * MiB)) -gt $((budget * MiB)) ]; then
			echo "  $n guests hold $((u / MiB)) MiB: guest $((n + 1)) could need $gmib more, over $budget" >&2
			break
		fi
		if [ $n -ge "$max" ]; then
			capped=1
			echo "  $n guests hold $((u / MiB)) MiB: stopping at VQ_MAX_GUESTS=$max" >&2
			break
		fi
		n=$((n + 1))
		name=r${rep}g$n
		dev=()
		if [ "$rep" = 1 ]; then
			sock=$VQ_WORK/$name.sock
			"$build/examples/balloon-report" --socket-path="$sock" >"$VQ_WORK/$name.backend" 2>&1 </dev/null &
			bpids+=($!)
			for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
			dev=(-chardev "socket,id=c0,path=$sock"
				-device vhost-user-device-pci,chardev=c0,virtio-id=5,num_vqs=3,config_size=8)
		fi
		VQ_GUEST_APPEND="vqtest=hog vqmib=$fill vqballoon=$rep"
		vq_qemu_start "$name" "${dev[@]}" >&2 || return 1
		pid=$(vq_qemu_pid "$name")
		pids+=("$pid")
		if ! vq_wait_log "$name" '^VQHOG filled' 600; then
			echo "reporter-guests-linux: guest $name did not fill its memory" >&2
			vq_show_failure "$name" >&2
			return 1
		fi
		vq_wait_log "$name" '^VQHOG freed' 120 || { vq_show_failure "$name" >&2; return 1; }
		t0=$(now_ms)
		peak=$(mem_bytes "$pid")
		ms=
		while [ $(($(now_ms) - t0)) -lt $((settle * 1000)) ]; do
			if [ $((peak - $(mem_bytes "$pid"))) -ge $((fill * MiB * 2 / 3)) ]; then
				ms=$(($(now_ms) - t0))
				break
			fi
			sleep 0.2
		done
		back+=("${ms:-none}")
		echo "  guest $n: $((peak / MiB)) MiB after freeing, $(($(mem_bytes "$pid") / MiB)) MiB after ${ms:-${settle}000+} ms" >&2
	done
	echo "$n $capped ${back[*]}"
	stop_all
}

echo "# reporter-guests-linux: budget ${budget} MiB, guests of ${gmib} MiB filling ${fill} MiB, with reporting" >&2
read -r with wcap wback < <(run 1)
echo "# reporter-guests-linux: without reporting" >&2
read -r without ocap _ < <(run 0)
echo "BENCH reporter-guests-linux budget_mib=$budget guest_mib=$gmib with=$with without=$without" \
	"fill_mib=$fill capped=$((wcap | ocap))"
sorted=$(echo "$wback" | tr ' ' '\n' | grep -v none | sort -n || true)
cnt=$(echo "$sorted" | grep -c . || true)
if [ "$cnt" -gt 0 ]; then
	echo "BENCH reporter-guests-linux-return fill_mib=$fill back_mib=$((fill * 2 / 3)) guests=$cnt" \
		"median_ms=$(echo "$sorted" | sed -n "$(((cnt + 1) / 2))p") max_ms=$(echo "$sorted" | tail -n 1)" \
		"not_back=$(echo "$wback" | tr ' ' '\n' | grep -c none || true)"
fi
