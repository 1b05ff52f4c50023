#!/usr/bin/env bash
# The main job: build libmimiio.so.3, the local mimi server and the C example,
# then stream the project's speech recording through the example to the server
# on loopback and print the results.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2

server_out=$(mktemp)
target/release/mimi-server --port 0 >"$server_out" 2>/dev/null &
server_pid=$!
trap 'kill $server_pid 2>/dev/null; rm -f "$server_out"' EXIT
for _ in $(seq 100); do
  grep -q '^listening on' "$server_out" && break
  sleep 0.05
done
port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$server_out")

echo "== mimiio_file uses: $(ldd build/mimiio_file | grep libmimiio)"
echo "== streaming testdata/speech-16k-mono.raw (FLAC level 5) to mimi-server on 127.0.0.1:$port"
build/mimiio_file --host 127.0.0.1 --port "$port" --input testdata/speech-16k-mono.raw \
  --rate 16000 --channel 1 --format MIMIIO_FLAC_5 --process asr --input_language en
