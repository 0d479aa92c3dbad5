/**
 * The library against the C floor (bench/floor.c) on one pool, round by
 * round, and where a library operation's time goes: every addon call and
 * every LevelDB call inside prepare, commit and remove, as a timeline. Then
 * the throughput of 1, 4 and 16 concurrent prepares from one parent.
 * Run as root on a dm kernel (after `npx tsc -p tsconfig.json`):
 *   scripts/vm.sh [--udev] -- node bench/floor-probe.mjs [--thin-udev wait|skip] [--rounds N] [--trace N] [--conc 1,4,16] [--conc-ops N]
 * Builds bench/build/floor when missing (on the host: cc -O2 -o bench/build/floor bench/floor.c $(pkg-config --cflags --libs devmapper)).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
// PROBE_DIST: another build of the library to measure (e.g. the code before a change, built with tsc --outDir).
const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', process.env.PROBE_DIST ?? 'dist');
const { Snapshotter, createLoopbackPool } = await import(path.join(dist, 'index.js'));
const dm = await import(path.join(dist, 'dm', 'device-mapper.js'));
const { native } = await import(path.join(dist, 'dm', 'native.js'));
import { summarize, timed } from './lib/stats.mjs';

const exec = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const opt = (f, d) => (argv.includes(f) ? argv[argv.indexOf(f) + 1] : d);
const thinUdev = opt('--thin-udev', undefined);
const rounds = Number(opt('--rounds', 8));
const traceOps = Number(opt('--trace', 8));
const conc = opt('--conc', '1,4,16').split(',').filter(Boolean).map(Number);
const concOps = Number(opt('--conc-ops', 16));
const MiB = 1024 * 1024;
const BASE_MIB = 64;
const SECTORS = (BASE_MIB * MiB) / 512;
const udev = await dm.udevSyncSupported();
const floorUdev = !udev ? '0' : thinUdev === 'wait' ? '1' : '2';
const floorBin = path.join(here, 'build', 'floor');
if (!existsSync(floorBin)) throw new Error(`build ${floorBin} first (see the header of this file)`);
const log = (...a) => console.error(`[probe ${new Date().toISOString().slice(11, 19)}]`, ...a);

// ---- tracing: addon calls and LevelDB calls, as spans ----
const spans = [];
let tracing = false;
const wrapAsync = (obj, method, label) => {
  const original = obj[method];
  obj[method] = function (...args) {
    if (!tracing) return original.apply(this, args);
    const span = { label: typeof label === 'function' ? label(args) : label, t0: performance.now(), t1: 0 };
    spans.push(span);
    const p = original.apply(this, args);
    if (p && typeof p.then === 'function') {
      p.then(
        () => (span.t1 = performance.now()),
        () => (span.t1 = performance.now()),
      );
    } else span.t1 = performance.now();
    return p;
  };
};
const binding = native();
for (const name of Object.keys(binding)) {
  if (typeof binding[name] !== 'function' || ['libdevmapper', 'waitEvent'].includes(name)) continue;
  wrapAsync(binding, name, (args) => `dm.${name}${name === 'message' ? ` ${String(args[2]).split(' ')[0]}` : ''}`);
}
function wrapDb(db) {
  for (const name of ['get', 'getMany', 'batch', 'put', 'del']) wrapAsync(db, name, `db.${name}`);
  const keysFn = db.keys;
  db.keys = function (...args) {
    const it = keysFn.apply(this, args);
    wrapAsync(it, 'all', 'db.keys');
    return it;
  };
}
// Runs `fn` with tracing on and keeps what its calls took: per label (summed
// per op), the number of calls, and the time outside any call (JS, locks, waits).
const traces = new Map();
async function traced(label, fn) {
  spans.length = 0;
  tracing = true;
  const t0 = performance.now();
  try {
    await fn();
  } finally {
    tracing = false;
  }
  const t1 = performance.now();
  const byLabel = {};
  for (const s of spans) byLabel[s.label] = (byLabel[s.label] ?? 0) + (s.t1 - s.t0);
  // Time covered by at least one call (calls may overlap).
  let covered = 0;
  let end = t0;
  for (const s of [...spans].sort((a, b) => a.t0 - b.t0)) {
    const from = Math.max(s.t0, end);
    if (s.t1 > from) covered += s.t1 - from;
    end = Math.max(end, s.t1);
  }
  const list = traces.get(label) ?? [];
  list.push({ total: t1 - t0, calls: spans.length, byLabel, outside: t1 - t0 - covered, order: spans.map((s) => s.label) });
  traces.set(label, list);
}
function printTraces() {
  const med = (a) => [...a].sort((x, y) => x - y)[a.length >> 1] ?? 0;
  for (const [label, list] of traces) {
    console.log(`${label}: median ${med(list.map((x) => x.total)).toFixed(1)} ms over ${list.length}, ${list[0].calls} calls: ${list[0].order.join(', ')}`);
    const labels = new Set(list.flatMap((x) => Object.keys(x.byLabel)));
    for (const l of labels) console.log(`    ${l.padEnd(28)} ${med(list.map((x) => x.byLabel[l] ?? 0)).toFixed(1).padStart(7)} ms`);
    console.log(`    ${'outside any call'.padEnd(28)} ${med(list.map((x) => x.outside)).toFixed(1).padStart(7)} ms`);
  }
}

const prefix = `fp${process.pid}-`;
const poolName = `${prefix}pool`;
const dir = await mkdtemp(path.join(os.tmpdir(), 'devmapper-floor-probe-'));
let pool;
let snap;
try {
  log(`udev ${udev ? 'on' : 'off'}, thin devices ${thinUdev ?? 'default'}, floor mode ${floorUdev}, ${rounds} rounds`);
  pool = await createLoopbackPool({
    directory: path.join(dir, 'pool'),
    name: poolName,
    dataSizeBytes: 4096 * MiB,
    metadataSizeBytes: 128 * MiB,
    minFreeSpacePercent: 0,
    ...(thinUdev ? { thinDeviceUdev: thinUdev } : {}),
  });
  snap = await Snapshotter.open({ rootPath: path.join(dir, 'meta'), pool, baseImageSize: `${BASE_MIB}MB`, fsType: 'ext4' });
  wrapDb(snap.core.store.db);
  await snap.prepare('first');
  await snap.commit('parent', 'first');
  const parentId = (await snap.core.store.snapshot('parent')).deviceId;
  const L = { prepare: [], commit: [], remove: [] };
  const F = { prepare: [], commit: [], remove: [] };
  for (let i = 0; i < rounds; i++) {
    L.prepare.push(await timed(() => snap.prepare(`a${i}`, 'parent')));
    L.prepare.push(await timed(() => snap.prepare(`v${i}`, 'parent')));
    const floor = JSON.parse((await exec(floorBin, ['ops', poolName, pool.deviceNumber, String(parentId), String(700000 + 2 * i), '2', String(SECTORS), floorUdev, `${prefix}floor-`])).stdout);
    for (const k of Object.keys(F)) F[k].push(...floor[k]);
    L.commit.push(await timed(() => snap.commit(`c${i}`, `a${i}`)));
    L.remove.push(await timed(() => snap.remove(`v${i}`)));
    await snap.remove(`c${i}`);
  }
  console.log('operation   lib median  floor median  lib/floor  (lib p95, floor p95)');
  for (const k of Object.keys(L)) {
    const l = summarize(L[k]);
    const f = summarize(F[k]);
    console.log(`${k.padEnd(10)} ${l.medianMs.toFixed(1).padStart(11)} ${f.medianMs.toFixed(1).padStart(13)} ${(l.medianMs / f.medianMs).toFixed(2).padStart(9)}x  (${l.p95Ms.toFixed(1)}, ${f.p95Ms.toFixed(1)})`);
  }
  for (let i = 0; i < traceOps; i++) {
    await traced('prepare', () => snap.prepare(`t${i}`, 'parent'));
    await traced('prepare (view)', () => snap.view(`tv${i}`, 'parent'));
    await traced('commit', () => snap.commit(`tc${i}`, `t${i}`));
    await traced('remove (active)', () => snap.remove(`tv${i}`));
    await traced('remove (committed)', () => snap.remove(`tc${i}`));
  }
  printTraces();
  for (const c of conc) {
    const n = Math.max(1, Math.ceil(concOps / c));
    let wall = 0;
    let done = 0;
    for (let r = 0; r < n; r++) {
      const ks = Array.from({ length: c }, (_, i) => `k${c}-${r}-${i}`);
      wall += await timed(() => Promise.all(ks.map((k) => snap.prepare(k, 'parent'))));
      done += c;
      for (const k of ks) await snap.remove(k);
    }
    console.log(`concurrency ${String(c).padStart(2)}: ${((done * 1000) / wall).toFixed(2)} prepares/s`);
  }
} finally {
  await snap?.close().catch((e) => log('close', e.message));
  for (const d of (await dm.list()).filter((x) => x.name.startsWith(prefix) && x.name !== poolName)) {
    await dm.remove(d.name, { retries: 5, retryDelayMs: 20 }).catch(() => undefined);
  }
  await pool?.destroy().catch((e) => log('pool destroy', e.message));
  await rm(dir, { recursive: true, force: true });
}
