/**
 * The host half of the bench (no kernel needed): the metastore and thin id
 * allocator at scale, with the snapshotter on the simulated pool, and the
 * resident size of a process holding a snapshotter over many snapshots.
 *
 * usage: node bench/host.mjs CONFIG_JSON OUT_JSON
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SimulatedThinPool, Snapshotter } from './lib/library.mjs';
import { Metastore } from '../dist/snapshotter/metastore.js';
import { round, summarize, timed } from './lib/stats.mjs';

const [configArg, outPath] = process.argv.slice(2);
const config = JSON.parse(configArg);
const K = config.iterations;
const MiB = 1024 * 1024;
const log = (...a) => console.error(`[bench host ${new Date().toISOString().slice(11, 19)}]`, ...a);
const dir = await mkdtemp(path.join(os.tmpdir(), 'devmapper-bench-host-'));
const result = { simulatedScale: {}, memory: {} };

try {
  const pool = new SimulatedThinPool({ name: 'bench-sim-pool', dataSizeBytes: 1024 * 1024 * MiB, metadataSizeBytes: 16 * 1024 * MiB });
  const snap = await Snapshotter.open({ rootPath: path.join(dir, 'meta'), pool, baseImageSize: '64MB', fsType: 'none' });
  await snap.prepare('first');
  await snap.commit('parent', 'first');
  const rssBefore = process.memoryUsage().rss;
  let held = 0;
  const batch = 64;
  for (const level of config.simulatedLevels) {
    if (level > held) {
      const t = await timed(async () => {
        while (held < level) {
          const n = Math.min(batch, level - held);
          await Promise.all(Array.from({ length: n }, (_, i) => snap.prepare(`fill-${held + i}`, 'parent')));
          held += n;
        }
      });
      log(`simulated: ${held} snapshots held (filled in ${round(t / 1000, 1)} s)`);
    }
    globalThis.gc?.();
    if (level === config.memoryLevel) {
      result.memory = {
        snapshots: level,
        rssMiB: round(process.memoryUsage().rss / MiB, 1),
        rssGrowthMiB: round((process.memoryUsage().rss - rssBefore) / MiB, 1),
        heapUsedMiB: round(process.memoryUsage().heapUsed / MiB, 1),
        note: 'simulated pool, in-memory thin ids; the metastore is LevelDB on disk',
      };
    }
    const prep = [];
    for (let i = 0; i < K; i++) prep.push(await timed(() => snap.prepare(`m${level}-${i}`, 'parent')));
    const rem = [];
    for (let i = 0; i < K; i++) rem.push(await timed(() => snap.remove(`m${level}-${i}`)));
    result.simulatedScale[level] = { prepare: summarize(prep), remove: summarize(rem) };
    log(`simulated ${level}: prepare median ${result.simulatedScale[level].prepare.medianMs} ms, remove ${result.simulatedScale[level].remove.medianMs} ms`);
  }
  await snap.close();

  // One synced metastore batch (every prepare and remove commits two or three), on this host's disk.
  const store = await Metastore.open(path.join(dir, 'tx'));
  const tx = [];
  for (let i = 0; i < Math.max(20, K); i++) tx.push(await timed(() => store.transaction(async (t) => t.put(`bench/${i}`, { i }))));
  await store.close();
  result.metastoreTransaction = summarize(tx);
  result.metastoreDirectory = os.tmpdir();
} finally {
  await rm(dir, { recursive: true, force: true });
}
await writeFile(outPath, JSON.stringify(result));
