#!/usr/bin/env bash
# Builds and runs the pacer's standalone C++ test (no Node needed): plain with
# -Werror, then under ThreadSanitizer (the sender thread against queue / flush /
# drain / close) and under AddressSanitizer + UBSan.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="$here/../src"
out="${TMPDIR:-/tmp}/voxbridge-pacer-test"
mkdir -p "$out"
CXX="${CXX:-g++}"
files=("$here/pacer_test.cpp" "$src/pacer.cpp")
"$CXX" -std=c++17 -O2 -Wall -Wextra -Werror -pthread -I"$src" "${files[@]}" -o "$out/pacer_test"
"$out/pacer_test"
"$CXX" -std=c++17 -O1 -g -fsanitize=thread -Wno-tsan -pthread -I"$src" "${files[@]}" -o "$out/pacer_test_tsan"
TSAN_OPTIONS=halt_on_error=1 "$out/pacer_test_tsan"
"$CXX" -std=c++17 -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -pthread -I"$src" "${files[@]}" -o "$out/pacer_test_asan"
"$out/pacer_test_asan"
