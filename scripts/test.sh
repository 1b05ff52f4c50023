#!/usr/bin/env bash
# Every test: Rust unit and integration tests (library, header drift, mimi-server),
# then the C tests through CTest, then the C tests again under valgrind.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh

echo "== cargo test (library, header, mimi-server)"
cargo test --workspace --release

echo "== C tests (CTest)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2
ctest --test-dir build --output-on-failure -j2
