/**
 * What scripts/pack-consumer.sh prepared: the consumer projects with the
 * packed tarballs installed, and the Node binaries to load them with.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

export const root = path.resolve(import.meta.dirname, '../..');
export const consumer = path.join(root, '.consumer');
export const exec = promisify(execFile);

/** Paths from .consumer/node-binaries.json; throws with what to run when it is missing. */
export interface NodeBinaries {
  x64: Record<string, string>;
  arm64: Record<string, string>;
  arm64Sysroots: { libdevmapper: string; plain: string };
}

export function nodeBinaries(): NodeBinaries {
  const file = path.join(consumer, 'node-binaries.json');
  if (!existsSync(file)) throw new Error(`${file} is missing: run scripts/pack-consumer.sh first`);
  return JSON.parse(readFileSync(file, 'utf8')) as NodeBinaries;
}

/** The JSON line kernel-free.cjs prints. */
export interface KernelFreeResult {
  node: string;
  arch: string;
  main: string;
  addon: string | null;
  serverExports: number;
  testingExports: number;
  libraryVersion?: string;
  libraryError?: { code: string; message: string; isDeviceMapperError: boolean };
  list: string;
  invalidName: string;
  validName: boolean;
  simulatedThinIds: number[];
}

export function lastJsonLine<T>(stdout: string): T {
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as T;
}

/** The packages each Linux family installs libdevmapper from, as the ENOLIBDM message must name them. */
export const INSTALL_HINTS = ['libdevmapper1.02.1', 'device-mapper-libs', 'apk add device-mapper-libs', 'pacman -S device-mapper'];
