/** Latency statistics and the table the bench prints. */

/** Median, p95, mean and operations per second of latencies in ms. */
export function summarize(samples) {
  if (!samples || samples.length === 0) return null;
  const s = [...samples].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  return { n: s.length, medianMs: round(q(0.5)), p95Ms: round(q(0.95)), meanMs: round(mean), opsPerSec: round(1000 / mean) };
}

export function round(x, digits = 3) {
  if (x === null || x === undefined || !Number.isFinite(x)) return null;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Milliseconds taken by `fn`. */
export async function timed(fn) {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

function pad(v, w, left = false) {
  const t = v === null || v === undefined ? '-' : String(v);
  return left ? t.padEnd(w) : t.padStart(w);
}

function fmt(ms) {
  if (ms === null || ms === undefined) return null;
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);
}

function ratio(x) {
  return x === null || x === undefined ? null : `${x.toFixed(2)}x`;
}

/** A fixed-width text table. */
export function table(headers, rows) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i] ?? '-').length)));
  const line = (cells) => cells.map((c, i) => pad(c, widths[i], i === 0)).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** The operations table of a result: library latency, baselines and ratios. */
export function operationsTable(ops) {
  const rows = ops.map((o) => [
    o.name,
    o.library?.n ?? null,
    fmt(o.library?.medianMs),
    fmt(o.library?.p95Ms),
    o.library?.opsPerSec ? o.library.opsPerSec.toFixed(1) : null,
    fmt(o.dmsetup?.medianMs),
    ratio(o.speedupVsDmsetup),
    fmt(o.floor?.medianMs),
    ratio(o.overFloor),
  ]);
  return table(['operation', 'n', 'median ms', 'p95 ms', 'ops/s', 'dmsetup ms', 'dmsetup/lib', 'C floor ms', 'lib/floor'], rows);
}
