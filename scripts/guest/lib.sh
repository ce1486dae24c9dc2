# Helpers for the guest tests; source it from bash.
#   vq_backend_start LOG CMD...   start CMD in the background (output to LOG),
#                                 set VQ_BACKEND_PID; wait (10 s at most) for
#                                 the socket in $VQ_SOCK to appear.  Returns 1
#                                 (and prints LOG) when the backend dies first
#                                 or the socket never appears.
#   vq_backend_stop               end that backend (TERM, then KILL after 5 s)
#                                 and wait for it; returns its exit status, or
#                                 0 when it had to be signalled.

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
