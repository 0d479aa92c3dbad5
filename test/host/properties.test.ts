import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DeviceMapperError,
  MAX_SECTORS,
  PoolMessages,
  THIN_POOL_FEATURES,
  bytesToSectors,
  delayRow,
  flakeyRow,
  formatTable,
  isPoolMessage,
  isValidDeviceName,
  isValidUuid,
  linearRow,
  parseDelayParams,
  parseErrorParams,
  parseFlakeyParams,
  parseLinearParams,
  parseTable,
  parseThinParams,
  parseThinPoolParams,
  parseThinPoolStatus,
  parseThinStatus,
  parseZeroParams,
  sectors,
  sectorsToBytes,
  tableRow,
  thinPoolRow,
  thinRow,
  validateDeviceName,
  validateUuid,
  type DelayParams,
  type FlakeyFeatures,
  type FlakeyParams,
  type Sectors,
  type ThinParams,
  type ThinPoolFeature,
} from '../../src/dm/index.js';

const RUNS = { numRuns: 500 };

/** Runs `f`, failing the property if it throws anything but a DeviceMapperError with code EINVAL. */
function onlyEinval(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    if (!(e instanceof DeviceMapperError) || e.code !== 'EINVAL') throw new Error(`unexpected throw: ${String(e)}`);
  }
}

// Words that reach deep into the parsers: numbers at the edges, devices, keywords.
const word = fc.oneof(
  fc.constantFrom(
    '0', '1', '128', '2048', '16777215', '16777216', '4294967295', '4294967296', '9007199254740991',
    '9007199254740992', '18446744073709551615', '-', '-1', '1.5', '1e3', '0x10', '', ' ', '\t', '/', '1/2', '3/2', '/1',
    '7:0', '253:1', '4096:0', '/dev/loop0', 'Fail', 'Error', 'rw', 'ro', 'out_of_data_space', 'discard_passdown',
    'no_discard_passdown', 'ignore_discard', 'queue_if_no_space', 'error_if_no_space', 'needs_check', 'skip_block_zeroing',
    'read_only', 'drop_writes', 'error_writes', 'error_reads', 'corrupt_bio_byte', 'r', 'w', 'random_read_corrupt',
    'random_write_corrupt', 'linear', 'thin-pool', '__proto__', 'constructor', 'toString', '\n', '\u00a0', 'é',
  ),
  fc.nat().map(String),
  fc.string({ maxLength: 8 }),
);
const hostile = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.string({ unit: 'grapheme', maxLength: 100 }),
  fc.array(word, { maxLength: 14 }).map((ws) => ws.join(' ')),
  fc.array(word, { maxLength: 6 }).map((ws) => `0 ${ws.length} ${ws.join(' ')}`),
);

const parsers: Array<[string, (text: string) => unknown]> = [
  ['parseTable', parseTable],
  ['parseLinearParams', parseLinearParams],
  ['parseZeroParams', parseZeroParams],
  ['parseErrorParams', parseErrorParams],
  ['parseThinPoolParams', parseThinPoolParams],
  ['parseThinParams', parseThinParams],
  ['parseFlakeyParams', parseFlakeyParams],
  ['parseDelayParams', parseDelayParams],
  ['parseThinStatus', parseThinStatus],
  ['parseThinPoolStatus', (t) => parseThinPoolStatus(t, { dataBlockSizeBytes: 65536 })],
  ['parseThinPoolStatus with features', (t) => parseThinPoolStatus(t, { dataBlockSizeBytes: 65536, features: ['ignore_discard', 'error_if_no_space'] })],
];

describe('parsers on hostile input', () => {
  it.each(parsers)('%s returns or throws DeviceMapperError EINVAL, nothing else', (_, parse) => {
    fc.assert(fc.property(hostile, (text) => onlyEinval(() => parse(text))), RUNS);
  });

  it('parseThinPoolStatus with a hostile context throws only EINVAL', () => {
    fc.assert(
      fc.property(fc.anything(), hostile, (size, text) => onlyEinval(() => parseThinPoolStatus(text, { dataBlockSizeBytes: size as number }))),
      RUNS,
    );
  });

  it('parsed thin-pool status figures are consistent', () => {
    const line = fc
      .record({
        tid: fc.nat(),
        mTotal: fc.nat({ max: 1 << 24 }),
        dTotal: fc.nat({ max: 1 << 30 }),
        mFrac: fc.double({ min: 0, max: 1, noNaN: true }),
        dFrac: fc.double({ min: 0, max: 1, noNaN: true }),
        held: fc.option(fc.nat(), { nil: null }),
        mode: fc.constantFrom('rw', 'ro', 'out_of_data_space'),
        discard: fc.constantFrom('discard_passdown', 'no_discard_passdown', 'ignore_discard'),
        policy: fc.constantFrom('queue', 'error'),
        check: fc.boolean(),
        wm: fc.nat(),
        blockSectors: fc.integer({ min: 1, max: 16384 }).map((k) => k * 128),
      })
      .map((r) => ({ ...r, mUsed: Math.floor(r.mTotal * r.mFrac), dUsed: Math.floor(r.dTotal * r.dFrac) }))
      // Pools beyond 2^53 bytes are refused (EINVAL); that case is tested on its own.
      .filter((r) => Number.isSafeInteger(r.dTotal * r.blockSectors * 512));
    fc.assert(
      fc.property(line, (r) => {
        const text = `${r.tid} ${r.mUsed}/${r.mTotal} ${r.dUsed}/${r.dTotal} ${r.held ?? '-'} ${r.mode} ${r.discard} ${r.policy}_if_no_space ${r.check ? 'needs_check' : '-'} ${r.wm}`;
        const bs = r.blockSectors * 512;
        const st = parseThinPoolStatus(text, { dataBlockSizeBytes: bs });
        expect(st).toMatchObject({
          transactionId: r.tid,
          usedMetadataBlocks: r.mUsed,
          totalMetadataBlocks: r.mTotal,
          usedDataBlocks: r.dUsed,
          totalDataBlocks: r.dTotal,
          heldMetadataRoot: r.held,
          mode: r.mode,
          discard: r.discard,
          noSpacePolicy: r.policy,
          needsCheck: r.check,
          metadataLowWatermark: r.wm,
        });
        expect(st.data.totalBytes).toBe(r.dTotal * bs);
        expect(st.data.usedBytes + st.data.availableBytes).toBe(st.data.totalBytes);
        expect(st.metadata.usedBytes + st.metadata.availableBytes).toBe(r.mTotal * 4096);
      }),
      RUNS,
    );
  });
});

// Valid inputs.
const sectorArb = fc.integer({ min: 0, max: MAX_SECTORS }).map((n) => sectors(n));
const device = fc.oneof(
  fc.tuple(fc.integer({ min: 0, max: 4095 }), fc.integer({ min: 0, max: 0xfffff })).map(([a, b]) => `${a}:${b}`),
  fc.stringMatching(/^\/[\x21-\x5b\x5d-\x7e]{0,60}$/),
);
const extent = fc.integer({ min: 1, max: 1 << 40 }).map((n) => ({ length: sectors(n) }));

describe('builders and parsers round-trip', () => {
  it('linear', () => {
    fc.assert(
      fc.property(device, sectorArb, extent, (dev, offset, ext) => {
        const params = { device: dev, offset };
        expect(parseLinearParams(linearRow(params, ext).params)).toEqual(params);
      }),
      RUNS,
    );
  });

  it('thin-pool (features come back deduplicated in kernel order)', () => {
    const arb = fc.record({
      metadataDevice: device,
      dataDevice: device,
      dataBlockSize: fc.integer({ min: 1, max: 16384 }).map((k) => sectors(k * 128)),
      lowWaterMark: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
      features: fc.array(fc.constantFrom(...THIN_POOL_FEATURES), { maxLength: 8 }),
    });
    fc.assert(
      fc.property(arb, extent, (params, ext) => {
        const parsed = parseThinPoolParams(thinPoolRow(params, ext).params);
        const expected: ThinPoolFeature[] = THIN_POOL_FEATURES.filter((f) => params.features.includes(f));
        expect(parsed).toEqual({ ...params, features: expected });
      }),
      RUNS,
    );
  });

  it('thin', () => {
    const arb: fc.Arbitrary<ThinParams> = fc.record(
      { poolDevice: device, deviceId: fc.integer({ min: 0, max: 0xffffff }), externalOrigin: device },
      { requiredKeys: ['poolDevice', 'deviceId'] },
    );
    fc.assert(fc.property(arb, extent, (params, ext) => {
      expect(parseThinParams(thinRow(params, ext).params)).toEqual(params);
    }), RUNS);
  });

  it('flakey', () => {
    const corrupt = fc.record({
      nthByte: fc.integer({ min: 1, max: 0xffffffff }),
      direction: fc.constantFrom('r' as const, 'w' as const),
      value: fc.integer({ min: 0, max: 255 }),
      flags: fc.integer({ min: 0, max: 0xffffffff }),
    });
    const features: fc.Arbitrary<FlakeyFeatures> = fc
      .record(
        {
          errorReads: fc.constant(true),
          dropWrites: fc.constant(true),
          errorWrites: fc.constant(true),
          corruptBioByte: corrupt,
          randomReadCorrupt: fc.integer({ min: 1, max: 1_000_000_000 }),
          randomWriteCorrupt: fc.integer({ min: 1, max: 1_000_000_000 }),
        },
        { requiredKeys: [] },
      )
      .filter(
        (f) =>
          !(f.dropWrites && f.errorWrites) &&
          !((f.dropWrites || f.errorWrites) && (f.corruptBioByte?.direction === 'w' || f.randomWriteCorrupt)) &&
          !(f.errorReads && (f.corruptBioByte?.direction === 'r' || f.randomReadCorrupt)),
      );
    const arb: fc.Arbitrary<FlakeyParams & { features: FlakeyFeatures }> = fc
      .record({
        device,
        offset: sectorArb,
        upInterval: fc.integer({ min: 0, max: 0x7fffffff }),
        downInterval: fc.integer({ min: 0, max: 0x7fffffff }),
        features,
      })
      .filter((p) => p.upInterval + p.downInterval > 0);
    fc.assert(fc.property(arb, extent, (params, ext) => {
      expect(parseFlakeyParams(flakeyRow(params, ext).params)).toEqual(params);
    }), RUNS);
  });

  it('delay', () => {
    const cls = fc.record({ device, offset: sectorArb, delayMs: fc.integer({ min: 0, max: 0xffffffff }) });
    const arb: fc.Arbitrary<DelayParams> = fc.oneof(
      fc.record({ read: cls }),
      fc.record({ read: cls, write: cls }),
      fc.record({ read: cls, write: cls, flush: cls }),
    );
    fc.assert(fc.property(arb, extent, (params, ext) => {
      expect(parseDelayParams(delayRow(params, ext).params)).toEqual(params);
    }), RUNS);
  });

  it('dmsetup table text', () => {
    const row = fc.tuple(
      fc.stringMatching(/^[a-z][a-z-]{0,14}$/),
      fc.integer({ min: 1, max: 1 << 30 }),
      fc.stringMatching(/^([\x21-\x7e]+( [\x21-\x7e]+)*)?$/),
    );
    fc.assert(
      fc.property(fc.array(row, { maxLength: 6 }), (specs) => {
        let start = 0;
        const rows = specs.map(([type, length, params]) => {
          const r = tableRow(type, { start: sectors(start), length: sectors(length) }, params);
          start += length;
          return r;
        });
        expect(parseTable(formatTable(rows))).toEqual(rows);
      }),
      RUNS,
    );
  });

  it('pool messages are recognised as built, and forged variants are not', () => {
    const id = fc.integer({ min: 0, max: 0xffffff });
    const msg = fc.oneof(
      id.map(PoolMessages.createThin),
      fc.tuple(id, id).map(([a, b]) => PoolMessages.createSnap(a, b)),
      id.map(PoolMessages.deleteThin),
      fc.tuple(fc.nat(), fc.nat()).map(([a, b]) => PoolMessages.setTransactionId(a, b)),
      fc.constant(PoolMessages.reserveMetadataSnap()),
      fc.constant(PoolMessages.releaseMetadataSnap()),
    );
    fc.assert(
      fc.property(msg, fc.string({ minLength: 1, maxLength: 4 }), (m, junk) => {
        expect(isPoolMessage(m)).toBe(true);
        // Every verb has a fixed number of arguments: nothing can be appended or prepended.
        expect(isPoolMessage(`${m} ${junk}`)).toBe(false);
        expect(isPoolMessage(`${junk} ${m}`)).toBe(false);
        expect(isPoolMessage(`${m}\n${junk}`)).toBe(false);
      }),
      RUNS,
    );
  });
});

describe('validators accept exactly the specified alphabet', () => {
  const printable = (s: string) => [...s].every((c) => c.charCodeAt(0) >= 0x21 && c.charCodeAt(0) <= 0x7e && c.length === 1);
  // udev's and libdevmapper's whitelist: the names no layer renames.
  const kept = new Set('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789#+-.:=@_');
  const nameRef = (s: string) => s.length >= 1 && s.length <= 127 && [...s].every((c) => kept.has(c)) && !['.', '..', 'control'].includes(s);
  const uuidRef = (s: string) => s.length >= 1 && s.length <= 128 && printable(s);
  const candidates = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 140 }),
    fc.string({ maxLength: 140 }),
    fc.stringMatching(/^[\x20-\x7f./]{0,135}$/),
    fc.stringMatching(/^[A-Za-z0-9#+\-.:=@_!~]{0,135}$/),
    fc.constantFrom('.', '..', '...', '/', 'control', 'a'.repeat(127), 'a'.repeat(128), 'u'.repeat(129)),
  );

  it('device names', () => {
    fc.assert(
      fc.property(candidates, (s) => {
        expect(isValidDeviceName(s)).toBe(nameRef(s));
        if (nameRef(s)) expect(validateDeviceName(s)).toBe(s);
        else expect(() => validateDeviceName(s)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
      }),
      { numRuns: 2000 },
    );
  });

  it('uuids', () => {
    fc.assert(
      fc.property(candidates, (s) => {
        expect(isValidUuid(s)).toBe(uuidRef(s));
        if (!uuidRef(s)) expect(() => validateUuid(s)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('units', () => {
  it('bytesToSectors is exact on multiples of 512 and refuses every other integer', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_SECTORS }), fc.integer({ min: 1, max: 511 }), (n, r) => {
        expect(bytesToSectors(n * 512)).toBe(n);
        expect(sectorsToBytes(n as Sectors)).toBe(n * 512);
        if (n * 512 + r <= Number.MAX_SAFE_INTEGER) expect(() => bytesToSectors(n * 512 + r)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
      }),
      RUNS,
    );
  });

  it('bytesToSectors throws only EINVAL on any value', () => {
    fc.assert(fc.property(fc.anything(), (v) => onlyEinval(() => bytesToSectors(v as number))), RUNS);
    fc.assert(fc.property(fc.double(), (v) => onlyEinval(() => bytesToSectors(v))), RUNS);
  });
});
