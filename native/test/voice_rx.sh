#!/usr/bin/env bash
# Builds and runs the voice receiver's standalone C++ test (no Node needed): plain with
# -Werror, then under ThreadSanitizer (the receive thread against the caller's calls
# and the pacer's sender) and under AddressSanitizer + UBSan.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="$here/../src"
out="${TMPDIR:-/tmp}/voxbridge-voice-rx-test"
mkdir -p "$out"
CXX="${CXX:-g++}"
files=("$here/voice_rx_test.cpp" "$src/voice_rx.cpp" "$src/far_end.cpp" "$src/pacer.cpp" "$src/recv_time.cpp"
  "$src/opus_decoder.cpp" "$src/opus_encoder.cpp" "$src/vad.cpp" "$src/vad_signal.cpp" "$src/vad_echo.cpp" "$src/vad_onset.cpp")
opus_cflags="$(pkg-config --cflags opus)"
opus_libs="$(pkg-config --libs opus)"
# shellcheck disable=SC2086
"$CXX" -std=c++17 -O2 -Wall -Wextra -Werror -pthread -I"$src" $opus_cflags "${files[@]}" $opus_libs -o "$out/voice_rx_test"
"$out/voice_rx_test"
# (the VAD's target_clones are off under TSan: their ifunc resolvers run before its runtime is set up)
# shellcheck disable=SC2086
"$CXX" -std=c++17 -O1 -g -fsanitize=thread -DVOXBRIDGE_VAD_BASELINE_ONLY -Wno-tsan -pthread -I"$src" $opus_cflags "${files[@]}" $opus_libs -o "$out/voice_rx_test_tsan"
TSAN_OPTIONS=halt_on_error=1 "$out/voice_rx_test_tsan"
# shellcheck disable=SC2086
"$CXX" -std=c++17 -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -pthread -I"$src" $opus_cflags "${files[@]}" $opus_libs -o "$out/voice_rx_test_asan"
"$out/voice_rx_test_asan"
