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

export function buildReport({ kernel, host, config, smoke }) {
  const ops = OPERATIONS.map(([key, label]) => {
    const library = summarize(kernel.ops[key]);
    const dmsetup = summarize(kernel.dmsetup[key]);
    const floor = summarize(kernel.floor[key]);
    return {
      key,
      name: label,
      library,
      dmsetup,
      floor,
      speedupVsDmsetup: library && dmsetup ? round(dmsetup.medianMs / library.medianMs) : null,
      overFloor: library && floor ? round(library.medianMs / floor.medianMs) : null,
    };
  });
  const by = Object.fromEntries(ops.map((o) => [o.key, o]));
  const mkfs = summarize(kernel.dmsetup.prepareParentless);
  const s0 = kernel.scale['0'];
  const top = Math.max(...Object.keys(kernel.scale).map(Number));
  const sTop = kernel.scale[String(top)];
  const targets = [
    { target: 'prepare from a parent ≥ 8× faster than the dmsetup path', value: by.prepareParent.speedupVsDmsetup, met: by.prepareParent.speedupVsDmsetup >= 8 },
    { target: 'prepare from a parent within 1.25× of the C floor', value: by.prepareParent.overFloor, met: by.prepareParent.overFloor <= 1.25 },
    { target: 'parentless prepare ≥ 20× faster than mkfs per base layer', value: mkfs && by.prepareParentless.library ? round(mkfs.medianMs / by.prepareParentless.library.medianMs) : null },
    { target: 'remove ≥ 6× faster than the dmsetup path', value: by.remove.speedupVsDmsetup, met: by.remove.speedupVsDmsetup >= 6 },
    { target: `prepare latency at ${top} devices within 1.2× of at 0`, value: s0 && sTop ? round(sTop.prepare.medianMs / s0.prepare.medianMs) : null },
    { target: `remove latency at ${top} devices within 1.2× of at 0`, value: s0 && sTop ? round(sTop.remove.medianMs / s0.remove.medianMs) : null },
  ];
  targets[2].met = targets[2].value >= 20;
  targets[4].met = targets[4].value !== null && targets[4].value <= 1.2;
  targets[5].met = targets[5].value !== null && targets[5].value <= 1.2;

  const report = {
    schema: 1,
    date: new Date().toISOString(),
    smoke,
    udev: kernel.udev,
    machine: { ...machine(), kernelRunsIn: kernel.inVm ? `QEMU TCG guest (scripts/vm.sh, 2 vCPUs, kernel ${kernel.guestKernel}): emulated, absolute times inflated` : `native (kernel ${kernel.guestKernel})` },
    config,
    operations: ops,
    baselines: ['dmsetup', 'floor'],
    targets,
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
  lines.push('');
  const scaleRows = Object.entries(kernel.scale).map(([n, s]) => [n, s.prepare.medianMs.toFixed(1), s.prepare.p95Ms.toFixed(1), s.remove.medianMs.toFixed(1), s.remove.p95Ms.toFixed(1), s.reopenMs?.toFixed(0)]);
  lines.push('scale (kernel pool; extra thin ids inactive):');
  lines.push(table(['thin ids', 'prepare med', 'prepare p95', 'remove med', 'remove p95', 'reopen ms'], scaleRows));
  if (host) {
    lines.push('');
    lines.push('scale (metastore + id allocator, simulated pool, on the host):');
    lines.push(table(['snapshots', 'prepare med', 'prepare p95', 'remove med', 'remove p95'], Object.entries(host.simulatedScale).map(([n, s]) => [n, s.prepare.medianMs.toFixed(2), s.prepare.p95Ms.toFixed(2), s.remove.medianMs.toFixed(2), s.remove.p95Ms.toFixed(2)])));
  }
  lines.push('');
  lines.push('concurrency (prepares from one parent):');
  lines.push(table(['concurrent', 'ops', 'prepares/s'], Object.entries(kernel.concurrency).map(([c, v]) => [c, v.ops, v.opsPerSec.toFixed(2)])));
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
  lines.push(table(['target', 'measured', 'met'], targets.map((t) => [t.target, t.value === null ? '-' : `${t.value}x`, t.met ? 'yes' : 'NO'])));
  return { report, text: lines.join('\n') };
}
