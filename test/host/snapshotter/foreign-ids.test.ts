/** ForeignIds (id runs) against a plain Set of the same ids. */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { ForeignIds } from '../../../src/snapshotter/foreign-ids.js';

const idSets = fc.uniqueArray(fc.integer({ min: 1, max: 200 }), { maxLength: 120 }).map((ids) => ids.sort((a, b) => a - b));

describe('ForeignIds', () => {
  test('holds exactly its ids; minus, with, equals and the stored form agree with a Set', () => {
    fc.assert(
      fc.property(idSets, idSets, fc.integer({ min: 1, max: 200 }), (a, b, extra) => {
        const x = ForeignIds.fromSorted(a);
        const y = ForeignIds.fromSorted(b);
        expect([...x.ids()]).toEqual(a);
        expect(x.size).toBe(a.length);
        for (let id = 0; id <= 201; id++) expect(x.has(id)).toBe(a.includes(id));
        const inB = new Set(b);
        expect(x.minus(y)).toEqual(a.filter((id) => !inB.has(id)));
        expect([...x.with(extra).ids()]).toEqual([...new Set([...a, extra])].sort((p, q) => p - q));
        expect(x.equals(y)).toBe(JSON.stringify(a) === JSON.stringify(b));
        expect(ForeignIds.fromRecord(JSON.parse(JSON.stringify(x.toRecord()))).equals(x)).toBe(true);
        expect([...ForeignIds.fromSorted(a, inB).ids()]).toEqual(a.filter((id) => !inB.has(id)));
        // Runs never touch: the stored form is the shortest.
        const runs = x.toRecord();
        for (let i = 1; i < runs.length; i++) expect(runs[i]![0]).toBeGreaterThan(runs[i - 1]![1] + 1);
      }),
    );
  });

  test('a stored record that is not ascending, non-touching runs of integers is refused', () => {
    for (const bad of [null, {}, [[1]], [[2, 1]], [[1, 2], [3, 4]], [[5, 6], [1, 2]], [['1', 2]], [[1.5, 2]]]) {
      expect(() => ForeignIds.fromRecord(bad), JSON.stringify(bad)).toThrow(TypeError);
    }
  });
});
