import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { CommandContext } from '../../../src/cli/command.js';
import { environment } from '../../../src/cli/io.js';
import { buildProgram } from '../../../src/cli/program.js';
import { Capture, cli } from './helpers.js';

function groups(command: Command, trail: string[] = []): string[][] {
  return command.commands.length === 0 ? [] : [trail, ...command.commands.flatMap((c) => groups(c, [...trail, c.name()]))];
}

function leaves(command: Command, trail: string[] = []): Array<{ path: string[]; command: Command }> {
  if (command.commands.length === 0) return [{ path: trail, command }];
  return command.commands.flatMap((c) => leaves(c, [...trail, c.name()]));
}

const program = await buildProgram(new CommandContext(environment({ stdout: new Capture(), stderr: new Capture() })));
const all = leaves(program);

describe('the devmapper program', () => {
  it('has the pool and snapshot commands the issue lists', () => {
    const names = all.map((l) => l.path.join(' '));
    for (const n of ['pool create', 'pool create-lvm', 'pool status', 'pool resize', 'pool destroy', 'pool watch']) expect(names).toContain(n);
    for (const n of ['prepare', 'view', 'commit', 'rm', 'ls', 'stat', 'usage', 'mounts', 'cleanup']) expect(names).toContain(`snapshot ${n}`);
  });

  it.each(all.map((l) => [l.path.join(' '), l] as const))('%s has --json and prints its --help', async (_name, l) => {
    expect(l.command.options.map((o) => o.long)).toContain('--json');
    const r = await cli([...l.path, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Usage: devmapper ${l.path.join(' ')}`);
    expect(r.stdout).toContain('--json');
  });

  it('accepts Docker option names and the pool selectors on pool create', async () => {
    const r = await cli(['pool', 'create', '--help']);
    for (const flag of ['--storage-opt', '--pool-dir', '--data-size', '--metadata-size', '--block-size', '--base-size', '--fs', '--mkfs-arg', '--mount-opt', '--blkdiscard', '--min-free-space', '--deferred-deletion', '--thin-pool-dev', '--root']) {
      expect(r.stdout).toContain(flag);
    }
    expect(r.stdout).toContain('dm.loopdatasize');
  });

  it('gives the snapshot commands the snapshotter options', async () => {
    const r = await cli(['snapshot', 'prepare', '--help']);
    for (const flag of ['--root', '--pool', '--pool-dir', '--base-size', '--fs', '--containerd-config', '--storage-opt', '--label']) expect(r.stdout).toContain(flag);
  });

  it('prints the top-level help and version', async () => {
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/pool \[options\]\s+create, list, inspect/);
    expect(help.stdout).toMatch(/snapshot\|snapshots/);
    const version = await cli(['--version']);
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('exits 2 for usage errors, with the reason on stderr', async () => {
    const unknown = await cli(['pool', 'frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command 'frobnicate'/);
    const badOption = await cli(['snapshot', 'ls', '--nope']);
    expect(badOption.code).toBe(2);
    expect(badOption.stderr).toMatch(/unknown option '--nope'/);
    const missingArg = await cli(['snapshot', 'commit', 'only-one']);
    expect(missingArg.code).toBe(2);
    expect(missingArg.stderr).toMatch(/missing required argument 'key'/);
  });

  it('says which pool options are missing, as text or as JSON', async () => {
    const text = await cli(['pool', 'status']);
    expect(text.code).toBe(2);
    expect(text.stderr).toMatch(/^devmapper: which pool\? Give --pool NAME, --pool-dir DIR/);
    const json = await cli(['pool', 'status', '--json']);
    expect(json.code).toBe(2);
    expect(json.stdout).toBe('');
    expect(JSON.parse(json.stderr)).toEqual({ error: { code: 'USAGE', message: expect.stringMatching(/^which pool\?/) } });
    const noRoot = await cli(['snapshot', 'ls', '--pool', 'x']);
    expect(noRoot.code).toBe(2);
    expect(noRoot.stderr).toMatch(/need --root DIR/);
    const badOpt = await cli(['pool', 'create', '--pool-dir', '/tmp/x', '--storage-opt', 'dm.frob=1']);
    expect(badOpt.code).toBe(2);
    expect(badOpt.stderr).toMatch(/unknown option "dm.frob"/);
  });

  it('refuses pool create without a place for the files', async () => {
    const r = await cli(['pool', 'create', '--data-size', '1G']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/needs --pool-dir DIR/);
  });

  it.each([[[] as string[]], [['pool']], [['snapshot']]])('devmapper %j without a command prints its usage and exits 2', async (args) => {
    const text = await cli(args);
    expect(text.code).toBe(2);
    expect(text.stdout).toBe('');
    expect(text.stderr).toContain(`Usage: ${['devmapper', ...args].join(' ')}`);
    const json = await cli([...args, '--json']);
    expect(json.code).toBe(2);
    expect(json.stdout).toBe('');
    expect(JSON.parse(json.stderr)).toEqual({ error: { code: 'USAGE', message: expect.stringMatching(/needs a command: /) } });
  });

  it.each(groups(program).map((g) => [g.join(' ') || '(the program)', g] as const))('%s accepts --json', async (_name, g) => {
    expect((await cli([...g, '--help', '--json'])).code).toBe(0);
  });

  it('with --json, every usage error is one JSON object on stderr with the code USAGE', async () => {
    for (const args of [
      ['pool', 'frobnicate', '--json'],
      ['snapshot', 'ls', '--nope', '--json'],
      ['snapshot', 'commit', 'only-one', '--json'],
      ['pool', 'watch', '--until', 'never', '--json'],
      ['completion', 'fish', '--json'],
      ['--json', 'nosuch'],
    ]) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      const report = JSON.parse(r.stderr) as { error: { code: string; message: string } };
      expect(report.error.code).toBe('USAGE');
      expect(report.error.message).not.toMatch(/^error:/);
      expect(r.stderr).not.toContain('add --help');
    }
  });

  it("shows in each command's help only the options it takes", async () => {
    const ls = (await cli(['snapshot', 'ls', '--help'])).stdout;
    for (const flag of ['--filter', '--root', '--json']) expect(ls).toContain(flag);
    for (const flag of ['--base-size', '--default-size', '--label', '--quiet', '--async-remove', '--fs ']) expect(ls).not.toContain(flag);
    const prepare = (await cli(['snapshot', 'prepare', '--help'])).stdout;
    for (const flag of ['--base-size', '--default-size', 'DEVMAPPER_DEFAULT_SIZE', '--label', '--quiet']) expect(prepare).toContain(flag);
    const serve = (await cli(['serve', '--help'])).stdout;
    for (const flag of ['--base-size', '--default-size', 'DEVMAPPER_DEFAULT_SIZE']) expect(serve).toContain(flag);
    expect(prepare).not.toContain('--async-remove');
    const rm = (await cli(['snapshot', 'rm', '--help'])).stdout;
    for (const flag of ['--async-remove', '--discard-blocks', '--quiet']) expect(rm).toContain(flag);
    const status = (await cli(['pool', 'status', '--help'])).stdout;
    expect(status).not.toContain('--base-size');
    expect(status).not.toContain('--quiet');
    const topOptions = (await cli(['--help'])).stdout.split('Commands:')[0];
    expect(topOptions).not.toContain('--root');
  });

  it('documents the environment defaults in the help of the options they default', async () => {
    const help = (await cli(['snapshot', 'stat', '--help'])).stdout.replace(/\s+/g, ' ');
    for (const v of ['DEVMAPPER_ROOT', 'DEVMAPPER_POOL', 'DEVMAPPER_POOL_DIR', 'DEVMAPPER_CONTAINERD_CONFIG', 'DEVMAPPER_DAEMON_JSON']) expect(help).toContain(`(env: ${v})`);
  });

  it('completion prints a script for bash and zsh only', async () => {
    expect((await cli(['completion', 'bash'])).stdout).toContain('complete -F _devmapper devmapper');
    expect((await cli(['completion', 'zsh'])).stdout).toMatch(/^#compdef devmapper/);
    expect((await cli(['completion', 'fish'])).code).toBe(2);
  });
});
