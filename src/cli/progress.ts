/**
 * Progress bars for long work, measured from outside: the pool's data space
 * is sampled while the work runs (what formatting a base allocates and
 * zeroes, what discards give back). Shown only on a terminal, never with
 * `--json` or `--quiet`. log-update redraws the line (cursor, erasing,
 * wrapping to the terminal's width); this module only says what the line is.
 * Loaded only by commands that may show one.
 */
import { createLogUpdate } from 'log-update';
import { progressEnabled } from './command.js';
import { binarySize } from './format.js';
import type { CliStream } from './io.js';

export { progressEnabled };

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

const BAR_WIDTH = 30;

function elapsed(ms: number): string {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** The progress line: `label [█████░░░░░] 42% 1.2 GiB of 3 GiB 0:05`, or `label: 1.2 GiB 0:05` without a total. */
export function progressLine(spec: Pick<ProgressSpec, 'label' | 'totalBytes'>, doneBytes: number, elapsedMs: number): string {
  const total = spec.totalBytes;
  if (total === undefined || total <= 0) return `${spec.label}: ${binarySize(doneBytes)} ${elapsed(elapsedMs)}`;
  const fraction = Math.min(1, Math.max(0, doneBytes / total));
  const filled = Math.round(fraction * BAR_WIDTH);
  const bar = `${'█'.repeat(filled)}${'░'.repeat(BAR_WIDTH - filled)}`;
  return `${spec.label} [${bar}] ${Math.floor(fraction * 100)}% ${binarySize(Math.min(doneBytes, total))} of ${binarySize(total)} ${elapsed(elapsedMs)}`;
}

/**
 * Runs `work`, with a live progress line on `stream` when `enabled`. The
 * line is finished (at its total) when the work succeeds and left as it
 * stands when it fails.
 */
export async function withProgress<T>(stream: CliStream, enabled: boolean, spec: ProgressSpec, work: () => Promise<T>): Promise<T> {
  if (!enabled) return work();
  const draw = createLogUpdate(stream as NodeJS.WritableStream, { showCursor: false });
  const started = performance.now();
  let done = 0;
  const render = (): void => draw(progressLine(spec, done, performance.now() - started));
  const tick = async (): Promise<void> => {
    try {
      done = Math.max(0, await spec.sample());
    } catch {
      return;
    }
    render();
  };
  render();
  let sampling: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    sampling = sampling.then(tick);
  }, spec.intervalMs ?? 250);
  try {
    const result = await work();
    clearInterval(timer);
    await sampling;
    await tick();
    if (spec.totalBytes !== undefined && spec.totalBytes > 0) done = Math.max(done, spec.totalBytes);
    render();
    return result;
  } finally {
    clearInterval(timer);
    draw.done();
  }
}
