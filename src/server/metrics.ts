/**
 * Prometheus metrics of a served snapshotter, in a registry of their own
 * (never prom-client's global one, so that embedding programs keep theirs):
 * the snapshotter's figures ({@link Snapshotter.metrics}, read at each
 * scrape), per-RPC latency and errors, and pool watcher events.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { SnapshotterMetrics } from '../snapshotter/metrics.js';
import type { Logger } from './logger.js';
import { silentLogger } from './logger.js';
import type { CallOutcome } from './service.js';

/** Where the figures come from: a {@link Snapshotter}, or a stand-in in tests. */
export interface MetricsSource {
  /** The figures now. */
  metrics(): Promise<SnapshotterMetrics>;
}

/** Options of {@link ServerMetrics}. */
export interface ServerMetricsOptions {
  /** Also export prom-client's process and Node.js metrics (process_*, nodejs_*); default true. */
  processMetrics?: boolean;
  /** Where a failed read of the figures is logged; default nowhere. */
  logger?: Logger;
}

/** The RPC latency buckets, in seconds: a Stat takes milliseconds, a first Prepare (mkfs) seconds. */
export const RPC_DURATION_BUCKETS: readonly number[] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The metrics of one server; {@link ServerMetrics.scrape} is what `/metrics` answers. */
export class ServerMetrics {
  /** The registry every metric here is in. */
  readonly registry = new Registry();
  private readonly logger: Logger;
  private readonly poolGauges: Record<'dataUsed' | 'dataTotal' | 'metadataUsed' | 'metadataTotal' | 'transactionId' | 'readOnly' | 'outOfSpace' | 'needsCheck' | 'failed', Gauge<'pool'>>;
  private readonly snapshots: Gauge<'kind'>;
  private readonly pendingRemovals: Gauge;
  private readonly leftoverDevices: Gauge;
  private readonly unavailable: Gauge;
  private readonly udevSync: Gauge;
  private readonly udevWaits: Counter;
  private readonly udevWaitSeconds: Counter;
  private readonly udevTimeouts: Counter;
  private readonly scrapeErrors: Counter;
  private readonly rpcDuration: Histogram<'method'>;
  private readonly rpcErrors: Counter<'method' | 'code'>;
  private readonly poolEvents: Counter<'event'>;
  private readonly autoextends: Counter<'outcome'>;

  constructor(
    private readonly source: MetricsSource,
    options: ServerMetricsOptions = {},
  ) {
    this.logger = options.logger ?? silentLogger;
    const registers = [this.registry];
    const gauge = (name: string, help: string): Gauge<'pool'> => new Gauge({ name, help, labelNames: ['pool'], registers });
    this.poolGauges = {
      dataUsed: gauge('devmapper_pool_data_used_bytes', 'Bytes of the pool data blocks in use.'),
      dataTotal: gauge('devmapper_pool_data_total_bytes', 'Bytes of all pool data blocks.'),
      metadataUsed: gauge('devmapper_pool_metadata_used_bytes', 'Bytes of the pool metadata blocks in use.'),
      metadataTotal: gauge('devmapper_pool_metadata_total_bytes', 'Bytes of all pool metadata blocks.'),
      transactionId: gauge('devmapper_pool_transaction_id', 'The pool transaction id.'),
      readOnly: gauge('devmapper_pool_read_only', '1 while the pool is read-only.'),
      outOfSpace: gauge('devmapper_pool_out_of_space', '1 while the pool is out of data or metadata space.'),
      needsCheck: gauge('devmapper_pool_needs_check', '1 while the pool metadata needs a thin_check.'),
      failed: gauge('devmapper_pool_failed', '1 while the pool has failed.'),
    };
    this.snapshots = new Gauge({ name: 'devmapper_snapshots', help: 'Snapshots by kind.', labelNames: ['kind'], registers });
    this.pendingRemovals = new Gauge({ name: 'devmapper_pending_removals', help: 'Devices waiting for cleanup to delete them (async or deferred removals).', registers });
    this.leftoverDevices = new Gauge({ name: 'devmapper_leftover_devices', help: 'Devices left by an interrupted create or remove, or found in the pool but not made by the snapshotter.', registers });
    this.unavailable = new Gauge({ name: 'devmapper_snapshotter_unavailable', help: '1 while the snapshotter refuses calls after a failed pool transaction.', registers });
    this.udevSync = new Gauge({ name: 'devmapper_udev_sync', help: '1 while udev synchronisation is on (udevd runs).', registers });
    this.udevWaits = new Counter({ name: 'devmapper_udev_waits_total', help: 'Device-mapper calls that waited for udev (create, resume, rename, remove).', registers });
    this.udevWaitSeconds = new Counter({ name: 'devmapper_udev_wait_seconds_total', help: 'Seconds spent in device-mapper calls that wait for udev.', registers });
    this.udevTimeouts = new Counter({ name: 'devmapper_udev_timeouts_total', help: 'Device-mapper calls that failed with a udev timeout (ETIMEDOUT).', registers });
    this.scrapeErrors = new Counter({ name: 'devmapper_metrics_read_errors_total', help: 'Scrapes whose read of the snapshotter figures failed.', registers });
    this.rpcDuration = new Histogram({
      name: 'devmapper_rpc_duration_seconds',
      help: 'Snapshots API calls by method: how long they ran (successes and failures).',
      labelNames: ['method'],
      buckets: [...RPC_DURATION_BUCKETS],
      registers,
    });
    this.rpcErrors = new Counter({ name: 'devmapper_rpc_errors_total', help: 'Failed Snapshots API calls by method and gRPC status code.', labelNames: ['method', 'code'], registers });
    this.poolEvents = new Counter({ name: 'devmapper_pool_events_total', help: 'Pool events heard by the pool watcher (serve --watch).', labelNames: ['event'], registers });
    this.autoextends = new Counter({ name: 'devmapper_pool_autoextend_total', help: 'Autoextend attempts by outcome (extended, failed).', labelNames: ['outcome'], registers });
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** Records a finished call (the service's onCall). */
  observeCall(call: CallOutcome): void {
    this.rpcDuration.observe({ method: call.method }, call.seconds);
    if (call.code !== 'OK') this.rpcErrors.inc({ method: call.method, code: call.code });
  }

  /** Counts a pool event ('lowWater', 'readOnly'...). */
  countPoolEvent(event: string): void {
    this.poolEvents.inc({ event });
  }

  /** Counts an autoextend attempt. */
  countAutoextend(outcome: 'extended' | 'failed'): void {
    this.autoextends.inc({ outcome });
  }

  /** Reads the snapshotter's figures into the gauges; false (and logged, and counted) when the read failed. */
  async refresh(): Promise<boolean> {
    let m: SnapshotterMetrics;
    try {
      m = await this.source.metrics();
    } catch (e) {
      this.scrapeErrors.inc();
      this.logger.warn('cannot read the metrics', { error: e });
      return false;
    }
    const pool = { pool: m.pool.name };
    const g = this.poolGauges;
    g.dataUsed.set(pool, m.pool.dataUsedBytes);
    g.dataTotal.set(pool, m.pool.dataTotalBytes);
    g.metadataUsed.set(pool, m.pool.metadataUsedBytes);
    g.metadataTotal.set(pool, m.pool.metadataTotalBytes);
    g.transactionId.set(pool, m.pool.transactionId);
    g.readOnly.set(pool, Number(m.pool.readOnly));
    g.outOfSpace.set(pool, Number(m.pool.outOfSpace));
    g.needsCheck.set(pool, Number(m.pool.needsCheck));
    g.failed.set(pool, Number(m.pool.failed));
    for (const [kind, n] of Object.entries(m.snapshots)) this.snapshots.set({ kind }, n);
    this.pendingRemovals.set(m.pendingRemovals);
    this.leftoverDevices.set(m.leftoverDevices);
    this.unavailable.set(Number(m.unavailable !== null));
    // Process-wide counters kept by the device-mapper layer: mirrored, never decreasing.
    this.udevSync.set(Number(m.udevSync));
    setCounter(this.udevWaits, m.udev.udevWaits);
    setCounter(this.udevWaitSeconds, m.udev.udevWaitSeconds);
    setCounter(this.udevTimeouts, m.udev.udevTimeouts);
    return true;
  }

  /** The Prometheus text exposition, figures read now. */
  async scrape(): Promise<string> {
    await this.refresh();
    return this.registry.metrics();
  }

  /** The exposition's content type. */
  get contentType(): string {
    return this.registry.contentType;
  }
}

function setCounter(counter: Counter, value: number): void {
  counter.reset();
  if (value > 0) counter.inc(value);
}
