#!/usr/bin/env node
/**
 * The `devmapper` executable (package.json `bin`): runs the CLI on the
 * process's arguments; Ctrl-C and SIGTERM end long-running commands cleanly.
 * Node's compile cache is turned on (where safe) before the CLI's code loads.
 */
import { enableCompileCache } from './compile-cache.js';

enableCompileCache();
const { run } = await import('./program.js');
const controller = new AbortController();
const stop = (): void => controller.abort();
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
process.exitCode = await run(process.argv.slice(2), { signal: controller.signal });
process.off('SIGINT', stop);
process.off('SIGTERM', stop);
