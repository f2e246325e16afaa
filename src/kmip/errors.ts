// Errors of the KMIP layer. A KmipError carries the Result Reason (KMIP 1.x
// 9.1.3.2.29) that the failing batch item is answered with, so the server can
// turn any error thrown while converting or executing a request into a
// response without guessing. Conversion errors also name the field and tag at
// fault, e.g. "Request Message > Request Header: missing Protocol Version
// (0x420069)".
import { tagHex, tagName } from "../ttlv/names.js";

export class KmipError extends Error {
  override readonly name = "KmipError";
  /** A ResultReason value (src/ttlv/enums.ts). */
  readonly reason: number;
  /** The spec name of the field at fault ("Protocol Version"), if any. */
  readonly field?: string;
  /** The tag of the field at fault, if any. */
  readonly tag?: number;

  constructor(reason: number, message: string, options?: { tag?: number; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    if (options?.tag !== undefined) {
      this.tag = options.tag;
      this.field = fieldName(options.tag);
    }
  }
}

/**
 * The spec name of a tag, with spaces ("Unique Batch Item ID"), derived from
 * the space-less table name; the hex form for tags without a name.
 */
export function fieldName(tag: number): string {
  let name = fieldNames.get(tag);
  if (name === undefined) {
    name = tagName(tag);
    // Unknown tags (hex) are neither converted nor cached: a client could send any number of them.
    if (name.startsWith("0x")) return name;
    name = name.replace(/([a-z0-9])([A-Z])/g, "$1 $2").replace(/([A-Z])([A-Z][a-z])/g, "$1 $2");
    fieldNames.set(tag, name);
  }
  return name;
}

/** Decoding names every structure it enters (for error paths), so names are computed once per tag. */
const fieldNames = new Map<number, string>();

/** "Protocol Version (0x420069)": how error messages name a field. */
export function fieldLabel(tag: number): string {
  const name = fieldName(tag);
  return name.startsWith("0x") ? name : `${name} (${tagHex(tag)})`;
}
