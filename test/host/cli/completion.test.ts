/**
 * `devmapper completion bash|zsh`: the scripts are loaded into a real bash
 * and zsh and asked what the words complete to. bash runs the function as
 * `complete -F` would (COMP_WORDS, COMP_CWORD, COMPREPLY); zsh runs it with
 * `compadd` and `_files` standing in for the completion system's builtins,
 * which exist only inside a completion widget.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from './helpers.js';

const exec = promisify(execFile);
let dir: string;
let bashScript: string;
let zshScript: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'completion-'));
  for (const shell of ['bash', 'zsh'] as const) {
    const r = await cli(['completion', shell]);
    expect(r.code).toBe(0);
    await writeFile(path.join(dir, `devmapper.${shell}`), r.stdout);
  }
  bashScript = path.join(dir, 'devmapper.bash');
  zshScript = path.join(dir, 'devmapper.zsh');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const quote = (w: string): string => `'${w.replaceAll("'", "'\\''")}'`;

/** What bash completes the last of `words` to. */
async function bash(...words: string[]): Promise<string[]> {
  const script = `source ${quote(bashScript)}
COMP_WORDS=(${words.map(quote).join(' ')}); COMP_CWORD=${words.length - 1}
_devmapper
printf '%s\\n' "\${COMPREPLY[@]}"`;
  const { stdout } = await exec('bash', ['--norc', '--noprofile', '-c', script], { cwd: dir });
  return stdout.split('\n').filter(Boolean);
}

/** The candidates the zsh function offers for the last of `words` (zsh itself filters them by prefix). */
async function zsh(...words: string[]): Promise<string[]> {
  const script = `compdef() { :; }
source ${quote(zshScript)}
compadd() { while [[ $# -gt 0 && $1 != -- ]]; do shift; done; shift; print -rl -- "$@"; }
_files() { print -r -- "<files $*>"; }
words=(${words.map(quote).join(' ')}); CURRENT=${words.length}
_devmapper`;
  const { stdout } = await exec('zsh', ['-f', '-c', script], { cwd: dir });
  return stdout.split('\n').filter(Boolean);
}

describe('bash completion', () => {
  it('completes commands, subcommands and aliases by prefix', async () => {
    expect(await bash('devmapper', '')).toEqual(['pool', 'snapshot', 'snapshots', 'serve', 'containerd-config', 'completion']);
    expect(await bash('devmapper', 'sn')).toEqual(['snapshot', 'snapshots']);
    expect(await bash('devmapper', 'pool', '')).toEqual(['create', 'create-lvm', 'ls', 'list', 'status', 'resize', 'destroy', 'watch']);
    expect(await bash('devmapper', 'snapshots', 'p')).toEqual(['prepare']);
    expect(await bash('devmapper', 'completion', '')).toEqual(['bash', 'zsh']);
  });

  it("completes each command's own options, skipping option values on the way", async () => {
    expect(await bash('devmapper', 'snapshot', 'prepare', '--ba')).toEqual(['--base-size']);
    expect(await bash('devmapper', 'snapshot', 'ls', '--ba')).toEqual([]);
    expect(await bash('devmapper', 'pool', 'status', '--pool', 'ls', '--j')).toEqual(['--json']); // 'ls' is --pool's value, not the command
    expect(await bash('devmapper', 'snapshot', '--json', 'stat', '--ro')).toEqual(['--root']);
    expect(await bash('devmapper', 'snapshot', 'ls', '--root', 'status', '--fi')).toEqual(['--filter']);
    expect(await bash('devmapper', 'serve', '--sock')).toEqual(['--socket']);
    expect(await bash('devmapper', 'serve', '--def')).toEqual(['--default-size']);
    expect(await bash('devmapper', 'snapshot', 'view', '--def')).toEqual(['--default-size']);
  });

  it('completes option values: fixed choices, directories, files', async () => {
    expect(await bash('devmapper', 'pool', 'watch', '--until', 'out')).toEqual(['outOfDataSpace']);
    expect(await bash('devmapper', 'serve', '--log-level', 'w')).toEqual(['warn']);
    await writeFile(path.join(dir, 'config.toml'), '');
    expect(await bash('devmapper', 'snapshot', 'ls', '--containerd-config', 'conf')).toEqual(['config.toml']);
    expect(await bash('devmapper', 'snapshot', 'ls', '--root', 'dev')).toEqual([]); // directories only: devmapper.bash is a file
  });
});

describe('zsh completion', () => {
  it('offers the same commands, options and values', async () => {
    expect(await zsh('devmapper', '')).toEqual(['pool', 'snapshot', 'snapshots', 'serve', 'containerd-config', 'completion']);
    expect(await zsh('devmapper', 'snapshot', '')).toContain('tree');
    expect(await zsh('devmapper', 'pool', 'create', '--')).toContain('--storage-opt');
    expect(await zsh('devmapper', 'pool', 'watch', '--until', '')).toContain('needsCheck');
    expect(await zsh('devmapper', 'pool', 'status', '--root', '')).toEqual(['<files -/>']);
    expect(await zsh('devmapper', 'completion', '')).toEqual(['bash', 'zsh']);
  });
});
