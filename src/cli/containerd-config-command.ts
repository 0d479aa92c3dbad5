/**
 * `devmapper containerd-config`: prints the `[proxy_plugins]` section that
 * makes containerd load `devmapper serve` as a snapshotter.
 */
import path from 'node:path';
import { Command } from 'commander';
import { action, leaf, type CommandContext } from './command.js';
import { readContainerdConfig } from './containerd-config.js';
import { UsageError } from './errors.js';
import { configVersionFor, proxyPluginConfig, PROXY_CAPABILITIES } from './proxy-plugin-config.js';

/** The socket `devmapper serve` is usually given. */
export const DEFAULT_SOCKET = '/run/devmapper/snapshotter.sock';

interface Flags {
  socket: string;
  name: string;
  root?: string;
  containerdConfig?: string;
  containerd: string;
}

async function print(ctx: CommandContext, flags: Flags): Promise<void> {
  const configVersion = configVersionFor(flags.containerd);
  if (configVersion === undefined) throw new UsageError(`--containerd ${JSON.stringify(flags.containerd)}: expected a containerd version, 1.5 to 2.x (e.g. 1.7 or 2)`);
  const rootFlag = flags.root ?? (flags.containerdConfig ? (await readContainerdConfig(flags.containerdConfig)).config.root_path : undefined);
  if (rootFlag === undefined) throw new UsageError('which root? Give --root DIR (the snapshotter root `devmapper serve` uses) or --containerd-config FILE');
  const input = { name: flags.name, socket: path.resolve(flags.socket), root: path.resolve(rootFlag), configVersion };
  ctx.result({ ...input, type: 'snapshot', capabilities: [...PROXY_CAPABILITIES], toml: proxyPluginConfig(input) }, () => proxyPluginConfig(input));
}

/** The `containerd-config` command. */
export function containerdConfigCommand(ctx: CommandContext): Command {
  return leaf(
    new Command('containerd-config')
      .description("print containerd's [proxy_plugins] section for `devmapper serve` (config version 2 for containerd 1.7, 3 for 2.x)")
      .option('--socket <path>', "the server's socket (serve --socket)", DEFAULT_SOCKET)
      .option('--name <name>', "the snapshotter name containerd and ctr use (not 'devmapper': containerd's own plugin has it)", 'thin')
      .option('--root <dir>', 'the snapshotter root the server uses (exported to containerd as root)')
      .option('--containerd-config <file>', "take the root from a containerd config's devmapper section")
      .option('--containerd <version>', 'the containerd version: 1.7 (config version 2) or 2 (version 3)', '2'),
  ).action(action(ctx, (flags: Flags) => print(ctx, flags)));
}
