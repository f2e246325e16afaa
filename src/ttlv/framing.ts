// Message framing on a byte stream. KMIP 1.x (9.1, and 10 "Transport")
// carries messages back to back on one TLS connection with no other framing:
// a message is one TTLV Structure (Request Message or Response Message), and
// its header says how many bytes follow.
import { HEADER_LENGTH, ItemType, paddedLength } from "./item.js";

/**
 * The total length (header included) of the message that starts at `offset`,
 * or undefined while fewer than 8 header bytes have arrived. It reads the
 * header only; the decoder checks the rest. A Structure's length is its exact
 * content (9.1.1.3); any other item type is followed by padding to 8 bytes.
 */
export function messageLength(buffer: Uint8Array, offset = 0): number | undefined {
  if (buffer.length - offset < HEADER_LENGTH) return undefined;
  const length =
    ((buffer[offset + 4]! << 24) | (buffer[offset + 5]! << 16) | (buffer[offset + 6]! << 8) | buffer[offset + 7]!) >>> 0;
  return HEADER_LENGTH + (buffer[offset + 3] === ItemType.Structure ? length : paddedLength(length));
}
