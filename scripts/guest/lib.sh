# Helpers for the guest tests; source it from bash.
#   vq_backend_start LOG CMD...   start CMD in the background (output to LOG),
#                                 set VQ_BACKEND_PID; wait (10 s at most) for
#                                 the socket in $VQ_SOCK to appear.  Returns 1
#                                 (and prints LOG) when the backend dies first
#                                 or the socket never appears.
#   vq_backend_stop               end that backend (TERM, then KILL after 5 s)
#                                 and wait for it; returns its exit status, or
#                                 0 when it had to be signalled.
# A guest test script (tests/integration/qemu_*.sh) is three calls:
#   vq_guest_setup NAME           QEMU and the guest kernel installed (exit 77
#                                 when QEMU cannot be), a work dir in $VQ_WORK
#                                 removed at exit, $VQ_SOCK in it.
#   vq_guest_round MODE BACKEND... -- RUN_QEMU_ARGS...
#                                 one round on MODE (split|packed): start the
#                                 backend, boot the guest with
#                                 scripts/guest/run-qemu.sh, stop the backend;
#                                 any failure is printed and remembered.
#   vq_guest_finish WHAT          print PASS: WHAT when every round passed;
#                                 exit 0 or 1.

VQ_BACKEND_PID=

vq_backend_start() {
	local log=$1
	shift
	rm -f "$VQ_SOCK"
	"$@" >"$log" 2>&1 </dev/null &
	VQ_BACKEND_PID=$!
	local i
	for i in $(seq 100); do
		if [ -S "$VQ_SOCK" ]; then
			return 0
		fi
		if ! kill -0 "$VQ_BACKEND_PID" 2>/dev/null; then
			echo "backend exited before creating $VQ_SOCK: $*" >&2
			sed 's/^/  backend: /' "$log" >&2
			wait "$VQ_BACKEND_PID" 2>/dev/null || true
			VQ_BACKEND_PID=
			return 1
		fi
		sleep 0.1
	done
	echo "backend did not create $VQ_SOCK within 10 s: $*" >&2
	sed 's/^/  backend: /' "$log" >&2
	vq_backend_stop || true
	return 1
}

vq_backend_stop() {
	local pid=$VQ_BACKEND_PID rc=0 i
	VQ_BACKEND_PID=
	[ -n "$pid" ] || return 0
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for i in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		return 0
	fi
	wait "$pid" 2>/dev/null || rc=$?
	return $rc
}

VQ_GUEST_FAIL=0

vq_guest_setup() {
	local src
	src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	if ! "$src/scripts/install-deps" --qemu || ! command -v qemu-system-x86_64 >/dev/null; then
		echo "SKIP: QEMU cannot be installed (scripts/install-deps --qemu)"
		exit 77
	fi
	"$src/scripts/guest/build-guest.sh" >/dev/null
	VQ_RUN_QEMU=$src/scripts/guest/run-qemu.sh
	VQ_WORK=$(mktemp -d "/tmp/vqcore-qemu-$1-XXXXXX")
	VQ_SOCK=$VQ_WORK/$1.sock
	trap 'vq_backend_stop || true; rm -rf "$VQ_WORK"' EXIT
	trap 'exit 1' INT TERM
}

vq_guest_round() {
	local mode=$1 backend=() qemu=() pk=() rc=0 log
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		backend+=("$1")
		shift
	done
	[ $# -gt 0 ] && shift
	qemu=("$@")
	log=$VQ_WORK/backend-$mode.log
	if ! vq_backend_start "$log" "${backend[@]}"; then
		echo "FAIL: $mode: the backend did not start"
		VQ_GUEST_FAIL=1
		return 0
	fi
	[ "$mode" = packed ] && pk=(--packed)
	if ! "$VQ_RUN_QEMU" --socket="$VQ_SOCK" "${pk[@]}" "${qemu[@]}" \
		--log="$VQ_WORK/console-$mode.log" --timeout=120; then
		echo "FAIL: $mode: guest test failed; backend output:"
		sed 's/^/  backend: /' "$log"
		VQ_GUEST_FAIL=1
	fi
	vq_backend_stop || rc=$?
	if [ $rc -ne 0 ]; then
		echo "FAIL: $mode: the backend exited with status $rc; its output:"
		sed 's/^/  backend: /' "$log"
		VQ_GUEST_FAIL=1
	fi
	return 0
}

vq_guest_finish() {
	[ $VQ_GUEST_FAIL -eq 0 ] && echo "PASS: $1"
	exit $VQ_GUEST_FAIL
}
