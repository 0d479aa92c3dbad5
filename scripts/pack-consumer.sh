#!/usr/bin/env bash
# Packs the package and installs the tarball into a fresh project, the way a
# user would, to prove the published package works as shipped:
#   - `npm install --ignore-scripts`: no install script runs, so no compiler
#     and no libdevmapper-dev are needed (npm 11 does not run dependencies'
#     install scripts unless approved anyway); the prebuilt linux-x64 addon
#     in prebuilds/ is what loads;
#   - a consumer TypeScript file (the quick start) is type-checked and
#     compiled against the package's shipped types, as an ESM import of 'devmapper';
#   - the `devmapper` bin is linked and runs.
# Runs on the host (it needs the npm registry or cache); the quick start then
# runs from the consumer in the test VM (test/vm/consumer.test.ts).
#
# usage: scripts/pack-consumer.sh [DIR]    (default: .consumer in the project,
#        inside it so that the test VM sees it at the same path)
set -euo pipefail
project=$(cd "$(dirname "$0")/.." && pwd)
dir=$(realpath -m "${1:-$project/.consumer}")
cd "$project"

npm run --silent build:ts
# The prebuilt addon: built when missing or older than the addon's sources.
prebuilt=$(compgen -G "prebuilds/linux-x64/*.node" | head -n 1 || true)
if [ -z "$prebuilt" ] || [ -n "$(find native binding.gyp -newer "$prebuilt" -print -quit)" ]; then
  npm run --silent prebuildify
fi

rm -rf "$dir"
mkdir -p "$dir"
tgz=$(npm pack --silent --pack-destination "$dir" | tail -n 1)
cd "$dir"
cat > package.json <<'JSON'
{ "name": "devmapper-consumer", "private": true, "type": "module" }
JSON
npm install --ignore-scripts --no-audit --no-fund --loglevel=error "./$tgz"
npm install --ignore-scripts --no-audit --no-fund --loglevel=error --save-dev typescript@~5.9 @types/node@^20.4

# The consumer's code: the quick start as a user would copy it, and a runner for the test.
cp "$project/examples/quick-start.ts" quick-start.ts
cat > run-quick-start.mjs <<'JS'
// Runs the quick start from the installed package; prints its result as JSON
// and which addon binary loaded. usage: node run-quick-start.mjs DIR POOL_NAME
import { createRequire } from 'node:module';
import path from 'node:path';
import { main } from './quick-start.js';

const [directory, poolName] = process.argv.slice(2);
const require = createRequire(import.meta.url);
const addon = require('node-gyp-build').path(path.join(path.dirname(new URL(import.meta.url).pathname), 'node_modules', 'devmapper'));
const result = await main({ directory, poolName, log: (line) => console.error(line) });
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
  "files": ["quick-start.ts"]
}
JSON
npx tsc -p tsconfig.json

# What a user gets: no build directory (nothing compiled), the prebuilt addon, the bin.
[ ! -e node_modules/devmapper/build ] || { echo "pack-consumer: node_modules/devmapper/build exists: something compiled the addon" >&2; exit 1; }
compgen -G "node_modules/devmapper/prebuilds/linux-x64/*.node" >/dev/null || { echo "pack-consumer: the package has no prebuilt linux-x64 addon" >&2; exit 1; }
node_modules/.bin/devmapper --version >/dev/null
echo "$dir"
