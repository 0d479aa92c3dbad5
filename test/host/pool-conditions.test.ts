import { describe, expect, it } from 'vitest';
import { parseThinPoolStatus } from '../../src/dm/index.js';
import { poolConditions } from '../../src/thin/index.js';

const KiB64 = 64 * 1024;

/** A status line with `usedData` of 100 data blocks and `usedMeta` of 1000 metadata blocks used. */
function status(usedData: number, usedMeta: number, mode = 'rw', watermark = 8): ReturnType<typeof parseThinPoolStatus> {
  return parseThinPoolStatus(`1 ${usedMeta}/1000 ${usedData}/100 - ${mode} discard_passdown error_if_no_space - ${watermark}`, { dataBlockSizeBytes: KiB64 });
}

describe('pool conditions', () => {
  it('lowWater and metadataLow hold below the warning margin, before the guard (at half the margin) refuses', () => {
    // Warning margin 20% free: the default for a guard at 10%.
    expect([...poolConditions(status(79, 100), 0, 20)]).toEqual([]);
    expect([...poolConditions(status(81, 100), 0, 20)]).toEqual(['lowWater']);
    expect([...poolConditions(status(10, 810), 0, 20)]).toEqual(['metadataLow']);
    expect([...poolConditions(status(81, 810), 0, 20)].sort()).toEqual(['lowWater', 'metadataLow']);
  });

  it('without a margin only the kernel marks count: the low water mark in blocks and the metadata watermark', () => {
    expect([...poolConditions(status(95, 100), 0, 0)]).toEqual([]);
    expect([...poolConditions(status(90, 100), 10, 0)]).toEqual(['lowWater']);
    expect([...poolConditions(status(10, 992), 0, 0)]).toEqual(['metadataLow']);
  });

  it('unhealthy modes raise their own conditions', () => {
    expect([...poolConditions(status(100, 10, 'out_of_data_space'), 0, 20)].sort()).toEqual(['lowWater', 'outOfDataSpace']);
    expect([...poolConditions(status(10, 10, 'ro'), 0, 20)]).toEqual(['readOnly']);
    const failed = parseThinPoolStatus('Fail', { dataBlockSizeBytes: KiB64 });
    expect([...poolConditions(failed, 10, 20)]).toEqual(['failed']);
  });
});
