import { rm } from 'node:fs/promises';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { InvalidArgumentError } from '../../../src/snapshotter/errors.js';
import { MAX_KEY_BYTES, MAX_LABELS_BYTES, MAX_LABEL_BYTES, validateKey, validateLabel, validateLabels } from '../../../src/snapshotter/labels.js';
import { openSimulated } from './simulated-env.js';

describe('validateKey', () => {
  test.each(['a', 'default/12/sha256:abc', 'extract-123 sha256:x', 'ünïcode ✓', '😀', 'x'.repeat(MAX_KEY_BYTES)])('accepts %j', (key) => {
    expect(() => validateKey(key)).not.toThrow();
  });

  test.each(['', 'a\nb', 'a\rb', 'nul\u0000', 'del\u007f', 'c1\u0085', 'ls\u2028', 'lone \ud800', 'x'.repeat(MAX_KEY_BYTES + 1), 'é'.repeat(2049)])(
    'refuses %j',
    (key) => {
      expect(() => validateKey(key)).toThrow(InvalidArgumentError);
    },
  );

  test('refuses non-strings', () => {
    expect(() => validateKey(42)).toThrow(InvalidArgumentError);
    expect(() => validateKey(undefined)).toThrow(InvalidArgumentError);
  });

  test('any string is either accepted or refused with InvalidArgumentError', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (key) => {
        try {
          validateKey(key);
        } catch (e) {
          expect(e).toBeInstanceOf(InvalidArgumentError);
        }
      }),
    );
  });
});

describe('labels (containerd: key + value at most 4096 bytes)', () => {
  test('the limit counts UTF-8 bytes of key and value together', () => {
    expect(() => validateLabel('k', 'v'.repeat(MAX_LABEL_BYTES - 1))).not.toThrow();
    expect(() => validateLabel('k', 'v'.repeat(MAX_LABEL_BYTES))).toThrow(/greater than maximum size/);
    expect(() => validateLabel('k', 'é'.repeat(2048))).toThrow(InvalidArgumentError);
    expect(() => validateLabel('', 'v')).toThrow(InvalidArgumentError);
    expect(() => validateLabel('k', 'lone \udc00')).toThrow(InvalidArgumentError);
  });

  test('validateLabels copies, drops empty values, refuses non-strings', () => {
    const input = { a: '1', empty: '', __proto__: 'x' } as Record<string, string>;
    const clean = validateLabels(input);
    expect(clean).toEqual({ a: '1' });
    const withProto = validateLabels(JSON.parse('{"__proto__":"p","b":"2"}'));
    expect(Object.keys(withProto).sort()).toEqual(['__proto__', 'b']);
    expect(Object.getPrototypeOf(withProto)).toBe(Object.prototype);
    expect(() => validateLabels({ a: 1 })).toThrow(InvalidArgumentError);
    expect(() => validateLabels(['a'])).toThrow(InvalidArgumentError);
    expect(validateLabels(undefined)).toEqual({});
  });
});

describe('the labels of one snapshot together', () => {
  test(`prepare, view, commit and update refuse labels past ${MAX_LABELS_BYTES} bytes in all, changing nothing`, async () => {
    const { snapshotter: s, rootPath } = await openSimulated();
    try {
      const value = 'v'.repeat(4000);
      const labels = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`l${i}`, value]));
      const tooMany = labels(263);
      await expect(s.prepare('a', undefined, { labels: tooMany })).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(s.view('v', undefined, { labels: tooMany })).rejects.toBeInstanceOf(InvalidArgumentError);
      await s.prepare('a', undefined, { labels: labels(261) });
      await expect(s.commit('A', 'a', { labels: tooMany })).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(s.update({ name: 'a', labels: { more: value } }, 'labels.more')).rejects.toBeInstanceOf(InvalidArgumentError);
      expect(Object.keys((await s.stat('a')).labels)).toHaveLength(261);
      await s.commit('A', 'a');
      await expect(s.walk().next()).resolves.toBeDefined();
    } finally {
      await s.close();
      await rm(rootPath, { recursive: true, force: true });
    }
  });
});
