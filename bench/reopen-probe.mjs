/**
 * Where the time of Snapshotter.open goes as the pool holds more thin ids.
 * Makes one loopback pool per level, each with a snapshotter holding a few
 * snapshots of its own, fills each pool with that many inactive ids (the
 * C floor's `fill`: create_thin messages), then reopens the snapshotters
 * round by round, levels interleaved: the first round is the first reopen
 * after the ids appeared, the others are steady-state reopens. Each open
 * comes with a breakdown of the pool and metastore calls inside it. Run as root on a dm kernel:
 *
 *   cc -O2 bench/floor.c $(pkg-config --cflags --libs devmapper) -o bench/build/floor
 *   scripts/vm.sh -- node bench/reopen-probe.mjs [LEVELS] [REOPENS] [--profile]
 *
 * LEVELS: comma-separated thin id counts (default 0,1000,10000); REOPENS:
 * steady-state reopens per level (default 4). --profile writes CPU
 * profiles of the first and the last reopen at the highest level to
 * bench/results/reopen-probe-{first,steady}.cpuprofile.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Snapshotter, createLoopbackPool, dm } from './lib/library.mjs';
import { Metastore } from '../dist/snapshotter/metastore.js';
import { ThinDevice } from '../dist/thin/device.js';
import { blockDevicePath } from '../dist/thin/metadata-ids.js';
import { readThinIds } from '../dist/thin/metadata-details.js';
import { PoolMessages } from '../dist/dm/targets/thin-pool.js';
import { summarize, round } from './lib/stats.mjs';

const exec = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const profile = args.includes('--profile');
const positional = args.filter((a) => !a.startsWith('--'));
const levels = (positional[0] ?? '0,1000,10000').split(',').map(Number);
const reopens = Number(positional[1] ?? 4);
const floorBin = path.join(here, 'build', 'floor');
const log = (...a) => console.error(`[reopen-probe ${new Date().toISOString().slice(11, 19)}]`, ...a);

// Time spent inside wrapped calls during the current open, by label.
let spans = {};
function wrap(target, method, label) {
  const original = target[method];
  target[method] = async function (...a) {
    const t0 = performance.now();
    try {
      return await original.apply(this, a);
    } finally {
      spans[label] = (spans[label] ?? 0) + performance.now() - t0;
      spans[`${label} (calls)`] = (spans[`${label} (calls)`] ?? 0) + 1;
    }
  };
}
for (const m of ['open', 'devices', 'transaction', 'snapshot', 'freeIdList', 'pool']) {
  if (m === 'open') wrap(Metastore, m, `store.${m}`);
  else wrap(Metastore.prototype, m, `store.${m}`);
}
for (const m of ['isActive', 'resume', 'deactivate', 'deferredRemovalPending']) wrap(ThinDevice.prototype, m, `device.${m}`);

const prefix = `reopen${process.pid}-`;
const dir = await mkdtemp(path.join(os.tmpdir(), 'devmapper-reopen-'));
const out = { guestKernel: os.release(), levels: {} };
// One pool per level, reopened round by round (0, 1,000, 10,000, 0, ...) so
// that load from elsewhere on the machine hits every level alike.
const setups = [];
let snap;
try {
  const FILL_BASE = 2000000;
  for (const level of levels) {
    const name = `${prefix}p${level}`;
    const pool = await createLoopbackPool({ directory: path.join(dir, `pool${level}`), name, dataSizeBytes: 1024 * 1024 * 1024, metadataSizeBytes: 128 * 1024 * 1024, minFreeSpacePercent: 0 });
    for (const m of ['thinIds', 'transactionId', 'status']) wrap(pool, m, `pool.${m}`);
    const open = () => Snapshotter.open({ rootPath: path.join(dir, `meta${level}`), pool, baseImageSize: '16MB', fsType: 'ext4' });
    setups.push({ level, name, pool, open, runs: [] });
    // A few snapshots of the store's own: a committed parent, an active child, a view.
    snap = await open();
    await snap.prepare('p-active', undefined);
    await snap.commit('parent', 'p-active');
    await snap.prepare('child', 'parent');
    await snap.view('view', 'parent');
    await snap.close();
    snap = undefined;
    if (level > 0) {
      const t0 = performance.now();
      await exec(floorBin, ['fill', name, String(FILL_BASE), String(level)]);
      log(`filled ${level} ids in ${round((performance.now() - t0) / 1000, 1)} s`);
    }
  }
  for (let i = 0; i <= reopens; i++) {
    for (const setup of setups) {
      spans = {};
      const session = profile && setup.level === levels.at(-1) && (i === 0 || i === reopens) ? new Session() : undefined;
      if (session) {
        session.connect();
        await session.post('Profiler.enable');
        await session.post('Profiler.start');
      }
      const t0 = performance.now();
      snap = await setup.open();
      const total = performance.now() - t0;
      if (session) {
        const { profile: cpu } = await session.post('Profiler.stop');
        await writeFile(path.join(here, 'results', `reopen-probe-${i === 0 ? 'first' : 'steady'}.cpuprofile`), JSON.stringify(cpu));
        session.disconnect();
      }
      setup.runs.push({ totalMs: round(total, 1), foreignFound: snap.reconcileReport.foreign.length, ...Object.fromEntries(Object.entries(spans).map(([k, v]) => [k, round(v, 1)])) });
      log(`level ${setup.level} open ${i === 0 ? 'first' : `steady ${i}`}: ${round(total, 1)} ms`, JSON.stringify(setup.runs.at(-1)));
      await snap.close();
      snap = undefined;
    }
  }
  for (const { level, runs } of setups) out.levels[level] = { first: runs[0], steady: summarize(runs.slice(1).map((r) => r.totalMs)), steadyRuns: runs.slice(1) };
  const { pool, name: poolName } = setups.at(-1);
  // The listing alone, outside any open.
  const t = [];
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    await pool.thinIds();
    t.push(performance.now() - t0);
  }
  out.thinIdsAlone = summarize(t);
  // Its parts: the metadata snapshot messages, thin_dump (spawn, read, XML) and the parse.
  const [major, minor] = pool.deviceNumber ? (await dm.table(poolName))[0].params.split(' ')[0].split(':').map(Number) : [];
  const metadataDevice = await blockDevicePath(major, minor);
  const parts = { reserve: [], dump: [], direct: [], release: [] };
  for (let i = 0; i < 3; i++) {
    let t0 = performance.now();
    await dm.message(poolName, PoolMessages.reserveMetadataSnap());
    parts.reserve.push(performance.now() - t0);
    t0 = performance.now();
    const { stdout } = await exec('thin_dump', ['--metadata-snap', '--skip-mappings', metadataDevice], { maxBuffer: 256 << 20 });
    parts.dump.push(performance.now() - t0);
    t0 = performance.now();
    const n = [...stdout.matchAll(/<device dev_id="(\d+)"/g)].length;
    parts.parse = [...(parts.parse ?? []), performance.now() - t0];
    parts.xmlBytes = stdout.length;
    parts.ids = n;
    // The direct read of the same metadata snapshot (no fallback: this one must work).
    t0 = performance.now();
    const direct = await readThinIds(metadataDevice);
    parts.direct.push(performance.now() - t0);
    if (direct.length !== n) throw new Error(`the direct read found ${direct.length} ids, thin_dump ${n}`);
    t0 = performance.now();
    await dm.message(poolName, PoolMessages.releaseMetadataSnap());
    parts.release.push(performance.now() - t0);
  }
  out.thinIdsParts = Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, Array.isArray(v) ? summarize(v) : v]));
  console.log(JSON.stringify(out, null, 2));
  console.log('\nlevel   first ms   steady median ms   ratio to 0 (first / steady)');
  const base = out.levels[levels[0]];
  for (const level of levels) {
    const l = out.levels[level];
    console.log(
      `${String(level).padEnd(7)} ${String(l.first.totalMs).padStart(8)}   ${String(l.steady?.medianMs ?? '-').padStart(16)}   ${(l.first.totalMs / base.first.totalMs).toFixed(2)}x / ${l.steady && base.steady ? (l.steady.medianMs / base.steady.medianMs).toFixed(2) : '-'}x`,
    );
  }
} finally {
  await snap?.close().catch((e) => log('close', e.message));
  for (const { name } of setups) {
    for (const d of (await dm.list()).filter((d) => d.name.startsWith(`${name}-`))) await dm.remove(d.name, { retries: 5, retryDelayMs: 20 }).catch(() => undefined);
  }
  for (const { pool } of setups) await pool.destroy().catch((e) => log('destroy', e.message));
  await rm(dir, { recursive: true, force: true });
  const left = (await dm.list()).filter((d) => d.name.startsWith(prefix));
  if (left.length > 0) log('left behind:', left.map((d) => d.name).join(' '));
}
