/**
 * systemd's readiness protocol for `Type=notify` units: when systemd set
 * NOTIFY_SOCKET, tell it READY=1 once the socket listens (and STOPPING=1 on
 * shutdown). Node has no unix datagram sockets, so the message goes through
 * `systemd-notify` (Debian's systemd package); the unit sets
 * NotifyAccess=all, since the message comes from that child process.
 */
import { execFile } from 'node:child_process';
import type { Logger } from './logger.js';

/** What {@link sdNotify} did. */
export type NotifyOutcome = 'sent' | 'not-under-systemd' | 'failed';

/** Options of {@link sdNotify}. */
export interface NotifyOptions {
  /** The environment (NOTIFY_SOCKET); default process.env. */
  env?: NodeJS.ProcessEnv;
  /** The systemd-notify program; default 'systemd-notify' on PATH. */
  command?: string;
  /** Where a failure is logged as a warning. */
  logger?: Logger;
}

/**
 * Sends `assignments` (e.g. 'READY=1', 'STATUS=serving') to systemd when
 * NOTIFY_SOCKET is set; otherwise does nothing. Never throws: a failure is
 * a warning (systemd then times the start out, which says more than a
 * crash would).
 */
export async function sdNotify(assignments: readonly string[], options: NotifyOptions = {}): Promise<NotifyOutcome> {
  const env = options.env ?? process.env;
  if (!env.NOTIFY_SOCKET) return 'not-under-systemd';
  const command = options.command ?? 'systemd-notify';
  // --pid: the message speaks for this process (the unit's main PID), not for systemd-notify.
  const args = [`--pid=${process.pid}`, ...assignments];
  return new Promise((resolve) => {
    execFile(command, args, { env, timeout: 10_000 }, (error, _stdout, stderr) => {
      if (!error) {
        resolve('sent');
        return;
      }
      const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
      options.logger?.warn(
        missing
          ? `NOTIFY_SOCKET is set but ${command} was not found: install systemd (Debian's systemd package) or use Type=simple`
          : `${command} failed: systemd was not told ${assignments.join(' ')}`,
        { notifySocket: env.NOTIFY_SOCKET, error: missing ? error.message : `${error.message}${stderr ? `: ${stderr.trim()}` : ''}` },
      );
      resolve('failed');
    });
  });
}
