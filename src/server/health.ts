/**
 * grpc.health.v1.Health on the server's socket (proto/grpc/health/v1/health.proto,
 * code generated like the Snapshots service's): SERVING while the pool can
 * take calls, NOT_SERVING while it is read-only, failed or needs a check,
 * and after shutdown began. Check reads the pool's status at each call;
 * Watch streams each change, read every `pollIntervalMs` while someone
 * watches and at once after {@link HealthService.refresh}.
 */
import { status as Status, type ServerWritableStream } from '@grpc/grpc-js';
import {
  HealthCheckResponse_ServingStatus as ServingStatus,
  HealthService as HealthServiceDefinition,
  type HealthCheckRequest,
  type HealthCheckResponse,
  type HealthServer,
} from './generated/grpc/health/v1/health.js';
import { silentLogger, type Logger } from './logger.js';
import { SNAPSHOTS_SERVICE } from './proto.js';

/** What a probe answers: whether the snapshotter can serve, and why not. */
export interface HealthState {
  /** Whether calls can succeed. */
  serving: boolean;
  /** Why not, when not serving. */
  reason?: string;
}

/** Options of {@link HealthService}. */
export interface HealthServiceOptions {
  /** Reads the state; a probe that throws counts as not serving. Default: always serving. */
  probe?: () => Promise<HealthState>;
  /** How often Watch streams re-read the state while someone watches; default 5000 ms. */
  pollIntervalMs?: number;
  /** Where changes of state are logged; default nowhere. */
  logger?: Logger;
}

/** The services a Check may name: '' (the server as a whole) and the Snapshots service. */
export const HEALTH_SERVICES: readonly string[] = ['', SNAPSHOTS_SERVICE];

/** The health service's generated definition, for grpc.Server.addService. */
export const HEALTH_SERVICE_DEFINITION = HealthServiceDefinition;

/** The Health service's state and handlers. */
export class HealthService {
  private readonly probe: () => Promise<HealthState>;
  private readonly pollIntervalMs: number;
  private readonly logger: Logger;
  // Each Watch stream and the status it was sent last.
  private readonly watchers = new Map<ServerWritableStream<HealthCheckRequest, HealthCheckResponse>, ServingStatus | undefined>();
  private timer: NodeJS.Timeout | undefined;
  private last: ServingStatus | undefined;
  private stopped = false;

  constructor(options: HealthServiceOptions = {}) {
    this.probe = options.probe ?? (() => Promise.resolve({ serving: true }));
    this.pollIntervalMs = options.pollIntervalMs ?? 5000;
    this.logger = options.logger ?? silentLogger;
    if (!(this.pollIntervalMs > 0)) throw new RangeError('pollIntervalMs must be above 0');
  }

  /** Reads the state now and tells watchers when it changed. */
  async refresh(): Promise<ServingStatus> {
    let state: HealthState;
    if (this.stopped) state = { serving: false, reason: 'shutting down' };
    else {
      try {
        state = await this.probe();
      } catch (e) {
        state = { serving: false, reason: `cannot read the pool status: ${(e as Error).message}` };
      }
    }
    const status = state.serving ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
    if (status !== this.last) {
      // The first SERVING and the shutdown say nothing new: the server logs 'listening' and 'shutting down'.
      if (!this.stopped && (this.last !== undefined || status !== ServingStatus.SERVING)) {
        const fields = { status, ...(state.reason === undefined ? {} : { reason: state.reason }) };
        if (state.serving) this.logger.info('health', fields);
        else this.logger.warn('health', fields);
      }
      this.last = status;
    }
    for (const call of this.watchers.keys()) this.send(call, status);
    return status;
  }

  // Writes `status` to a watcher of a known service unless it was its last.
  private send(call: ServerWritableStream<HealthCheckRequest, HealthCheckResponse>, status: ServingStatus): void {
    if (!this.watchers.has(call) || !HEALTH_SERVICES.includes(call.request.service) || this.watchers.get(call) === status) return;
    this.watchers.set(call, status);
    call.write({ status });
  }

  /** Turns NOT_SERVING for good and ends every Watch stream (so the server can shut down). */
  async shutdown(): Promise<void> {
    this.stopped = true;
    await this.refresh();
    this.stopPolling();
    for (const call of this.watchers.keys()) call.end();
    this.watchers.clear();
  }

  private startPolling(): void {
    if (this.timer || this.stopped) return;
    this.timer = setInterval(() => void this.refresh(), this.pollIntervalMs);
    this.timer.unref();
  }

  private stopPolling(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The handlers, for grpc.Server.addService with {@link HEALTH_SERVICE_DEFINITION}. */
  implementation(): HealthServer {
    return {
      check: (call, callback) => {
        if (!HEALTH_SERVICES.includes(call.request.service)) {
          callback({ code: Status.NOT_FOUND, details: `unknown service ${JSON.stringify(call.request.service)}` });
          return;
        }
        this.refresh().then((status) => callback(null, { status }), (e: unknown) => callback({ code: Status.INTERNAL, details: String(e) }));
      },
      watch: (call) => {
        if (this.stopped) {
          call.write({ status: ServingStatus.NOT_SERVING });
          call.end();
          return;
        }
        this.watchers.set(call, undefined);
        const forget = (): void => {
          this.watchers.delete(call);
          if (this.watchers.size === 0) this.stopPolling();
        };
        call.on('cancelled', forget);
        call.on('close', forget);
        this.startPolling();
        if (!HEALTH_SERVICES.includes(call.request.service)) {
          call.write({ status: ServingStatus.SERVICE_UNKNOWN });
          return;
        }
        void this.refresh();
      },
      list: (_call, callback) => {
        this.refresh().then(
          (status) => callback(null, { statuses: Object.fromEntries(HEALTH_SERVICES.map((s) => [s, { status }])) }),
          (e: unknown) => callback({ code: Status.INTERNAL, details: String(e) }),
        );
      },
    };
  }
}
