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

# The same C programs under valgrind memcheck (ctest -L valgrind selects them, and
# valgrind_is_active proves the checking is real). cargo's build is shared with
# the first build directory; tests that are scripts rather than C programs
# already ran above and are not repeated.
echo "== C tests under valgrind"
cmake -S . -B build-valgrind -DCMAKE_BUILD_TYPE=Release -DMIMIIO_VALGRIND=ON >/dev/null
cmake --build build-valgrind -j2
ctest --test-dir build-valgrind --output-on-failure -j2 -L valgrind
