# Cross build for aarch64 with Debian's aarch64-linux-gnu-gcc (gcc-aarch64-linux-gnu); the
# target's libraries (Check, libsubunit) come from Debian multiarch
# (the :arm64 packages that scripts/cross installs).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
# pkg-config sees only the target's multiarch .pc files.
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig)
# CTest runs the test programs under user-mode QEMU (no binfmt needed); the
# target's dynamic loader and libc come from the multiarch libc6:arm64.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64-static)
