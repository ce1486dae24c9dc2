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
echo "install_consume: ok"
