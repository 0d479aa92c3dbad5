/**
 * The `devmapper` command line: the commander program and {@link run},
 * which tests call with their own streams.
 *
 * Start-up is kept small: the command definitions load with the program, but
 * what a command does (the kernel layers, LevelDB, the progress bars) is
 * imported by its action, and `serve` (gRPC) is loaded only when the command
 * line asks for it; the top-level help lists it by its summary.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Argument, Command, CommanderError, type Option } from 'commander';
import { CommandContext, action, group, leaf } from './command.js';
import { SHELLS, completionScript, type Shell } from './completion.js';
import { EXIT, errorReport, exitCodeOf, type ErrorReport } from './errors.js';
import { json } from './format.js';
import { environment, type CliEnvironment } from './io.js';
import type { EnvDefaults } from './context.js';
import { poolCommands } from './pool.js';
import { snapshotCommands } from './snapshot.js';
import { containerdConfigCommand } from './containerd-config-command.js';
import { PACKAGE_ROOT } from '../package-root.js';

export { CommandContext } from './command.js';

/** What the top-level help says of `serve` while its module is not loaded. */
const SERVE_SUMMARY = "serve the snapshotter to containerd over its snapshots gRPC API on a unix socket (a proxy plugin)";

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** The arguments before `--` (after it everything is an operand). */
function beforeDashDash(argv: readonly string[]): readonly string[] {
  const end = argv.indexOf('--');
  return end < 0 ? argv : argv.slice(0, end);
}

/** The operands (non-option words) of `argv`, in order. */
function operands(argv: readonly string[]): string[] {
  return beforeDashDash(argv).filter((a) => !a.startsWith('-'));
}

/** Whether the command line needs the real `serve` command (running it, its help, or the whole tree for completion). */
function needsServe(argv: readonly string[] | undefined): boolean {
  if (argv === undefined) return true;
  const [first, second] = operands(argv);
  return first === 'serve' || first === 'completion' || (first === 'help' && second === 'serve');
}

/**
 * Moves option values that came from environment variables (DEVMAPPER_ROOT,
 * ...) into `envDefaults`, so the commands rank them below every flag.
 */
function moveEnvDefaults(command: Command): void {
  const defaults: Record<string, string> = {};
  for (const option of command.options as readonly Option[]) {
    const key = option.attributeName();
    if (option.envVar === undefined || command.getOptionValueSource(key) !== 'env') continue;
    // An empty variable (DEVMAPPER_ROOT=) counts as unset.
    const raw = process.env[option.envVar];
    if (raw !== undefined && raw !== '') defaults[key] = raw;
    command.setOptionValueWithSource(key, undefined, 'default');
  }
  if (Object.keys(defaults).length > 0) command.setOptionValueWithSource('envDefaults', defaults satisfies EnvDefaults, 'env');
}

function completionCommand(ctx: CommandContext, program: Command): Command {
  const command = new Command('completion')
    .description('print a completion script for bash or zsh, e.g. `source <(devmapper completion bash)` in ~/.bashrc')
    .addArgument(new Argument('<shell>', 'the shell').choices(SHELLS));
  return leaf(command).action(
    action(ctx, async (shell: Shell) => {
      const script = completionScript(program, shell);
      ctx.result({ shell, script }, script);
    }),
  );
}

/**
 * Builds the program, writing through `ctx.env`. With `argv`, only what that
 * command line needs is loaded (`serve` is a summary otherwise); without, the
 * whole tree.
 */
export async function buildProgram(ctx: CommandContext, argv?: readonly string[]): Promise<Command> {
  const program = group(
    new Command('devmapper')
      .description('Device-mapper thin pools and a containerd-style snapshotter, from the command line.\nRun as root. Every command takes --help and --json.')
      .version(packageVersion(), '-V, --version'),
  );
  program.addCommand(poolCommands(ctx));
  program.addCommand(snapshotCommands(ctx));
  if (needsServe(argv)) {
    const { serveCommand } = await import('../server/cli-command.js');
    program.addCommand(serveCommand(ctx.env));
  } else {
    program.addCommand(new Command('serve').summary(SERVE_SUMMARY));
  }
  program.addCommand(containerdConfigCommand(ctx));
  program.addCommand(completionCommand(ctx, program));
  program.hook('preAction', (_program, actionCommand) => moveEnvDefaults(actionCommand));
  const configure = (command: Command): void => {
    command.exitOverride();
    command.enablePositionalOptions();
    command.configureHelp({ sortSubcommands: false, showGlobalOptions: false });
    command.configureOutput({
      writeOut: (s) => void ctx.env.stdout.write(s),
      // With --json, stderr carries only the one JSON object run() writes.
      writeErr: (s) => void (ctx.json ? undefined : ctx.env.stderr.write(s)),
      outputError: (s, write) => {
        ctx.usageMessages.push(s.trim().replace(/^error: /, ''));
        write(s);
      },
    });
    if (!ctx.json) command.showHelpAfterError('(add --help for usage)');
    for (const sub of command.commands) configure(sub);
  };
  configure(program);
  return program;
}

/** The deepest command `argv`'s operands name (for the message of a missing subcommand). */
function commandNamed(program: Command, argv: readonly string[]): Command {
  let command = program;
  for (const word of operands(argv)) {
    const sub = command.commands.find((c) => c.name() === word || c.aliases().includes(word));
    if (!sub) break;
    command = sub;
  }
  return command;
}

function fullName(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** The report of a usage error commander raised. */
function usageReport(e: CommanderError, ctx: CommandContext, program: Command, argv: readonly string[]): ErrorReport {
  if (e.code === 'commander.help') {
    const command = commandNamed(program, argv);
    return { error: { code: 'USAGE', message: `${fullName(command)} needs a command: ${command.commands.map((c) => c.name()).join(', ')}` } };
  }
  return { error: { code: 'USAGE', message: ctx.usageMessages.at(-1) ?? e.message } };
}

/**
 * Runs the CLI on `argv` (without node and script: `['pool', 'status', '--json']`)
 * and resolves with the exit code: 0 success, 1 the operation failed, 2 a usage error.
 * With `--json` anywhere, a failure of any kind is one JSON object on stderr.
 * Never calls process.exit.
 */
export async function run(argv: readonly string[], env: Partial<CliEnvironment> = {}): Promise<number> {
  const ctx = new CommandContext(environment(env));
  ctx.json = beforeDashDash(argv).includes('--json');
  const program = await buildProgram(ctx, argv);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT.ok;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return EXIT.ok;
      // `devmapper help` is help asked for; a bare `devmapper` or `devmapper pool` printed its usage as an error.
      if (e.code === 'commander.help' && e.exitCode === 0) return EXIT.ok;
      if (ctx.json) ctx.env.stderr.write(json(usageReport(e, ctx, program, argv)));
      return EXIT.usage;
    }
    const report = errorReport(e);
    if (ctx.json) ctx.env.stderr.write(json(report));
    else {
      ctx.env.stderr.write(`devmapper: ${report.error.message}\n`);
      for (const cause of report.error.causes ?? []) ctx.env.stderr.write(`  - ${cause}\n`);
    }
    return exitCodeOf(e);
  }
}
