/**
 * `ctr images import` and `ctr run --rm` (busybox, built here) through one
 * containerd, with two snapshotters side by side: the library's server
 * (`devmapper serve`, a proxy plugin) and containerd's own in-process
 * devmapper snapshotter, each on its own fresh, identical loopback pool.
 * Interleaved rounds: in each, both snapshotters import, run and remove
 * the image (`ctr images rm --sync`: garbage collection removes its
 * snapshots, so the next import unpacks again). Run as root where
 * device-mapper is (the test guest), by run.mjs's guest job.
 *
 * usage: node bench/ctr.mjs CONFIG_JSON OUT_JSON
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createLoopbackPool, dm } from './lib/library.mjs';
import { round, summarize, timed } from './lib/stats.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const cli = path.join(root, 'dist', 'cli', 'main.js');
const [configArg, outPath] = process.argv.slice(2);
const config = JSON.parse(configArg);
const rounds = config.ctrRounds ?? 3;
const MiB = 1024 * 1024;
const log = (...a) => console.error(`[bench ctr ${new Date().toISOString().slice(11, 19)}]`, ...a);

// The test suite's helpers (TypeScript), bundled by run.mjs with esbuild.
const { startContainerd } = await import('./build/ctr-support/containerd.mjs');
const { buildBusyboxImage } = await import('./build/ctr-support/busybox-image.mjs');

const prefix = `benchctr${process.pid}-`;
const dir = await mkdtemp(path.join(os.tmpdir(), 'bctr-'));
const proxyName = 'devmapper-proxy';
const inProcess = 'devmapper';
const namespace = `bench-${process.pid}`;
const result = { rounds, commands: {}, notes: [] };

const runCli = (args) => {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`devmapper ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};
const connects = (socket) =>
  new Promise((resolve) => {
    const c = net.connect(socket);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });

let containerd;
let server;
let serverExited;
let dmPool;
const libRoot = path.join(dir, 'lib-root');
const libPoolDir = path.join(dir, 'lib-pool');
let libPoolMade = false;
try {
  // The library's pool and server, as a user runs them: `devmapper pool create`, `devmapper serve`.
  runCli(['pool', 'create', '--pool-dir', libPoolDir, '--root', libRoot, '--name', `${prefix}lib`, '--data-size', `${config.poolDataMiB}M`, '--metadata-size', `${config.poolMetadataMiB}M`, '--base-size', `${config.baseMiB}M`, '--json']);
  libPoolMade = true;
  const socket = path.join(dir, 'snap.sock');
  server = spawn(process.execPath, [cli, 'serve', '--root', libRoot, '--socket', socket, '--min-free-space', '0', '--log-level', 'error'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  serverExited = new Promise((resolve) => server.once('exit', resolve));
  const deadline = Date.now() + 300_000;
  while (!(await connects(socket))) {
    if (server.exitCode !== null) throw new Error(`devmapper serve exited with ${server.exitCode}`);
    if (Date.now() > deadline) throw new Error('devmapper serve did not accept within 300 s');
    await sleep(50);
  }
  // containerd's in-process devmapper on its own identical pool.
  dmPool = await createLoopbackPool({
    directory: path.join(dir, 'dm-pool'),
    name: `${prefix}ctd`,
    dataSizeBytes: config.poolDataMiB * MiB,
    metadataSizeBytes: config.poolMetadataMiB * MiB,
    minFreeSpacePercent: 0,
  });
  const image = await buildBusyboxImage(path.join(dir, 'busybox.tar'), { name: `localhost/${namespace}/busybox:latest` });
  containerd = await startContainerd({
    dir: path.join(dir, 'c'),
    snapshotter: { name: proxyName, socket },
    namespace,
    devmapper: { poolName: dmPool.name, rootPath: path.join(dir, 'dm-root'), baseImageSize: `${config.baseMiB}MB` },
  });
  const plugins = (await containerd.ctr(['plugins', 'ls'])).stdout;
  const dmLine = plugins.split('\n').find((l) => l.includes('io.containerd.snapshotter.v1') && /\sdevmapper\s/.test(l));
  result.notes.push(`ctr plugins ls: ${dmLine?.trim().replace(/\s+/g, ' ') ?? 'no devmapper plugin'}`);
  if (!dmLine || !/\sok\s*$/.test(dmLine)) throw new Error(`containerd's devmapper snapshotter plugin is not ok: ${dmLine ?? 'absent'}\n${await containerd.logTail(20)}`);

  const commands = ['ctr images import', 'ctr run --rm'];
  const samples = Object.fromEntries(commands.map((c) => [c, { proxy: [], devmapper: [] }]));
  const once = async (which, snapshotter, i) => {
    samples['ctr images import'][which].push(await timed(() => containerd.ctr(['images', 'import', '--snapshotter', snapshotter, image.file])));
    samples['ctr run --rm'][which].push(await timed(() => containerd.ctr(['run', '--rm', '--snapshotter', snapshotter, image.name, `c-${which}-${i}`, '/bin/busybox', 'true'])));
    // The image and, by garbage collection, its snapshots and content: the next import starts from nothing.
    await containerd.ctr(['images', 'rm', '--sync', image.name]);
  };
  // A warm-up of each (page cache, containerd's first plugin use), not counted.
  await once('proxy', proxyName, 'w');
  await once('devmapper', inProcess, 'w');
  for (const c of commands) for (const k of ['proxy', 'devmapper']) samples[c][k] = [];
  for (let i = 0; i < rounds; i++) {
    // Alternate who goes first, so neither always runs after the other's collection.
    const order = i % 2 === 0 ? [['proxy', proxyName], ['devmapper', inProcess]] : [['devmapper', inProcess], ['proxy', proxyName]];
    for (const [which, snapshotter] of order) await once(which, snapshotter, i);
    log(`round ${i + 1}/${rounds}`);
  }
  for (const c of commands) {
    const proxy = summarize(samples[c].proxy);
    const devmapper = summarize(samples[c].devmapper);
    result.commands[c] = { proxy, devmapper, ratio: proxy && devmapper ? round(devmapper.medianMs / proxy.medianMs) : null };
  }
  const left = (await containerd.ctr(['snapshots', '--snapshotter', inProcess, 'ls'])).stdout.trim().split('\n').length - 1;
  if (left) result.notes.push(`${left} snapshots left in containerd's devmapper after the rounds`);
} finally {
  await containerd?.stop().catch((e) => log('containerd stop', e.message));
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    const t = setTimeout(() => server.kill('SIGKILL'), 60_000);
    await serverExited;
    clearTimeout(t);
  }
  // Devices containerd's devmapper left (it deactivates on close, but not on a crash), then the pools.
  const mine = async () => (await dm.list()).filter((d) => d.name.startsWith(prefix));
  for (const d of await mine()) if (d.name !== `${prefix}ctd` && d.name !== `${prefix}lib`) await dm.remove(d.name, { retries: 5, retryDelayMs: 20 }).catch(() => undefined);
  await dmPool?.destroy().catch((e) => log('pool destroy', e.message));
  if (libPoolMade) {
    try {
      runCli(['pool', 'destroy', '--pool-dir', libPoolDir, '--root', libRoot]);
    } catch (e) {
      log(e.message);
    }
  }
  await rm(dir, { recursive: true, force: true });
  const left = await mine();
  if (left.length) log('left behind:', left.map((d) => d.name).join(' '));
}
await writeFile(outPath, JSON.stringify(result));
log('done');
