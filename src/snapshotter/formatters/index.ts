/**
 * The formatter registry: 'ext4', 'xfs' and 'none' are built in, callers add
 * their own with {@link registerFormatter}.
 */
import { InvalidArgumentError } from '../errors.js';
import { ext4Formatter } from './ext4.js';
import { noneFormatter } from './none.js';
import type { Formatter } from './types.js';
import { xfsFormatter } from './xfs.js';

export type { Formatter } from './types.js';
export { ext4Formatter } from './ext4.js';
export { xfsFormatter } from './xfs.js';
export { noneFormatter } from './none.js';
export { CommandError, runCommand } from './exec.js';

const registry = new Map<string, Formatter>([
  [ext4Formatter.name, ext4Formatter],
  [xfsFormatter.name, xfsFormatter],
  [noneFormatter.name, noneFormatter],
]);

/**
 * Adds a formatter under its `name`. Registering the same object twice is a
 * no-op; a different formatter under a taken name needs `replace: true`.
 *
 * @throws InvalidArgumentError for an empty name or a taken one.
 */
export function registerFormatter(formatter: Formatter, options: { replace?: boolean } = {}): void {
  if (typeof formatter.name !== 'string' || formatter.name === '') {
    throw new InvalidArgumentError('a formatter needs a non-empty name');
  }
  const existing = registry.get(formatter.name);
  if (existing && existing !== formatter && !options.replace) {
    throw new InvalidArgumentError(`a different formatter is already registered as ${JSON.stringify(formatter.name)}`);
  }
  registry.set(formatter.name, formatter);
}

/** The formatter registered under `name`, or undefined. */
export function getFormatter(name: string): Formatter | undefined {
  return registry.get(name);
}

/** The names of every registered formatter. */
export function formatterNames(): string[] {
  return [...registry.keys()];
}

/** Turns a caller's filesystem options (a string or an argument list) into mkfs arguments for `formatter`. */
export function formatterArguments(formatter: Formatter, fsOptions: string | readonly string[] | undefined): string[] {
  if (fsOptions === undefined) return [...formatter.defaultOptions];
  if (typeof fsOptions !== 'string') return [...fsOptions];
  if (fsOptions.trim() === '') return [...formatter.defaultOptions];
  return formatter.optionsFromString ? formatter.optionsFromString(fsOptions) : fsOptions.trim().split(/\s+/);
}
