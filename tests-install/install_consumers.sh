#!/bin/sh
# install_consumers: `cmake --install` into a temporary prefix, then the
# consumer program built three ways against what was installed -- pkg-config,
# a CMake project with find_package(mimiio 3), and statically with
# `pkg-config --static` -- each run against a local mimi-server.
set -eu
. "$(dirname "$0")/lib.sh"

version=$(cargo_version)
P="$work/prefix"
lib="$P/lib/libmimiio.so.$version"
export PKG_CONFIG_PATH="$P/lib/pkgconfig"
unset PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR LD_LIBRARY_PATH CMAKE_PREFIX_PATH || true

install_to "$P"
start_server

# ---- what was installed ----------------------------------------------------

installed_files() {
    for f in "$lib" "$P/lib/libmimiio.a" "$P/include/mimiio.h" "$P/lib/pkgconfig/mimiio.pc" \
        "$P/lib/cmake/mimiio/mimiioConfig.cmake" \
        "$P/lib/cmake/mimiio/mimiioConfigVersion.cmake" \
        "$P/lib/cmake/mimiio/mimiioNativeLibs.cmake"; do
        [ -f "$f" ] && [ ! -L "$f" ] || { echo "missing or a link: $f"; return 1; }
    done
    [ -x "$lib" ] || { echo "not executable: $lib"; return 1; }
    [ "$(readlink "$P/lib/libmimiio.so.3")" = "libmimiio.so.$version" ] || {
        echo "libmimiio.so.3 -> $(readlink "$P/lib/libmimiio.so.3")"; return 1; }
    [ "$(readlink "$P/lib/libmimiio.so")" = "libmimiio.so.3" ] || {
        echo "libmimiio.so -> $(readlink "$P/lib/libmimiio.so")"; return 1; }
    cmp "$MIMIIO_SOURCE_DIR/include/mimiio.h" "$P/include/mimiio.h"
}
check "installed: lib/libmimiio.so.$version, .so.3 and .so links, .a, header, .pc, CMake package" \
    installed_files

check "installed libraries are the build's (install does not rebuild)" sh -c '
    cmp "$1" "$2" && cmp "$3" "$4"' - "$lib" "$MIMIIO_BUILD_DIR/lib/libmimiio.so.3" \
    "$P/lib/libmimiio.a" "$(dirname "$(readlink -f "$MIMIIO_BUILD_DIR/lib/libmimiio.so.3")")/libmimiio.a"

soname_and_no_rpath() {
    soname=$(elf_tag "$lib" SONAME)
    [ "$soname" = "libmimiio.so.3" ] || { echo "SONAME '$soname'"; return 1; }
    rpath=$(elf_tag "$lib" RPATH; elf_tag "$lib" RUNPATH)
    [ -z "$rpath" ] || { echo "RPATH/RUNPATH '$rpath'"; return 1; }
}
check "readelf -d: SONAME libmimiio.so.3, no RPATH or RUNPATH" soname_and_no_rpath

exports_exactly_the_api() {
    nm -D --defined-only "$lib" | awk '{print $3}' | sort >"$work/exports"
    printf '%s\n' mimi_close mimi_error mimi_is_active mimi_open mimi_start \
        mimi_stream_state mimi_strerror mimi_version >"$work/api"
    diff "$work/api" "$work/exports"
}
check "installed library exports exactly the eight mimi_* functions" exports_exactly_the_api

pc_fields() {
    pc_version=$("$PKG_CONFIG" --modversion mimiio)
    [ "$pc_version" = "$version" ] || { echo ".pc Version '$pc_version', Cargo.toml '$version'"; return 1; }
    libs=$("$PKG_CONFIG" --libs mimiio | sed 's/ *$//')
    [ "$libs" = "-L$P/lib -lmimiio" ] || { echo "Libs '$libs'"; return 1; }
    cflags=$("$PKG_CONFIG" --cflags mimiio | sed 's/ *$//')
    [ "$cflags" = "-I$P/include" ] || { echo "Cflags '$cflags'"; return 1; }
    static=$("$PKG_CONFIG" --static --libs mimiio)
    case " $static " in
    *" -lmimiio "*"-lssl "*"-lcrypto "*) ;;
    *) echo "static Libs '$static'"; return 1 ;;
    esac
}
check "mimiio.pc: Version = Cargo.toml ($version), Libs, Cflags, Libs.private" pc_fields

# ---- 1. pkg-config, shared -------------------------------------------------

build_pkg_config() {
    # shellcheck disable=SC2046 # word splitting of pkg-config output is intended
    "$CC" $CFLAGS_STRICT -o "$work/consumer_pc" "$CONSUMER_C" \
        $("$PKG_CONFIG" --cflags --libs mimiio)
    needed=$(elf_tag "$work/consumer_pc" NEEDED)
    printf '%s\n' "$needed" | grep -qx 'libmimiio.so.3' || {
        echo "NEEDED: $needed"; return 1; }
}
check "pkg-config --cflags --libs mimiio: builds; NEEDED libmimiio.so.3" build_pkg_config
check "pkg-config build runs (LD_LIBRARY_PATH=P/lib): mimi_error 0, recog-finished" \
    run_consumer "$work/pc.out" "$work/consumer_pc" "$lib" LD_LIBRARY_PATH="$P/lib"

# ---- 2. CMake find_package -------------------------------------------------

build_cmake() {
    CMAKE_PREFIX_PATH="$P" "$CMAKE_COMMAND" -S "$MIMIIO_SOURCE_DIR/tests-install/consumer" \
        -B "$work/cmake" -DCMAKE_C_COMPILER="$CC" -DCMAKE_BUILD_TYPE=Release
    "$CMAKE_COMMAND" --build "$work/cmake"
    grep -qx "version $version" "$work/cmake/found.txt" || { cat "$work/cmake/found.txt"; return 1; }
    grep -qx "config $P/lib/cmake/mimiio/mimiioConfig.cmake" "$work/cmake/found.txt" || {
        cat "$work/cmake/found.txt"; return 1; }
}
check "find_package(mimiio 3 REQUIRED) finds $version in P; mimiio::mimiio and mimiio::mimiio_static link" \
    build_cmake
# CMake's build RPATH points at P/lib: no LD_LIBRARY_PATH needed.
check "find_package build runs against P/lib: mimi_error 0, recog-finished" \
    run_consumer "$work/cmake.out" "$work/cmake/consumer_cmake" "$lib"
check "mimiio::mimiio_static build runs without libmimiio.so: mimi_error 0, recog-finished" \
    run_consumer "$work/cmake_static.out" "$work/cmake/consumer_cmake_static" \
    "$work/cmake/consumer_cmake_static"

other_majors_refused() {
    for major in 2 4; do
        if CMAKE_PREFIX_PATH="$P" "$CMAKE_COMMAND" -S "$MIMIIO_SOURCE_DIR/tests-install/consumer" \
            -B "$work/cmake-$major" -DCMAKE_C_COMPILER="$CC" -DMIMIIO_WANTED_MAJOR=$major \
            >"$work/cmake-$major.log" 2>&1; then
            echo "find_package(mimiio $major) succeeded"
            return 1
        fi
        grep -q "mimiio" "$work/cmake-$major.log"
    done
}
check "find_package(mimiio 2) and (mimiio 4) fail (SameMajorVersion)" other_majors_refused

# ---- 3. static, with pkg-config --static -----------------------------------

build_static() {
    # -lmimiio becomes -l:libmimiio.a so that the linker takes the archive even
    # though libmimiio.so sits next to it.
    libs=
    for word in $("$PKG_CONFIG" --static --libs mimiio); do
        [ "$word" = "-lmimiio" ] && word="-l:libmimiio.a"
        libs="$libs $word"
    done
    # shellcheck disable=SC2046,SC2086
    "$CC" $CFLAGS_STRICT -o "$work/consumer_static" "$CONSUMER_C" \
        $("$PKG_CONFIG" --cflags mimiio) $libs
    needed=$(elf_tag "$work/consumer_static" NEEDED)
    if printf '%s\n' "$needed" | grep -q mimiio; then
        echo "still NEEDs the shared library: $needed"
        return 1
    fi
}
check "pkg-config --static --libs with libmimiio.a: links, no libmimiio NEEDED" build_static
check "static build runs: mimi_error 0, recog-finished" \
    run_consumer "$work/static.out" "$work/consumer_static" "$work/consumer_static"

finish
