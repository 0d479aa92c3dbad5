/**
 * The handlers of containerd.services.snapshots.v1.Snapshots over a
 * {@link Snapshotter}: request messages in, snapshotter calls, response
 * messages (or gRPC errors, see errors.ts) out. Requests' `snapshotter`
 * field, which containerd's proxy client fills with the plugin's name, is
 * ignored: one server serves one snapshotter.
 */
import { once } from 'node:events';
import { status as Status } from '@grpc/grpc-js';
import type * as grpc from '@grpc/grpc-js';
import { InvalidArgumentError } from '../snapshotter/errors.js';
import type { Snapshotter } from '../snapshotter/snapshotter.js';
import type { Info, Kind, Mount } from '../snapshotter/types.js';
import { statusOf, toServiceError } from './errors.js';
import { silentLogger, type Logger } from './logger.js';
import { invalidUtf8Field } from './strict-utf8.js';
import { Kind as KindMessage } from './generated/containerd/services/snapshots/v1/snapshots.js';
import type {
  CleanupRequest,
  CommitSnapshotRequest,
  InfoMessage,
  ListSnapshotsRequest,
  ListSnapshotsResponse,
  MountMessage,
  MountsResponse,
  PrepareSnapshotRequest,
  StatSnapshotResponse,
  TimestampMessage,
  UpdateSnapshotRequest,
  UsageResponse,
} from './proto.js';

/** Mounts, Remove, Stat and Usage requests. */
type KeyRequest = { key: string };
/** Stat and Update responses. */
type InfoResponse = StatSnapshotResponse;

/** What the service needs of a snapshotter (a {@link Snapshotter}, or a stand-in in tests). */
export type SnapshotterApi = Pick<Snapshotter, 'prepare' | 'view' | 'mounts' | 'commit' | 'remove' | 'stat' | 'update' | 'usage' | 'walk' | 'cleanup'>;

/** containerd's List sends 100 infos a message. */
export const DEFAULT_LIST_BATCH_SIZE = 100;

/**
 * A List message is also sent early once its infos reach this many bytes,
 * well under containerd's 16 MiB receive limit (labels can be up to 4 KiB each).
 */
export const DEFAULT_LIST_BATCH_BYTES = 1024 * 1024;

/** Options of {@link SnapshotsService}. */
export interface SnapshotsServiceOptions {
  /** Where calls are logged (each at 'debug', INTERNAL failures at 'error'); default: nowhere. */
  logger?: Logger;
  /** Infos a List message carries at most; default {@link DEFAULT_LIST_BATCH_SIZE}. */
  listBatchSize?: number;
  /** Bytes (estimated) after which a List message is sent early; default {@link DEFAULT_LIST_BATCH_BYTES}. */
  listBatchBytes?: number;
  /** Told of every finished call (for metrics); must not throw. */
  onCall?: (call: CallOutcome) => void;
}

/** A finished call, as {@link SnapshotsServiceOptions.onCall} hears of it. */
export interface CallOutcome {
  /** The method's .proto name ('Prepare'). */
  method: string;
  /** How long it ran. */
  seconds: number;
  /** The gRPC status code's name: 'OK', 'NOT_FOUND', 'INTERNAL'... */
  code: string;
}

const KIND_NAMES: Readonly<Record<Kind, KindMessage>> = { view: KindMessage.VIEW, active: KindMessage.ACTIVE, committed: KindMessage.COMMITTED };

/** A Date as google.protobuf.Timestamp. */
export function toTimestamp(date: Date): TimestampMessage {
  const ms = date.getTime();
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: (ms - seconds * 1000) * 1_000_000 };
}

/** A mount as containerd.types.Mount (snapshotters leave `target` empty). */
export function toMountMessage(mount: Mount): MountMessage {
  return { type: mount.type, source: mount.source, target: '', options: [...mount.options] };
}

/** An Info as containerd's Info message. */
export function toInfoMessage(info: Info): InfoMessage {
  return {
    name: info.name,
    parent: info.parent ?? '',
    kind: KIND_NAMES[info.kind],
    created_at: toTimestamp(info.created),
    updated_at: toTimestamp(info.updated),
    labels: { ...info.labels },
  };
}

// A rough size of an info on the wire, for List batching.
function estimateBytes(info: InfoMessage): number {
  let n = 64 + Buffer.byteLength(info.name) + Buffer.byteLength(info.parent);
  for (const [k, v] of Object.entries(info.labels)) n += 8 + Buffer.byteLength(k) + Buffer.byteLength(v);
  return n;
}

function noParent(parent: string): string | undefined {
  return parent === '' ? undefined : parent;
}

// containerd refuses strings that are not UTF-8; the decoder would have replaced the bad bytes with U+FFFD.
function refuseInvalidUtf8(request: unknown): void {
  const field = invalidUtf8Field(request);
  if (field !== undefined) throw new InvalidArgumentError(`${field} is not valid UTF-8`);
}

type Unary<Req, Res> = (call: grpc.ServerUnaryCall<Req, Res>, callback: grpc.sendUnaryData<Res>) => void;

/** The Snapshots service: its handlers, and a count of calls in flight for graceful shutdown. */
export class SnapshotsService {
  private readonly logger: Logger;
  private readonly batchSize: number;
  private readonly batchBytes: number;
  private readonly onCall: ((call: CallOutcome) => void) | undefined;
  private readonly inFlight = new Set<Promise<unknown>>();
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly snapshotter: SnapshotterApi,
    options: SnapshotsServiceOptions = {},
  ) {
    this.logger = options.logger ?? silentLogger;
    this.batchSize = options.listBatchSize ?? DEFAULT_LIST_BATCH_SIZE;
    this.batchBytes = options.listBatchBytes ?? DEFAULT_LIST_BATCH_BYTES;
    this.onCall = options.onCall;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1) throw new RangeError('listBatchSize must be a positive integer');
    if (!(this.batchBytes > 0)) throw new RangeError('listBatchBytes must be positive');
  }

  /** How many calls are running. */
  get running(): number {
    return this.inFlight.size;
  }

  /** Resolves once no call is running. */
  idle(): Promise<void> {
    if (this.inFlight.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private track<T>(promise: Promise<T>): Promise<T> {
    this.inFlight.add(promise);
    const done = (): void => {
      this.inFlight.delete(promise);
      if (this.inFlight.size === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    };
    promise.then(done, done);
    return promise;
  }

  private logOutcome(method: string, fields: Record<string, unknown>, started: number, error?: unknown): void {
    const elapsedMs = performance.now() - started;
    const durationMs = Math.round(elapsedMs);
    const code = error === undefined ? 'OK' : Status[statusOf(error)];
    this.onCall?.({ method, seconds: elapsedMs / 1000, code });
    if (error === undefined) {
      this.logger.debug('rpc', { method, ...fields, durationMs });
      return;
    }
    const line = { method, ...fields, durationMs, code, error };
    if (code === 'INTERNAL') this.logger.error('rpc failed', line);
    else if (code === 'UNAVAILABLE') this.logger.warn('rpc failed', line);
    else this.logger.debug('rpc failed', line);
  }

  private unary<Req, Res>(method: string, fields: (request: Req) => Record<string, unknown>, run: (request: Req) => Promise<Res>): Unary<Req, Res> {
    return (call, callback) => {
      const started = performance.now();
      const request = call.request;
      void this.track(
        (async () => {
          let described: Record<string, unknown> = {};
          try {
            described = fields(request);
            refuseInvalidUtf8(request);
            const response = await run(request);
            this.logOutcome(method, described, started);
            callback(null, response);
          } catch (e) {
            this.logOutcome(method, described, started, e);
            callback(toServiceError(e, method));
          }
        })(),
      );
    };
  }

  private list(call: grpc.ServerWritableStream<ListSnapshotsRequest, ListSnapshotsResponse>): void {
    const started = performance.now();
    const filters = [...(call.request.filters ?? [])];
    void this.track(
      (async () => {
        let sent = 0;
        let messages = 0;
        const send = async (batch: InfoMessage[]): Promise<void> => {
          messages++;
          sent += batch.length;
          if (!call.write({ info: batch })) {
            // Wait for the client to take what was sent (or go away).
            const ac = new AbortController();
            await Promise.race([
              once(call, 'drain', { signal: ac.signal }),
              once(call, 'cancelled', { signal: ac.signal }),
              once(call, 'close', { signal: ac.signal }),
            ]).catch(() => undefined);
            ac.abort();
          }
        };
        try {
          refuseInvalidUtf8(call.request);
          let batch: InfoMessage[] = [];
          let bytes = 0;
          for await (const info of this.snapshotter.walk(...filters)) {
            if (call.cancelled) break;
            const message = toInfoMessage(info);
            batch.push(message);
            bytes += estimateBytes(message);
            if (batch.length >= this.batchSize || bytes >= this.batchBytes) {
              await send(batch);
              batch = [];
              bytes = 0;
            }
          }
          if (batch.length > 0 && !call.cancelled) await send(batch);
          this.logOutcome('List', { filters, snapshots: sent, messages, cancelled: call.cancelled }, started);
          call.end();
        } catch (e) {
          this.logOutcome('List', { filters }, started, e);
          call.emit('error', toServiceError(e, 'List'));
        }
      })(),
    );
  }

  /** The handlers, for grpc.Server.addService with the generated definition (keys in lower camel case). */
  implementation(): grpc.UntypedServiceImplementation {
    const s = this.snapshotter;
    const key = (r: { key: string }) => ({ key: r.key });
    const created = (r: PrepareSnapshotRequest) => ({ key: r.key, parent: r.parent, labels: r.labels });
    const mounts = (list: Mount[]): MountsResponse => ({ mounts: list.map(toMountMessage) });
    return {
      prepare: this.unary<PrepareSnapshotRequest, MountsResponse>('Prepare', created, async (r) =>
        mounts(await s.prepare(r.key, noParent(r.parent), { labels: r.labels })),
      ),
      view: this.unary<PrepareSnapshotRequest, MountsResponse>('View', created, async (r) =>
        mounts(await s.view(r.key, noParent(r.parent), { labels: r.labels })),
      ),
      mounts: this.unary<KeyRequest, MountsResponse>('Mounts', key, async (r) => mounts(await s.mounts(r.key))),
      commit: this.unary<CommitSnapshotRequest, Record<string, never>>(
        'Commit',
        (r) => ({ name: r.name, key: r.key, labels: r.labels, ...(r.parent ? { parent: r.parent } : {}) }),
        async (r) => {
          if (r.parent !== undefined && r.parent !== '') {
            throw new InvalidArgumentError(
              `commit of ${JSON.stringify(r.key)} with parent ${JSON.stringify(r.parent)}: rebase is not supported (a thin snapshot cannot be rebased onto another parent)`,
            );
          }
          await s.commit(r.name, r.key, { labels: r.labels });
          return {};
        },
      ),
      remove: this.unary<KeyRequest, Record<string, never>>('Remove', key, async (r) => {
        await s.remove(r.key);
        return {};
      }),
      stat: this.unary<KeyRequest, InfoResponse>('Stat', key, async (r) => ({ info: toInfoMessage(await s.stat(r.key)) })),
      update: this.unary<UpdateSnapshotRequest, InfoResponse>(
        'Update',
        (r) => ({ key: r.info?.name, paths: r.update_mask ?? [] }),
        async (r) => {
          if (!r.info) throw new InvalidArgumentError('update needs an info');
          const paths = r.update_mask ?? [];
          return { info: toInfoMessage(await s.update({ name: r.info.name, labels: r.info.labels }, ...paths)) };
        },
      ),
      list: (call: grpc.ServerWritableStream<ListSnapshotsRequest, ListSnapshotsResponse>) => this.list(call),
      usage: this.unary<KeyRequest, UsageResponse>('Usage', key, async (r) => {
        const usage = await s.usage(r.key);
        return { size: usage.size, inodes: usage.inodes };
      }),
      cleanup: this.unary<CleanupRequest, Record<string, never>>('Cleanup', () => ({}), async () => {
        await s.cleanup();
        return {};
      }),
    };
  }
}
