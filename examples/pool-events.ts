/**
 * Watching a pool's kernel events, with autoextend: the pool grows by
 * itself when data use crosses a threshold, as LVM's
 * thin_pool_autoextend_threshold does, driven by the kernel's low-water
 * event (no polling).
 *
 *   npm run build:ts && npx tsc -p tsconfig.examples.json && node dist-examples/pool-events.js
 */
import { open, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ThinPool, enableAutoextend, type ThinPoolStatus } from 'devmapper';

const MiB = 1024 * 1024;

/** What the example saw. */
export interface PoolEventsResult {
  /** Events in the order they came, with the data use at the time. */
  events: Array<{ event: string; dataUsedBytes: number; dataTotalBytes: number }>;
  /** The growth autoextend made. */
  extended: { fromBytes: number; toBytes: number };
}

/** Options of {@link main}. */
export interface PoolEventsOptions {
  directory?: string;
  poolName?: string;
  log?: (line: string) => void;
  /** How long to wait for the growth, in ms (default 120 s: the test VM is slow). */
  timeoutMs?: number;
}

/** Runs the example. */
export async function main(options: PoolEventsOptions = {}): Promise<PoolEventsResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const ownDirectory = options.directory === undefined;
  const work = options.directory ?? (await mkdtemp(path.join(tmpdir(), 'devmapper-events-')));
  const pool = await ThinPool.createLoopback({
    directory: path.join(work, 'pool'),
    dataSizeBytes: 64 * MiB,
    metadataSizeBytes: 4 * MiB,
    ...(options.poolName ? { name: options.poolName } : {}),
    minFreeSpacePercent: 0,
  });
  const events: PoolEventsResult['events'] = [];
  const record = (event: string) => (s: ThinPoolStatus) => {
    events.push({ event, dataUsedBytes: s.data.usedBytes, dataTotalBytes: s.data.totalBytes });
    log(`   event ${event}: ${(s.data.usedBytes / MiB).toFixed(1)} of ${s.data.totalBytes / MiB} MiB used, mode ${s.mode}`);
  };
  try {
    log(`1. Pool ${pool.name}: 64 MiB of data. Autoextend: grow by 50% when 50% is used, up to 128 MiB.`);
    let extended!: (r: { fromBytes: number; toBytes: number }) => void;
    let failed!: (e: Error) => void;
    const growth = new Promise<{ fromBytes: number; toBytes: number }>((resolve, reject) => {
      extended = resolve;
      failed = reject;
    });
    const policy = await enableAutoextend(pool, {
      thresholdPercent: 50,
      extendPercent: 50,
      maxDataSizeBytes: 128 * MiB,
      onExtend: (r) => ('error' in r ? failed(r.error) : extended(r)),
    });
    // 'status' comes with every kernel event; the condition events when their condition turns true.
    pool.on('status', record('status'));
    pool.on('lowWater', record('lowWater'));
    pool.on('outOfDataSpace', record('outOfDataSpace'));

    log('2. A thin device of 128 MiB (more than the pool holds: thin provisioning); write 40 MiB to it.');
    await pool.createThin(1);
    const device = await pool.activate({ id: 1, name: `${pool.name}-thin1`, sizeBytes: 128 * MiB });
    const fd = await open(device.path, 'r+');
    try {
      const chunk = Buffer.alloc(MiB, 0x5a);
      for (let i = 0; i < 40; i++) await fd.write(chunk, 0, MiB, i * MiB);
      await fd.sync();
    } finally {
      await fd.close();
    }

    log('3. The kernel raised its low-water event; autoextend grew the loop file, the loop device and the pool.');
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no growth in time')), options.timeoutMs ?? 120_000).unref());
    const result = await Promise.race([growth, timeout]);
    log(`   grew from ${result.fromBytes / MiB} MiB to ${result.toBytes / MiB} MiB`);
    policy.stop();
    pool.removeAllListeners('status');
    pool.removeAllListeners('lowWater');
    pool.removeAllListeners('outOfDataSpace');

    log('4. Cleanup: the thin device, the pool, its files.');
    await device.remove();
    await pool.destroy();
    return { events, extended: result };
  } catch (e) {
    await pool.destroy().catch(() => undefined);
    throw e;
  } finally {
    if (ownDirectory) await rm(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
