#!/usr/bin/env bash
# Makes sure the build and test tools are present on a Debian machine. Sourced by
# demo.sh and test.sh; installs what is missing when run as root (or with sudo),
# otherwise says what to install. The Rust toolchain itself comes from rustup.
set -euo pipefail

# command -> Debian package
declare -A needed=(
  [cmake]=cmake
  [cc]=gcc
  [c++]=g++
  [make]=make
  [pkg-config]=pkg-config
  [valgrind]=valgrind
  [openssl]=openssl
  [python3]=python3
  [ip]=iproute2
  [unshare]=util-linux
  [readelf]=binutils
)
missing=()
for cmd in "${!needed[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${needed[$cmd]}")
done
# OpenSSL headers for the openssl-sys crate.
if ! pkg-config --exists openssl 2>/dev/null; then
  missing+=(libssl-dev)
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  if [ "$(id -u)" = 0 ]; then
    apt-get update -q && apt-get install -y -q "${missing[@]}"
  elif command -v sudo >/dev/null 2>&1; then
    sudo apt-get update -q && sudo apt-get install -y -q "${missing[@]}"
  else
    echo "please run: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo not found: install Rust with rustup (https://rustup.rs), then run this again" >&2
  exit 1
fi
