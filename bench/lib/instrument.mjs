/**
 * Where a snapshotter operation's time goes: wraps a pool's methods (and the
 * thin device handles it gives out) to add up the time spent in each pool
 * call; what is left of the operation is the metastore, locks and JS.
 */
const POOL_METHODS = ['status', 'createSnapshot', 'createThin', 'deleteThin', 'activate', 'setTransactionId', 'activeDevice', 'transactionId'];
const DEVICE_METHODS = ['activate', 'deactivate', 'status', 'suspend', 'resume', 'isActive'];
const WRAPPED = Symbol('bench-wrapped');

export function instrument(pool) {
  const totals = new Map();
  let depth = 0;
  let outer = '';
  const wrap = (obj, method, label) => {
    const original = obj[method];
    obj[method] = async function (...args) {
      const key = depth === 0 ? label : `${outer} > ${label}`;
      const savedOuter = outer;
      if (depth === 0) outer = label;
      depth++;
      const t0 = performance.now();
      try {
        return await original.apply(this, args);
      } finally {
        depth--;
        outer = savedOuter;
        const e = totals.get(key) ?? { calls: 0, ms: 0 };
        e.calls++;
        e.ms += performance.now() - t0;
        totals.set(key, e);
      }
    };
    return () => {
      delete obj[method];
    };
  };
  const undo = POOL_METHODS.map((m) => wrap(pool, m, `pool.${m}`));
  const device = pool.device;
  pool.device = function (spec) {
    const d = device.call(this, spec);
    if (!d[WRAPPED]) {
      d[WRAPPED] = true;
      for (const m of DEVICE_METHODS) wrap(d, m, `device.${m}`);
    }
    return d;
  };
  return {
    /** Totals since the last call, per operation when divided by `ops`. */
    take(ops) {
      const out = {};
      for (const [k, v] of [...totals.entries()].sort((a, b) => b[1].ms - a[1].ms)) out[k] = { callsPerOp: +(v.calls / ops).toFixed(2), msPerOp: +(v.ms / ops).toFixed(2) };
      totals.clear();
      return out;
    },
    restore() {
      for (const u of undo) u();
      delete pool.device;
    },
  };
}
