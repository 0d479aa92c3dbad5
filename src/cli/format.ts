/**
 * Output helpers: sizes for people, aligned tables, key-value reports and
 * JSON. Every command prints through these, so `--json` and text output stay
 * in step.
 */
import type { CliStream } from './io.js';

const DECIMAL_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];
const BINARY_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];

/**
 * A size as `docker info` printed it (go-units' HumanSize): decimal units,
 * four significant digits, e.g. 65536 → "65.54 kB", 107374182400 → "107.4 GB".
 */
export function dockerSize(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < DECIMAL_UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${Number(value.toPrecision(4))} ${DECIMAL_UNITS[unit]}`;
}

/** A size in binary units with up to one decimal, e.g. 1536 → "1.5 KiB", 67108864 → "64 MiB". */
export function binarySize(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < BINARY_UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const shown = unit === 0 ? String(value) : String(Math.round(value * 10) / 10);
  return `${shown} ${BINARY_UNITS[unit]}`;
}

/** A percentage with one decimal. */
export function percent(part: number, whole: number): string {
  return whole === 0 ? '0%' : `${(Math.round((1000 * part) / whole) / 10).toFixed(1)}%`;
}

/** Columns padded to their widest cell (like `ctr`'s tabwriter output); the last column is not padded. */
export function table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const all = [headers, ...rows];
  const widths = headers.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return `${all
    .map((r) =>
      r
        .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
        .join('   ')
        .trimEnd(),
    )
    .join('\n')}\n`;
}

/** `Key: value` lines, one space of indent, as `docker info` printed the driver's status. */
export function report(pairs: ReadonlyArray<readonly [string, string]>): string {
  return pairs.map(([k, v]) => ` ${k}: ${v}\n`).join('');
}

/** JSON for `--json`: two-space indent, dates as ISO strings, a final newline. */
export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** Writes text to a stream. */
export function write(stream: CliStream, text: string): void {
  stream.write(text);
}
