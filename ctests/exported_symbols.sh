#!/bin/sh
# The shared library exports exactly the eight mimi_* functions of SPEC §1 and
# carries the SONAME libmimiio.so.3; the static archive exists.
# usage: exported_symbols.sh PATH/libmimiio.so PATH/libmimiio.a
set -eu
so=$1
archive=$2

expected="mimi_close
mimi_error
mimi_is_active
mimi_open
mimi_start
mimi_stream_state
mimi_strerror
mimi_version"
actual=$(nm -D --defined-only "$so" | awk '{print $3}' | sort)
if [ "$actual" != "$expected" ]; then
    echo "exported symbols differ from SPEC §1:"
    echo "$actual"
    echo "1 passed, 1 failed"
    exit 1
fi

soname=$(readelf -d "$so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
if [ "$soname" != "libmimiio.so.3" ]; then
    echo "SONAME is '$soname', expected libmimiio.so.3"
    echo "1 passed, 1 failed"
    exit 1
fi

if ! nm "$archive" 2>/dev/null | grep -q ' T mimi_open$'; then
    echo "$archive does not define mimi_open"
    echo "2 passed, 1 failed"
    exit 1
fi
echo "3 passed, 0 failed"
