/**
 * `--size` of `snapshot prepare` and `snapshot view` (the
 * containerd.io/snapshot/max-size label), and `snapshot resize`.
 */
import { MAX_SIZE_LABEL } from '../snapshotter/snapshot-size.js';
import { parseSize, roundUpToSector } from '../snapshotter/sizes.js';
import { UsageError } from './errors.js';

/**
 * The labels with `--size` added as the max-size label (bytes, as
 * containerd writes it).
 *
 * @throws UsageError for a malformed size, or a --label that says another size.
 */
export function withSizeLabel(labels: Record<string, string> | undefined, size: string | undefined): Record<string, string> | undefined {
  if (size === undefined) return labels;
  let bytes: number;
  try {
    bytes = roundUpToSector(parseSize(size, '--size'));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (bytes === 0) throw new UsageError('--size must be above 0');
  const given = labels?.[MAX_SIZE_LABEL];
  if (given !== undefined && given !== String(bytes)) {
    throw new UsageError(`--size ${size} and --label ${MAX_SIZE_LABEL}=${given} disagree: give one`);
  }
  return { ...labels, [MAX_SIZE_LABEL]: String(bytes) };
}
