#!/usr/bin/env bash
# One-stop set-up for voxbridge on Debian bookworm (root) with only the npm
# registry and Debian's packages reachable. Idempotent and quick when nothing
# changed, so `npm test` and `npm run quickstart` can always run it first.
#   1. Debian packages (apt-get as root; prints the exact command otherwise)
#   2. npm dependencies with install scripts off (mediasoup's postinstall would
#      try to download its worker; we build it ourselves)
#   3. the mediasoup worker, built from the npm package's sources, cached by version
#   4. the native addon (node-gyp, against the machine's Node headers)
#   5. the room web page (esbuild bundle -> dist/web)
#   6. TypeScript -> dist/
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
quiet=0
for a in "$@"; do
  case "$a" in
    --quiet) quiet=1 ;;
    *) echo "setup.sh: unknown option $a" >&2; exit 2 ;;
  esac
done
say() { [ "$quiet" = 1 ] || echo "setup: $*"; }

# --- 0. Node
node -e 'const [a,b]=process.versions.node.split(".").map(Number); if (a<20||(a===20&&b<11)) { console.error("voxbridge needs Node >= 20.11, found "+process.versions.node); process.exit(1) }'

# --- 1. Debian packages
# Build of the mediasoup worker and the addon; espeak-ng (default TTS), sox (audio
# tooling for tests/benches), pocketsphinx (default ASR), clang + libclang-rt-dev
# (libFuzzer harness: the sanitizer and fuzzer runtimes are only a Recommends of clang),
# libopus-dev (Opus for rooms and SIP), sip-tester (SIPp) and baresip (real SIP
# peers for the telephony tests), chromium (headless browser for the room page e2e
# tests, driven by playwright-core).
pkgs=(g++ make python3 pkg-config meson ninja-build
      libssl-dev libuv1-dev libsrtp2-dev libusrsctp-dev libabsl-dev nlohmann-json3-dev
      espeak-ng sox libsox-fmt-all pocketsphinx pocketsphinx-en-us
      libopus-dev clang libclang-rt-dev sip-tester baresip
      chromium)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing Debian packages. Run as root:" >&2
    echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
fi

# --- 2. npm dependencies (scripts off; see header)
lockhash="$(cat package.json package-lock.json 2>/dev/null | sha256sum | cut -c1-16)"
if [ ! -f node_modules/.voxbridge-deps ] || [ "$(cat node_modules/.voxbridge-deps)" != "$lockhash" ]; then
  say "installing npm dependencies"
  # `npm install` (not `npm ci`): it installs the locked versions too, and npm 11
  # here writes lockfiles without other platforms' optional rollup packages,
  # which `npm ci` then rejects as out of sync.
  npm install --ignore-scripts --no-audit --no-fund --loglevel=error
  cat package.json package-lock.json | sha256sum | cut -c1-16 > node_modules/.voxbridge-deps
fi

# --- 3. mediasoup worker (cached outside the repo)
if [ "$quiet" = 1 ]; then
  bash scripts/build-mediasoup-worker.sh >/dev/null
else
  bash scripts/build-mediasoup-worker.sh
fi

# --- 4. native addon
node_prefix="$(dirname "$(dirname "$(command -v node)")")"
gyp_args=()
[ -f "$node_prefix/include/node/node_api.h" ] && gyp_args+=("--nodedir=$node_prefix")
addon=build/Release/voxbridge_native.node
if [ ! -f "$addon" ] || [ -n "$(find binding.gyp native/src native/binding -newer "$addon" -type f 2>/dev/null | head -1)" ]; then
  say "building the native addon"
  (
    flock 9
    ./node_modules/.bin/node-gyp rebuild "${gyp_args[@]}" --loglevel=error >/tmp/voxbridge-node-gyp.log 2>&1 \
      || { cat /tmp/voxbridge-node-gyp.log >&2; exit 1; }
  ) 9>/tmp/voxbridge-native.lock
fi

# --- 5. the room web page (web/ -> dist/web, esbuild)
if [ ! -f dist/web/app.js ] || [ -n "$(find web proto -newer dist/web/app.js -type f 2>/dev/null | head -1)" ]; then
  say "bundling the room web page"
  node web/build.mjs
fi

# --- 6. TypeScript
say "compiling TypeScript"
./node_modules/.bin/tsc -p tsconfig.json
say "ready"
