// Message framing on a byte stream. KMIP 1.x (9.1, and 10 "Transport")
// carries messages back to back on one TLS connection with no other framing:
// a message is one TTLV Structure (Request Message or Response Message), and
// its header says how many bytes follow.
import { HEADER_LENGTH, ItemType, paddedLength } from "./item.js";
import { Tag } from "./tags.js";

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

/**
 * Why the 8 header bytes at `offset` cannot start a request message, or
 * undefined when they can (or fewer than 8 have arrived). A request is a
 * Request Message Structure (KMIP 1.x 7.1), and a Structure's length is the
 * sum of its padded items, a multiple of 8 (9.1.1.3). Anything else would
 * only be refused once its last byte came, and a sender that never sends it
 * would hold the connection until the idle timeout.
 */
export function requestHeaderProblem(buffer: Uint8Array, offset = 0): string | undefined {
  if (buffer.length - offset < HEADER_LENGTH) return undefined;
  const tag = (buffer[offset]! << 16) | (buffer[offset + 1]! << 8) | buffer[offset + 2]!;
  const type = buffer[offset + 3]!;
  const length = ((buffer[offset + 4]! << 24) | (buffer[offset + 5]! << 16) | (buffer[offset + 6]! << 8) | buffer[offset + 7]!) >>> 0;
  const hex = (n: number, digits: number) => `0x${n.toString(16).toUpperCase().padStart(digits, "0")}`;
  if (tag !== Tag.RequestMessage) return `the message starts with tag ${hex(tag, 6)}, not Request Message (0x420078)`;
  if (type !== ItemType.Structure) return `the Request Message has item type ${hex(type, 2)}, not Structure (0x01)`;
  if (length % 8 !== 0) return `the Request Message declares ${length} bytes, not a multiple of 8`;
  return undefined;
}
