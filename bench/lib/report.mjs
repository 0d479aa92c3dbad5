/** Turns the raw latencies into the report: JSON and the stdout table. */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { operationsTable, round, summarize, table } from './stats.mjs';

/** Every operation the report lists, with its label; `dmsetup`/`floor` say whether that baseline has it. */
export const OPERATIONS = [
  ['prepareParent', 'prepare (from a parent)'],
  ['prepareSized', 'prepare (from a parent, 2× the base size: + resize2fs)'],
  ['prepareParentless', 'prepare (parentless, new base layer)'],
  ['baseFirst', 'first parentless prepare (mkfs of the base)'],
  ['view', 'view'],
  ['commit', 'commit'],
  ['remove', 'remove (active snapshot)'],
  ['removeCommitted', 'remove (committed snapshot)'],
  ['stat', 'stat'],
  ['usage', 'usage (active)'],
  ['walk', 'walk'],
  ['poolSnapActivate', 'ThinPool create_snap + activate'],
  ['poolDeactivateDelete', 'ThinPool deactivate + delete'],
];

function machine() {
  let kernel = os.release();
  let cpu = os.cpus()[0]?.model ?? 'unknown';
  try {
    cpu = readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? cpu;
  } catch {}
  return { cpu, cores: os.cpus().length, memoryGiB: round(os.totalmem() / 2 ** 30, 1), kernel, node: process.version };
}

const ratioOf = (a, b) => (a && b ? round(a.medianMs / b.medianMs) : null);

export function buildReport({ kernel, host, config, smoke, ctr = null, coldStart = null }) {
  const secondMode = kernel.secondMode ?? null;
  const ops = OPERATIONS.map(([key, label]) => {
    const library = summarize(kernel.ops[key]);
    const dmsetup = summarize(kernel.dmsetup[key]);
    const floor = summarize(kernel.floor[key]);
    const libraryWait = summarize(kernel.opsWait?.[key]);
    const floorWait = summarize(kernel.floorWait?.[key]);
    const containerdGo = summarize(kernel.containerdGo?.[key]);
    return {
      key,
      name: label,
      library,
      dmsetup,
      floor,
      speedupVsDmsetup: ratioOf(dmsetup, library),
      overFloor: ratioOf(library, floor),
      libraryWait,
      floorWait,
      containerdGo,
      // containerd's Go code ÷ the library: how many times faster the library is, in each udev mode.
      containerdGoOverLibrary: ratioOf(containerdGo, library),
      containerdGoOverLibraryWait: ratioOf(containerdGo, libraryWait),
      overFloorWait: ratioOf(libraryWait, floorWait),
      speedupVsDmsetupWait: ratioOf(dmsetup, libraryWait),
    };
  });
  const by = Object.fromEntries(ops.map((o) => [o.key, o]));
  const targets = buildTargets({ kernel, by, secondMode, ctr, coldStart });

  const report = {
    schema: 1,
    date: new Date().toISOString(),
    smoke,
    udev: kernel.udev,
    machine: { ...machine(), kernelRunsIn: kernel.inVm ? `QEMU TCG guest (scripts/vm.sh, 2 vCPUs, kernel ${kernel.guestKernel}): emulated, absolute times inflated` : `native (kernel ${kernel.guestKernel})` },
    config,
    operations: ops,
    baselines: ['dmsetup', 'floor'],
    contenders: {
      library: `Snapshotter, thinDeviceUdev '${kernel.thinDeviceUdev ?? 'skip'}'`,
      libraryWait: secondMode ? `Snapshotter, thinDeviceUdev '${secondMode}' (its own identical pool)` : null,
      containerdGo: kernel.containerdGo ? "containerd 1.6's devmapper snapshotter (Go, Debian's sources; its own identical pool; times measured in Go)" : null,
    },
    targets,
    concurrencyWait: kernel.concurrencyWait ?? null,
    concurrencyContainerdGo: kernel.concurrencyContainerdGo ?? null,
    ctr,
    coldStart,
    scale: kernel.scale,
    simulatedScale: host?.simulatedScale ?? null,
    concurrency: kernel.concurrency,
    memory: { kernel: kernel.memory, simulated: host?.memory ?? null },
    walkSnapshots: kernel.walkSnapshots,
    breakdown: kernel.breakdown ?? null,
    primitives: kernel.primitives ?? null,
    metastoreTransaction: host?.metastoreTransaction ?? null,
    notes: kernel.notes,
  };

  const lines = [];
  lines.push(`devmapper bench${smoke ? ' (smoke)' : ''}: udev ${kernel.udev ? 'on' : 'off'}, ${config.iterations} iterations, ${config.baseMiB} MiB base, ${new Date().toISOString()}`);
  lines.push('');
  lines.push(operationsTable(ops));
  lines.push('');
  lines.push('dmsetup/lib: how many times faster the library is than the dmsetup path (containerd). lib/floor: library over the C libdevmapper floor.');
  if (kernel.containerdGo || secondMode) {
    lines.push('');
    lines.push(`side by side with udev (library in '${kernel.thinDeviceUdev ?? 'skip'}'${secondMode ? ` and '${secondMode}'` : ''} mode; containerd's Go snapshotter on its own pool):`);
    lines.push(contendersTable(ops, secondMode));
    lines.push("go/lib: containerd's Go devmapper snapshotter over the library (how many times faster the library is); lib/floor: over the C floor in the same udev mode.");
  }
  lines.push('');
  const scaleRows = Object.entries(kernel.scale).map(([n, s]) => [n, s.prepare.medianMs.toFixed(1), s.prepare.p95Ms.toFixed(1), s.remove.medianMs.toFixed(1), s.remove.p95Ms.toFixed(1), s.reopenMs?.toFixed(0), s.reopenSteadyMs?.toFixed(0)]);
  lines.push('scale (kernel pool; extra thin ids inactive):');
  lines.push(table(['thin ids', 'prepare med', 'prepare p95', 'remove med', 'remove p95', 'first reopen ms', 'later reopen ms'], scaleRows));
  if (host) {
    lines.push('');
    lines.push('scale (metastore + id allocator, simulated pool, on the host):');
    lines.push(table(['snapshots', 'prepare med', 'prepare p95', 'remove med', 'remove p95'], Object.entries(host.simulatedScale).map(([n, s]) => [n, s.prepare.medianMs.toFixed(2), s.prepare.p95Ms.toFixed(2), s.remove.medianMs.toFixed(2), s.remove.p95Ms.toFixed(2)])));
  }
  lines.push('');
  lines.push('concurrency (prepares from one parent, prepares/s):');
  const conc = [['library', kernel.concurrency], ...(kernel.concurrencyWait ? [[`library '${secondMode}'`, kernel.concurrencyWait]] : []), ...(kernel.concurrencyContainerdGo ? [["containerd's Go", kernel.concurrencyContainerdGo]] : [])];
  lines.push(table(['concurrent', 'ops', ...conc.map(([l]) => l)], Object.entries(kernel.concurrency).map(([c, v]) => [c, v.ops, ...conc.map(([, m]) => m[c]?.opsPerSec.toFixed(2))])));
  if (ctr) {
    lines.push('');
    lines.push(`ctr through containerd (${ctr.rounds} interleaved rounds, median ms): the library's server (devmapper serve, proxy plugin) vs containerd's in-process devmapper:`);
    lines.push(table(['ctr command', 'proxy (library)', 'containerd devmapper', 'devmapper/proxy'], Object.entries(ctr.commands).map(([k, v]) => [k, v.proxy?.medianMs.toFixed(0), v.devmapper?.medianMs.toFixed(0), v.ratio === null ? '-' : `${v.ratio.toFixed(2)}x`])));
  }
  if (ctr?.error) lines.push(`ctr: not measured: ${ctr.error}`);
  if (coldStart?.rows) {
    lines.push('');
    lines.push('cold start in the same boot (median ms, × node -e 0):');
    lines.push(table(['command', 'median ms', '× node -e 0'], coldStart.rows.map((r) => [r.name, r.medianMs, `${r.ratio.toFixed(2)}x`])));
  }
  if (coldStart?.error) lines.push(`cold start: not measured: ${coldStart.error}`);
  lines.push('');
  if (host?.memory?.rssMiB) lines.push(`memory: RSS ${host.memory.rssMiB} MiB holding a snapshotter over ${host.memory.snapshots} snapshots (simulated pool; +${host.memory.rssGrowthMiB} MiB over the empty one)`);
  lines.push(`memory: RSS ${kernel.memory.kernelRssMiB} MiB in the guest after the scale runs (${kernel.memory.kernelDevicesInMetastore} foreign ids in metastore)`);
  if (kernel.breakdown) {
    lines.push('');
    lines.push('where the time goes (pool calls per operation; "a > b" is b inside a; the rest is metastore, locks and JS):');
    for (const [op, b] of Object.entries(kernel.breakdown)) {
      const inPool = Object.entries(b.calls).filter(([k]) => !k.includes(' > ')).reduce((x, [, v]) => x + v.msPerOp, 0);
      lines.push(`  ${op}: ${b.meanMs} ms mean; pool calls ${inPool.toFixed(1)} ms, rest ${(b.meanMs - inPool).toFixed(1)} ms`);
      for (const [k, v] of Object.entries(b.calls)) lines.push(`    ${k.padEnd(44)} ${String(v.callsPerOp).padStart(5)} calls  ${v.msPerOp.toFixed(1).padStart(8)} ms`);
    }
  }
  if (kernel.primitives) {
    lines.push('');
    lines.push('single library calls from node (median ms):');
    lines.push(`  ${Object.entries(kernel.primitives).map(([k, v]) => `${k} ${v.medianMs.toFixed(1)}`).join('; ')}`);
  }
  if (host?.metastoreTransaction) lines.push(`  metastore synced batch on the host's ${host.metastoreDirectory}: median ${host.metastoreTransaction.medianMs} ms, p95 ${host.metastoreTransaction.p95Ms} ms`);
  lines.push('');
  lines.push('targets:');
  lines.push(table(['target', 'measured', 'met'], targets.map((t) => [t.target, t.value === null ? '-' : `${t.value}x`, t.value === null ? '-' : t.met ? 'yes' : 'NO'])));
  return { report, text: lines.join('\n') };
}

/** The side-by-side table: each contender's median and the ratios, per operation it has. */
function contendersTable(ops, secondMode) {
  const f = (s) => (s ? (s.medianMs >= 100 ? s.medianMs.toFixed(0) : s.medianMs.toFixed(1)) : null);
  const x = (r) => (r === null || r === undefined ? null : `${r.toFixed(2)}x`);
  const rows = ops
    .filter((o) => o.containerdGo || o.libraryWait)
    .map((o) => [o.name, f(o.containerdGo), f(o.library), x(o.containerdGoOverLibrary), x(o.overFloor), ...(secondMode ? [f(o.libraryWait), x(o.containerdGoOverLibraryWait), x(o.overFloorWait)] : []), f(o.dmsetup)]);
  const w = secondMode ? [`lib ${secondMode} ms`, `go/lib ${secondMode}`, `lib/floor ${secondMode}`] : [];
  return table(['operation', 'containerd Go ms', 'lib ms', 'go/lib', 'lib/floor', ...w, 'dmsetup ms'], rows);
}

/**
 * Issue 16's targets, each with its measured value and whether it is met:
 * speed against containerd's own devmapper code in both udev modes of the
 * library, the C floor, concurrency, reopen at scale, cold start and ctr.
 * A value is null (and met false) when this run did not measure it.
 */
function buildTargets({ kernel, by, secondMode, ctr, coldStart }) {
  const t = [];
  const add = (target, value, ok) => t.push({ target, value: value ?? null, met: value !== null && value !== undefined && ok(value) });
  const modes = [[kernel.thinDeviceUdev ?? 'skip', 'containerdGoOverLibrary', 'overFloor', kernel.concurrency], ...(secondMode ? [[secondMode, 'containerdGoOverLibraryWait', 'overFloorWait', kernel.concurrencyWait]] : [])];
  for (const [mode, vsGo] of modes) {
    add(`prepare from a parent ≥ 8× faster than containerd's devmapper (library '${mode}')`, by.prepareParent[vsGo], (v) => v >= 8);
    add(`remove (active) ≥ 8× faster than containerd's devmapper (library '${mode}')`, by.remove[vsGo], (v) => v >= 8);
    add(`parentless prepare ≥ 20× faster than containerd's devmapper (library '${mode}')`, by.prepareParentless[vsGo], (v) => v >= 20);
    add(`commit ≥ 5× faster than containerd's devmapper (library '${mode}')`, by.commit[vsGo], (v) => v >= 5);
  }
  for (const [mode, , overFloor] of modes) {
    for (const op of ['prepareParent', 'commit', 'remove']) add(`${op} within 1.25× of the C floor (library '${mode}')`, by[op][overFloor], (v) => v <= 1.25);
  }
  for (const [mode, , , conc] of modes) {
    const one = conc?.['1']?.opsPerSec;
    const sixteen = conc?.['16']?.opsPerSec;
    add(`16 concurrent prepares ≥ 4× the throughput of 1 (library '${mode}'${mode === 'wait' ? ', where udev waits remain' : ''})`, one && sixteen ? round(sixteen / one, 2) : null, (v) => v >= 4);
  }
  const levels = Object.keys(kernel.scale).map(Number);
  const top = Math.max(...levels);
  const topLabel = top >= 10000 ? '10,000' : String(top);
  for (const [key, when] of [['reopenSteadyMs', 'later reopens'], ['reopenMs', 'first reopen after the ids appear']]) {
    const reopen0 = kernel.scale['0']?.[key];
    const reopenTop = kernel.scale[String(top)]?.[key];
    add(`reopen with ${topLabel} thin ids within 1.5× of reopen with none (${when})`, top > 0 && reopen0 && reopenTop ? round(reopenTop / reopen0, 2) : null, (v) => v <= 1.5);
  }
  const cold = (pattern) => coldStart?.rows?.find((r) => pattern.test(r.name))?.ratio;
  add("cold start: import 'devmapper' within 1.5× of node -e 0", cold(/^import 'devmapper'$/), (v) => v <= 1.5);
  for (const name of ['devmapper --help', 'devmapper --version', 'devmapper pool status', 'devmapper snapshot ls', 'devmapper serve (socket accepts)']) {
    add(`cold start: ${name} within 2× of node -e 0`, cold(new RegExp(`^${name.replace(/[()]/g, '\\$&')}$`)), (v) => v <= 2);
  }
  for (const cmd of ['ctr images import', 'ctr run --rm']) add(`${cmd} through the proxy ≥ 2× faster than containerd's devmapper`, ctr?.commands?.[cmd]?.ratio, (v) => v >= 2);
  return t;
}
