/**
 * Runs the external tools formatters need (mkfs, mount, umount) with
 * execFile: arguments as an array, never through a shell.
 */
import { execFile } from 'node:child_process';

/** A failed external command, with what it printed. */
export class CommandError extends Error {
  /** The command and its arguments. */
  readonly argv: readonly string[];
  /** The exit code, or null when it died from a signal or did not start. */
  readonly exitCode: number | null;
  /** What the command wrote to stderr (and stdout), trimmed. */
  readonly output: string;

  /**
   * @param argv - The command and its arguments.
   * @param exitCode - The exit code, or null.
   * @param output - Its output.
   * @param cause - The underlying error.
   */
  constructor(argv: readonly string[], exitCode: number | null, output: string, cause: unknown) {
    super(`${argv.join(' ')} failed${exitCode === null ? '' : ` with exit code ${exitCode}`}${output ? `: ${output}` : ''}`, { cause });
    this.name = 'CommandError';
    this.argv = argv;
    this.exitCode = exitCode;
    this.output = output;
  }
}

/**
 * Runs `command` with `args` and resolves with its stdout.
 *
 * @throws CommandError when it cannot start or exits non-zero.
 */
export function runCommand(command: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, [...args], { maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) {
        const exitCode = typeof error.code === 'number' ? error.code : null;
        const output = `${stderr}${stdout}`.trim() || error.message;
        reject(new CommandError([command, ...args], exitCode, output, error));
        return;
      }
      resolve(stdout);
    });
  });
}
