/**
 * Validation of snapshot keys and labels, done before anything is stored.
 * Label limits follow containerd's labels.Validate: key plus value at most
 * 4096 bytes; and one snapshot's labels together at most 1 MiB, so that no
 * reply about it can outgrow a gRPC message.
 */
import { InvalidArgumentError } from './errors.js';

/** containerd's limit on a label: key and value together, in UTF-8 bytes. */
export const MAX_LABEL_BYTES = 4096;

/**
 * The most label bytes (keys and values) one snapshot may carry: every
 * reply that holds a snapshot's info (Stat, Update, a List message) then
 * stays far below containerd's 16 MiB message limit, however many labels
 * updates add.
 */
export const MAX_LABELS_BYTES = 1024 * 1024;

/** The longest snapshot key or name accepted, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 4096;

// In unicode mode a surrogate pair is one code point, so this matches lone surrogates only.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** Whether `text` is well-formed UTF-16 (String.prototype.isWellFormed, which lib ES2023 lacks). */
export function isWellFormed(text: string): boolean {
  return !LONE_SURROGATE.test(text);
}

// C0 controls, DEL, C1 controls, and the Unicode line and paragraph separators.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/**
 * Checks a snapshot key or committed name: non-empty, well-formed Unicode
 * (no lone surrogates, which would not survive UTF-8 storage), no control
 * characters or newlines, at most {@link MAX_KEY_BYTES} bytes.
 *
 * @param key - The key to check.
 * @param what - How to name it in the error ('key', 'name', 'parent').
 * @throws InvalidArgumentError when the key breaks a rule.
 */
export function validateKey(key: unknown, what = 'key'): asserts key is string {
  if (typeof key !== 'string') throw new InvalidArgumentError(`${what} must be a string`);
  if (key.length === 0) throw new InvalidArgumentError(`${what} must not be empty`);
  if (!isWellFormed(key)) throw new InvalidArgumentError(`${what} is not well-formed Unicode`);
  if (CONTROL.test(key)) throw new InvalidArgumentError(`${what} must not contain control characters or newlines`);
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) {
    throw new InvalidArgumentError(`${what} is longer than ${MAX_KEY_BYTES} bytes`);
  }
}

/**
 * Checks one label: a non-empty, well-formed key; a well-formed value; key
 * plus value at most {@link MAX_LABEL_BYTES} bytes.
 *
 * @throws InvalidArgumentError when the label breaks a rule.
 */
export function validateLabel(key: string, value: string): void {
  if (typeof key !== 'string' || typeof value !== 'string') {
    throw new InvalidArgumentError('label keys and values must be strings');
  }
  if (key.length === 0) throw new InvalidArgumentError('a label key must not be empty');
  if (!isWellFormed(key) || !isWellFormed(value)) {
    throw new InvalidArgumentError(`label ${JSON.stringify(key.slice(0, 64))} is not well-formed Unicode`);
  }
  const total = Buffer.byteLength(key, 'utf8') + Buffer.byteLength(value, 'utf8');
  if (total > MAX_LABEL_BYTES) {
    throw new InvalidArgumentError(
      `label key and value length (${total} bytes) greater than maximum size (${MAX_LABEL_BYTES} bytes), key: ${key.slice(0, 64)}`,
    );
  }
}

/**
 * Checks every label and returns a clean copy (a plain object without a
 * prototype chain surprise). Empty values are dropped, as containerd does
 * when it stores labels.
 *
 * @throws InvalidArgumentError when `labels` is not a plain object or a label breaks a rule.
 */
export function validateLabels(labels: unknown): Record<string, string> {
  if (labels === undefined || labels === null) return {};
  if (typeof labels !== 'object' || Array.isArray(labels)) throw new InvalidArgumentError('labels must be an object');
  const clean: Record<string, string> = {};
  for (const [key, value] of Object.entries(labels as Record<string, unknown>)) {
    if (typeof value !== 'string') throw new InvalidArgumentError(`label ${JSON.stringify(key.slice(0, 64))}: value must be a string`);
    validateLabel(key, value);
    if (value !== '') Object.defineProperty(clean, key, { value, enumerable: true, writable: true, configurable: true });
  }
  checkLabelsSize(clean);
  return clean;
}

/**
 * Checks that a snapshot's labels together stay within {@link MAX_LABELS_BYTES}.
 *
 * @throws InvalidArgumentError when they do not.
 */
export function checkLabelsSize(labels: Readonly<Record<string, string>>): void {
  let total = 0;
  for (const [key, value] of Object.entries(labels)) total += Buffer.byteLength(key, 'utf8') + Buffer.byteLength(value, 'utf8');
  if (total > MAX_LABELS_BYTES) {
    throw new InvalidArgumentError(`labels total ${total} bytes, more than the ${MAX_LABELS_BYTES} bytes one snapshot may carry`);
  }
}
