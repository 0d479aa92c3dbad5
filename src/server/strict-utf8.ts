/**
 * Strict UTF-8 for requests. The protobuf decoder grpc-js uses turns bytes
 * that are not UTF-8 into U+FFFD, so two different keys could reach the
 * snapshotter as one. containerd refuses such strings (Go's protobuf runtime
 * checks proto3 strings); so does this server: each request's raw bytes are
 * walked along its message descriptor, and a string field that is not valid
 * UTF-8 marks the decoded request, which the service then refuses with
 * INVALID_ARGUMENT. A request made only of ASCII bytes is valid as it is
 * (nothing to walk).
 */
import { isAscii, isUtf8 } from 'node:buffer';
import type { PackageDefinition } from '@grpc/proto-loader';

/** A field of a message descriptor, as @grpc/proto-loader gives it. */
interface FieldDescriptor {
  name: string;
  number: number;
  type: string;
  typeName: string;
}

/** A message descriptor, as @grpc/proto-loader gives it. */
interface MessageDescriptor {
  name: string;
  field: FieldDescriptor[];
  nestedType?: MessageDescriptor[];
}

/** Where a decoded request records the first string field that was not valid UTF-8. */
export const INVALID_UTF8 = Symbol('invalid-utf8');

/** The field path of the first string that was not valid UTF-8 in `request`, if any. */
export function invalidUtf8Field(request: unknown): string | undefined {
  if (typeof request !== 'object' || request === null) return undefined;
  const found = (request as { [INVALID_UTF8]?: unknown })[INVALID_UTF8];
  return typeof found === 'string' ? found : undefined;
}

/** Finds message descriptors by name, as a field's typeName names them (relative to its message and package). */
class Descriptors {
  constructor(private readonly definition: PackageDefinition) {}

  byFullName(fullName: string): MessageDescriptor | undefined {
    const entry = this.definition[fullName] as { format?: string; type?: unknown } | undefined;
    return entry?.format?.endsWith('DescriptorProto') ? (entry.type as MessageDescriptor) : undefined;
  }

  resolve(typeName: string, scope: MessageDescriptor, fullName: string): [MessageDescriptor, string] | undefined {
    const nested = scope.nestedType?.find((t) => t.name === typeName);
    if (nested) return [nested, `${fullName}.${typeName}`];
    const pkg = fullName.slice(0, fullName.lastIndexOf('.'));
    for (let prefix = pkg; ; prefix = prefix.slice(0, Math.max(0, prefix.lastIndexOf('.')))) {
      const candidate = prefix === '' ? typeName : `${prefix}.${typeName}`;
      const found = this.byFullName(candidate);
      if (found) return [found, candidate];
      if (prefix === '') return undefined;
    }
  }
}

class Reader {
  offset = 0;
  constructor(readonly bytes: Uint8Array) {}

  get done(): boolean {
    return this.offset >= this.bytes.length;
  }

  varint(): number {
    let value = 0;
    for (let shift = 0; shift < 64; shift += 7) {
      const byte = this.bytes[this.offset++];
      if (byte === undefined) throw new RangeError('truncated');
      if (shift < 28) value |= (byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return value >>> 0;
    }
    throw new RangeError('varint too long');
  }

  skip(n: number): void {
    this.offset += n;
    if (this.offset > this.bytes.length) throw new RangeError('truncated');
  }
}

function walk(descriptors: Descriptors, message: MessageDescriptor, fullName: string, bytes: Uint8Array, path: string): string | undefined {
  const reader = new Reader(bytes);
  while (!reader.done) {
    const tag = reader.varint();
    const wire = tag & 7;
    if (wire === 0) reader.varint();
    else if (wire === 1) reader.skip(8);
    else if (wire === 5) reader.skip(4);
    else if (wire === 2) {
      const length = reader.varint();
      const start = reader.offset;
      reader.skip(length);
      const field = message.field.find((f) => f.number === tag >>> 3);
      if (!field) continue;
      const value = bytes.subarray(start, start + length);
      const where = path === '' ? field.name : `${path}.${field.name}`;
      if (field.type === 'TYPE_STRING' && !isUtf8(value)) return where;
      if (field.type === 'TYPE_MESSAGE') {
        const inner = descriptors.resolve(field.typeName, message, fullName);
        const bad = inner && walk(descriptors, inner[0], inner[1], value, where);
        if (bad !== undefined) return bad;
      }
    } else {
      // Groups are not in this API: leave the message to the decoder.
      return undefined;
    }
  }
  return undefined;
}

/**
 * Wraps every method's request decoder in `service` (the service
 * `serviceName` of `definition`) so that a request with a string that is not valid UTF-8 is
 * marked with {@link INVALID_UTF8}.
 */
export function markInvalidUtf8(
  definition: PackageDefinition,
  serviceName: string,
  service: Record<string, { requestType?: { type?: unknown }; requestDeserialize: (b: Buffer) => unknown }>): void {
  const descriptors = new Descriptors(definition);
  const servicePackage = serviceName.slice(0, serviceName.lastIndexOf('.'));
  for (const method of Object.values(service)) {
    const requestName = (method.requestType?.type as MessageDescriptor | undefined)?.name;
    if (requestName === undefined) continue;
    // The service's own package first: a request type is named there.
    const candidates = Object.keys(definition).filter((name) => name.endsWith(`.${requestName}`) && descriptors.byFullName(name));
    const fullName = candidates.find((name) => name.startsWith(`${servicePackage}.`)) ?? candidates[0];
    const type = fullName === undefined ? undefined : descriptors.byFullName(fullName);
    if (fullName === undefined || type === undefined) continue;
    const decode = method.requestDeserialize;
    method.requestDeserialize = (bytes: Buffer) => {
      const request = decode(bytes);
      if (isAscii(bytes)) return request;
      let bad: string | undefined;
      try {
        bad = walk(descriptors, type, fullName, bytes, '');
      } catch {
        // A malformed message is the decoder's to refuse.
        bad = undefined;
      }
      if (bad !== undefined && typeof request === 'object' && request !== null) {
        Object.defineProperty(request, INVALID_UTF8, { value: bad, enumerable: false });
      }
      return request;
    };
  }
}
