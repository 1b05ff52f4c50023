#!/bin/sh
# Runs a command in a private network and mount namespace: loopback is the only
# interface (brought up), /etc/resolv.conf names 127.0.0.1 with one short try,
# /etc/hosts holds only localhost and mimiio-test.invalid, and nsswitch asks only
# files and dns. No name lookup made inside can reach the machine's resolver.
#
#   in_netns.sh COMMAND [ARG...]
#
# Root creates the namespaces directly; other users through a user namespace
# (unshare -r) where the kernel allows that. When neither works, COMMAND runs
# outside with MIMIIO_NETNS_SKIP saying why, and must then skip
# (ctests/errors_resolve.c does). As root a refusal is an error.
set -eu

if unshare -n -m true 2>/dev/null; then
    unshare="unshare -n -m"
elif [ "$(id -u)" = 0 ]; then
    echo "in_netns.sh: unshare -n -m failed although running as root" >&2
    exit 1
elif unshare -r -n -m true 2>/dev/null; then
    unshare="unshare -r -n -m"
else
    MIMIIO_NETNS_SKIP="cannot create a network namespace as uid $(id -u)"
    MIMIIO_NETNS_SKIP="$MIMIIO_NETNS_SKIP (unshare -n -m needs root; no user namespaces)"
    export MIMIIO_NETNS_SKIP
    exec "$@"
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/mimiio-netns-XXXXXX")
trap 'rm -rf "$dir"' EXIT
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$dir/resolv.conf"
printf '127.0.0.1 localhost\n127.0.0.1 mimiio-test.invalid\n' >"$dir/hosts"
printf 'hosts: files dns\n' >"$dir/nsswitch.conf"

# unshare makes the new mount namespace private, so the bind mounts stay in it.
status=0
$unshare sh -eu -c '
    dir=$1
    shift
    ip link set lo up
    for f in resolv.conf hosts nsswitch.conf; do
        if [ -e "/etc/$f" ]; then
            mount --bind "$dir/$f" "/etc/$f"
        fi
    done
    exec "$@"
' in_netns "$dir" "$@" || status=$?
exit "$status"
