#!/usr/bin/env bash
# Description: install libvqcore into a temporary prefix, then build a small
# consumer program out of tree twice (pkg-config, then CMake find_package)
# against the shared library, and run both.
set -euo pipefail
build=$1
here=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(ls -d "$prefix"/lib* | head -n1)
test -e "$libdir/libvqcore.so.0" || { echo "no soname link libvqcore.so.0"; exit 1; }
test -e "$libdir/libvqcore.a" || { echo "no static library"; exit 1; }
test -e "$libdir/pkgconfig/vqcore.pc" || { echo "no vqcore.pc"; exit 1; }

# Only the public API may be exported.
bad=$(nm -D --defined-only "$libdir/libvqcore.so.0" | awk '{print $3}' | grep -v -E '^(vqcore_|VQCORE_)' || true)
if [ -n "$bad" ]; then echo "non-public symbols exported:"; echo "$bad"; exit 1; fi
soname=$(objdump -p "$libdir/libvqcore.so.0" | awk '/SONAME/{print $2}')
[ "$soname" = "libvqcore.so.0" ] || { echo "soname is $soname"; exit 1; }

# 1. pkg-config
export PKG_CONFIG_PATH="$libdir/pkgconfig"
# shellcheck disable=SC2046
flags=${VQCORE_CONSUMER_FLAGS:-}
# shellcheck disable=SC2086
cc -Wall -Werror $flags -o "$tmp/consumer-pc" "$here/consumer/consumer.c" $(pkg-config --cflags --libs vqcore)
LD_LIBRARY_PATH="$libdir" "$tmp/consumer-pc" pkg-config

# 2. find_package
cmake -S "$here/consumer" -B "$tmp/cbuild" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_C_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" >/dev/null
cmake --build "$tmp/cbuild" >/dev/null
LD_LIBRARY_PATH="$libdir" "$tmp/cbuild/consumer" find_package
# 3. The README's device, extracted from README.md and built with the
#    README's command line: it must load libvqcore from this prefix with
#    no LD_LIBRARY_PATH (the rpath), serve its socket, and end cleanly on
#    SIGTERM (vqcore_vu_stop_on_signal).
readme=$here/../../README.md
awk '/<!-- mydev.c/ { on = 1; next } on && /^```c$/ { code = 1; next }
     code && /^```$/ { exit } code { print }' "$readme" >"$tmp/mydev.c"
[ -s "$tmp/mydev.c" ] || { echo "README.md holds no mydev.c block"; exit 1; }
cmd=$(grep -m1 '^cc mydev.c ' "$readme")
[ -n "$cmd" ] || { echo "README.md holds no 'cc mydev.c' line"; exit 1; }
# shellcheck disable=SC2086
(cd "$tmp" && eval "$cmd -Wall -Werror $flags -o mydev")
env -u LD_LIBRARY_PATH "$tmp/mydev" "$tmp/mydev.sock" >"$tmp/mydev.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
	[ -S "$tmp/mydev.sock" ] && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
if ! [ -S "$tmp/mydev.sock" ]; then
	cat "$tmp/mydev.log"
	wait "$pid" || true
	echo "the README device did not start"
	exit 1
fi
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
[ $rc -eq 0 ] || { cat "$tmp/mydev.log"; echo "the README device exited $rc on SIGTERM"; exit 1; }
echo "install_consume: ok"
