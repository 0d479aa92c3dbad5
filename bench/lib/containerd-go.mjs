/**
 * containerd's devmapper snapshotter (its Go code, bench/build/containerd-devmapper)
 * as a bench contender: one child process per pool, one JSON line per call.
 * Each call resolves to the milliseconds Go measured around the snapshotter
 * call alone; an error from containerd rejects.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

/** Where bench/setup.sh puts the binary. */
export const containerdGoBin = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'build', 'containerd-devmapper');

/** Whether the binary is built (bench/setup.sh, run on the host by run.mjs). */
export const containerdGoAvailable = () => existsSync(containerdGoBin);

/**
 * Opens containerd's snapshotter on `pool` (a thin pool made by the caller,
 * used by nothing else: its device ids are containerd's own counter) with
 * its bolt databases under `root`.
 */
export async function openContainerdGo({ root, pool, baseSize }) {
  const child = spawn(containerdGoBin, ['-root', root, '-pool', pool, '-base-size', baseSize, '-fs', 'ext4'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d) => {
    stderr = (stderr + d).slice(-8000);
  });
  const pending = new Map();
  let nextId = 1;
  let ready;
  const readyP = new Promise((resolve, reject) => {
    ready = { resolve, reject };
  });
  const exited = new Promise((resolve) => child.once('close', (code, signal) => resolve(code ?? signal)));
  exited.then((code) => {
    const e = new Error(`containerd-devmapper exited (${code}): ${stderr.trim()}`);
    ready.reject(e);
    for (const p of pending.values()) p.reject(e);
    pending.clear();
  });
  child.once('error', (e) => ready.reject(e));
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    const a = JSON.parse(line);
    if (a.ready) return ready.resolve();
    const p = pending.get(a.id);
    if (!p) return;
    pending.delete(a.id);
    if (a.error) p.reject(new Error(`containerd ${p.op} ${p.key}: ${a.error}`));
    else p.resolve(a);
  });
  await readyP;

  const call = (op, key = '', parent = '') =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject, op, key });
      child.stdin.write(`${JSON.stringify({ id, op, key, parent })}\n`);
    });
  const ms = async (op, key, parent) => (await call(op, key, parent)).ms;
  return {
    /** Each returns Go's own milliseconds for the call. */
    prepare: (key, parent = '') => ms('prepare', key, parent),
    view: (key, parent) => ms('view', key, parent),
    commit: (name, key) => ms('commit', name, key),
    remove: (key) => ms('remove', key),
    usage: (key) => ms('usage', key),
    stat: (key) => ms('stat', key),
    walk: () => ms('walk'),
    /** Closes containerd's snapshotter (end of input) and waits for the process. */
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
