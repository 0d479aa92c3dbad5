/**
 * The kernel half of the bench, run as root on a kernel with device-mapper
 * (the test VM): the library's snapshotter and ThinPool, the dmsetup path
 * (containerd's devmapper snapshotter, one dmsetup process per step) and
 * the C floor, on one loopback pool; then scale, concurrency and memory.
 *
 * usage: node bench/kernel.mjs CONFIG_JSON OUT_JSON
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Snapshotter, createLoopbackPool, dm } from './lib/library.mjs';
import { summarize, timed, round } from './lib/stats.mjs';
import { instrument } from './lib/instrument.mjs';
import { PoolMessages } from '../dist/dm/targets/thin-pool.js';
import { containerdGoAvailable, openContainerdGo } from './lib/containerd-go.mjs';

const exec = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const [configArg, outPath] = process.argv.slice(2);
const config = JSON.parse(configArg);
const K = config.iterations;
const MiB = 1024 * 1024;
const BASE_BYTES = config.baseMiB * MiB;
const SECTORS = BASE_BYTES / 512;
const udev = process.env.DEVMAPPER_VM_UDEV === '1' || config.udev === true;
const floorBin = path.join(here, 'build', 'floor');
// The floor does the library's kernel and udev work: with udev, thin devices
// get udev's rules off and no wait (mode 2) unless the pool waits for udev.
const floorUdev = !udev ? '0' : config.thinDeviceUdev === 'wait' ? '1' : '2';
// With udev, the library's other udev mode runs too, on a second identical pool:
// 'wait' (udev's rules and links for thin devices) next to the default 'skip'.
const secondMode = udev && config.secondMode !== false && config.thinDeviceUdev !== 'wait' ? 'wait' : null;
// containerd's own devmapper snapshotter (Go) runs with udev, on a third pool, when built.
const withContainerdGo = udev && config.containerdGo !== false && containerdGoAvailable();
const log = (...a) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...a);

const prefix = `bench${process.pid}-`;
const poolName = `${prefix}pool`;
const dir = await mkdtemp(path.join(os.tmpdir(), 'devmapper-bench-'));
const result = {
  inVm: process.env.DEVMAPPER_IN_VM === '1',
  guestKernel: os.release(),
  udev,
  thinDeviceUdev: config.thinDeviceUdev ?? 'skip',
  secondMode,
  iterations: K,
  baseMiB: config.baseMiB,
  ops: {},
  opsWait: secondMode ? {} : null,
  containerdGo: withContainerdGo ? {} : null,
  dmsetup: {},
  floor: {},
  floorWait: secondMode ? {} : null,
  scale: {},
  concurrency: {},
  concurrencyWait: secondMode ? {} : null,
  concurrencyContainerdGo: withContainerdGo ? {} : null,
  memory: {},
  notes: [],
};
if (udev && !withContainerdGo) result.notes.push(config.containerdGo === false ? "containerd's Go snapshotter: not run (--no-containerd-go or smoke)" : "containerd's Go snapshotter: not run (bench/build/containerd-devmapper missing: bench/setup.sh)");

async function sh(cmd, args) {
  try {
    return (await exec(cmd, args, { maxBuffer: 64 * MiB })).stdout;
  } catch (e) {
    throw new Error(`${cmd} ${args.join(' ')}: ${e.stderr || e.message}`);
  }
}
// Without udev, dmsetup leaves /dev/mapper nodes to udev (DM_UDEV_DISABLE_LIBRARY_FALLBACK)
// unless told to check them itself: --verifyudev makes them as containerd's hosts' udev would.
const NODE_OPS = new Set(['create', 'remove', 'resume']);
const dmsetup = (...args) => sh('dmsetup', !udev && NODE_OPS.has(args[0]) ? [args[0], '--verifyudev', ...args.slice(1)] : args);

async function series(n, fn) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(await timed(() => fn(i)));
  return out;
}

let pool;
let snap;
let poolWait;
let snapWait;
let poolGo;
let ctd;
const loopbackPool = (name, extra = {}) =>
  createLoopbackPool({
    directory: path.join(dir, name),
    name: `${prefix}${name}`,
    dataSizeBytes: config.poolDataMiB * MiB,
    metadataSizeBytes: config.poolMetadataMiB * MiB,
    minFreeSpacePercent: 0,
    ...extra,
  });
try {
  log(`pool ${poolName} in ${dir}, udev ${udev ? 'on' : 'off'}, ${K} iterations`);
  pool = await createLoopbackPool({
    directory: path.join(dir, 'pool'),
    name: poolName,
    dataSizeBytes: config.poolDataMiB * MiB,
    metadataSizeBytes: config.poolMetadataMiB * MiB,
    minFreeSpacePercent: 0,
    ...(config.thinDeviceUdev ? { thinDeviceUdev: config.thinDeviceUdev } : {}),
  });
  const poolDev = pool.deviceNumber;
  const openSnapshotter = () =>
    Snapshotter.open({ rootPath: path.join(dir, 'meta'), pool, baseImageSize: `${config.baseMiB}MB`, fsType: 'ext4' });
  snap = await openSnapshotter();
  if (secondMode) {
    log(`second library pool: thinDeviceUdev '${secondMode}'`);
    poolWait = await loopbackPool('poolw', { thinDeviceUdev: secondMode });
    snapWait = await Snapshotter.open({ rootPath: path.join(dir, 'metaw'), pool: poolWait, baseImageSize: `${config.baseMiB}MB`, fsType: 'ext4' });
  }
  if (withContainerdGo) {
    log("containerd's devmapper snapshotter (Go) on its own pool");
    poolGo = await loopbackPool('poolgo');
    ctd = await openContainerdGo({ root: path.join(dir, 'ctdgo'), pool: poolGo.name, baseSize: `${config.baseMiB}MB` });
  }

  // ---- the dmsetup path: containerd's devmapper snapshotter, step by step ----
  const dn = (id) => `${prefix}ctd-${id}`;
  const table = (id) => `0 ${SECTORS} thin ${poolDev} ${id}`;
  const isLoaded = async (name) => (await exec('dmsetup', ['info', name]).then(() => true, () => false));
  // CreateThinDevice + mkfs (containerd formats every parentless snapshot).
  const ctdParentless = async (id) => {
    await dmsetup('message', poolName, '0', `create_thin ${id}`);
    await dmsetup('create', dn(id), '--table', table(id));
    await sh('mkfs.ext4', ['-q', '-E', 'nodiscard,lazy_itable_init=0,lazy_journal_init=0', `/dev/mapper/${dn(id)}`]);
  };
  // CreateSnapshotDevice: suspend/resume the origin when loaded, create_snap, activate.
  const ctdPrepare = async (id, origin) => {
    const loaded = await isLoaded(dn(origin));
    if (loaded) await dmsetup('suspend', dn(origin));
    await dmsetup('message', poolName, '0', `create_snap ${id} ${origin}`);
    if (loaded) await dmsetup('resume', dn(origin));
    await dmsetup('create', dn(id), '--table', table(id));
  };
  // Commit: usage (status), suspend + resume (containerd issue 4234), deferred remove.
  const ctdCommit = async (id) => {
    await dmsetup('status', dn(id));
    await dmsetup('suspend', dn(id));
    await dmsetup('resume', dn(id));
    await dmsetup('remove', '--deferred', '--retry', dn(id));
  };
  // Remove: deactivate when active (info, remove --retry), then delete the id.
  const ctdRemove = async (id) => {
    if (await isLoaded(dn(id))) await dmsetup('remove', '--retry', dn(id));
    await dmsetup('message', poolName, '0', `delete ${id}`);
  };
  const P = 800000;
  const ctdParent = P;

  // ---- one round per iteration: library, dmsetup path, C floor side by side, so load from
  // other guests on the machine hits all three alike ----
  log('snapshotter: first parentless prepare (makes and formats the base)');
  result.ops.baseFirst = [await timed(() => snap.prepare('first'))];
  await snap.commit('parent', 'first');
  if (snapWait) {
    await snapWait.prepare('first');
    await snapWait.commit('parent', 'first');
  }
  if (ctd) {
    // containerd formats every parentless snapshot: its first is like the others.
    await ctd.prepare('first');
    await ctd.commit('parent', 'first');
  }
  await ctdParentless(ctdParent);
  await ctdCommit(ctdParent); // the dmsetup path's parent: a committed (inactive) formatted device
  const L = result.ops;
  const D = result.dmsetup;
  const F = { prepare: [], usage: [], commit: [], remove: [] };
  for (const k of ['prepareParentless', 'prepareParent', 'view', 'stat', 'usage', 'commit', 'remove', 'removeCommitted']) {
    L[k] = [];
    D[k] = [];
  }
  // A size per snapshot: twice the base (a larger device and resize2fs), next to the plain prepare.
  L.prepareSized = [];
  const sized = { labels: { 'containerd.io/snapshot/max-size': String(2 * config.baseMiB * MiB) } };
  L.walk = [];
  const W = result.opsWait;
  const G = result.containerdGo;
  const FW = { prepare: [], usage: [], commit: [], remove: [] };
  for (const k of ['prepareParentless', 'prepareParent', 'view', 'stat', 'usage', 'commit', 'remove', 'removeCommitted', 'walk']) {
    if (W) W[k] = [];
    if (G) G[k] = [];
  }
  const push = async (arr, fn) => arr.push(await timed(fn));
  // containerd's times are Go's own, around the snapshotter call (no pipe, no JSON).
  const pushGo = async (arr, fn) => arr.push(await fn());
  // The library in its second udev mode: the same calls on its own pool.
  const pushW = async (k, fn) => W && push(W[k], () => fn(snapWait));
  log(`interleaved rounds: ${K}`);
  for (let i = 0; i < K; i++) {
    await push(L.prepareParentless, () => snap.prepare(`n${i}`));
    await pushW('prepareParentless', (s) => s.prepare(`n${i}`));
    if (G) await pushGo(G.prepareParentless, () => ctd.prepare(`n${i}`));
    await push(D.prepareParentless, () => ctdParentless(P + 1 + i));
    await push(L.prepareParent, () => snap.prepare(`a${i}`, 'parent'));
    await pushW('prepareParent', (s) => s.prepare(`a${i}`, 'parent'));
    if (G) await pushGo(G.prepareParent, () => ctd.prepare(`a${i}`, 'parent'));
    await push(D.prepareParent, () => ctdPrepare(P + 1000 + i, ctdParent));
    await push(L.prepareSized, () => snap.prepare(`s${i}`, 'parent', sized));
    await snap.remove(`s${i}`);
    await push(L.view, () => snap.view(`v${i}`, 'parent'));
    await pushW('view', (s) => s.view(`v${i}`, 'parent'));
    if (G) await pushGo(G.view, () => ctd.view(`v${i}`, 'parent'));
    await push(D.view, () => ctdPrepare(P + 2000 + i, ctdParent));
    await push(L.stat, () => snap.stat(`a${i}`));
    await pushW('stat', (s) => s.stat(`a${i}`));
    if (G) await pushGo(G.stat, () => ctd.stat(`a${i}`));
    await push(L.usage, () => snap.usage(`a${i}`));
    await pushW('usage', (s) => s.usage(`a${i}`));
    if (G) await pushGo(G.usage, () => ctd.usage(`a${i}`));
    await push(D.usage, () => dmsetup('status', dn(P + 1000 + i)));
    const floor = JSON.parse(await sh(floorBin, ['ops', poolName, poolDev, String(ctdParent), String(700000 + 2 * i), '2', String(SECTORS), floorUdev, `${prefix}floor-`]));
    for (const k of Object.keys(F)) F[k].push(...floor[k]);
    if (secondMode) {
      // The floor waiting for udev's rules, as the library's 'wait' mode does (floor mode 1).
      const fw = JSON.parse(await sh(floorBin, ['ops', poolName, poolDev, String(ctdParent), String(720000 + 2 * i), '2', String(SECTORS), '1', `${prefix}floorw-`]));
      for (const k of Object.keys(FW)) FW[k].push(...fw[k]);
    }
    await push(L.commit, () => snap.commit(`c${i}`, `a${i}`));
    await pushW('commit', (s) => s.commit(`c${i}`, `a${i}`));
    if (G) await pushGo(G.commit, () => ctd.commit(`c${i}`, `a${i}`));
    await push(D.commit, () => ctdCommit(P + 1000 + i));
    await push(L.remove, () => snap.remove(`v${i}`));
    await pushW('remove', (s) => s.remove(`v${i}`));
    if (G) await pushGo(G.remove, () => ctd.remove(`v${i}`));
    await push(D.remove, () => ctdRemove(P + 2000 + i));
    await push(L.remove, () => snap.remove(`n${i}`));
    await pushW('remove', (s) => s.remove(`n${i}`));
    if (G) await pushGo(G.remove, () => ctd.remove(`n${i}`));
    await push(D.remove, () => ctdRemove(P + 1 + i));
    await push(L.removeCommitted, () => snap.remove(`c${i}`));
    await pushW('removeCommitted', (s) => s.remove(`c${i}`));
    if (G) await pushGo(G.removeCommitted, () => ctd.remove(`c${i}`));
    await push(D.removeCommitted, () => ctdRemove(P + 1000 + i));
    if (i % 4 === 3 || i === K - 1) {
      // walk over what is there now (parent, the base's first snapshot and this round's leftovers)
      const walk = async (s) => {
        let n = 0;
        for await (const _ of s.walk()) n++;
        return n;
      };
      await push(L.walk, async () => {
        result.walkSnapshots = await walk(snap);
      });
      await pushW('walk', walk);
      if (G) await pushGo(G.walk, () => ctd.walk());
    }
  }
  await ctdRemove(ctdParent);
  result.floor = {
    prepareParent: F.prepare,
    prepareParentless: F.prepare, // the library's parentless prepare is a snapshot of the base: the same kernel work
    view: F.prepare,
    usage: F.usage,
    commit: F.commit,
    remove: F.remove,
    poolSnapActivate: F.prepare,
    poolDeactivateDelete: F.remove,
  };
  if (secondMode) {
    result.floorWait = { prepareParent: FW.prepare, prepareParentless: FW.prepare, view: FW.prepare, usage: FW.usage, commit: FW.commit, remove: FW.remove };
  }
  D.poolSnapActivate = D.prepareParent;
  D.poolDeactivateDelete = D.remove;

  // ---- where the time goes: pool calls inside prepare, commit, remove ----
  log('breakdown');
  {
    const probe = instrument(pool);
    const B = Math.max(2, Math.ceil(K / 2));
    const total = {};
    total.prepareParent = await series(B, (i) => snap.prepare(`b${i}`, 'parent'));
    const prepare = probe.take(B);
    total.commit = await series(B, (i) => snap.commit(`bc${i}`, `b${i}`));
    const commit = probe.take(B);
    total.remove = await series(B, (i) => snap.remove(`bc${i}`));
    const removeCommitted = probe.take(B);
    total.prepareAgain = await series(B, (i) => snap.prepare(`b${i}`, 'parent'));
    probe.take(B);
    total.removeActive = await series(B, (i) => snap.remove(`b${i}`));
    const removeActive = probe.take(B);
    probe.restore();
    const mean = (a) => round(a.reduce((x, y) => x + y, 0) / a.length, 2);
    result.breakdown = {
      prepareParent: { meanMs: mean(total.prepareParent), calls: prepare },
      commit: { meanMs: mean(total.commit), calls: commit },
      removeActive: { meanMs: mean(total.removeActive), calls: removeActive },
      removeCommitted: { meanMs: mean(total.remove), calls: removeCommitted },
    };
  }

  // ---- ThinPool on its own ----
  log('ThinPool: create_snap + activate, deactivate + delete');
  const baseId = await findBaseId();
  const rawIds = Array.from({ length: K }, (_, i) => 600000 + i);
  result.ops.poolSnapActivate = [];
  result.ops.poolDeactivateDelete = [];
  const F2 = { prepare: [], remove: [] };
  for (let i = 0; i < K; i++) {
    const spec = { id: rawIds[i], name: `${prefix}raw-${rawIds[i]}`, sizeBytes: BASE_BYTES };
    result.ops.poolSnapActivate.push(await timed(async () => {
      await pool.createSnapshot(rawIds[i], baseId);
      await pool.activate(spec);
    }));
    result.ops.poolDeactivateDelete.push(await timed(async () => {
      await pool.device(spec).deactivate({ deferred: false });
      await pool.deleteThin(rawIds[i]);
    }));
    const floor = JSON.parse(await sh(floorBin, ['ops', poolName, poolDev, String(baseId), String(710000 + 2 * i), '2', String(SECTORS), floorUdev, `${prefix}floor-`]));
    F2.prepare.push(...floor.prepare);
    F2.remove.push(...floor.remove);
  }
  result.floor.poolSnapActivate = F2.prepare;
  result.floor.poolDeactivateDelete = F2.remove;

  // ---- scale: prepare and remove with 0, 1,000, 10,000 thin ids in the pool ----
  let filled = 0;
  const FILL_BASE = 2000000;
  for (const level of config.scaleLevels) {
    if (level > filled) {
      log(`scale: filling the pool to ${level} thin ids`);
      const t = await timed(() => sh(floorBin, ['fill', poolName, String(FILL_BASE + filled), String(level - filled)]));
      result.notes.push(`filled ${level - filled} ids by create_thin messages in ${round(t / 1000, 1)} s`);
      filled = level;
    }
    // Reopen so the metastore records every id in the pool (as foreign): metastore and pool both hold `level` more.
    await snap.close();
    const reopen = await timed(async () => {
      snap = await openSnapshotter();
    });
    // Later reopens (a restart on a busy pool): nothing new in the pool since the last one.
    const steady = await series(3, async () => {
      await snap.close();
      snap = await openSnapshotter();
    });
    const prep = await series(K, (i) => snap.prepare(`s${level}-${i}`, 'parent'));
    const rem = await series(K, (i) => snap.remove(`s${level}-${i}`));
    result.scale[level] = { prepare: summarize(prep), remove: summarize(rem), reopenMs: round(reopen), reopenSteadyMs: summarize(steady).medianMs };
    log(`scale ${level}: prepare median ${result.scale[level].prepare.medianMs} ms, remove ${result.scale[level].remove.medianMs} ms, reopen ${round(reopen)} ms (first), ${result.scale[level].reopenSteadyMs} ms (later)`);
  }
  result.notes.push('scale: the extra thin ids are inactive (created by create_thin messages), so the kernel device list holds only the devices in use');

  // ---- memory: resident size with the snapshotter over many snapshots ----
  // (measured here with foreign ids; see host.mjs for 10,000 real snapshots on the simulated pool)
  result.memory.kernelRssMiB = round(process.memoryUsage().rss / MiB, 1);
  result.memory.kernelDevicesInMetastore = filled;

  // ---- concurrency: 1, 4, 16 prepares at once from one parent; each contender's
  // batch of a level follows the others', so load hits them alike ----
  const contenders = [
    ['library', result.concurrency, snap],
    ...(snapWait ? [[`library '${secondMode}'`, result.concurrencyWait, snapWait]] : []),
    ...(ctd ? [["containerd's Go", result.concurrencyContainerdGo, ctd]] : []),
  ];
  for (const c of config.concurrency) {
    const rounds = Math.max(1, Math.ceil(config.concurrentOps / c));
    const acc = contenders.map(() => ({ done: 0, wall: 0 }));
    for (let r = 0; r < rounds; r++) {
      for (const [j, [, , s]] of contenders.entries()) {
        const keysNow = Array.from({ length: c }, (_, i) => `k${c}-${r}-${i}`);
        acc[j].wall += await timed(() => Promise.all(keysNow.map((k) => s.prepare(k, 'parent'))));
        acc[j].done += c;
        for (const k of keysNow) await s.remove(k);
      }
    }
    for (const [j, [label, into]] of contenders.entries()) {
      const { done, wall } = acc[j];
      into[c] = { ops: done, opsPerSec: round((done * 1000) / wall, 2), meanLatencyMs: round(wall / rounds) };
      log(`concurrency ${c}, ${label}: ${into[c].opsPerSec} prepares/s`);
    }
  }

  // ---- primitives: one library call each, from node, on this pool ----
  log('primitives');
  {
    await snap.close();
    snap = undefined;
    await snapWait?.close();
    snapWait = undefined;
    await ctd?.close();
    ctd = undefined;
    const name = `${prefix}prim`;
    const id = 650000;
    const prim = {};
    prim['dm.info (thin)'] = [];
    prim['dm.status (pool)'] = await series(K, () => dm.status(poolName));
    let tx = await pool.transactionId();
    prim['message set_transaction_id'] = await series(K, async () => {
      await dm.message(poolName, PoolMessages.setTransactionId(tx, tx + 1));
      tx++;
    });
    prim['message create_snap'] = [];
    prim['dm.create (thin)'] = [];
    prim['dm.remove (thin)'] = [];
    prim['message delete'] = [];
    for (let i = 0; i < K; i++) {
      prim['message create_snap'].push(await timed(() => dm.message(poolName, PoolMessages.createSnap(id, 1))));
      prim['dm.create (thin)'].push(await timed(() => dm.create({ name, table: [{ start: 0, length: SECTORS, targetType: 'thin', params: `${poolDev} ${id}` }] })));
      prim['dm.info (thin)'].push(await timed(() => dm.info(name)));
      prim['dm.remove (thin)'].push(await timed(() => dm.remove(name, { retries: 10, retryDelayMs: 50 })));
      prim['message delete'].push(await timed(() => dm.message(poolName, PoolMessages.deleteThin(id))));
    }
    prim['dm.list'] = await series(K, () => dm.list());
    result.primitives = Object.fromEntries(Object.entries(prim).map(([k, v]) => [k, summarize(v)]));
  }

  // The fill ids go with the pool (destroyed below): deleting 10,000 ids one message at a time takes minutes.
} finally {
  await snap?.close().catch((e) => log('close', e.message));
  await snapWait?.close().catch((e) => log('close', e.message));
  await ctd?.close().catch((e) => log("containerd's snapshotter close", e.message));
  // Unmount anything left mounted under the bench's directory (containerd mounts a new device once).
  for (const line of (await readFile('/proc/self/mounts', 'utf8')).split('\n').reverse()) {
    const target = line.split(' ')[1];
    if (target?.startsWith(dir)) await sh('umount', ['-l', target]).catch(() => undefined);
  }
  const pools = new Set([poolName, poolWait?.name, poolGo?.name].filter(Boolean));
  for (let pass = 0; pass < 3; pass++) {
    const mine = (await dm.list()).filter((d) => d.name.startsWith(prefix) && !pools.has(d.name));
    for (const d of mine) await dm.remove(d.name, { retries: 5, retryDelayMs: 20 }).catch(() => undefined);
  }
  for (const p of [pool, poolWait, poolGo]) await p?.destroy().catch((e) => log('pool destroy', e.message));
  await rm(dir, { recursive: true, force: true });
  const left = (await dm.list()).filter((d) => d.name.startsWith(prefix));
  if (left.length) log('left behind:', left.map((d) => d.name).join(' '));
}
await writeFile(outPath, JSON.stringify(result));
log('done');

/** The thin id of the snapshotter's base device: the first id a fresh metastore hands out. */
async function findBaseId() {
  return 1;
}
