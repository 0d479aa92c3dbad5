/**
 * Internal: loads the addon lazily (only once input has been checked) and
 * turns its failures into {@link DeviceMapperError}s.
 */
import { countCall } from './counters.js';
import { DeviceMapperError, describeValue, fromNative } from './errors.js';
import { native, type NativeBinding } from './native.js';

/**
 * The addon, loaded on first use.
 *
 * @throws DeviceMapperError code 'ELIBACC' when the addon does not load.
 */
export function loadBinding(op: string, device?: string): NativeBinding {
  try {
    return native();
  } catch (cause) {
    const message = cause instanceof Error ? cause.message : describeValue(cause);
    throw new DeviceMapperError(message, device === undefined ? { code: 'ELIBACC', op, cause } : { code: 'ELIBACC', op, device, cause });
  }
}

/**
 * Runs one addon call, converting a rejection with {@link fromNative}, and
 * counts it (counters.ts).
 *
 * @throws DeviceMapperError code 'ENOLIBDM' when the call needs libdevmapper
 * and it is not installed (the message names the package to install).
 */
export async function callNative<T>(op: string, device: string | undefined, run: (b: NativeBinding) => Promise<T>): Promise<T> {
  const b = loadBinding(op, device);
  const started = performance.now();
  try {
    const result = await run(b);
    countCall(op, (performance.now() - started) / 1000);
    return result;
  } catch (e) {
    const error = fromNative(e, op, device);
    countCall(op, (performance.now() - started) / 1000, error.code);
    // The addon reports ELIBACC only from its libdevmapper loader.
    if (error.code === 'ELIBACC') {
      const lib = b.libdevmapper();
      if (!lib.loaded) {
        const options = { code: 'ENOLIBDM', errno: error.errno, op, cause: e };
        throw new DeviceMapperError(`${op}: ${lib.error ?? 'libdevmapper did not load'}`, device === undefined ? options : { ...options, device });
      }
    }
    throw error;
  }
}
