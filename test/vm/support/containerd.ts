/**
 * A private containerd for tests: its own config, root, state and socket
 * under a temporary directory, a proxy snapshotter plugin, `ctr` against
 * it, and a teardown that kills its tasks and shims and stops it, also
 * after a failure.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Options of {@link startContainerd}. */
export interface ContainerdOptions {
  /** The directory for config, root, state, socket and log (keep it short: unix socket paths). */
  dir: string;
  /** The proxy snapshotter plugin: its name (`--snapshotter NAME`) and socket. */
  snapshotter: { name: string; socket: string };
  /** The namespace `ctr` uses. */
  namespace: string;
  /** How long to wait for containerd to answer (ms). */
  startTimeoutMs?: number;
  /** Automatic garbage collection; default: only when a client asks for it. */
  gc?: GcSchedule;
  /** containerd's own in-process devmapper snapshotter on a pool made by the caller; default: disabled. */
  devmapper?: InProcessDevmapper;
}

/** containerd's `[plugins."io.containerd.snapshotter.v1.devmapper"]` settings. */
export interface InProcessDevmapper {
  /** The thin pool's device-mapper name. */
  poolName: string;
  /** Its metadata directory. */
  rootPath: string;
  /** Its base_image_size, e.g. "64MB". */
  baseImageSize: string;
}

/** containerd's `[plugins."io.containerd.gc.v1.scheduler"]` settings (containerd 1.6 names). */
export interface GcSchedule {
  /** The most of the time GC may hold the metadata lock (containerd allows up to 0.5). */
  pauseThreshold: number;
  /** Deletions that trigger a collection (0: none). */
  deletionThreshold: number;
  /** Mutations that trigger a collection (0: none). */
  mutationThreshold: number;
  /** Delay before a triggered collection runs, e.g. "0s". */
  scheduleDelay: string;
}

/** What a `ctr` call printed. */
export interface CtrResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** A running containerd. */
export interface Containerd {
  /** containerd's gRPC socket. */
  address: string;
  namespace: string;
  /** The config file written. */
  configFile: string;
  /** containerd's log file. */
  logFile: string;
  /** Runs `ctr -a ADDRESS -n NAMESPACE ARGS`; rejects with its output when it fails (unless allowFail). */
  ctr(args: string[], options?: { allowFail?: boolean; timeoutMs?: number }): Promise<CtrResult>;
  /** Runs a garbage collection and waits for it (a lease deleted with --sync). */
  collectGarbage(): Promise<void>;
  /** The last lines of containerd's log, for failure messages. */
  logTail(lines?: number): Promise<string>;
  /** Kills and deletes every task, stops containerd, and kills shims it left (by pid). */
  stop(): Promise<void>;
}

/** containerd's config (version 2): private dirs, no CRI, the proxy plugin. */
export function containerdConfig(options: { dir: string; address: string; snapshotter: { name: string; socket: string }; gc?: GcSchedule; devmapper?: InProcessDevmapper }): string {
  const q = (s: string) => JSON.stringify(s);
  return [
    'version = 2',
    `root = ${q(path.join(options.dir, 'root'))}`,
    `state = ${q(path.join(options.dir, 'state'))}`,
    // Plugins that cannot work here (no CNI, no btrfs/zfs/aufs) or are not needed.
    'disabled_plugins = [',
    '  "io.containerd.grpc.v1.cri",',
    '  "io.containerd.snapshotter.v1.aufs",',
    '  "io.containerd.snapshotter.v1.btrfs",',
    '  "io.containerd.snapshotter.v1.zfs",',
    ...(options.devmapper ? [] : ['  "io.containerd.snapshotter.v1.devmapper",']),
    '  "io.containerd.tracing.processor.v1.otlp",',
    '  "io.containerd.internal.v1.tracing",',
    ']',
    '',
    '[grpc]',
    `  address = ${q(options.address)}`,
    '',
    '[ttrpc]',
    `  address = ${q(`${options.address}.ttrpc`)}`,
    '',
    '[debug]',
    '  level = "debug"',
    '',
    // The host root is read-only in the test VM: opt's default /opt/containerd is not writable.
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = ${q(path.join(options.dir, 'opt'))}`,
    '',
    // By default garbage collection only when a client asks for it (`ctr images rm --sync`,
    // `ctr leases rm --sync`): `ctr snapshots view` makes views without a gc.root
    // label, which an automatic collection could remove between two ctr commands.
    '[plugins."io.containerd.gc.v1.scheduler"]',
    '  startup_delay = "0s"',
    ...(options.gc
      ? [
          `  pause_threshold = ${options.gc.pauseThreshold}`,
          `  deletion_threshold = ${options.gc.deletionThreshold}`,
          `  mutation_threshold = ${options.gc.mutationThreshold}`,
          `  schedule_delay = ${q(options.gc.scheduleDelay)}`,
        ]
      : ['  deletion_threshold = 1000000', '  mutation_threshold = 1000000']),
    '',
    ...(options.devmapper
      ? [
          '[plugins."io.containerd.snapshotter.v1.devmapper"]',
          `  pool_name = ${q(options.devmapper.poolName)}`,
          `  root_path = ${q(options.devmapper.rootPath)}`,
          `  base_image_size = ${q(options.devmapper.baseImageSize)}`,
          '',
        ]
      : []),
    `[proxy_plugins.${q(options.snapshotter.name)}]`,
    '  type = "snapshot"',
    `  address = ${q(options.snapshotter.socket)}`,
    '',
  ].join('\n');
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<CtrResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { maxBuffer: 64 * 1024 * 1024, timeout: timeoutMs, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? ((error as { code: number }).code) : 1) : 0;
      resolve({ stdout, stderr: error && !stderr ? error.message : stderr, code });
    });
  });
}

// Pids of processes whose command line mentions `needle` (containerd's shims carry its address).
async function pidsMentioning(needle: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.split('\0').includes(needle)) pids.push(Number(entry));
  }
  return pids;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Starts containerd and waits until it answers. */
export async function startContainerd(options: ContainerdOptions): Promise<Containerd> {
  const { dir, namespace } = options;
  await mkdir(dir, { recursive: true });
  const address = path.join(dir, 'c.sock');
  const configFile = path.join(dir, 'containerd.toml');
  const logFile = path.join(dir, 'containerd.log');
  await writeFile(configFile, containerdConfig({ dir, address, snapshotter: options.snapshotter, ...(options.gc ? { gc: options.gc } : {}), ...(options.devmapper ? { devmapper: options.devmapper } : {}) }));
  const log = createWriteStream(logFile);
  await new Promise((resolve) => log.once('open', resolve));
  const child = spawn('containerd', ['--config', configFile], { stdio: ['ignore', log, log] });
  let spawnError: Error | undefined;
  child.once('error', (e) => {
    spawnError = e;
  });

  const ctr = async (args: string[], o: { allowFail?: boolean; timeoutMs?: number } = {}): Promise<CtrResult> => {
    const r = await run('ctr', ['-a', address, '-n', namespace, ...args], o.timeoutMs ?? 600_000);
    if (r.code !== 0 && !o.allowFail) throw new Error(`ctr ${args.join(' ')} failed (${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
    return r;
  };
  const logTail = async (lines = 60): Promise<string> => (await readFile(logFile, 'utf8').catch(() => '')).split('\n').slice(-lines).join('\n');

  let gcRound = 0;
  const collectGarbage = async (): Promise<void> => {
    const id = `gc-${process.pid}-${gcRound++}`;
    await ctr(['leases', 'create', '--id', id]);
    await ctr(['leases', 'rm', '--sync', id]);
  };

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null && !spawnError) {
      // Tasks first: their shims outlive containerd otherwise.
      const tasks = await ctr(['tasks', 'ls', '-q'], { allowFail: true, timeoutMs: 120_000 });
      for (const id of tasks.stdout.split('\n').map((l) => l.trim()).filter(Boolean)) {
        await ctr(['tasks', 'kill', '-s', 'SIGKILL', id], { allowFail: true, timeoutMs: 120_000 });
        await ctr(['tasks', 'delete', '-f', id], { allowFail: true, timeoutMs: 120_000 });
      }
      child.kill('SIGTERM');
      const done = await Promise.race([exited(child).then(() => true), sleep(120_000).then(() => false)]);
      if (!done) {
        child.kill('SIGKILL');
        await exited(child);
      }
    }
    for (const pid of await pidsMentioning(address)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone already.
      }
    }
    log.end();
  };

  const deadline = Date.now() + (options.startTimeoutMs ?? 300_000);
  for (;;) {
    if (spawnError) throw new Error(`containerd did not start: ${spawnError.message}`);
    if (child.exitCode !== null) {
      throw new Error(`containerd exited with ${child.exitCode}:\n${await logTail()}`);
    }
    const r = await ctr(['version'], { allowFail: true, timeoutMs: 60_000 });
    if (r.code === 0 && r.stdout.includes('Server:')) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`containerd did not answer within ${options.startTimeoutMs ?? 300_000} ms:\n${r.stderr}\n${await logTail()}`);
    }
    await sleep(500);
  }
  return { address, namespace, configFile, logFile, ctr, collectGarbage, logTail, stop };
}
