/**
 * Where the CLI reads and writes: real streams for `devmapper`, buffers for
 * tests that call {@link run} directly.
 */
import type { ThinPoolApi } from '../thin/types.js';
import type { PoolSelection } from './context.js';

/** A stream the CLI writes to. */
export interface CliStream {
  write(chunk: string): unknown;
  /** Whether it is a terminal (progress bars only show on one). */
  isTTY?: boolean;
  /** Terminal width, when it is one. */
  columns?: number;
}

/** What a CLI run reads and writes. Every field has a default from `process`. */
export interface CliEnvironment {
  stdout: CliStream;
  stderr: CliStream;
  /** Environment variables (default `process.env`). */
  env: Readonly<Record<string, string | undefined>>;
  /** Ends long-running commands (`pool watch`) when aborted; main.ts ties it to SIGINT and SIGTERM. */
  signal?: AbortSignal;
  /**
   * Opens the pool of the snapshot commands. The default opens a kernel pool
   * (by name or loopback directory); tests substitute a SimulatedThinPool.
   */
  openSnapshotPool?: (selection: PoolSelection) => Promise<ThinPoolApi>;
}

/** Fills in defaults from `process`. */
export function environment(partial: Partial<CliEnvironment> = {}): CliEnvironment {
  return {
    stdout: partial.stdout ?? process.stdout,
    stderr: partial.stderr ?? process.stderr,
    env: partial.env ?? process.env,
    ...(partial.signal ? { signal: partial.signal } : {}),
    ...(partial.openSnapshotPool ? { openSnapshotPool: partial.openSnapshotPool } : {}),
  };
}
