/**
 * containerd's filter syntax for `walk`:
 *
 * ```
 * filter    := selector ("," selector)*      -- every selector must match (AND)
 * selector  := fieldpath [operator value]    -- no operator: the field is present
 * fieldpath := field ("." field)*
 * field     := quoted | [A-Za-z0-9_-]+
 * operator  := "==" | "!="
 * value     := quoted | [^\s,]+              -- may not start with . , = ! ~ or "
 * quoted    := a Go double-quoted string ("\n", "\x41", "\u00e9" ...)
 * ```
 *
 * Several filter strings passed together match when ANY of them matches
 * (containerd's ParseAll); an empty string matches everything. Fields:
 * `name`, `parent`, `kind` and `labels.<key>` (a key with dots or other
 * characters is quoted: `labels."a.b/c"`). Unknown fields are never present.
 *
 * containerd's regular-expression operator `~=` is refused: containerd runs
 * it on RE2 (linear time), and JavaScript's backtracking engine would let a
 * hostile pattern stall the process.
 */
import { InvalidArgumentError } from './errors.js';
import type { Info } from './types.js';

/** The longest filter string accepted, in characters. */
export const MAX_FILTER_LENGTH = 16 * 1024;

/** One parsed selector. */
export interface Selector {
  /** The field's path, e.g. ['labels', 'a.b']. */
  fieldpath: string[];
  /** 'present' (no operator given), '==' or '!='. */
  operator: 'present' | '==' | '!=';
  /** The value compared with ('' for 'present'). */
  value: string;
}

/** A compiled set of filters: true when the snapshot matches. */
export type SnapshotFilter = (info: Info) => boolean;

function isFieldChar(c: string): boolean {
  return /^[A-Za-z0-9_-]$/.test(c);
}

function isSpace(c: string): boolean {
  return /^\s$/u.test(c);
}

// A value character: anything printable except ',' and whitespace.
function isValueChar(c: string): boolean {
  return c !== ',' && !isSpace(c) && !/^[\p{Cc}\p{Cs}]$/u.test(c);
}

class FilterParser {
  private pos = 0;

  constructor(private readonly input: string) {}

  fail(message: string, at = this.pos): never {
    const shown = this.input.length > 80 ? `${this.input.slice(0, 80)}…` : this.input;
    throw new InvalidArgumentError(`filter ${JSON.stringify(shown)} at position ${at}: ${message}`);
  }

  private skipSpace(): void {
    while (this.pos < this.input.length && isSpace(this.input[this.pos] ?? '')) this.pos++;
  }

  private peek(): string | undefined {
    this.skipSpace();
    return this.input[this.pos];
  }

  parse(): Selector[] {
    const selectors = [this.selector()];
    for (;;) {
      const c = this.peek();
      if (c === undefined) return selectors;
      if (c !== ',') this.fail(`unexpected input ${JSON.stringify(c)}`);
      this.pos++;
      selectors.push(this.selector());
    }
  }

  private selector(): Selector {
    const fieldpath = [this.field()];
    while (this.peek() === '.') {
      this.pos++;
      fieldpath.push(this.field());
    }
    const c = this.peek();
    if (c === undefined || c === ',') return { fieldpath, operator: 'present', value: '' };
    const operator = this.operator();
    return { fieldpath, operator, value: this.value() };
  }

  private field(): string {
    const c = this.peek();
    if (c === '"') return this.quoted();
    const start = this.pos;
    while (this.pos < this.input.length && isFieldChar(this.input[this.pos] ?? '')) this.pos++;
    if (this.pos === start) this.fail('expected a field or a quoted string');
    return this.input.slice(start, this.pos);
  }

  private operator(): '==' | '!=' {
    const start = this.pos;
    while (this.pos < this.input.length && '=!~'.includes(this.input[this.pos] ?? '')) this.pos++;
    const op = this.input.slice(start, this.pos);
    if (op === '==' || op === '!=') return op;
    if (op === '~=') this.fail('the regular-expression operator ~= is not supported', start);
    if (op === '') this.fail('expected an operator ("==" or "!=")', start);
    return this.fail(`unsupported operator ${JSON.stringify(op)}`, start);
  }

  private value(): string {
    const c = this.peek();
    if (c === undefined) this.fail('expected a value after the operator');
    if (c === '"') return this.quoted();
    if (',.=!~'.includes(c)) this.fail(`expected a value, found ${JSON.stringify(c)}`);
    const start = this.pos;
    for (const ch of this.input.slice(start)) {
      if (!isValueChar(ch)) break;
      this.pos += ch.length;
    }
    if (this.pos === start) this.fail('expected a value or a quoted string');
    return this.input.slice(start, this.pos);
  }

  // A Go double-quoted string: escapes produce bytes, decoded as UTF-8 at the end.
  private quoted(): string {
    const start = this.pos;
    this.pos++; // opening quote
    const bytes: number[] = [];
    const encoder = new TextEncoder();
    for (;;) {
      if (this.pos >= this.input.length) this.fail('quoted string not terminated', start);
      const ch = String.fromCodePoint(this.input.codePointAt(this.pos) ?? 0);
      if (ch === '"') {
        this.pos++;
        break;
      }
      if (ch === '\n') this.fail('quoted string not terminated', start);
      if (ch !== '\\') {
        if (/^\p{Cs}$/u.test(ch)) this.fail('lone surrogate in quoted string');
        bytes.push(...encoder.encode(ch));
        this.pos += ch.length;
        continue;
      }
      this.pos++;
      const e = this.input[this.pos];
      const simple: Record<string, number> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, '\\': 92, '"': 34 };
      if (e !== undefined && e in simple) {
        bytes.push(simple[e] ?? 0);
        this.pos++;
      } else if (e !== undefined && /[0-7]/.test(e)) {
        const byte = this.digits(8, 3);
        if (byte > 255) this.fail('octal escape value above 255');
        bytes.push(byte);
      } else if (e === 'x') {
        this.pos++;
        bytes.push(this.digits(16, 2));
      } else if (e === 'u' || e === 'U') {
        this.pos++;
        const code = this.digits(16, e === 'u' ? 4 : 8);
        if (code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) this.fail('escape is not a valid Unicode code point');
        bytes.push(...encoder.encode(String.fromCodePoint(code)));
      } else {
        this.fail('illegal escape sequence');
      }
    }
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array(bytes));
    } catch {
      return this.fail('quoted string is not valid UTF-8', start);
    }
  }

  private digits(base: 8 | 16, count: number): number {
    const text = this.input.slice(this.pos, this.pos + count);
    const pattern = base === 8 ? /^[0-7]+$/ : /^[0-9A-Fa-f]+$/;
    if (text.length !== count || !pattern.test(text)) this.fail('illegal numeric escape sequence');
    this.pos += count;
    return Number.parseInt(text, base);
  }
}

/**
 * Parses one filter string into its selectors (all must match).
 *
 * @throws InvalidArgumentError for a malformed or oversized filter.
 */
export function parseFilter(text: string): Selector[] {
  if (typeof text !== 'string') throw new InvalidArgumentError('a filter must be a string');
  if (text.length > MAX_FILTER_LENGTH) throw new InvalidArgumentError(`a filter is longer than ${MAX_FILTER_LENGTH} characters`);
  if (text === '') return [];
  return new FilterParser(text).parse();
}

/** A field of a snapshot as the filters see it: [value, present]. */
export function snapshotField(info: Info, fieldpath: readonly string[]): [string, boolean] {
  switch (fieldpath[0]) {
    case 'name':
      return [info.name, true];
    case 'parent':
      return [info.parent ?? '', true];
    case 'kind':
      return [info.kind, true];
    case 'labels': {
      const key = fieldpath.slice(1).join('.');
      return Object.hasOwn(info.labels, key) ? [info.labels[key] ?? '', true] : ['', false];
    }
    default:
      return ['', false];
  }
}

function matches(selector: Selector, info: Info): boolean {
  const [value, present] = snapshotField(info, selector.fieldpath);
  switch (selector.operator) {
    case 'present':
      return present;
    case '==':
      return present && value === selector.value;
    case '!=':
      return value !== selector.value;
  }
}

/**
 * Compiles filter strings: a snapshot matches when any string matches (each
 * string is an AND of selectors). No strings match everything.
 *
 * @throws InvalidArgumentError for a malformed filter.
 */
export function compileFilters(filters: readonly string[]): SnapshotFilter {
  const parsed = filters.map(parseFilter);
  if (parsed.length === 0) return () => true;
  return (info) => parsed.some((selectors) => selectors.every((s) => matches(s, info)));
}
