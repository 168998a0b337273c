#!/usr/bin/env bash
# Builds the mediasoup C++ worker from the sources shipped in the npm package,
# against Debian's system libraries (no downloads), and caches the binary
# outside the repo keyed by mediasoup version, platform and this recipe.
# Leaves a symlink at .build/mediasoup-worker that the runtime uses.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
src="$root/node_modules/mediasoup/worker"
recipe="$root/scripts/mediasoup-worker"
[ -f "$src/meson.build" ] || { echo "build-mediasoup-worker: $src missing; run npm install first" >&2; exit 1; }

version="$(node -p "require('$root/node_modules/mediasoup/package.json').version")"
recipe_hash="$(cat "$0" $(find "$recipe" -type f | sort) | sha256sum | cut -c1-12)"
cache_root="${VOXBRIDGE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/voxbridge}"
key="mediasoup-worker-${version}-$(uname -s)-$(uname -m)-${recipe_hash}"
cached="$cache_root/$key/mediasoup-worker"
mkdir -p "$root/.build"

if [ -x "$cached" ] && [ "${VOXBRIDGE_REBUILD_WORKER:-0}" != 1 ]; then
  ln -sfn "$cached" "$root/.build/mediasoup-worker"
  echo "mediasoup worker: cached ($key)"
  exit 0
fi

echo "mediasoup worker: building $version from source against Debian libraries (about 4 minutes on 2 cores)..."
work="$(mktemp -d "${TMPDIR:-/tmp}/voxbridge-worker.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cp -r "$src/meson.build" "$src/meson_options.txt" "$src/src" "$src/include" "$src/deps" "$src/test" "$src/fuzzer" "$work/"
mkdir -p "$work/subprojects"
cp -r "$recipe/subprojects/." "$work/subprojects/"
# Debian bookworm ships meson 1.0.1, which builds this worker fine.
sed -i "s/meson_version: '>= 1.1.0'/meson_version: '>= 1.0.0'/" "$work/meson.build"
sed -i "s/meson_version: '>= 1.1.0'/meson_version: '>= 1.0.0'/" "$work/deps/libwebrtc/meson.build" 2>/dev/null || true

meson setup "$work/out" "$work" --wrap-mode=nodownload -Dbuildtype=release -Db_ndebug=true > "$work/setup.log" 2>&1 \
  || { cat "$work/setup.log" >&2; exit 1; }
jobs="${VOXBRIDGE_BUILD_JOBS:-$(nproc)}"
ninja -C "$work/out" -j "$jobs" mediasoup-worker > "$work/ninja.log" 2>&1 \
  || { tail -50 "$work/ninja.log" >&2; exit 1; }

mkdir -p "$cache_root/$key"
cp "$work/out/mediasoup-worker" "$cached.tmp.$$"
strip "$cached.tmp.$$" 2>/dev/null || true
mv -f "$cached.tmp.$$" "$cached"
ln -sfn "$cached" "$root/.build/mediasoup-worker"
echo "mediasoup worker: built and cached at $cached"
