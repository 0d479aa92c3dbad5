/**
 * Strict UTF-8 for requests. The protobuf decoder turns bytes that are not
 * UTF-8 into U+FFFD, so two different keys could reach the snapshotter as
 * one. containerd refuses such strings (Go's protobuf runtime checks proto3
 * strings); so does this server: each request is decoded with a reader whose
 * string decoding notes the first string that was not valid UTF-8, and the
 * service then refuses the request with INVALID_ARGUMENT. A request made
 * only of ASCII bytes is valid as it is (nothing to check).
 */
import { isAscii, isUtf8 } from 'node:buffer';
import { BinaryReader } from '@bufbuild/protobuf/wire';

/** Where a decoded request records that one of its strings was not valid UTF-8. */
export const INVALID_UTF8 = Symbol('invalid-utf8');

/** A description of the first string that was not valid UTF-8 in `request`, if any. */
export function invalidUtf8Field(request: unknown): string | undefined {
  if (typeof request !== 'object' || request === null) return undefined;
  const found = (request as { [INVALID_UTF8]?: unknown })[INVALID_UTF8];
  return typeof found === 'string' ? found : undefined;
}

const lenient = new TextDecoder();

/** A generated message's decoder, as ts-proto writes it. */
export interface MessageDecoder<T> {
  decode(input: BinaryReader | Uint8Array, length?: number): T;
}

/**
 * Decodes `bytes` as `type`, marking the result with {@link INVALID_UTF8}
 * when a string in it (nested messages and map entries included: they share
 * the reader) is not valid UTF-8.
 */
export function decodeStrict<T>(type: MessageDecoder<T>, bytes: Uint8Array): T {
  if (isAscii(bytes)) return type.decode(bytes);
  let bad: string | undefined;
  const reader = new BinaryReader(bytes, (raw: Uint8Array) => {
    const decoded = lenient.decode(raw);
    if (bad === undefined && !isUtf8(raw)) bad = decoded;
    return decoded;
  });
  const request = type.decode(reader);
  if (bad !== undefined && typeof request === 'object' && request !== null) {
    const where = fieldHolding(request, bad, '') ?? 'a string field';
    Object.defineProperty(request, INVALID_UTF8, { value: where, enumerable: false });
  }
  return request;
}

/**
 * The path (`key`, `info.labels`, `update_mask.paths[0]`) of the first field,
 * map key or list item of `value` that holds `text` (the bad string as the
 * lenient decoder gave it: it has a U+FFFD, which no field name has).
 */
function fieldHolding(value: object, text: string, path: string): string | undefined {
  for (const [name, inner] of Object.entries(value)) {
    const where = path === '' ? name : `${path}.${name}`;
    if (name === text) return path;
    if (inner === text) return where;
    if (Array.isArray(inner)) {
      const index = inner.indexOf(text);
      if (index >= 0) return `${where}[${index}]`;
      for (const item of inner) {
        const found = typeof item === 'object' && item !== null ? fieldHolding(item as object, text, where) : undefined;
        if (found !== undefined) return found;
      }
    } else if (typeof inner === 'object' && inner !== null) {
      const found = fieldHolding(inner as object, text, where);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}
