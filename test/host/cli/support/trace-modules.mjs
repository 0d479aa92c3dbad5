// Loaded with `node --import` by cold-start.test.ts: records every module the
// process loads into the file named by DEVMAPPER_TRACE_MODULES, one URL or
// path a line. ES modules are seen by a resolve hook (it runs on the loader's
// thread, so it appends to the file itself); CommonJS modules, which require()
// each other without that hook, are read from require.cache at exit.
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';

const file = process.env.DEVMAPPER_TRACE_MODULES;
if (!file) throw new Error('DEVMAPPER_TRACE_MODULES is not set');
const hook = `
import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(${JSON.stringify(file)}, result.url + '\\n');
  return result;
}`;
register(`data:text/javascript,${encodeURIComponent(hook)}`);
const cache = createRequire(import.meta.url).cache;
process.on('exit', () => appendFileSync(file, Object.keys(cache).map((k) => `${k}\n`).join('')));
