/**
 * The `[proxy_plugins]` section that makes containerd load `devmapper serve`
 * as a snapshotter: containerd 1.7 reads config version 2, containerd 2.x
 * version 3; the proxy plugin table is the same in both (type, address,
 * exports, capabilities), what differs is where CRI is told to use it.
 */

/** What the section describes. */
export interface ProxyPluginConfigInput {
  /** The plugin's name: `ctr --snapshotter NAME`, CRI's `snapshotter = NAME`. */
  name: string;
  /** The server's unix socket (`devmapper serve --socket`). */
  socket: string;
  /** The snapshotter's root (exported as `root`: CRI's ImageFsInfo reports its filesystem). */
  root: string;
  /** containerd's config version: 2 (containerd 1.7) or 3 (containerd 2.x). */
  configVersion: 2 | 3;
}

/**
 * The capabilities the server has. containerd knows 'remap-ids' (user
 * namespace id mapping through labels) and, from 2.x, 'rebase' (commit onto
 * a parent given at commit time): this server does neither.
 */
export const PROXY_CAPABILITIES: readonly string[] = [];

/** containerd's config version for a containerd version such as "1.7", "2" or "2.1.4". */
export function configVersionFor(containerdVersion: string): 2 | 3 | undefined {
  const match = /^v?(\d+)(?:\.(\d+))?(?:\.\d+)?$/.exec(containerdVersion.trim());
  if (!match) return undefined;
  const major = Number(match[1]);
  const minor = Number(match[2] ?? 0);
  if (major === 1 && minor >= 5) return 2;
  if (major === 2) return 3;
  return undefined;
}

/** TOML's basic string: JSON's escapes are a subset TOML accepts for these characters. */
function tomlString(value: string): string {
  return JSON.stringify(value);
}

/** The TOML text: the proxy plugin, and (commented) how to make CRI use it. */
export function proxyPluginConfig(input: ProxyPluginConfigInput): string {
  const name = /^[A-Za-z0-9_-]+$/.test(input.name) ? input.name : tomlString(input.name);
  const capabilities = `[${PROXY_CAPABILITIES.map(tomlString).join(', ')}]`;
  const criTable =
    input.configVersion === 2 ? '[plugins."io.containerd.grpc.v1.cri".containerd]' : '[plugins."io.containerd.cri.v1.images"]';
  return [
    `# containerd ${input.configVersion === 2 ? '1.7 (config version 2)' : '2.x (config version 3)'}: add to /etc/containerd/config.toml`,
    `version = ${input.configVersion}`,
    '',
    '[proxy_plugins]',
    `  [proxy_plugins.${name}]`,
    '    type = "snapshot"',
    `    address = ${tomlString(input.socket)}`,
    `    exports = { root = ${tomlString(input.root)} }`,
    '    # No rebase, no remap-ids.',
    `    capabilities = ${capabilities}`,
    '',
    '# For CRI (Kubernetes) to unpack images and run containers on it:',
    `# ${criTable}`,
    `#   snapshotter = ${tomlString(input.name)}`,
    '',
  ].join('\n');
}
