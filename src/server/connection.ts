// One client connection: framing of the TLS byte stream into TTLV messages,
// the per-connection bounds, and answers written back in request order.
// Several requests may be in flight at once (a client may send without
// waiting); their answers still leave in the order the requests came.
import type { TLSSocket } from "node:tls";
import type { Logger } from "../log/logger.js";
import { messageLength } from "../ttlv/framing.js";
import type { Dispatcher } from "./dispatch.js";

export interface ConnectionLimits {
  /** Largest request message accepted, header included. */
  readonly maxMessageSize: number;
  /** Requests of one connection being processed at once; reading pauses above it. */
  readonly maxRequestsInFlight: number;
  /** Milliseconds without traffic and without work in progress before the connection is closed. */
  readonly idleTimeoutMs: number;
}

const EMPTY = Buffer.alloc(0);

export class Connection {
  /** Bytes received that do not yet form a whole message. */
  private pending: Buffer = EMPTY;
  /** Answers in request order; the head is written as soon as it is ready. */
  private readonly queue: { answer: Buffer | undefined }[] = [];
  private inFlight = 0;
  private closing = false;
  readonly closed: Promise<void>;

  constructor(
    private readonly socket: TLSSocket,
    private readonly dispatcher: Dispatcher,
    private readonly limits: ConnectionLimits,
    readonly logger: Logger,
  ) {
    this.closed = new Promise((resolve) => socket.once("close", () => resolve()));
    socket.setNoDelay(true);
    socket.setTimeout(limits.idleTimeoutMs);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("timeout", () => this.onIdle());
    socket.on("error", (error: NodeJS.ErrnoException) => {
      // A peer that resets or vanishes is routine; anything else is worth a line.
      const routine = error.code === "ECONNRESET" || error.code === "EPIPE";
      logger[routine ? "debug" : "info"]({ err: error.message }, "connection error");
    });
    socket.on("close", () => logger.debug("connection closed"));
  }

  private onData(chunk: Buffer): void {
    if (this.closing) return;
    let buffer = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    let offset = 0;
    for (;;) {
      const length = messageLength(buffer, offset);
      if (length === undefined) break;
      if (length > this.limits.maxMessageSize) {
        this.refuseOversized(length);
        return;
      }
      if (offset + length > buffer.length) break;
      this.startRequest(buffer.subarray(offset, offset + length));
      offset += length;
    }
    // Keep only the unread tail; copy it when it is small so that a large
    // chunk is not kept alive by a few bytes of the next message.
    const rest = buffer.length - offset;
    if (rest === 0) buffer = EMPTY;
    else if (offset > 0) buffer = rest < 4096 ? Buffer.from(buffer.subarray(offset)) : buffer.subarray(offset);
    this.pending = buffer;
    if (this.pending.length > this.limits.maxMessageSize) this.refuseOversized(this.pending.length);
  }

  private startRequest(message: Buffer): void {
    const slot: { answer: Buffer | undefined } = { answer: undefined };
    this.queue.push(slot);
    this.inFlight++;
    if (this.inFlight >= this.limits.maxRequestsInFlight) this.socket.pause();
    void this.dispatcher.handle(message, this.logger).then((answer) => {
      slot.answer = answer;
      this.inFlight--;
      this.flush();
    });
  }

  /** Writes every answer at the head of the queue that is ready, as one write where possible. */
  private flush(): void {
    if (this.queue[0]?.answer === undefined) return;
    this.socket.cork();
    for (let head = this.queue[0]; head?.answer !== undefined; head = this.queue[0]) {
      this.queue.shift();
      if (!this.socket.destroyed) this.socket.write(head.answer);
    }
    process.nextTick(() => this.socket.uncork());
    if (this.closing) {
      if (this.queue.length === 0) this.finish();
    } else if (this.inFlight < this.limits.maxRequestsInFlight && this.socket.isPaused()) {
      this.socket.resume();
    }
  }

  /**
   * A declared length over the limit: the message is not read. The client
   * gets an error response (so it learns why) and the connection is closed,
   * since the stream cannot be resynchronised after an unread message.
   */
  private refuseOversized(length: number): void {
    const text = `a request message of ${length} bytes exceeds the limit of ${this.limits.maxMessageSize} bytes (server.max-message-size)`;
    this.logger.warn(text);
    this.closing = true;
    this.pending = EMPTY;
    this.socket.pause();
    const slot = { answer: this.dispatcher.refusal(text) };
    this.queue.push(slot);
    this.flush();
  }

  private onIdle(): void {
    if (this.inFlight > 0 || this.queue.length > 0) return;
    this.logger.info(`closing connection idle for ${this.limits.idleTimeoutMs / 1000} s (server.idle-timeout)`);
    this.socket.end();
  }

  /** Ends the connection once every answer has been written. */
  private finish(): void {
    this.socket.end();
    // A peer that does not read cannot hold the socket open forever.
    setTimeout(() => this.socket.destroy(), 5_000).unref();
  }

  /**
   * Graceful shutdown: read no more requests, let those in progress finish
   * and their answers go out, then close.
   */
  drain(): Promise<void> {
    this.closing = true;
    this.socket.pause();
    if (this.queue.length === 0) this.finish();
    return this.closed;
  }

  destroy(): void {
    this.socket.destroy();
  }
}
