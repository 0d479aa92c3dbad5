/**
 * Validation of device-mapper names and uuids, done before any ioctl so that
 * a bad name fails with code 'EINVAL' and a clear message rather than an
 * obscure kernel error (or, worse, a name udev mangles).
 *
 * The addon turns libdevmapper's name mangling off, so a name reaches the
 * kernel and /dev/mapper exactly as given. The names accepted here are those
 * that stay the same everywhere: the kernel takes them, and udev (whose
 * /dev/mapper links replace any other character) and libdevmapper's own
 * whitelist leave every character as it is.
 */
import { describeValue, invalid } from './errors.js';

/** The kernel's DM_NAME_LEN: a name takes at most 127 bytes plus the terminating NUL. */
export const DM_NAME_LEN = 128;

/** The kernel's DM_UUID_LEN: a uuid takes at most 128 bytes plus the terminating NUL. */
export const DM_UUID_LEN = 129;

/** The longest device name accepted (127). */
export const MAX_DEVICE_NAME_LENGTH = DM_NAME_LEN - 1;

/** The longest uuid accepted (128). */
export const MAX_UUID_LENGTH = DM_UUID_LEN - 1;

declare const deviceNameBrand: unique symbol;

/** A device-mapper name that passed {@link validateDeviceName}. */
export type DeviceName = string & {
  /** Compile-time brand only; absent at run time. */
  readonly [deviceNameBrand]: true;
};

/** Printable ASCII without space: 0x21 to 0x7e. */
const PRINTABLE = /^[\x21-\x7e]+$/;

/** The characters of a device name: udev's and libdevmapper's whitelist. */
export const DEVICE_NAME_CHARACTERS = 'A-Z a-z 0-9 # + - . : = @ _';
const NAME_CHARACTERS = /^[A-Za-z0-9#+\-.:=@_]+$/;

/** Names the kernel refuses although their characters are fine. */
const RESERVED_NAMES = new Set(['.', '..', 'control']);

/**
 * Why `name` is not a valid device-mapper name, or null when it is.
 * Valid: 1 to 127 characters of A-Z a-z 0-9 # + - . : = @ _, and not '.',
 * '..' or 'control'.
 */
export function deviceNameProblem(name: unknown): string | null {
  if (typeof name !== 'string') return 'a device name must be a string';
  if (name.length === 0) return 'a device name must not be empty';
  if (name.length > MAX_DEVICE_NAME_LENGTH) return `a device name takes at most ${MAX_DEVICE_NAME_LENGTH} characters`;
  if (name.includes('/')) return "a device name must not contain '/'";
  if (!NAME_CHARACTERS.test(name)) return `a device name takes only the characters ${DEVICE_NAME_CHARACTERS} (others would be renamed by udev)`;
  if (RESERVED_NAMES.has(name)) return `a device name must not be '${name}'`;
  return null;
}

/** Whether `name` is a valid device-mapper name (see {@link validateDeviceName}). */
export function isValidDeviceName(name: unknown): name is DeviceName {
  return deviceNameProblem(name) === null;
}

/**
 * Checks a device-mapper name and returns it branded.
 * Valid: 1 to 127 characters of A-Z a-z 0-9 # + - . : = @ _, not '.', '..' or 'control'.
 *
 * @param op - The operation to name in the error (default 'validateDeviceName').
 * @throws DeviceMapperError code 'EINVAL' when the name is not valid.
 */
export function validateDeviceName(name: string, op = 'validateDeviceName'): DeviceName {
  const problem = deviceNameProblem(name);
  if (problem !== null) throw invalid(op, `${describeValue(name)}: ${problem}`);
  return name as DeviceName;
}

/**
 * Why `uuid` is not a valid device-mapper uuid, or null when it is.
 * Valid: 1 to 128 characters, each printable ASCII 0x21..0x7e.
 */
export function uuidProblem(uuid: unknown): string | null {
  if (typeof uuid !== 'string') return 'a uuid must be a string';
  if (uuid.length === 0) return 'a uuid must not be empty (omit it instead)';
  if (uuid.length > MAX_UUID_LENGTH) return `a uuid takes at most ${MAX_UUID_LENGTH} characters`;
  if (!PRINTABLE.test(uuid)) return 'a uuid takes only printable ASCII characters without space (0x21 to 0x7e)';
  return null;
}

/** Whether `uuid` is a valid device-mapper uuid (see {@link validateUuid}). */
export function isValidUuid(uuid: unknown): uuid is string {
  return uuidProblem(uuid) === null;
}

/**
 * Checks a device-mapper uuid: 1 to 128 characters of printable ASCII 0x21..0x7e.
 *
 * @param op - The operation to name in the error (default 'validateUuid').
 * @throws DeviceMapperError code 'EINVAL' when the uuid is not valid.
 */
export function validateUuid(uuid: string, op = 'validateUuid'): string {
  const problem = uuidProblem(uuid);
  if (problem !== null) throw invalid(op, `${describeValue(uuid)}: ${problem}`);
  return uuid;
}
