// Errors of the TTLV codec. Every error carries a stable `code` that callers
// can branch on, and the byte offset where the problem was found, so that a
// malformed message can be reported precisely (and answered with a KMIP
// Invalid Message by the server).

export type TtlvErrorCode =
  /** Fewer than 8 bytes remain where an item header must start. */
  | "SHORT_HEADER"
  /** An item's declared length (plus padding) runs past its container. */
  | "LENGTH_PAST_END"
  /** Padding bytes after a value are not zero (KMIP 1.x 9.1.1.3). */
  | "BAD_PADDING"
  /** A fixed-size item type declares another length (KMIP 1.x 9.1.1.4). */
  | "BAD_FIXED_LENGTH"
  /** A Text String is not valid UTF-8. */
  | "BAD_UTF8"
  /** Structures nest deeper than the configured maximum. */
  | "TOO_DEEP"
  /** The input is larger than the configured maximum. */
  | "TOO_BIG"
  /** The item type byte is not one of the KMIP 1.x types 0x01-0x0A. */
  | "UNKNOWN_TYPE"
  /** Bytes follow the one item that the input must hold. */
  | "TRAILING_BYTES"
  /** A Boolean value is neither 0 nor 1. */
  | "BAD_BOOLEAN"
  /** Hex text has an odd number of digits or a non-hex character. */
  | "BAD_HEX"
  /** A value cannot be encoded: out of range for its item type, bad tag. */
  | "BAD_VALUE"
  /** The JSON form of an item is malformed (see json.ts). */
  | "BAD_JSON";

export class TtlvError extends Error {
  override readonly name = "TtlvError";
  readonly code: TtlvErrorCode;
  /**
   * Where the problem is. Decoding: the start of the item whose header is
   * wrong (SHORT_HEADER, LENGTH_PAST_END, BAD_FIXED_LENGTH, UNKNOWN_TYPE,
   * TOO_DEEP), the offending byte (BAD_PADDING, BAD_UTF8, BAD_BOOLEAN), the
   * first extra byte (TRAILING_BYTES), the maximum (TOO_BIG). Encoding: the
   * item's offset in the output. BAD_HEX: a character offset. BAD_JSON: -1.
   */
  readonly offset: number;

  constructor(code: TtlvErrorCode, offset: number, message: string, unit = "byte offset") {
    super(offset >= 0 ? `${message} (at ${unit} ${offset})` : message);
    this.code = code;
    this.offset = offset;
  }
}
