#!/bin/sh
# dropin: a program built and linked once, the way an existing application was
# built against the original libmimiio (plain -I/-L/-lmimiio, no RPATH), runs
# unchanged against another libmimiio.so.3 installed elsewhere, picked by
# LD_LIBRARY_PATH alone.
#
# Prefix A is a `cmake --install` of the build tree. Prefix B is a second
# install; with MIMIIO_SECOND_BUILD_DIR set (CMake option
# MIMIIO_DROPIN_SECOND_BUILD) its libmimiio.so.X.Y.Z is replaced by a second,
# independent build of the same sources (cargo's dev profile in that target
# directory), so that B really holds a different binary. Either way the program
# reports, from /proc/self/maps, which file its library was mapped from.
set -eu
. "$(dirname "$0")/lib.sh"

version=$(cargo_version)
A="$work/a"
B="$work/b"
unset LD_LIBRARY_PATH LD_PRELOAD || true

install_to "$A"
install_to "$B"
if [ -n "${MIMIIO_SECOND_BUILD_DIR:-}" ]; then
    (cd "$MIMIIO_SOURCE_DIR" &&
        "${CARGO:-cargo}" build --quiet -p mimiio --target-dir "$MIMIIO_SECOND_BUILD_DIR")
    cp "$MIMIIO_SECOND_BUILD_DIR/debug/libmimiio.so" "$B/lib/libmimiio.so.$version"
fi
start_server

# Built once, against A, by hand.
build_once() {
    # shellcheck disable=SC2086
    "$CC" $CFLAGS_STRICT -I"$A/include" -o "$work/app" "$CONSUMER_C" -L"$A/lib" -lmimiio
    needed=$(elf_tag "$work/app" NEEDED)
    printf '%s\n' "$needed" | grep -qx 'libmimiio.so.3' || { echo "NEEDED: $needed"; return 1; }
    rpath=$(elf_tag "$work/app" RPATH; elf_tag "$work/app" RUNPATH)
    [ -z "$rpath" ] || { echo "the program has RPATH/RUNPATH '$rpath'"; return 1; }
}
check "built once against prefix A: NEEDED libmimiio.so.3, no RPATH" build_once
app_sum=$(cksum <"$work/app")

same_interface() {
    [ "$(elf_tag "$B/lib/libmimiio.so.$version" SONAME)" = "libmimiio.so.3" ]
    nm -D --defined-only "$A/lib/libmimiio.so.$version" | awk '{print $3}' | sort >"$work/a.sym"
    nm -D --defined-only "$B/lib/libmimiio.so.$version" | awk '{print $3}' | sort >"$work/b.sym"
    diff "$work/a.sym" "$work/b.sym"
    if [ -n "${MIMIIO_SECOND_BUILD_DIR:-}" ]; then
        if cmp -s "$A/lib/libmimiio.so.$version" "$B/lib/libmimiio.so.$version"; then
            echo "the second build is byte-identical to the first"
            return 1
        fi
    fi
}
check "B's library: SONAME libmimiio.so.3, the same exported symbols as A's$(
    [ -n "${MIMIIO_SECOND_BUILD_DIR:-}" ] && echo ', a different binary')" same_interface

check "runs against A (LD_LIBRARY_PATH=A/lib): library mapped from A, recog-finished" \
    run_consumer "$work/a.out" "$work/app" "$A/lib/libmimiio.so.$version" LD_LIBRARY_PATH="$A/lib"
check "runs unchanged against B (LD_LIBRARY_PATH=B/lib): library mapped from B, recog-finished" \
    run_consumer "$work/b.out" "$work/app" "$B/lib/libmimiio.so.$version" LD_LIBRARY_PATH="$B/lib"

rm -rf "$A"
check "runs against B with prefix A deleted" \
    run_consumer "$work/b2.out" "$work/app" "$B/lib/libmimiio.so.$version" LD_LIBRARY_PATH="$B/lib"
check "the program was not relinked" test "$(cksum <"$work/app")" = "$app_sum"

finish
