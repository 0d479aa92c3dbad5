import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { InvalidArgumentError } from '../../../src/snapshotter/errors.js';
import { MAX_FILTER_LENGTH, compileFilters, parseFilter } from '../../../src/snapshotter/filters.js';
import type { Info } from '../../../src/snapshotter/types.js';

const info = (name: string, extra: Partial<Info> = {}): Info => ({
  name,
  kind: 'active',
  labels: {},
  created: new Date(0),
  updated: new Date(0),
  ...extra,
});

describe('parseFilter', () => {
  test('selectors, quoting and operators', () => {
    expect(parseFilter('name==foo')).toEqual([{ fieldpath: ['name'], operator: '==', value: 'foo' }]);
    expect(parseFilter('labels."a.b/c"!="x y"')).toEqual([{ fieldpath: ['labels', 'a.b/c'], operator: '!=', value: 'x y' }]);
    expect(parseFilter('labels.foo')).toEqual([{ fieldpath: ['labels', 'foo'], operator: 'present', value: '' }]);
    expect(parseFilter(' name == a.b , kind==view ')).toEqual([
      { fieldpath: ['name'], operator: '==', value: 'a.b' },
      { fieldpath: ['kind'], operator: '==', value: 'view' },
    ]);
    expect(parseFilter('name=="\\x41\\u00e9\\101\\n\\"\\\\"')).toEqual([{ fieldpath: ['name'], operator: '==', value: 'AéA\n"\\' }]);
    expect(parseFilter('name=="\\xc3\\xa9"')[0]?.value).toBe('é');
    expect(parseFilter('')).toEqual([]);
  });

  test.each([
    'name=',
    'name==',
    '==x',
    'name~=x',
    'name===x',
    'name!x',
    'name==a,',
    ',name==a',
    'name==a b',
    'labels."unterminated',
    'labels."bad\\q"',
    'labels."\\xff"',
    'labels."\\ud800"',
    'name==.x',
    'name==!x',
    '.name',
    'name.',
    'na me==x',
    'labels."a"b',
    'name=="x"y',
    '"\n"',
  ])('%j is refused', (text) => {
    expect(() => parseFilter(text)).toThrow(InvalidArgumentError);
  });

  test('oversized filters are refused', () => {
    expect(() => parseFilter(`name==${'x'.repeat(MAX_FILTER_LENGTH)}`)).toThrow(InvalidArgumentError);
  });

  test('hostile strings parse or fail with InvalidArgumentError, never anything else', () => {
    const alphabet = fc.constantFrom(...'name=labels."\\,.!~ \t\nxu0123456789abcdefXU/|\'é😀\u0000'.split(''), '\ud800', '==', '!=', 'labels.', '"');
    const hostile = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.array(alphabet, { maxLength: 60 }).map((parts) => parts.join('')),
    );
    fc.assert(
      fc.property(hostile, (text) => {
        try {
          const selectors = parseFilter(text);
          expect(Array.isArray(selectors)).toBe(true);
          compileFilters([text])(info('x', { labels: { a: 'b' } }));
        } catch (e) {
          expect(e).toBeInstanceOf(InvalidArgumentError);
        }
      }),
      { numRuns: 2000 },
    );
  });

  test('long hostile input stays linear', () => {
    const started = Date.now();
    for (const text of ['labels.'.repeat(2000), '"\\'.repeat(5000), 'a,'.repeat(8000), `name==${'\\'.repeat(16000)}`]) {
      try {
        parseFilter(text.slice(0, MAX_FILTER_LENGTH));
      } catch (e) {
        expect(e).toBeInstanceOf(InvalidArgumentError);
      }
    }
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

describe('compileFilters (containerd semantics)', () => {
  const base = info('base', { kind: 'committed', labels: { tier: 'base' } });
  const child = info('child', { parent: 'base', labels: { 'a.b': 'x' } });
  const lone = info('lone');

  test('comma is AND within a string, several strings are OR', () => {
    const f = compileFilters(['kind==active,parent==base', 'name==base']);
    expect([base, child, lone].filter(f).map((i) => i.name)).toEqual(['base', 'child']);
  });

  test('!= matches absent fields; == and presence need them', () => {
    expect([base, child, lone].filter(compileFilters(['labels.tier!=base'])).map((i) => i.name)).toEqual(['child', 'lone']);
    expect([base, child, lone].filter(compileFilters(['parent!=base'])).map((i) => i.name)).toEqual(['base', 'lone']);
    expect([base, child, lone].filter(compileFilters(['labels."a.b"'])).map((i) => i.name)).toEqual(['child']);
    expect([base, child, lone].filter(compileFilters(['labels.a.b==x'])).map((i) => i.name)).toEqual(['child']);
    expect([base, child, lone].filter(compileFilters(['parent==""'])).map((i) => i.name)).toEqual(['base', 'lone']);
    expect([base, child, lone].filter(compileFilters(['unknown==x']))).toEqual([]);
    expect([base, child, lone].filter(compileFilters(['unknown!=x']))).toHaveLength(3);
  });

  test('no filters match everything', () => {
    expect([base, child, lone].filter(compileFilters([]))).toHaveLength(3);
    expect([base, child, lone].filter(compileFilters(['']))).toHaveLength(3);
  });
});
