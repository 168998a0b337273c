#!/usr/bin/env bash
# Builds and runs the standalone C++ unit test of the VAD (no Node needed).
#   native/test/run.sh            # -O2, then again with ASan/UBSan
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="$here/../src"
out="${TMPDIR:-/tmp}/voxbridge-vad-test"
mkdir -p "$out"
CXX="${CXX:-g++}"
"$CXX" -std=c++17 -O2 -Wall -Wextra -Werror -I"$src" "$here/vad_test.cpp" "$src/vad.cpp" "$src/vad_signal.cpp" "$src/vad_echo.cpp" "$src/vad_onset.cpp" -o "$out/vad_test"
"$out/vad_test"
"$CXX" -std=c++17 -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -I"$src" \
  "$here/vad_test.cpp" "$src/vad.cpp" "$src/vad_signal.cpp" "$src/vad_echo.cpp" "$src/vad_onset.cpp" -o "$out/vad_test_asan"
"$out/vad_test_asan"
