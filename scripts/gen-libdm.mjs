#!/usr/bin/env node
// Writes native/libdm_symbols.inc: one LIBDM_FN(...) line per libdevmapper
// function the addon may call, with its prototype (from libdevmapper.h) and
// the symbol version to bind (from the library's dynamic symbol table), so
// native/libdm.cc can define each one as a forwarder through dlvsym().
//
// The list: every dm_* function that native/*.{cc,h} calls, plus whole
// families a change to the dm call path is likely to reach for (the task,
// udev cookie and name-mangling calls), so such a change needs no edit here.
//
// usage: node scripts/gen-libdm.mjs [--check]
//   --check: exit 1 when the file on disk differs from what would be written
//            (or a function the addon calls is missing from it).
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = path.join(root, 'native');
const outFile = path.join(nativeDir, 'libdm_symbols.inc');
const header = process.env.LIBDM_HEADER ?? '/usr/include/libdevmapper.h';

/** The dm_* functions the addon's own sources call (not the shim's). */
export function usedFunctions() {
  const names = new Set();
  for (const file of readdirSync(nativeDir)) {
    if (!/\.(cc|h)$/.test(file) || file.startsWith('libdm')) continue;
    const text = readFileSync(path.join(nativeDir, file), 'utf8').replace(/\/\/.*$/gm, '').replace(/\/\*[\s\S]*?\*\//g, '');
    for (const m of text.matchAll(/\b(dm_[a-z0-9_]+)\s*\(/g)) names.add(m[1]);
  }
  return names;
}

// Families bound in advance, beyond what the sources call today.
const FAMILIES = [/^dm_task_/, /^dm_udev_/, /^dm_cookie_/, /mangl/, /^dm_log_/, /^dm_lib_/];
const EXTRA = new Set(['dm_get_library_version', 'dm_driver_version', 'dm_get_next_target', 'dm_is_dm_major', 'dm_mknodes', 'dm_hold_control_dev']);

/** Prototypes of libdevmapper.h: name -> { ret, params }. */
function prototypes() {
  const text = readFileSync(header, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, ' ')
    .replace(/\/\/.*$/gm, ' ')
    .replace(/^\s*#.*$/gm, ' ')
    .replace(/\s+/g, ' ');
  const out = new Map();
  for (const m of text.matchAll(/(?<=[;{}]|^)\s*([A-Za-z_][\w\s*]*?[\s*])(dm_\w+)\s*\(([^;{}]*?)\)\s*(__attribute__\s*\(\(.*?\)\)\s*)?;/g)) {
    // The library's own constructor and destructor (dm_lib_init, dm_lib_exit)
    // run inside it; a forwarder would inherit the attribute and run at load.
    if (/constructor|destructor/.test(m[4] ?? '')) continue;
    const ret = m[1].trim().replace(/\s*\*\s*/g, ' *').replace(/^extern\s+/, '');
    if (/\b(typedef|struct\s+\w+\s*\{)/.test(ret)) continue;
    out.set(m[2], { ret, params: m[3].trim() });
  }
  return out;
}

/** Default symbol versions of the library: name -> version node. */
function versions() {
  const lib = execFileSync('sh', ['-c', 'for d in /lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib; do [ -e "$d/libdevmapper.so.1.02.1" ] && { echo "$d/libdevmapper.so.1.02.1"; exit; }; done'], { encoding: 'utf8' }).trim();
  const dump = execFileSync('objdump', ['-T', lib], { encoding: 'utf8' });
  const out = new Map();
  for (const line of dump.split('\n')) {
    const m = /\sDF\s+\.text\s+[0-9a-f]+\s+(\(?[\w.]+\)?)\s+(dm_\w+)$/.exec(line);
    if (!m || m[1].startsWith('(')) continue; // (hidden) versions are the old ABIs
    out.set(m[2], m[1]);
  }
  return out;
}

/** Splits a parameter list into [declaration, name] pairs. */
function parseParams(name, params) {
  if (params === 'void' || params === '') return [];
  if (params.includes('...')) throw new Error(`${name} is variadic: it cannot be forwarded`);
  return params.split(',').map((p) => {
    const m = /([A-Za-z_]\w*)\s*(\[\s*\])?$/.exec(p.trim());
    if (!m || /^(const|struct|int|char|void|unsigned|uint\d+_t|size_t)$/.test(m[1])) throw new Error(`${name}: unnamed parameter "${p}"`);
    return [p.trim(), m[1]];
  });
}

export function generate() {
  const protos = prototypes();
  const vers = versions();
  const used = usedFunctions();
  const names = new Set(used);
  for (const n of protos.keys()) if (EXTRA.has(n) || FAMILIES.some((re) => re.test(n))) names.add(n);
  const lines = [];
  for (const n of [...names].sort()) {
    const proto = protos.get(n);
    const version = vers.get(n);
    if (!proto || !version) {
      if (used.has(n)) throw new Error(`${n} is called in native/ but ${proto ? 'not exported by the library' : `not declared in ${header}`}`);
      continue; // a family member this library version lacks or declares as a macro
    }
    let params;
    try {
      params = parseParams(n, proto.params);
    } catch (e) {
      if (used.has(n)) throw e;
      continue;
    }
    const decl = params.length === 0 ? 'void' : params.map((p) => p[0]).join(', ');
    const args = params.map((p) => p[1]).join(', ');
    lines.push(`LIBDM_FN(${proto.ret}, ${n}, "${version}", (${decl}), (${args}))`);
  }
  return (
    '// Generated by scripts/gen-libdm.mjs from libdevmapper.h and the library\'s\n' +
    '// symbol versions: LIBDM_FN(return type, name, version, (parameters), (arguments)).\n' +
    '// Regenerate after calling a dm_* function not listed here.\n' +
    lines.join('\n') +
    '\n'
  );
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const text = generate();
  if (process.argv.includes('--check')) {
    const current = readFileSync(outFile, 'utf8');
    if (current !== text) {
      console.error(`${path.relative(root, outFile)} is out of date: run node scripts/gen-libdm.mjs`);
      process.exit(1);
    }
  } else {
    writeFileSync(outFile, text);
    console.log(`${path.relative(root, outFile)}: ${text.split('\n').filter((l) => l.startsWith('LIBDM_FN')).length} functions`);
  }
}
