/**
 * The metastore: one LevelDB database (see records.ts for the schema) with
 * serialized write transactions. Single-key reads go straight to the
 * database, synchronously (LevelDB's getSync: a lookup in memory or the page
 * cache costs less than the round trip to libuv's threads); a write
 * transaction stages puts and deletes, reads its own staged writes, and
 * commits them as one atomic, synced batch.
 */
import { chmod, mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Level } from 'level';
import { UnavailableError, errorCode } from './errors.js';
import { ForeignIds } from './foreign-ids.js';
import { FreeIds } from './free-ids.js';
import { Mutex } from './locks.js';
import { checkMetastoreWrite } from './metastore-faults.js';
import {
  SCHEMA_VERSION,
  keys,
  prefixEnd,
  type BaseRecord,
  type DeviceRecord,
  type PoolRecord,
  type SchemaRecord,
  type SnapshotRecord,
} from './records.js';

type Database = Level<string, unknown>;

/** The name of the LevelDB directory inside the snapshotter's root. */
export const METASTORE_DIRECTORY = 'metadata.leveldb';

/** A write transaction: staged changes, committed as one batch. */
export class WriteTransaction {
  private readonly staged = new Map<string, unknown>();

  /** @internal */
  constructor(
    private readonly db: Database,
    /** The committed free list (ids released by this transaction are not in it yet). */
    readonly freeIds: FreeIds,
    private readonly committedForeign: ForeignIds,
  ) {}

  /** The foreign ids, with this transaction's staged change. */
  get foreignIds(): ForeignIds {
    if (!this.staged.has(keys.foreign)) return this.committedForeign;
    const staged = this.staged.get(keys.foreign);
    return staged === undefined ? ForeignIds.none : ForeignIds.fromRecord(staged);
  }

  /** Reads a key, seeing this transaction's own staged writes. */
  async get(key: string): Promise<unknown> {
    if (this.staged.has(key)) return this.staged.get(key);
    return this.db.getSync(key);
  }

  /** Whether this transaction put or deleted `key`. */
  touches(key: string): boolean {
    return this.staged.has(key);
  }

  /** Whether this transaction deleted `key`. */
  deleted(key: string): boolean {
    return this.staged.has(key) && this.staged.get(key) === undefined;
  }

  /** Stages a put. */
  put(key: string, value: unknown): void {
    this.staged.set(key, value);
  }

  /** Stages a delete. */
  del(key: string): void {
    this.staged.set(key, undefined);
  }

  /** The database, for range reads (which do not see staged writes). */
  get database(): Database {
    return this.db;
  }

  /** @internal */
  operations(): Array<{ type: 'put'; key: string; value: unknown } | { type: 'del'; key: string }> {
    return [...this.staged].map(([key, value]) => (value === undefined ? { type: 'del' as const, key } : { type: 'put' as const, key, value }));
  }
}

/** The snapshotter's metadata database. */
export class Metastore {
  private readonly writeLock = new Mutex();
  private closed = false;

  private constructor(
    private readonly db: Database,
    /** The database directory. */
    readonly location: string,
    private readonly freeIds: FreeIds,
    // The committed `foreign` record, kept in step with every batch like the free list.
    private foreign: ForeignIds,
  ) {}

  /** The thin ids recorded as another writer's. */
  get foreignIds(): ForeignIds {
    return this.foreign;
  }

  /**
   * Opens (creating when absent, mode 0700) the metastore in `rootPath`.
   *
   * @throws UnavailableError when another process holds it or its schema is newer than this code.
   */
  static async open(rootPath: string): Promise<Metastore> {
    const existed = await mkdir(rootPath, { recursive: true, mode: 0o700 }).then((made) => made === undefined);
    // mkdir's mode passes through the umask: set it exactly on a fresh directory.
    if (!existed) await chmod(rootPath, 0o700);
    const location = path.join(rootPath, METASTORE_DIRECTORY);
    // LevelDB loads on first open, not with the package: `import 'devmapper'` and CLI commands that need no metastore start faster.
    const { Level } = await import('level');
    const db: Database = new Level<string, unknown>(location, { valueEncoding: 'json' });
    try {
      await db.open();
    } catch (cause) {
      const locked = errorCode((cause as { cause?: unknown }).cause) === 'LEVEL_LOCKED';
      throw new UnavailableError(
        locked ? `metastore ${location} is in use by another process` : `metastore ${location} failed to open`,
        { cause },
      );
    }
    await chmod(location, 0o700);
    let store: Metastore;
    try {
      const free = await db.keys({ gte: keys.freePrefix, lt: prefixEnd(keys.freePrefix) }).all();
      const foreign = await db.get(keys.foreign);
      store = new Metastore(
        db,
        location,
        new FreeIds(free.map((k) => Number.parseInt(k.slice(keys.freePrefix.length), 16))),
        foreign === undefined ? ForeignIds.none : ForeignIds.fromRecord(foreign),
      );
      const schema = (await db.get(keys.schema)) as SchemaRecord | undefined;
      if (schema === undefined) {
        await db.put(keys.schema, { version: SCHEMA_VERSION } satisfies SchemaRecord, { sync: true });
      } else if (schema.version !== SCHEMA_VERSION) {
        throw new UnavailableError(`metastore ${location} has schema version ${schema.version}; this code reads version ${SCHEMA_VERSION}`);
      }
    } catch (e) {
      await db.close();
      throw e;
    }
    return store;
  }

  private check(): void {
    if (this.closed) throw new UnavailableError('the metastore is closed');
  }

  /** Runs `fn` as the only writer and commits what it staged as one atomic, synced batch. */
  async transaction<T>(fn: (tx: WriteTransaction) => Promise<T>): Promise<T> {
    return this.writeLock.run(async () => {
      this.check();
      const tx = new WriteTransaction(this.db, this.freeIds, this.foreign);
      const result = await fn(tx);
      const ops = tx.operations();
      if (ops.length > 0) {
        checkMetastoreWrite(ops.map((op) => op.key));
        await this.db.batch(ops, { sync: true });
        if (tx.touches(keys.foreign)) this.foreign = tx.foreignIds;
        for (const op of ops) {
          if (!op.key.startsWith(keys.freePrefix)) continue;
          const id = Number.parseInt(op.key.slice(keys.freePrefix.length), 16);
          if (op.type === 'put') this.freeIds.add(id);
          else this.freeIds.delete(id);
        }
      }
      return result;
    });
  }

  /** A snapshot record, or undefined. */
  async snapshot(key: string): Promise<SnapshotRecord | undefined> {
    this.check();
    return this.db.getSync(keys.snapshot(key)) as SnapshotRecord | undefined;
  }

  /** Several snapshot records (undefined for missing keys). */
  async snapshotsOf(names: readonly string[]): Promise<Array<SnapshotRecord | undefined>> {
    this.check();
    return names.map((name) => this.db.getSync(keys.snapshot(name)) as SnapshotRecord | undefined);
  }

  /** A device record, or undefined. */
  async device(id: number): Promise<DeviceRecord | undefined> {
    this.check();
    return this.db.getSync(keys.device(id)) as DeviceRecord | undefined;
  }

  /** A base record, or undefined. */
  async base(spec: string): Promise<BaseRecord | undefined> {
    this.check();
    return (await this.db.get(keys.base(spec))) as BaseRecord | undefined;
  }

  /** The pool record, or undefined before the first open against a pool. */
  async pool(): Promise<PoolRecord | undefined> {
    this.check();
    return (await this.db.get(keys.pool)) as PoolRecord | undefined;
  }

  /** Whether the committed snapshot `name` has any child (one index seek, no scan). */
  async hasChildren(name: string): Promise<boolean> {
    this.check();
    const prefix = keys.childPrefix(name);
    const found = await this.db.keys({ gte: prefix, lt: prefixEnd(prefix), limit: 1 }).all();
    return found.length > 0;
  }

  /** The names of the children of `name`. */
  async children(name: string): Promise<string[]> {
    this.check();
    const prefix = keys.childPrefix(name);
    const found = await this.db.keys({ gte: prefix, lt: prefixEnd(prefix) }).all();
    return found.map((k) => k.slice(prefix.length));
  }

  /** Every snapshot record with its key, from one consistent read snapshot of the database. */
  async *snapshots(): AsyncGenerator<[string, SnapshotRecord]> {
    this.check();
    for await (const [k, v] of this.db.iterator({ gte: keys.snapshotPrefix, lt: prefixEnd(keys.snapshotPrefix) })) {
      yield [k.slice(keys.snapshotPrefix.length), v as SnapshotRecord];
    }
  }

  /** Every device record. */
  async devices(): Promise<DeviceRecord[]> {
    this.check();
    const values = await this.db.values({ gte: keys.devicePrefix, lt: prefixEnd(keys.devicePrefix) }).all();
    return values as DeviceRecord[];
  }

  /** The thin ids on the stored free list, ascending. */
  async freeIdList(): Promise<number[]> {
    this.check();
    const found = await this.db.keys({ gte: keys.freePrefix, lt: prefixEnd(keys.freePrefix) }).all();
    return found.map((k) => Number.parseInt(k.slice(keys.freePrefix.length), 16));
  }

  /** Every base record. */
  async bases(): Promise<BaseRecord[]> {
    this.check();
    const values = await this.db.values({ gte: keys.basePrefix, lt: prefixEnd(keys.basePrefix) }).all();
    return values as BaseRecord[];
  }

  /** Closes the database; safe to call twice. Waits for a running write transaction. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.writeLock.run(async () => {
      if (this.closed) return;
      this.closed = true;
      await this.db.close();
    });
  }
}
