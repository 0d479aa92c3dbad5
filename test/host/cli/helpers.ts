/** Runs the CLI in-process with captured output. */
import { run } from '../../../src/cli/program.js';
import type { CliEnvironment, CliStream } from '../../../src/cli/io.js';

/** A stream that keeps what is written. */
export class Capture implements CliStream {
  text = '';
  constructor(readonly isTTY = false, readonly columns = 100) {}
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `devmapper ...argv` and returns its exit code and output. */
export async function cli(argv: string[], env: Partial<CliEnvironment> = {}): Promise<CliResult> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await run(argv, { env: {}, ...env, stdout, stderr });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** Runs with --json and parses stdout, failing with stderr when the command failed. */
export async function cliJson<T = unknown>(argv: string[], env: Partial<CliEnvironment> = {}): Promise<T> {
  const r = await cli([...argv, '--json'], env);
  if (r.code !== 0) throw new Error(`devmapper ${argv.join(' ')} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}
