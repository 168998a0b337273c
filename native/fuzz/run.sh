#!/usr/bin/env bash
# Builds and runs the libFuzzer harness for the TLV decoder.
#   native/fuzz/run.sh [runs]        (default 100000; CI runs a short pass)
# Needs Debian's clang (libclang-rt-14-dev comes with it). Prints libFuzzer's
# summary; exits non-zero on a crash or a failed invariant.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
runs="${1:-100000}"
out="${VOXBRIDGE_FUZZ_DIR:-$root/.build/fuzz}"  # not build/: node-gyp rebuild wipes that
mkdir -p "$out/corpus"
clang++ -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I"$root/native/src" "$root/native/src/tlv.cpp" "$root/native/fuzz/tlv_fuzz.cpp" -o "$out/tlv_fuzz"
# Seed corpus: valid frames of both formats.
printf '\x00\x07ctrl\x00\x00\x00\x17{"Command":"interrupt"}' > "$out/corpus/ctrl"
printf '\x07\x03\x01\x00\x10AAAAAAAAAAAAAAAA\x10\x00\x04abcd\x00\x00\x00' > "$out/corpus/audiosocket"
"$out/tlv_fuzz" -runs="$runs" -max_len=4096 -print_final_stats=1 "$out/corpus" 2>&1 | tail -n 30
