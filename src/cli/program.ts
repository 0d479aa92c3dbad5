/**
 * The `devmapper` command line: the commander program and {@link run},
 * which tests call with their own streams.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { CommandContext } from './command.js';
import { EXIT, errorReport, exitCodeOf } from './errors.js';
import { json } from './format.js';
import { environment, type CliEnvironment } from './io.js';
import { poolCommands } from './pool.js';
import { snapshotCommands } from './snapshot.js';
import { serveCommand } from '../server/cli-command.js';
import { containerdConfigCommand } from './containerd-config-command.js';

export { CommandContext } from './command.js';

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** Builds the program, writing through `ctx.env`. */
export function buildProgram(ctx: CommandContext): Command {
  const program = new Command('devmapper')
    .description('Device-mapper thin pools and a containerd-style snapshotter, from the command line.\nRun as root. Every command takes --help and --json.')
    .version(packageVersion(), '-V, --version')
    .showHelpAfterError('(add --help for usage)')
    .configureHelp({ sortSubcommands: false, showGlobalOptions: false });
  program.addCommand(poolCommands(ctx));
  program.addCommand(snapshotCommands(ctx));
  program.addCommand(serveCommand(ctx.env));
  program.addCommand(containerdConfigCommand(ctx));
  const configure = (command: Command): void => {
    command.exitOverride();
    command.configureOutput({
      writeOut: (s) => void ctx.env.stdout.write(s),
      writeErr: (s) => void ctx.env.stderr.write(s),
    });
    for (const sub of command.commands) configure(sub);
  };
  configure(program);
  return program;
}

/**
 * Runs the CLI on `argv` (without node and script: `['pool', 'status', '--json']`)
 * and resolves with the exit code: 0 success, 1 the operation failed, 2 a usage error.
 * Never calls process.exit.
 */
export async function run(argv: readonly string[], env: Partial<CliEnvironment> = {}): Promise<number> {
  const ctx = new CommandContext(environment(env));
  const program = buildProgram(ctx);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT.ok;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return EXIT.ok;
      // A bare group (`devmapper pool`) shows its help and exits 1 in commander: a usage error here.
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
