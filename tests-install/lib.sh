# Shared by the install tests (sourced). Environment, set by tests.cmake:
#   MIMIIO_BUILD_DIR   the CMake build tree to install from
#   MIMIIO_SOURCE_DIR  the source tree
#   MIMI_SERVER        the mimi-server binary
#   CC                 the C compiler CMake uses
#   CMAKE_COMMAND      the cmake binary
#   PKG_CONFIG         the pkg-config binary

: "${MIMIIO_BUILD_DIR:?}" "${MIMIIO_SOURCE_DIR:?}" "${MIMI_SERVER:?}" "${CC:?}"
: "${CMAKE_COMMAND:?}" "${PKG_CONFIG:?}"

CFLAGS_STRICT="-std=c99 -Wall -Wextra -Wpedantic -Werror"
RECORDING="$MIMIIO_SOURCE_DIR/testdata/speech-16k-mono.raw"
CONSUMER_C="$MIMIIO_SOURCE_DIR/tests-install/consumer.c"

passed=0
failed=0
server_pid=
work=$(mktemp -d "${TMPDIR:-/tmp}/mimiio-install.XXXXXX")
work=$(readlink -f "$work")

cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# check NAME COMMAND...: runs the command in a subshell with errexit in force
# (so any failing step of a function fails it), prints "ok NAME" or "FAIL NAME"
# with the command's output, and counts.
check() {
    name=$1
    shift
    set +e
    (set -e; "$@") >"$work/check.out" 2>&1
    rc=$?
    set -e
    if [ "$rc" -eq 0 ]; then
        echo "ok   $name"
        passed=$((passed + 1))
    else
        echo "FAIL $name"
        sed 's/^/     | /' "$work/check.out"
        failed=$((failed + 1))
    fi
}

# Ends the script with the summary line the other C tests print.
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

# The version of the [package] table of Cargo.toml.
cargo_version() {
    awk '/^\[/ { table = $0 }
         table == "[package]" && /^version[ \t]*=/ { gsub(/.*=[ \t]*"|".*/, ""); print; exit }' \
        "$MIMIIO_SOURCE_DIR/Cargo.toml"
}

# install_to PREFIX: `cmake --install` of the build tree into PREFIX.
install_to() {
    "$CMAKE_COMMAND" --install "$MIMIIO_BUILD_DIR" --prefix "$1" >"$work/install.log" 2>&1 || {
        cat "$work/install.log"
        return 1
    }
}

# Starts mimi-server on a free loopback port; sets server_port.
start_server() {
    "$MIMI_SERVER" --host 127.0.0.1 --port 0 >"$work/server.out" 2>"$work/server.err" &
    server_pid=$!
    tries=0
    server_port=
    while [ "$tries" -lt 150 ]; do
        line=$(head -n 1 "$work/server.out" 2>/dev/null || true)
        case $line in
        "listening on "*:*)
            server_port=${line##*:}
            return 0
            ;;
        esac
        tries=$((tries + 1))
        sleep 0.1
    done
    echo "mimi-server did not start:" >&2
    cat "$work/server.err" >&2
    return 1
}

# The value of a tag of `readelf -d` (SONAME, NEEDED, RPATH, RUNPATH), one per line.
elf_tag() {
    readelf -d "$1" | sed -n "s/.*($2).*\[\(.*\)\]/\1/p"
}

# run_consumer OUT PROGRAM EXPECTED_LIBRARY [ENV...]: runs the consumer on one
# second of the recording against the server; checks it passed, that
# mimi_version() is $version and that the library was mapped from EXPECTED_LIBRARY.
run_consumer() {
    out_file=$1
    program=$2
    expected_library=$3
    shift 3
    env "$@" "$program" "$server_port" "$RECORDING" 1 >"$out_file" || {
        cat "$out_file"
        return 1
    }
    got_version=$(sed -n 's/^version //p' "$out_file")
    got_library=$(sed -n 's/^library //p' "$out_file")
    if [ "$got_version" != "$version" ]; then
        echo "mimi_version() is '$got_version', expected '$version'"
        return 1
    fi
    if [ "$got_library" != "$expected_library" ]; then
        echo "library mapped from '$got_library', expected '$expected_library'"
        return 1
    fi
    grep -q '^finished {' "$out_file"
}
