import { rm } from 'node:fs/promises';
import { afterEach, describe, expect, test } from 'vitest';
import { DeviceMapperError } from '../../../src/dm/errors.js';
import { FailedPreconditionError, Snapshotter, UnavailableError, isSnapshotterError } from '../../../src/snapshotter/index.js';
import { typedPoolError } from '../../../src/snapshotter/pool-errors.js';
import { SimulatedThinPool } from '../../../src/thin/simulated.js';
import type { ThinPoolApi } from '../../../src/thin/types.js';
import { temporaryDirectory } from './simulated-env.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

function dmError(code: string): DeviceMapperError {
  return new DeviceMapperError(`createSnapshot pool: refused (${code})`, { code, op: 'createSnapshot', device: 'pool' });
}

/** The pool, with createSnapshot and createThin failing with `fail()` while it returns an error. */
function failingPool(pool: ThinPoolApi, fail: () => DeviceMapperError | undefined): ThinPoolApi {
  return new Proxy(pool, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const e = prop === 'createSnapshot' || prop === 'snapshotAndActivate' || prop === 'createThin' ? fail() : undefined;
        if (e) return Promise.reject(e);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

describe('pool health and space failures', () => {
  test('map to UnavailableError (read-only, failed, needs a check) and FailedPreconditionError (space), the DeviceMapperError as cause', async () => {
    const pool = new SimulatedThinPool({ name: 'pool' });
    for (const code of ['EROFS', 'EIO', 'EOPNOTSUPP']) {
      const cause = dmError(code);
      const e = await typedPoolError(cause, pool);
      expect(e).toBeInstanceOf(UnavailableError);
      expect((e as Error).cause).toBe(cause);
      expect((e as Error).message).toContain(cause.message);
    }
    const full = await typedPoolError(dmError('ENOSPC'), pool);
    expect(full).toBeInstanceOf(FailedPreconditionError);
    expect(((full as Error).cause as DeviceMapperError).code).toBe('ENOSPC');
    // Other pool failures pass unchanged while the pool is healthy...
    const other = dmError('ENODATA');
    expect(await typedPoolError(other, pool)).toBe(other);
    const plain = new Error('x');
    expect(await typedPoolError(plain, pool)).toBe(plain);
    // ...and are the pool's health while its status shows it unhealthy (a change the kernel dropped, say).
    for (const mode of ['ro', 'fail'] as const) {
      const sick = { name: 'pool', status: async () => ({ ...(await pool.status()), mode }) };
      const e = await typedPoolError(other, sick);
      expect(e).toBeInstanceOf(UnavailableError);
      expect((e as Error).message).toContain(`mode ${mode}`);
      expect((e as Error).cause).toBe(other);
    }
    const needsCheck = { name: 'pool', status: async () => ({ ...(await pool.status()), needsCheck: true }) };
    expect(await typedPoolError(other, needsCheck)).toBeInstanceOf(UnavailableError);
  });

  test('reach snapshotter callers typed, and leave nothing behind', async () => {
    const rootPath = await temporaryDirectory();
    dirs.push(rootPath);
    const inner = new SimulatedThinPool();
    let failure: DeviceMapperError | undefined;
    const s = await Snapshotter.open({ rootPath, pool: failingPool(inner, () => failure), baseImageSize: '64MB', fsType: 'none' });
    try {
      await s.prepare('base-key');
      await s.commit('base', 'base-key');
      for (const [code, expected] of [
        ['EROFS', 'UNAVAILABLE'],
        ['EIO', 'UNAVAILABLE'],
        ['EOPNOTSUPP', 'UNAVAILABLE'],
        ['ENOSPC', 'FAILED_PRECONDITION'],
      ] as const) {
        failure = dmError(code);
        const e = await s.prepare('child', 'base').catch((err: unknown) => err);
        expect(isSnapshotterError(e, expected), `${code}: ${String(e)}`).toBe(true);
        expect((e as Error).cause).toBe(failure);
        await expect(s.stat('child')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      }
      failure = undefined;
      await s.prepare('child', 'base');
      expect(await inner.thinIds()).toEqual([1, 2, 3]);
    } finally {
      await s.close();
    }
  });
});
