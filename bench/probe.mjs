/**
 * Single device-mapper calls in both udev modes, for finding where time goes:
 * create/resume/remove with and without udevPrivate, pool status with and
 * without noflush, set_transaction_id. Run as root on a dm kernel:
 *   scripts/vm.sh [--udev] -- node bench/probe.mjs
 */
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { createLoopbackPool, dm } from './lib/library.mjs';
import { PoolMessages } from '../dist/dm/targets/thin-pool.js';
import { summarize, timed } from './lib/stats.mjs';
const dir = await mkdtemp('/tmp/probe-');
const name = `probe${process.pid}-pool`;
const pool = await createLoopbackPool({ directory: path.join(dir, 'p'), name, dataSizeBytes: 1 << 30, metadataSizeBytes: 16 << 20, minFreeSpacePercent: 0 });
const dev = pool.deviceNumber;
const K = 10;
const out = {};
const S = (k, a) => (out[k] = summarize(a));
try {
  for (let i = 0; i < K; i++) await dm.message(name, PoolMessages.createThin(100 + i));
  for (const priv of [false, true]) {
    const c = [], r = [], s = [], rs = [];
    for (let i = 0; i < K; i++) {
      const n = `probe${process.pid}-t${i}`;
      c.push(await timed(() => dm.create({ name: n, table: [{ start: 0, length: 131072, targetType: 'thin', params: `${dev} ${100 + i}` }], udevPrivate: priv })));
      s.push(await timed(() => dm.suspend(n)));
      rs.push(await timed(() => dm.resume(n, { udevPrivate: priv })));
      r.push(await timed(() => dm.remove(n, { retries: 10, retryDelayMs: 50, udevPrivate: priv })));
    }
    S(`create udevPrivate=${priv}`, c); S(`suspend`, s); S(`resume udevPrivate=${priv}`, rs); S(`remove udevPrivate=${priv}`, r);
  }
  const a = [], b = [];
  for (let i = 0; i < K; i++) {
    a.push(await timed(() => dm.status(name)));
    b.push(await timed(() => dm.status(name, { noFlush: true })));
  }
  S('pool status (flush: commits metadata)', a); S('pool status noFlush', b);
  let tx = await pool.transactionId();
  const m = [];
  for (let i = 0; i < K; i++) m.push(await timed(async () => { await dm.message(name, PoolMessages.setTransactionId(tx, tx + 1)); tx++; }));
  S('set_transaction_id', m);
} finally {
  await pool.destroy();
  await rm(dir, { recursive: true, force: true });
}
for (const [k, v] of Object.entries(out)) console.log(`${k.padEnd(40)} median ${v.medianMs} ms  p95 ${v.p95Ms} ms`);
