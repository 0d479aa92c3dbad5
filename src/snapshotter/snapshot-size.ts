/**
 * A size per snapshot: containerd's `containerd.io/snapshot/max-size` label,
 * the `defaultSnapshotSize` option and inheritance from the parent.
 *
 * A snapshot's size is, in order: the label on prepare/view; else the
 * larger of its origin's size (the committed parent's, or the base's) and
 * `defaultSnapshotSize`. A size below the origin's is refused (a thin
 * snapshot cannot shrink a filesystem), as is one below the formatter's
 * minimum. Growing a filesystem is the formatter's `grow` hook.
 */
import { InvalidArgumentError } from './errors.js';
import type { Formatter } from './formatters/index.js';
import { roundUpToSector } from './sizes.js';

/**
 * containerd's label (core/snapshots): "the active snapshot's filesystem
 * should be limited to the given size, in bytes (decimal int64 as a
 * string)". This snapshotter honours it on prepare and view, and sets it on
 * every snapshot whose size is not the base size, so that stat shows it.
 */
export const MAX_SIZE_LABEL = 'containerd.io/snapshot/max-size';

// Decimal digits only, as containerd's strconv.ParseInt(value, 10, 64) of a positive size.
const DECIMAL_BYTES = /^[0-9]+$/;

/**
 * The size a label asks for, in bytes rounded up to whole sectors, or
 * undefined when the label is absent.
 *
 * @throws InvalidArgumentError when the value is not a positive decimal byte count.
 */
export function requestedSize(labels: Readonly<Record<string, string>>): number | undefined {
  if (!Object.hasOwn(labels, MAX_SIZE_LABEL)) return undefined;
  const value = labels[MAX_SIZE_LABEL] ?? '';
  const bytes = DECIMAL_BYTES.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    throw new InvalidArgumentError(`label ${MAX_SIZE_LABEL}: ${JSON.stringify(value)} is not a size in bytes (a positive decimal integer)`);
  }
  return roundUpToSector(bytes);
}

/** What a new snapshot's size is chosen from. */
export interface SizeChoice {
  /** The label's size, if given. */
  requested: number | undefined;
  /** The origin's size: the committed parent's, or the base's. */
  originBytes: number;
  /** Whether the origin is the committed parent (else the base). */
  fromParent: boolean;
  /** The `defaultSnapshotSize` option (0: none). */
  defaultBytes: number;
  /** The snapshot's formatter. */
  formatter: Formatter;
}

/**
 * The new snapshot's size (see the module comment).
 *
 * @throws InvalidArgumentError for a size below the origin's or the formatter's minimum.
 */
export function chooseSize(choice: SizeChoice): number {
  const { requested, originBytes } = choice;
  if (requested === undefined) return Math.max(originBytes, choice.defaultBytes);
  if (requested < originBytes) {
    const origin = choice.fromParent ? "the parent's size" : 'the base size (baseImageSize)';
    throw new InvalidArgumentError(
      `label ${MAX_SIZE_LABEL}: ${requested} bytes is below ${origin}, ${originBytes} bytes: a snapshot cannot be smaller than its origin`,
    );
  }
  checkMinimumSize(choice.formatter, requested, `label ${MAX_SIZE_LABEL}`);
  return requested;
}

/**
 * Refuses a size below the formatter's minimum.
 *
 * @param what - The option or label that set the size, for the message.
 * @throws InvalidArgumentError naming the filesystem, the minimum and `what`.
 */
export function checkMinimumSize(formatter: Formatter, sizeBytes: number, what: string): void {
  const minimum = formatter.minimumSizeBytes ?? 0;
  if (sizeBytes < minimum) {
    throw new InvalidArgumentError(
      `${what}: ${sizeBytes} bytes is below the smallest ${formatter.name} filesystem, ${minimum} bytes (${formatMiB(minimum)})`,
    );
  }
}

function formatMiB(bytes: number): string {
  return `${Math.round((bytes / 1024 / 1024) * 100) / 100} MiB`;
}

/**
 * The labels a snapshot is stored with: the caller's, with the size label
 * set to the actual size (in sectors' worth of bytes) when the size is not
 * the base size or a size was asked for.
 */
export function labelsWithSize(labels: Readonly<Record<string, string>>, sizeBytes: number, baseBytes: number, asked: boolean): Record<string, string> {
  const result: Record<string, string> = { ...labels };
  if (sizeBytes !== baseBytes || asked) result[MAX_SIZE_LABEL] = String(sizeBytes);
  return result;
}
