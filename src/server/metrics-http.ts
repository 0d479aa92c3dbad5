/**
 * The `/metrics` HTTP endpoint (`serve --metrics-address HOST:PORT`):
 * GET /metrics answers the Prometheus text exposition; GET /healthz the
 * health service's state (200 SERVING, 503 NOT_SERVING) for probes that
 * speak HTTP, such as a Kubernetes readinessProbe; anything else 404.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { InvalidArgumentError, UnavailableError } from '../snapshotter/errors.js';
import { silentLogger, type Logger } from './logger.js';
import type { ServerMetrics } from './metrics.js';

/** A parsed `HOST:PORT` (IPv6 hosts in brackets: `[::1]:9100`). */
export interface ListenAddress {
  /** The host or address to bind. */
  host: string;
  /** The TCP port (0: any free port). */
  port: number;
}

/**
 * Parses `HOST:PORT`, `[IPv6]:PORT` or `:PORT` (all addresses).
 *
 * @throws InvalidArgumentError for anything else.
 */
export function parseListenAddress(value: string): ListenAddress {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) throw new InvalidArgumentError(`metrics address ${JSON.stringify(value)}: expected HOST:PORT, [IPV6]:PORT or :PORT`);
  return { host: match[1] ?? (match[2] || '0.0.0.0'), port };
}

/** A listening metrics endpoint. */
export class MetricsEndpoint implements AsyncDisposable {
  private constructor(
    private readonly server: http.Server,
    /** The bound address (the real port when 0 was asked). */
    readonly address: ListenAddress,
  ) {}

  /**
   * Serves `metrics` at `http://HOST:PORT/metrics`, and `health` (a
   * grpc.health.v1 status name) at `/healthz` when given.
   *
   * @throws InvalidArgumentError for a bad address; UnavailableError when it cannot be bound.
   */
  static async listen(metrics: ServerMetrics, address: string | ListenAddress, logger: Logger = silentLogger, health?: () => Promise<string>): Promise<MetricsEndpoint> {
    const where = typeof address === 'string' ? parseListenAddress(address) : address;
    const server = http.createServer((request, response) => {
      const url = new URL(request.url ?? '/', 'http://localhost');
      const read = request.method === 'GET' || request.method === 'HEAD';
      if (read && url.pathname === '/healthz' && health) {
        health().then(
          (status) => response.writeHead(status === 'SERVING' ? 200 : 503, { 'content-type': 'text/plain' }).end(`${status}\n`),
          () => response.writeHead(503, { 'content-type': 'text/plain' }).end('NOT_SERVING\n'),
        );
        return;
      }
      if (url.pathname !== '/metrics' || !read) {
        response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try GET /metrics\n');
        return;
      }
      metrics.scrape().then(
        (text) => response.writeHead(200, { 'content-type': metrics.contentType }).end(request.method === 'HEAD' ? undefined : text),
        (e: unknown) => {
          logger.error('metrics scrape failed', { error: e });
          response.writeHead(500, { 'content-type': 'text/plain' }).end('scrape failed\n');
        },
      );
    });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(where.port, where.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      throw new UnavailableError(`cannot serve metrics on ${where.host}:${where.port}: ${(e as Error).message}`, { cause: e });
    }
    const bound = server.address() as AddressInfo;
    logger.info('metrics listening', { address: `${where.host.includes(':') ? `[${bound.address}]` : bound.address}:${bound.port}`, path: '/metrics' });
    return new MetricsEndpoint(server, { host: bound.address, port: bound.port });
  }

  /** Stops listening and closes open connections. */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  /** {@link close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
