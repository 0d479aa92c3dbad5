/** What every command's action shares: the output context and option helpers. */
import { Command, Option } from 'commander';
import { UsageError } from './errors.js';
import { json } from './format.js';
import type { CliEnvironment } from './io.js';

/** Whether progress bars show on `stream`: only on a terminal, and not when quiet. */
export function progressEnabled(stream: CliEnvironment['stderr'], quiet: boolean): boolean {
  return !quiet && stream.isTTY === true;
}

/** What a command's action gets: the environment and output helpers. */
export class CommandContext {
  /** Whether this invocation prints JSON. */
  json = false;
  /** Whether progress bars are off. */
  quiet = false;

  constructor(readonly env: CliEnvironment) {}

  /** Prints a result: `value` as JSON with --json, else `text`. */
  result(value: unknown, text: string | (() => string)): void {
    this.env.stdout.write(this.json ? json(value) : typeof text === 'string' ? text : text());
  }

  /** Messages commander reported for a usage error (printed by {@link run} as text or JSON). */
  readonly usageMessages: string[] = [];

  /** A line for people on stderr (never with --json, which keeps stdout parseable and stderr for errors). */
  note(text: string): void {
    if (!this.json) this.env.stderr.write(`${text}\n`);
  }

  /** Whether progress bars show. */
  get progress(): boolean {
    return !this.json && progressEnabled(this.env.stderr, this.quiet);
  }
}

/** The `--json` option every command has. */
export function jsonOption(): Option {
  return new Option('--json', 'print the result as JSON; failures become one JSON object on stderr');
}

/**
 * Adds `--json` to a leaf command, and `--quiet` to one that shows progress
 * bars (`progress: true`): each command's help lists only what it takes.
 */
export function leaf(command: Command, options: { progress?: boolean } = {}): Command {
  command.addOption(jsonOption());
  if (options.progress) command.addOption(new Option('-q, --quiet', 'no progress bars (they only show on a terminal anyway)'));
  return command;
}

/** Makes `command` a group: `--json` accepted, and no subcommand is a usage error (exit 2) that prints the usage. */
export function group(command: Command): Command {
  return command.addOption(jsonOption());
}

/** Wraps an action: reads --json and --quiet (given at any level) into the context before running it. */
export function action<Args extends unknown[]>(ctx: CommandContext, fn: (...args: Args) => Promise<void>): (...args: Args) => Promise<void> {
  return async (...args: Args) => {
    const command = args[args.length - 1] as Command;
    const opts = command.optsWithGlobals<{ json?: boolean; quiet?: boolean }>();
    ctx.json = ctx.json || opts.json === true;
    ctx.quiet = opts.quiet === true;
    await fn(...args);
  };
}

/** Collects a repeatable option's values. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Parses repeatable `key=value` labels. */
export function labels(list: readonly string[] | undefined): Record<string, string> | undefined {
  if (!list || list.length === 0) return undefined;
  const out: Record<string, string> = {};
  for (const item of list) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`--label ${JSON.stringify(item)}: expected KEY=VALUE`);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}
