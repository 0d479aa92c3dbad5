/**
 * The one error type of the device-mapper layer.
 *
 * Every failure this layer reports, whether an input rejected before any
 * ioctl or a kernel refusal passed up by the addon, is a
 * {@link DeviceMapperError} carrying an errno name in `code`.
 */
import { constants } from 'node:os';

/** The errno names this layer reports most often. Other names may appear: `code` is any errno name. */
export type DeviceMapperErrorCode =
  | 'EBUSY'
  | 'ENXIO'
  | 'ENODEV'
  | 'ENOENT'
  | 'EEXIST'
  | 'ENODATA'
  | 'EINVAL'
  | 'ENOSPC'
  | 'EPERM'
  | 'EACCES'
  | 'EIO'
  | 'ECANCELED'
  | 'ELIBACC'
  | 'ENOLIBDM'
  | 'UNKNOWN';

/** What a {@link DeviceMapperError} is made from. */
export interface DeviceMapperErrorOptions {
  /** The errno name, e.g. 'EBUSY'. */
  code: DeviceMapperErrorCode | (string & {});
  /** The errno number; looked up from `code` when omitted (0 when unknown). */
  errno?: number;
  /** The operation that failed, e.g. 'remove' or 'parseThinPoolStatus'. */
  op: string;
  /** The device name or path concerned, when there is one. */
  device?: string;
  /** Lines libdevmapper logged during the call. */
  dmLog?: readonly string[];
  /** The underlying error. */
  cause?: unknown;
}

const errnoNumbers = constants.errno as Readonly<Record<string, number>>;

/** The errno number for an errno name, or 0 when the name is unknown. */
export function errnoOf(code: string): number {
  return Object.hasOwn(errnoNumbers, code) ? (errnoNumbers[code] ?? 0) : 0;
}

/**
 * An error from the device-mapper layer: a rejected input (code 'EINVAL',
 * thrown before any ioctl), a kernel or libdevmapper failure (the errno name
 * the kernel gave), a cancelled wait ('ECANCELED'), an addon that does not
 * load ('ELIBACC') or a kernel call on a machine without libdevmapper
 * ('ENOLIBDM': the message names the package to install).
 */
export class DeviceMapperError extends Error {
  /** The errno name, e.g. 'EBUSY', 'ENXIO', 'EEXIST', 'ENODATA', 'EINVAL', 'ENOSPC'. */
  readonly code: string;
  /** The positive errno number, or 0 when none is known. */
  readonly errno: number;
  /** The operation that failed, e.g. 'remove'. */
  readonly op: string;
  /** The device name or path concerned, when there is one. */
  readonly device?: string;
  /** The lines libdevmapper logged during the failed call (empty when none). */
  readonly dmLog: string[];

  /**
   * Makes an error from a message and options, or from options that carry
   * the `message` themselves.
   *
   * @param message - A human-readable description.
   * @param options - Code, operation, device, log lines and cause.
   */
  constructor(message: string, options: DeviceMapperErrorOptions);
  constructor(options: DeviceMapperErrorOptions & { message: string });
  constructor(messageOrOptions: string | (DeviceMapperErrorOptions & { message: string }), maybeOptions?: DeviceMapperErrorOptions) {
    const options: DeviceMapperErrorOptions =
      typeof messageOrOptions === 'string' ? (maybeOptions ?? { code: 'UNKNOWN', op: 'unknown' }) : messageOrOptions;
    const message = typeof messageOrOptions === 'string' ? messageOrOptions : messageOrOptions.message;
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DeviceMapperError';
    this.code = options.code;
    this.errno = options.errno ?? errnoOf(options.code);
    this.op = options.op;
    if (options.device !== undefined) this.device = options.device;
    this.dmLog = options.dmLog ? [...options.dmLog] : [];
  }

  /**
   * An 'EINVAL' error for an input rejected before any ioctl; the message
   * reads `<op>: <message>`.
   */
  static invalid(op: string, message: string, device?: string): DeviceMapperError {
    return invalid(op, message, device);
  }
}

/**
 * Whether `e` is a {@link DeviceMapperError}, optionally with the given `code`.
 *
 * @example
 * ```ts
 * try { await DeviceMapper.remove('pool'); }
 * catch (e) { if (!isDeviceMapperError(e, 'ENXIO')) throw e; }
 * ```
 */
export function isDeviceMapperError(e: unknown, code?: string): e is DeviceMapperError {
  return e instanceof DeviceMapperError && (code === undefined || e.code === code);
}

/**
 * A short printable form of any value for error messages; never throws
 * (even on objects whose `toString` is broken).
 */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint' || value === undefined || value === null) {
    return String(value);
  }
  if (typeof value === 'symbol' || typeof value === 'function') return `a ${typeof value}`;
  try {
    return `an object ${String(value).slice(0, 100)}`;
  } catch {
    return 'an object';
  }
}

/** Builds an 'EINVAL' {@link DeviceMapperError} for a rejected input. */
export function invalid(op: string, message: string, device?: string): DeviceMapperError {
  return new DeviceMapperError(`${op}: ${message}`, device === undefined ? { code: 'EINVAL', op } : { code: 'EINVAL', op, device });
}

function field(err: unknown, key: string): unknown {
  if (typeof err !== 'object' || err === null) return undefined;
  return (err as Record<string, unknown>)[key];
}

/**
 * Converts a rejection of the native addon (an Error carrying `code`,
 * `errno`, `op`, `device` and `dmLog`) into a {@link DeviceMapperError}.
 * The addon's own `op`/`device` win over the arguments, which fill in what
 * the addon left out. A {@link DeviceMapperError} is returned unchanged; a
 * value without a string `code` becomes code 'UNKNOWN'.
 *
 * @param err - What the addon rejected or threw.
 * @param op - The operation, used when the error names none.
 * @param device - The device, used when the error names none.
 */
export function fromNative(err: unknown, op: string, device?: string): DeviceMapperError {
  if (err instanceof DeviceMapperError) return err;
  const rawCode = field(err, 'code');
  const code = typeof rawCode === 'string' && rawCode.length > 0 ? rawCode : 'UNKNOWN';
  const rawErrno = field(err, 'errno');
  // Node's system errors carry a negative errno; the addon a positive one.
  const errno =
    typeof rawErrno === 'number' && Number.isInteger(rawErrno) && rawErrno !== 0 ? Math.abs(rawErrno) : errnoOf(code);
  const rawOp = field(err, 'op');
  const theOp = typeof rawOp === 'string' && rawOp.length > 0 ? rawOp : op;
  const rawDevice = field(err, 'device');
  const theDevice = typeof rawDevice === 'string' && rawDevice.length > 0 ? rawDevice : device;
  const rawLog = field(err, 'dmLog');
  const dmLog = Array.isArray(rawLog) ? rawLog.filter((l): l is string => typeof l === 'string') : [];
  const rawMessage = field(err, 'message');
  const detail = typeof rawMessage === 'string' && rawMessage.length > 0 ? rawMessage : typeof err === 'string' ? err : describeValue(err);
  const where = theDevice === undefined ? theOp : `${theOp} ${theDevice}`;
  const message = `${where}: ${detail}`;
  const options: DeviceMapperErrorOptions = { code, errno, op: theOp, dmLog, cause: err };
  if (theDevice !== undefined) options.device = theDevice;
  return new DeviceMapperError(message, options);
}
