# Cross build for s390x with Debian's s390x-linux-gnu-gcc (gcc-s390x-linux-gnu); the
# target's libraries (Check, libsubunit) come from Debian multiarch
# (the :s390x packages that scripts/cross installs).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR s390x)
set(CMAKE_C_COMPILER s390x-linux-gnu-gcc)
set(CMAKE_FIND_ROOT_PATH /usr/s390x-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
# pkg-config sees only the target's multiarch .pc files.
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/s390x-linux-gnu/pkgconfig:/usr/share/pkgconfig)
# CTest runs the test programs under user-mode QEMU (no binfmt needed); the
# target's dynamic loader and libc come from the multiarch libc6:s390x.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-s390x-static)
