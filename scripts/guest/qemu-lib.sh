# Helpers for guest tests that drive QEMU while it runs (migration, backend
# restart); source it from bash after setting $VQ_WORK (a scratch directory).
#
#   vq_qemu_start NAME ARGS...   start qemu-system-x86_64 in the background
#                                with the test guest's common arguments, an
#                                HMP monitor on $VQ_WORK/NAME.mon and the
#                                serial console on FIFOs: what the guest
#                                prints goes to $VQ_WORK/NAME.log, and
#                                vq_type NAME TEXT types on its console.
#                                Sets VQ_QEMU_PID_<NAME>.
#   vq_hmp NAME CMD              run one monitor command, print its output
#   vq_wait_log NAME REGEX SEC   wait until the console log has a line
#                                matching REGEX; 1 on timeout or QEMU exit
#   vq_type NAME TEXT            type TEXT and a newline on the console
#   vq_qemu_wait NAME SEC        wait for QEMU to exit (killed after SEC)
#   vq_qemu_kill_all             kill every QEMU started here
#
# Guest kernel arguments: VQ_GUEST_APPEND; memory: VQCORE_GUEST_MEM (256M);
# CPUs: VQ_SMP (2); the QEMU binary: VQ_QEMU (default qemu-system-x86_64).

VQ_QEMU_NAMES=()

vq_qemu_start() {
	local name=$1 guest mem=${VQCORE_GUEST_MEM:-256M}
	shift
	guest=$("$(dirname "${BASH_SOURCE[0]}")/build-guest.sh" 2>/dev/null | tail -n 1)
	rm -f "$VQ_WORK/$name.in" "$VQ_WORK/$name.out"
	mkfifo "$VQ_WORK/$name.in" "$VQ_WORK/$name.out"
	: >"$VQ_WORK/$name.log"
	# QEMU opens both FIFOs read-write, so neither open blocks.
	cat "$VQ_WORK/$name.out" >>"$VQ_WORK/$name.log" &
	eval "VQ_CAT_PID_$name=$!"
	"${VQ_QEMU:-qemu-system-x86_64}" -nodefaults -display none -no-reboot -accel tcg -M pc \
		-smp "${VQ_SMP:-2}" -m "$mem" \
		-object "memory-backend-memfd,id=mem,size=$mem,share=on" -machine memory-backend=mem \
		-chardev "pipe,id=ser,path=$VQ_WORK/$name" -serial chardev:ser \
		-monitor "unix:$VQ_WORK/$name.mon,server=on,wait=off" \
		-kernel "$guest/vmlinuz" -initrd "$guest/initramfs.gz" \
		-append "console=ttyS0 panic=-1 $VQ_GUEST_APPEND" \
		"$@" </dev/null >"$VQ_WORK/$name.qemu" 2>&1 &
	eval "VQ_QEMU_PID_$name=$!"
	VQ_QEMU_NAMES+=("$name")
	local i
	for i in $(seq 100); do
		[ -S "$VQ_WORK/$name.mon" ] && return 0
		kill -0 "$(vq_qemu_pid "$name")" 2>/dev/null || break
		sleep 0.1
	done
	echo "QEMU $name did not start:" >&2
	sed 's/^/  qemu: /' "$VQ_WORK/$name.qemu" >&2
	return 1
}

vq_qemu_pid() {
	eval "echo \${VQ_QEMU_PID_$1:-}"
}

vq_hmp() {
	printf '%s\n' "$2" | socat -t 3 - "UNIX-CONNECT:$VQ_WORK/$1.mon" 2>/dev/null | tr -d '\r'
}

vq_type() {
	printf '%s\n' "$2" >"$VQ_WORK/$1.in"
}

vq_wait_log() {
	local name=$1 re=$2 sec=$3 pid i
	pid=$(vq_qemu_pid "$name")
	for i in $(seq $((sec * 10))); do
		grep -aqE "$re" "$VQ_WORK/$name.log" && return 0
		kill -0 "$pid" 2>/dev/null || { grep -aqE "$re" "$VQ_WORK/$name.log"; return; }
		sleep 0.1
	done
	return 1
}

vq_qemu_wait() {
	local name=$1 sec=$2 pid i
	pid=$(vq_qemu_pid "$name")
	[ -n "$pid" ] || return 0
	for i in $(seq $((sec * 10))); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	eval "kill \${VQ_CAT_PID_$name:-} 2>/dev/null; wait \${VQ_CAT_PID_$name:-} 2>/dev/null" || true
}

vq_qemu_kill_all() {
	local n
	for n in "${VQ_QEMU_NAMES[@]}"; do
		vq_qemu_wait "$n" 0
	done
}

# vq_backend_start SOCK LOG CMD...: start a vhost-user backend, CMD with
# its output appended to LOG, that listens on SOCK (a stale SOCK is
# removed first); its pid in VQ_BPID.  Returns 0 once SOCK exists, or
# shows LOG and returns 1 when the backend exits or SOCK does not appear
# within 10 s.
vq_backend_start() {
	local sock=$1 log=$2 i
	shift 2
	rm -f "$sock"
	"$@" >>"$log" 2>&1 </dev/null &
	VQ_BPID=$!
	for i in $(seq 100); do
		[ -S "$sock" ] && return 0
		kill -0 "$VQ_BPID" 2>/dev/null || break
		sleep 0.1
	done
	echo "FAIL: the backend did not start: $*"
	sed 's/^/  backend: /' "$log"
	return 1
}

# vq_kill_delay: sleep 0.5 to 2.5 s (in tenths, at random): the time a
# guest's load runs before the next kill of its backend.
vq_kill_delay() {
	sleep "$(awk -v s="$RANDOM" 'BEGIN { printf "%.1f", 0.5 + (s % 21) / 10 }')"
}

# vq_result_line NAME: the guest's VQTEST RESULT line, if any.
vq_result_line() {
	grep -a '^VQTEST RESULT ' "$VQ_WORK/$1.log" | tail -n 1 | tr -d '\r'
}

# vq_field LINE KEY: the value of KEY=... in LINE.
vq_field() {
	echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}

# vq_show_failure NAME: print what QEMU and the guest said.
vq_show_failure() {
	echo "--- QEMU $1 said:"
	sed 's/^/  qemu: /' "$VQ_WORK/$1.qemu" 2>/dev/null | tail -n 20
	echo "--- last console lines of $1:"
	tail -n 30 "$VQ_WORK/$1.log" 2>/dev/null | tr -d '\r' | sed 's/^/  | /'
}
