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

export interface MessageFramerOptions {
  /** Largest message accepted, header included; a longer one is refused from its header alone. */
  readonly maxMessageSize: number;
  /**
   * The chunks pushed are the framer's to consume (a socket's): when it
   * joins pieces into one message, or copies a short tail, it zeroes what it
   * copied from, so that the receiver, which zeroes secrets (a Password,
   * src/server/dispatch.ts) in the message it is handed, leaves no copy
   * behind in the pieces. Off by default: the pushed bytes stay as given.
   */
  readonly zeroConsumed?: boolean;
  /** Called with each whole message, in stream order; returning false stops the framer. */
  readonly onMessage: (message: Buffer) => boolean | void;
  /**
   * Called with the declared length of a message over maxMessageSize; the
   * framer has stopped, since the stream cannot be resynchronised after an
   * unread message.
   */
  readonly onOversized: (length: number) => void;
  /**
   * Checks the header of a message that has not fully arrived (the relay
   * passes requestHeaderProblem); a problem stops the framer and is handed
   * to onRefused, so an impossible header is refused at once instead of
   * holding the connection until the rest comes or the idle timeout.
   */
  readonly checkHeader?: (buffer: Uint8Array, offset: number) => string | undefined;
  readonly onRefused?: (problem: string) => void;
}

/**
 * Cuts a byte stream into whole messages (messageLength). Used by both ends:
 * the relay's connections and the client. Chunks are joined only when a
 * message is complete (or a header is needed), so a message sent a byte at a
 * time costs one copy, not one copy per byte. Once stopped (by onMessage,
 * an over-size message or stop()), it holds nothing and ignores further input.
 */
export class MessageFramer {
  /** Received chunks that do not yet form a whole message. */
  private chunks: Buffer[] = [];
  private held = 0;
  /** Bytes needed before framing can progress: a header, or the whole message. */
  private needed = HEADER_LENGTH;
  private stopped = false;

  constructor(private readonly options: MessageFramerOptions) {}

  /** Bytes received that do not yet form a whole message. */
  get buffered(): number {
    return this.held;
  }

  push(chunk: Buffer): void {
    if (this.stopped) return;
    this.chunks.push(chunk);
    this.held += chunk.length;
    if (this.held < this.needed) return;
    const buffer = this.chunks.length === 1 ? chunk : Buffer.concat(this.chunks, this.held);
    if (buffer !== chunk && this.options.zeroConsumed) for (const piece of this.chunks) piece.fill(0);
    let offset = 0;
    for (;;) {
      const length = messageLength(buffer, offset);
      if (length === undefined) {
        this.needed = HEADER_LENGTH;
        break;
      }
      // A whole message is handed on whatever its header (the receiver
      // answers what it cannot parse); an impossible header is refused only
      // when the framer would otherwise wait for the rest of its message.
      const incomplete = offset + length > buffer.length;
      const problem = incomplete ? this.options.checkHeader?.(buffer, offset) : undefined;
      if (problem !== undefined) {
        this.stop();
        this.options.onRefused?.(problem);
        return;
      }
      if (length > this.options.maxMessageSize) {
        this.stop();
        this.options.onOversized(length);
        return;
      }
      if (offset + length > buffer.length) {
        this.needed = length;
        break;
      }
      const message = buffer.subarray(offset, offset + length);
      offset += length;
      if (this.options.onMessage(message) === false) {
        this.stop();
        return;
      }
      if (this.stopped) return;
    }
    // Keep only the unread tail; copy it when it is small so that a large
    // chunk is not kept alive by a few bytes of the next message.
    const rest = buffer.length - offset;
    const tail = buffer.subarray(offset);
    this.chunks = rest === 0 ? [] : [rest < 4096 ? Buffer.from(tail) : tail];
    if (rest > 0 && rest < 4096 && this.options.zeroConsumed) tail.fill(0);
    this.held = rest;
  }

  /** Drops what is held and ignores further input. */
  stop(): void {
    this.stopped = true;
    this.chunks = [];
    this.held = 0;
  }
}
