/**
 * Progress bars for long work, measured from outside: the pool's data space
 * is sampled while the work runs (what formatting a base allocates and
 * zeroes, what discards give back). Shown only on a terminal, never with
 * `--json` or `--quiet`.
 */
import cliProgress from 'cli-progress';
import { binarySize } from './format.js';
import type { CliStream } from './io.js';

/** What to show while a piece of work runs. */
export interface ProgressSpec {
  /** What is happening, e.g. "formatting the base device (ext4, 10 GiB)". */
  label: string;
  /** Bytes the work will have done when finished, when known: then a bar with a percentage shows. */
  totalBytes?: number;
  /** Bytes done so far. Called every `intervalMs`; a failing sample is ignored. */
  sample(): Promise<number>;
  /** Sampling interval, default 250 ms. */
  intervalMs?: number;
}

/** Whether progress bars show on `stream`. */
export function progressEnabled(stream: CliStream, quiet: boolean): boolean {
  return !quiet && stream.isTTY === true;
}

/**
 * Runs `work`, with a live progress bar on `stream` when `enabled`. The bar
 * is finished (set to its total) when the work succeeds and stopped as it
 * stands when it fails.
 */
export async function withProgress<T>(stream: CliStream, enabled: boolean, spec: ProgressSpec, work: () => Promise<T>): Promise<T> {
  if (!enabled) return work();
  const known = spec.totalBytes !== undefined && spec.totalBytes > 0;
  const bar = new cliProgress.SingleBar(
    {
      stream: stream as NodeJS.WritableStream,
      format: known ? '{label} [{bar}] {percentage}% {done} of {total_h} {duration_formatted}' : '{label}: {done} {duration_formatted}',
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      barsize: 30,
      fps: 10,
      noTTYOutput: false,
      autopadding: true,
    },
    cliProgress.Presets.shades_classic,
  );
  const total = known ? (spec.totalBytes ?? 1) : 1;
  bar.start(total, 0, { label: spec.label, done: binarySize(0), total_h: binarySize(total) });
  let last = 0;
  const tick = async (): Promise<void> => {
    try {
      last = Math.max(0, await spec.sample());
    } catch {
      return;
    }
    bar.update(known ? Math.min(last, total) : 0, { done: binarySize(last) });
  };
  let sampling: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    sampling = sampling.then(tick);
  }, spec.intervalMs ?? 250);
  try {
    const result = await work();
    clearInterval(timer);
    await sampling;
    await tick();
    bar.update(known ? total : 0, { done: binarySize(known ? Math.max(last, total) : last) });
    return result;
  } finally {
    clearInterval(timer);
    bar.stop();
  }
}
