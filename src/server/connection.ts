// One client connection: framing of the TLS byte stream into TTLV messages,
// the per-connection bounds, and answers written back in request order.
// Several requests may be in flight at once (a client may send without
// waiting); their answers still leave in the order the requests came.
//
// Bounds, each logged once when it ends a connection:
// - a message longer than maxMessageSize, or whose header cannot start a
//   request (requestHeaderProblem), is refused from its header alone
//   (nothing of it is buffered), answered and the connection closed;
// - at most maxRequestsInFlight requests are worked on; reading pauses above
//   that, and also while the peer is not reading its answers, so a client
//   that only sends cannot make the relay buffer answers without limit;
// - idleTimeoutMs runs whenever no request is in progress, and only a whole
//   message stops it: a client that trickles a byte now and then (slow
//   loris) is cut off like a silent one. Until the first whole request the
//   shorter firstRequestTimeoutMs runs instead: a client that connects and
//   says nothing holds its connection briefly;
// - when the client goes away (the socket closes), batch items not yet
//   started are not run (RequestScope.signal). When it ends its side (a FIN,
//   or TLS close_notify), the relay cannot tell a client that still reads
//   (half-open, allowed: send, end, read) from one that has left, whose FIN
//   looks the same until an answer is written to it. So it answers every
//   request, but items that have not started by then are answered as not
//   run, except each request's first item (RequestScope.ended): a single
//   request sent before a half-close still gets its work done, and a batch
//   of hundreds of items sent just before leaving does not go on running
//   for minutes.
import type { TLSSocket } from "node:tls";
import type { Logger } from "../log/logger.js";
import { MessageFramer, requestHeaderProblem } from "../ttlv/framing.js";
import { peerCertificate, type PeerCertificate } from "./client-identity.js";
import type { Dispatcher } from "./dispatch.js";

export interface ConnectionLimits {
  /** Largest request message accepted, header included. */
  readonly maxMessageSize: number;
  /** Requests of one connection being processed at once; reading pauses above it. */
  readonly maxRequestsInFlight: number;
  /** Milliseconds without a whole request and without work in progress before the connection is closed. */
  readonly idleTimeoutMs: number;
  /** Milliseconds from the handshake to the first whole request (idleTimeoutMs when absent). */
  readonly firstRequestTimeoutMs?: number;
}

/** How long a closing connection waits for its peer to read the last answers. */
const LINGER_MS = 5_000;

export class Connection {
  private readonly framer: MessageFramer;
  /** Answers in request order; the head is written as soon as it is ready. */
  private readonly queue: { answer: Buffer | undefined }[] = [];
  private inFlight = 0;
  private closing = false;
  /** Whether a whole request has arrived; until then the first-request timeout runs. */
  private started = false;
  private idleTimer: NodeJS.Timeout;
  /** Aborted when the socket closes: the dispatcher starts no more items of this connection. */
  private readonly gone = new AbortController();
  /** Aborted when the client ends its side: requests run no further items (RequestScope.ended). */
  private readonly ended = new AbortController();
  /** The peer's address, kept: the socket forgets it once closed. */
  private readonly peer: string | undefined;
  readonly closed: Promise<void>;
  /** Who the login throttle counts failures against: the address, and the certificate when there is one. */
  private readonly client: string;
  /** The verified client certificate, which [clients] may map to a token. */
  private readonly certificate: PeerCertificate | undefined;

  constructor(
    private readonly socket: TLSSocket,
    private readonly dispatcher: Dispatcher,
    private readonly limits: ConnectionLimits,
    readonly logger: Logger,
  ) {
    this.framer = new MessageFramer({
      maxMessageSize: limits.maxMessageSize,
      // The socket's chunks are ours: pieces of a message are zeroed once joined.
      zeroConsumed: true,
      onMessage: (message) => this.startRequest(message),
      onOversized: (length) => this.refuse(`a request message of ${length} bytes exceeds the limit of ${this.limits.maxMessageSize} bytes (server.max-message-size)`),
      checkHeader: requestHeaderProblem,
      onRefused: (problem) => this.refuse(`${problem}: not a KMIP request message`),
    });
    this.closed = new Promise((resolve) => socket.once("close", () => resolve()));
    const fingerprint = socket.authorized ? socket.getPeerCertificate().fingerprint256 : undefined;
    this.client = fingerprint === undefined ? String(socket.remoteAddress) : `${socket.remoteAddress} ${fingerprint}`;
    const x509 = socket.authorized ? socket.getPeerX509Certificate() : undefined;
    this.certificate = x509 && peerCertificate(x509);
    socket.setNoDelay(true);
    this.peer = socket.remoteAddress;
    this.idleTimer = setTimeout(() => this.onIdle(), limits.firstRequestTimeoutMs ?? limits.idleTimeoutMs);
    socket.on("data", (chunk: Buffer) => this.framer.push(chunk));
    socket.on("drain", () => this.updateReading());
    // The server allows half-open connections: a client may send its
    // requests, end its side, and still read the answers (of what ran, see
    // the top of this file).
    socket.on("end", () => {
      this.ended.abort();
      this.close();
    });
    socket.on("error", (error: NodeJS.ErrnoException) => {
      // A peer that resets or vanishes is routine; anything else is worth a line.
      const routine = error.code === "ECONNRESET" || error.code === "EPIPE";
      logger[routine ? "debug" : "info"]({ err: error.message }, "connection error");
    });
    socket.on("close", () => {
      clearTimeout(this.idleTimer);
      this.gone.abort();
      logger.debug("connection closed");
    });
  }

  private startRequest(message: Buffer): void {
    const slot: { answer: Buffer | undefined } = { answer: undefined };
    this.queue.push(slot);
    this.inFlight++;
    if (!this.started) {
      this.started = true;
      if (this.limits.firstRequestTimeoutMs !== undefined) {
        clearTimeout(this.idleTimer);
        this.idleTimer = setTimeout(() => this.onIdle(), this.limits.idleTimeoutMs);
      }
    }
    this.updateReading();
    this.dispatcher.handle(message, this.logger, { signal: this.gone.signal, ended: this.ended.signal, peer: this.peer, client: this.client, certificate: this.certificate }).then(
      (answer) => {
        slot.answer = answer;
        this.inFlight--;
        this.flush();
      },
      (error: unknown) => {
        // Dispatcher.handle never throws by contract; if it does, the answer
        // order cannot be kept, so the connection ends.
        this.logger.error({ err: error }, "internal error while answering a request; closing the connection");
        this.socket.destroy();
      },
    );
  }

  /** Writes every answer at the head of the queue that is ready, as one write where possible. */
  private flush(): void {
    const first = this.queue[0];
    if (first?.answer === undefined) return;
    if (this.queue[1]?.answer === undefined) {
      // One answer ready (every request of a client with one in flight, as
      // Cascade's): written at once, without cork and the tick that uncorks.
      this.queue.shift();
      if (this.socket.writable) this.socket.write(first.answer);
    } else {
      this.socket.cork();
      for (let head = this.queue[0]; head?.answer !== undefined; head = this.queue[0]) {
        this.queue.shift();
        if (this.socket.writable) this.socket.write(head.answer);
      }
      process.nextTick(() => this.socket.uncork());
    }
    if (this.queue.length === 0) {
      if (this.closing) this.finish();
      else this.idleTimer.refresh();
    }
    this.updateReading();
  }

  /**
   * Reads while fewer than maxRequestsInFlight requests are in progress and
   * the peer reads its answers (the socket's write buffer is below its
   * high-water mark); pauses otherwise.
   */
  private updateReading(): void {
    // Once our side has ended, read on (the framer ignores what comes) so
    // that the peer's own end is seen and the socket closes at once, instead
    // of holding its place (server.max-connections-per-peer) until the linger.
    if (this.socket.writableEnded) {
      if (this.socket.isPaused()) this.socket.resume();
      return;
    }
    const read = !this.closing && this.inFlight < this.limits.maxRequestsInFlight && !this.socket.writableNeedDrain;
    if (read && this.socket.isPaused()) this.socket.resume();
    else if (!read && !this.socket.isPaused()) this.socket.pause();
  }

  /**
   * A header that cannot start a request, or declares a length over the
   * limit: the message is not read. The client gets an error response (so it
   * learns why) and the connection is closed, since the stream cannot be
   * resynchronised after an unread message.
   */
  private refuse(text: string): void {
    this.logger.warn(`${text}; closing the connection`);
    this.queue.push({ answer: this.dispatcher.refusal(text) });
    this.close();
    this.flush();
  }

  private onIdle(): void {
    if (this.closing || this.queue.length > 0) return;
    if (!this.started && this.limits.firstRequestTimeoutMs !== undefined) {
      const what = this.framer.buffered > 0 ? `${this.framer.buffered} bytes of a request message but no whole message` : "no request";
      this.logger.info(`closing connection: ${what} within ${this.limits.firstRequestTimeoutMs / 1000} s of the handshake (server.first-request-timeout)`);
      this.close();
      return;
    }
    const seconds = this.limits.idleTimeoutMs / 1000;
    if (this.framer.buffered > 0) {
      this.logger.info(
        `closing connection: ${this.framer.buffered} bytes of a request message but no whole message within ${seconds} s (server.idle-timeout)`,
      );
    } else {
      this.logger.info(`closing connection idle for ${seconds} s (server.idle-timeout)`);
    }
    this.close();
  }

  /** Reads no more requests; the connection ends once the answers in progress are written (flush). */
  private close(): void {
    this.closing = true;
    this.framer.stop();
    this.updateReading();
    if (this.queue.length === 0) this.finish();
  }

  /** Ends the connection; every answer has been written. */
  private finish(): void {
    if (this.socket.writableEnded) return;
    clearTimeout(this.idleTimer);
    this.socket.end();
    this.updateReading();
    // A peer that does not read cannot hold the socket open forever.
    setTimeout(() => this.socket.destroy(), LINGER_MS).unref();
  }

  /**
   * Graceful shutdown: read no more requests, let those in progress finish
   * and their answers go out, then close.
   */
  drain(): Promise<void> {
    this.close();
    return this.closed;
  }

  destroy(): void {
    this.socket.destroy();
  }
}
