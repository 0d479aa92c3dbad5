/**
 * Shared helpers of the target modules: splitting parameter text the way the
 * kernel does, strict number parsing, and device reference checks.
 */
import { describeValue, invalid } from '../errors.js';
import { sectors, type Sectors } from '../units.js';

/** The largest value of the kernel's `unsigned int` (32 bits). */
export const UINT32_MAX = 0xffff_ffff;

/** The largest major number the kernel's dev_t holds (12 bits). */
export const MAX_MAJOR = 0xfff;

/** The largest minor number the kernel's dev_t holds (20 bits). */
export const MAX_MINOR = 0xf_ffff;

/** The longest device path accepted (PATH_MAX less the NUL). */
export const MAX_DEVICE_PATH_LENGTH = 4095;

/**
 * Splits parameter text into words on ASCII whitespace, as the kernel's
 * dm_split_args does for what this library builds. Empty text gives no words.
 */
export function splitArgs(text: string, op: string): string[] {
  if (typeof text !== 'string') throw invalid(op, 'parameters must be a string');
  const trimmed = text.replace(/^[ \t\n\v\f\r]+|[ \t\n\v\f\r]+$/g, '');
  return trimmed.length === 0 ? [] : trimmed.split(/[ \t\n\v\f\r]+/);
}

/**
 * Parses a decimal unsigned integer word strictly (digits only, no sign,
 * no exponent), at most `max`.
 *
 * @throws DeviceMapperError code 'EINVAL' otherwise.
 */
export function parseUint(word: string | undefined, what: string, op: string, max: number = Number.MAX_SAFE_INTEGER): number {
  if (word === undefined) throw invalid(op, `missing ${what}`);
  if (!/^[0-9]{1,16}$/.test(word)) throw invalid(op, `${what} ${JSON.stringify(word.slice(0, 40))} is not a decimal unsigned integer`);
  const n = Number(word);
  if (!Number.isSafeInteger(n) || n > max) throw invalid(op, `${what} ${word} is above ${max}`);
  return n;
}

/** Parses a sector count word (see {@link parseUint}). */
export function parseSectors(word: string | undefined, what: string, op: string): Sectors {
  const n = parseUint(word, what, op);
  try {
    return sectors(n);
  } catch (e) {
    throw invalid(op, `${what}: ${(e as Error).message}`);
  }
}

/**
 * Checks an integer argument to a builder: a safe integer in [min, max].
 *
 * @throws DeviceMapperError code 'EINVAL' otherwise.
 */
export function checkInt(value: number, what: string, op: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalid(op, `${what} must be an integer from ${min} to ${max}, got ${describeValue(value)}`);
  }
  return value;
}

/** Checks a sector argument to a builder (see {@link sectors}), naming it in the error. */
export function checkSectors(value: number, what: string, op: string): Sectors {
  try {
    return sectors(value);
  } catch (e) {
    throw invalid(op, `${what}: ${(e as Error).message}`);
  }
}

const MAJOR_MINOR = /^([0-9]{1,10}):([0-9]{1,10})$/;
// Printable ASCII without space or backslash: the kernel splits table words on
// whitespace (its isspace() also matches byte 0xa0, which UTF-8 uses), and
// treats a backslash as an escape.
const PATH = /^\/[\x21-\x5b\x5d-\x7e]*$/;

/**
 * Why `device` is not a device reference a table accepts, or null when it is.
 * Valid: `major:minor` (major up to 4095, minor up to 1048575) or an absolute
 * path of printable ASCII without space or backslash, up to 4095 characters.
 */
export function deviceRefProblem(device: unknown): string | null {
  if (typeof device !== 'string') return 'a device must be a string';
  const mm = MAJOR_MINOR.exec(device);
  if (mm) {
    if (Number(mm[1]) > MAX_MAJOR) return `major ${mm[1]} is above ${MAX_MAJOR}`;
    if (Number(mm[2]) > MAX_MINOR) return `minor ${mm[2]} is above ${MAX_MINOR}`;
    return null;
  }
  if (device.length === 0) return 'a device must not be empty';
  if (device.length > MAX_DEVICE_PATH_LENGTH) return `a device path takes at most ${MAX_DEVICE_PATH_LENGTH} characters`;
  if (!PATH.test(device)) {
    return "a device must be 'major:minor' or an absolute path of printable ASCII without space or backslash";
  }
  return null;
}

/**
 * Checks a device reference (`major:minor` or an absolute path, see
 * {@link deviceRefProblem}) and returns it.
 *
 * @throws DeviceMapperError code 'EINVAL' when it is not valid.
 */
export function validateDeviceRef(device: string, what: string, op: string): string {
  const problem = deviceRefProblem(device);
  if (problem !== null) throw invalid(op, `${what} ${describeValue(device)}: ${problem}`);
  return device;
}

/** Takes the next word as a device reference (see {@link validateDeviceRef}). */
export function parseDeviceRef(word: string | undefined, what: string, op: string): string {
  if (word === undefined) throw invalid(op, `missing ${what}`);
  return validateDeviceRef(word, what, op);
}

/** Throws 'EINVAL' when words remain after parsing. */
export function expectEnd(words: readonly string[], index: number, op: string): void {
  if (index < words.length) throw invalid(op, `unexpected extra parameter ${JSON.stringify((words[index] ?? '').slice(0, 40))}`);
}
