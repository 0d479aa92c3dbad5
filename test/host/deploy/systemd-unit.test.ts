/**
 * deploy/systemd/devmapper-snapshotter.service passes `systemd-analyze
 * verify` (Debian's systemd package, installed by scripts/setup.sh), run on
 * a root laid out as an installed node: the unit in /etc/systemd/system,
 * the distribution's units, and an executable at ExecStart's path. A unit
 * with a fault in it fails the same check, so a pass means something.
 */
import { execFile } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, test } from 'vitest';

const UNIT = 'devmapper-snapshotter.service';
const unitFile = path.resolve(import.meta.dirname, '../../../deploy/systemd', UNIT);
const roots: string[] = [];
afterEach(async () => {
  for (const r of roots.splice(0)) await rm(r, { recursive: true, force: true });
});

/** The unit's `Key=value` settings (continuation lines joined), by key. */
function settings(text: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const line of text.replace(/\\\n\s*/g, ' ').split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m) map.set(m[1]!, [...(map.get(m[1]!) ?? []), m[2]!]);
  }
  return map;
}

async function verify(unitText: string): Promise<{ code: number; output: string }> {
  const root = await mkdtemp(path.join(tmpdir(), 'dm-unit-'));
  roots.push(root);
  await mkdir(path.join(root, 'etc/systemd/system'), { recursive: true });
  await mkdir(path.join(root, 'usr/lib/systemd'), { recursive: true });
  await cp('/usr/lib/systemd/system', path.join(root, 'usr/lib/systemd/system'), { recursive: true });
  const exec = settings(unitText).get('ExecStart')?.[0]?.split(' ')[0];
  if (exec) {
    await mkdir(path.join(root, path.dirname(exec)), { recursive: true });
    await writeFile(path.join(root, exec), '#!/bin/sh\n');
    await chmod(path.join(root, exec), 0o755);
  }
  await writeFile(path.join(root, 'etc/systemd/system', UNIT), unitText);
  try {
    const { stdout, stderr } = await promisify(execFile)('systemd-analyze', ['verify', `--root=${root}`, UNIT]);
    return { code: 0, output: stdout + stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, output: err.stdout + err.stderr };
  }
}

describe(UNIT, () => {
  test('systemd-analyze verify passes, with no warnings', async () => {
    const result = await verify(await readFile(unitFile, 'utf8'));
    expect(result).toEqual({ code: 0, output: '' });
  });

  test('a faulty unit fails the same check', async () => {
    const text = await readFile(unitFile, 'utf8');
    const broken = await verify(text.replace('ExecStart=/usr/local/bin/devmapper', 'ExecStart=usr/local/bin/devmapper'));
    expect(broken.code).not.toBe(0);
    const warned = await verify(text.replace('Type=notify', 'Type=notfy'));
    expect(warned.output).toMatch(/notfy/);
  });

  test('what the deployment relies on: notify, before containerd, restart on failure, the socket in its runtime directory', async () => {
    const s = settings(await readFile(unitFile, 'utf8'));
    expect(s.get('Type')).toEqual(['notify']);
    expect(s.get('NotifyAccess')).toEqual(['all']);
    expect(s.get('Before')?.join(' ')).toContain('containerd.service');
    expect(s.get('Restart')).toEqual(['on-failure']);
    expect(s.get('RuntimeDirectory')).toEqual(['devmapper-snapshotter']);
    expect(s.get('RuntimeDirectoryPreserve')).toEqual(['restart']);
    expect(s.get('ExecStart')?.[0]).toContain('--socket /run/devmapper-snapshotter/snapshotter.sock');
    expect(s.get('CapabilityBoundingSet')?.[0]).toContain('CAP_SYS_ADMIN');
    expect(s.has('DevicePolicy')).toBe(false);
  });
});
