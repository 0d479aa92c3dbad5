/**
 * The pool watcher inside `serve` (`--watch`, `--autoextend`): the pool's
 * kernel events go to the log and the metrics, and the health service
 * re-reads the pool at once when it turns read-only, fails or needs a check.
 * Autoextend grows a loopback pool (or calls `grow`) past its threshold.
 */
import { enableAutoextend, type Autoextend, type AutoextendPolicy } from '../thin/autoextend.js';
import type { ThinPool } from '../thin/pool.js';
import type { ThinPoolEvents } from '../thin/types.js';
import type { ThinPoolStatus } from '../dm/targets/thin-pool.js';
import type { Logger } from './logger.js';

/** The condition events a watcher reports. */
export const WATCHED_POOL_EVENTS = ['lowWater', 'metadataLow', 'outOfDataSpace', 'readOnly', 'failed', 'needsCheck'] as const satisfies ReadonlyArray<keyof ThinPoolEvents>;

/** What a watcher tells besides the log. */
export interface PoolWatchHooks {
  /** An event was heard ('status' on every change, or a condition). */
  onEvent?: (event: string, status: ThinPoolStatus) => void;
  /** Autoextend grew the pool or failed to. */
  onAutoextend?: (outcome: 'extended' | 'failed') => void;
}

/** Options of {@link watchPool}. */
export interface PoolWatchOptions extends PoolWatchHooks {
  /** Where events go. */
  logger: Logger;
  /** Grow the pool past a threshold (see {@link AutoextendPolicy}); off when absent. */
  autoextend?: AutoextendPolicy;
}

/** A running watcher. */
export interface PoolWatch {
  /** Stops listening (the pool's event loop stops with its last listener). */
  stop(): void;
}

const SEVERE = new Set<string>(['outOfDataSpace', 'readOnly', 'failed', 'needsCheck']);

function figures(s: ThinPoolStatus): Record<string, unknown> {
  return {
    mode: s.mode,
    dataUsedBytes: s.data.usedBytes,
    dataTotalBytes: s.data.totalBytes,
    metadataUsedBytes: s.metadata.usedBytes,
    metadataTotalBytes: s.metadata.totalBytes,
    needsCheck: s.needsCheck,
  };
}

/** Watches `pool` until stop(). */
export async function watchPool(pool: ThinPool, options: PoolWatchOptions): Promise<PoolWatch> {
  const { logger } = options;
  const log = logger.child({ pool: pool.name });
  const handlers = WATCHED_POOL_EVENTS.map((event) => {
    const handler = (s: ThinPoolStatus): void => {
      const line = { event, ...figures(s) };
      if (SEVERE.has(event)) log.error('pool event', line);
      else log.warn('pool event', line);
      options.onEvent?.(event, s);
    };
    return [event, handler] as const;
  });
  const onStatus = (s: ThinPoolStatus): void => {
    log.debug('pool status', figures(s));
    options.onEvent?.('status', s);
  };
  const onError = (e: Error): void => log.error('watching the pool failed', { error: e });
  let autoextend: Autoextend | undefined;
  if (options.autoextend) {
    const policy = options.autoextend;
    autoextend = await enableAutoextend(pool, {
      ...policy,
      onExtend: (result) => {
        if ('error' in result) {
          log.error('autoextend failed', { error: result.error });
          options.onAutoextend?.('failed');
        } else {
          log.info('autoextend grew the pool', { fromBytes: result.fromBytes, toBytes: result.toBytes });
          options.onAutoextend?.('extended');
        }
        policy.onExtend?.(result);
      },
    });
  }
  for (const [event, handler] of handlers) pool.on(event, handler);
  pool.on('status', onStatus);
  pool.on('error', onError);
  log.info('watching the pool', { autoextend: autoextend !== undefined });
  return {
    stop: () => {
      autoextend?.stop();
      for (const [event, handler] of handlers) pool.off(event, handler);
      pool.off('status', onStatus);
      pool.off('error', onError);
    },
  };
}
