/** A ThinPoolApi wrapper that logs every call ("createSnapshot 3 1", "device 3 suspend"), for order assertions. */
import type { ThinDeviceApi, ThinPoolApi } from '../../../src/thin/types.js';

function wrapDevice(device: ThinDeviceApi, log: string[]): ThinDeviceApi {
  return new Proxy(device, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function' || typeof prop !== 'string') return value;
      return (...args: unknown[]) => {
        log.push(`device ${target.id} ${prop}${args.length && args[0] !== undefined ? ` ${JSON.stringify(args[0])}` : ''}`);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

/** Wraps `pool`; every call is appended to `log`. */
export function recordingPool(pool: ThinPoolApi, log: string[]): ThinPoolApi {
  return new Proxy(pool, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function' || typeof prop !== 'string') return value;
      return (...args: unknown[]) => {
        if (prop === 'device') return wrapDevice((value as (...a: unknown[]) => ThinDeviceApi).apply(target, args), log);
        // Options made only of callbacks (ThinCreateOptions.check) say nothing about the call's effect.
        const shown = args.filter((a) => !(typeof a === 'object' && a !== null && Object.values(a).every((v) => typeof v === 'function')));
        log.push(`${prop}${shown.length ? ` ${shown.map((a) => (typeof a === 'object' ? JSON.stringify(a) : String(a))).join(' ')}` : ''}`);
        const result = (value as (...a: unknown[]) => unknown).apply(target, args);
        if (prop === 'activate') return (result as Promise<ThinDeviceApi>).then((d) => wrapDevice(d, log));
        return result;
      };
    },
  });
}
