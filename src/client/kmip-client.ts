// A small KMIP client over TLS, for tests, the benchmark and the `client`
// command. KMIP 1.x (section 10, and the TLS profiles) sends messages back to
// back on one connection and the server answers each request message with one
// response message, in order; so many requests may be in flight, and replies
// are matched to requests first in, first out.
import { isIP } from "node:net";
import tls from "node:tls";
import { KmipError } from "../kmip/errors.js";
import {
  decodeResponseMessage,
  encodeRequestMessage,
  type ProtocolVersion,
  type RequestHeader,
  type RequestMessage,
  type ResponseBatchItem,
  type ResponseMessage,
} from "../kmip/message.js";
import * as payloads from "../kmip/payloads/index.js";
import { decodeTtlv } from "../ttlv/decode.js";
import { encodeTtlv } from "../ttlv/encode.js";
import { CredentialType, Operation, ResultReason, ResultStatus } from "../ttlv/enums.js";
import { MessageFramer } from "../ttlv/framing.js";
import type { StructureItem } from "../ttlv/item.js";
import { enumerationName } from "../ttlv/names.js";
import { Tag } from "../ttlv/tags.js";

export interface KmipClientOptions {
  host: string;
  port: number;
  /** Trusted CA certificate(s), PEM; the system's when absent. */
  ca?: string | Buffer;
  /** Client certificate and key, PEM, for servers that want one. */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Verify the server's certificate (default true). */
  rejectUnauthorized?: boolean;
  /** Local address to connect from (tests of per-peer limits use 127.0.0.2 and the like). */
  localAddress?: string;
  /** TLS server name; defaults to `host` unless it is an IP address. */
  servername?: string;
  /** Username and Password credential sent in every request header built by call() and batch(). */
  username?: string;
  password?: string;
  /** Protocol Version of the requests built by call() and batch(); default 1.2. */
  protocolVersion?: ProtocolVersion;
  /**
   * Limit for connecting, for the TLS handshake, for a reply while requests
   * are pending (measured from the last data received) and for close().
   * Default 30 s.
   */
  timeoutMs?: number;
}

/** Replies larger than this are refused: no KMIP response of this relay comes near it. */
export const MAX_RESPONSE_SIZE = 64 * 1024 * 1024;

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_PROTOCOL_VERSION: ProtocolVersion = { major: 1, minor: 2 };

export type KmipConnectionErrorCode =
  /** The connection closed (by either side, or after an error) with requests pending. */
  | "CLOSED"
  /** A reply's length exceeds MAX_RESPONSE_SIZE. */
  | "RESPONSE_TOO_LARGE"
  /** No reply within timeoutMs, or no connection. */
  | "TIMEOUT"
  /** The server sent a message when no request was pending. */
  | "UNEXPECTED_RESPONSE";

/** The connection failed; every pending request is rejected with it. */
export class KmipConnectionError extends Error {
  override readonly name = "KmipConnectionError";
  constructor(
    readonly code: KmipConnectionErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A batch item that came back with a Result Status other than Success. */
export class KmipResultError extends Error {
  override readonly name = "KmipResultError";
  readonly operation: number | undefined;
  readonly resultStatus: number;
  readonly resultReason: number | undefined;
  readonly resultMessage: string | undefined;

  constructor(operation: number | undefined, item: ResponseBatchItem) {
    const what = (operation === undefined ? undefined : enumerationName(Tag.Operation, operation)) ?? "request";
    const status = enumerationName(Tag.ResultStatus, item.resultStatus) ?? String(item.resultStatus);
    const reason = item.resultReason === undefined ? "" : `, ${enumerationName(Tag.ResultReason, item.resultReason) ?? item.resultReason}`;
    const detail = item.resultMessage === undefined ? "" : `: ${item.resultMessage}`;
    super(`${what}: ${status}${reason}${detail}`);
    this.operation = operation;
    this.resultStatus = item.resultStatus;
    this.resultReason = item.resultReason;
    this.resultMessage = item.resultMessage;
  }
}

interface Pending {
  resolve(reply: Uint8Array): void;
  reject(error: Error): void;
}

export interface BatchRequest {
  operation: number;
  requestPayload: StructureItem;
  uniqueBatchItemId?: Uint8Array;
}

export class KmipClient {
  /** Pending replies, oldest at `head`; the consumed prefix is dropped now and then. */
  private readonly pending: (Pending | undefined)[] = [];
  private head = 0;
  /** Replies out of the byte stream; refuses any over MAX_RESPONSE_SIZE. */
  private readonly framer: MessageFramer;
  /** Set once the connection is unusable; later requests are rejected with it. */
  private failure: Error | undefined;
  private readonly closed: Promise<void>;
  private readonly header: RequestHeader;
  private readonly peer: string;
  private readonly timeoutMs: number;

  private constructor(
    private readonly socket: tls.TLSSocket,
    options: KmipClientOptions,
  ) {
    this.peer = `${options.host}:${options.port}`;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.header = {
      protocolVersion: options.protocolVersion ?? DEFAULT_PROTOCOL_VERSION,
      authentication:
        options.username === undefined
          ? undefined
          : { credential: { credentialType: CredentialType.UsernameAndPassword, username: options.username, password: options.password } },
      batchCount: 1,
    };
    this.framer = new MessageFramer({
      maxMessageSize: MAX_RESPONSE_SIZE,
      onMessage: (reply) => this.deliver(reply),
      onOversized: (length) =>
        socket.destroy(
          new KmipConnectionError("RESPONSE_TOO_LARGE", `a reply from ${this.peer} of ${length} bytes exceeds the limit of ${MAX_RESPONSE_SIZE}`),
        ),
    });
    socket.on("data", (chunk: Buffer) => this.framer.push(chunk));
    socket.on("timeout", () => {
      if (this.inFlight > 0) {
        socket.destroy(new KmipConnectionError("TIMEOUT", `no reply from ${this.peer} within ${this.timeoutMs} ms`));
      }
    });
    socket.on("error", (error) => {
      this.failure ??= error;
    });
    this.closed = new Promise((resolve) => {
      socket.once("close", () => {
        this.failure ??= new KmipConnectionError("CLOSED", `connection to ${this.peer} closed with ${this.inFlight} request(s) pending`);
        this.rejectPending(this.failure);
        resolve();
      });
    });
  }

  /** Connects and completes the TLS handshake. */
  static connect(options: KmipClientOptions): Promise<KmipClient> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    return new Promise((resolve, reject) => {
      const socket = tls.connect({
        host: options.host,
        port: options.port,
        ca: options.ca,
        cert: options.cert,
        key: options.key,
        rejectUnauthorized: options.rejectUnauthorized ?? true,
        // Passed on to net.connect, which node's TLS types do not say.
        ...(options.localAddress === undefined ? {} : ({ localAddress: options.localAddress } as tls.ConnectionOptions)),
        servername: options.servername ?? (isIP(options.host) === 0 ? options.host : undefined),
      });
      socket.setTimeout(timeoutMs);
      const onTimeout = () =>
        socket.destroy(new KmipConnectionError("TIMEOUT", `no TLS connection to ${options.host}:${options.port} within ${timeoutMs} ms`));
      socket.once("timeout", onTimeout);
      socket.once("error", reject);
      socket.once("secureConnect", () => {
        socket.off("timeout", onTimeout);
        socket.off("error", reject);
        socket.setNoDelay(true);
        resolve(new KmipClient(socket, options));
      });
    });
  }

  /** The number of requests sent and not yet answered. */
  get inFlight(): number {
    return this.pending.length - this.head;
  }

  /** Sends one request message; resolves with its response message. */
  async send(message: RequestMessage): Promise<ResponseMessage> {
    const reply = await this.sendRaw(encodeTtlv(encodeRequestMessage(message)));
    return decodeResponseMessage(decodeTtlv(reply, { maxSize: MAX_RESPONSE_SIZE }));
  }

  /** Sends bytes as they are; resolves with the next framed reply, or rejects if the connection closes first. */
  sendRaw(bytes: Uint8Array): Promise<Uint8Array> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.socket.write(bytes);
    });
  }

  /** One operation in one message, with the client's credential and Protocol Version; resolves with its batch item. */
  async call(operation: number, requestPayload: StructureItem, options?: { uniqueBatchItemId?: Uint8Array }): Promise<ResponseBatchItem> {
    const response = await this.send({
      header: this.header,
      batchItems: [{ operation, uniqueBatchItemId: options?.uniqueBatchItemId, requestPayload }],
    });
    if (response.batchItems.length !== 1) {
      throw new KmipError(ResultReason.InvalidMessage, `one batch item was sent, ${response.batchItems.length} came back`);
    }
    return response.batchItems[0]!;
  }

  /** Several operations in one message; `header` overrides fields of the client's header (Batch Count is set here). */
  batch(items: BatchRequest[], header?: Partial<RequestHeader>): Promise<ResponseMessage> {
    return this.send({ header: { ...this.header, ...header, batchCount: items.length }, batchItems: items });
  }

  /**
   * Ends the connection. Replies that arrive before the server closes its
   * side still resolve; requests still pending then are rejected.
   */
  async close(): Promise<void> {
    this.failure ??= new KmipConnectionError("CLOSED", `connection to ${this.peer} closed by the client`);
    this.socket.end();
    const timer = setTimeout(() => this.socket.destroy(), this.timeoutMs);
    await this.closed;
    clearTimeout(timer);
  }

  // Typed operations: encode the request payload, check the result, decode the response payload.

  discoverVersions(payload: payloads.DiscoverVersionsRequestPayload = { protocolVersions: [] }) {
    return this.operate(Operation.DiscoverVersions, payloads.discoverVersionsPayloads, payload);
  }
  query(payload: payloads.QueryRequestPayload) {
    return this.operate(Operation.Query, payloads.queryPayloads, payload);
  }
  createKeyPair(payload: payloads.CreateKeyPairRequestPayload) {
    return this.operate(Operation.CreateKeyPair, payloads.createKeyPairPayloads, payload);
  }
  register(payload: payloads.RegisterRequestPayload) {
    return this.operate(Operation.Register, payloads.registerPayloads, payload);
  }
  get(payload: payloads.GetRequestPayload) {
    return this.operate(Operation.Get, payloads.getPayloads, payload);
  }
  activate(payload: payloads.ActivateRequestPayload) {
    return this.operate(Operation.Activate, payloads.activatePayloads, payload);
  }
  addAttribute(payload: payloads.AddAttributeRequestPayload) {
    return this.operate(Operation.AddAttribute, payloads.addAttributePayloads, payload);
  }
  modifyAttribute(payload: payloads.ModifyAttributeRequestPayload) {
    return this.operate(Operation.ModifyAttribute, payloads.modifyAttributePayloads, payload);
  }
  deleteAttribute(payload: payloads.DeleteAttributeRequestPayload) {
    return this.operate(Operation.DeleteAttribute, payloads.deleteAttributePayloads, payload);
  }
  getAttributes(payload: payloads.GetAttributesRequestPayload) {
    return this.operate(Operation.GetAttributes, payloads.getAttributesPayloads, payload);
  }
  getAttributeList(payload: payloads.GetAttributeListRequestPayload) {
    return this.operate(Operation.GetAttributeList, payloads.getAttributeListPayloads, payload);
  }
  locate(payload: payloads.LocateRequestPayload) {
    return this.operate(Operation.Locate, payloads.locatePayloads, payload);
  }
  check(payload: payloads.CheckRequestPayload) {
    return this.operate(Operation.Check, payloads.checkPayloads, payload);
  }
  sign(payload: payloads.SignRequestPayload) {
    return this.operate(Operation.Sign, payloads.signPayloads, payload);
  }
  signatureVerify(payload: payloads.SignatureVerifyRequestPayload) {
    return this.operate(Operation.SignatureVerify, payloads.signatureVerifyPayloads, payload);
  }
  revoke(payload: payloads.RevokeRequestPayload) {
    return this.operate(Operation.Revoke, payloads.revokePayloads, payload);
  }
  destroy(payload: payloads.DestroyRequestPayload) {
    return this.operate(Operation.Destroy, payloads.destroyPayloads, payload);
  }
  create(payload: payloads.CreateRequestPayload) {
    return this.operate(Operation.Create, payloads.createPayloads, payload);
  }
  encrypt(payload: payloads.EncryptRequestPayload) {
    return this.operate(Operation.Encrypt, payloads.encryptPayloads, payload);
  }
  decrypt(payload: payloads.DecryptRequestPayload) {
    return this.operate(Operation.Decrypt, payloads.decryptPayloads, payload);
  }
  mac(payload: payloads.MacRequestPayload) {
    return this.operate(Operation.Mac, payloads.macPayloads, payload);
  }
  macVerify(payload: payloads.MacVerifyRequestPayload) {
    return this.operate(Operation.MacVerify, payloads.macVerifyPayloads, payload);
  }
  rngRetrieve(payload: payloads.RngRetrieveRequestPayload) {
    return this.operate(Operation.RNGRetrieve, payloads.rngRetrievePayloads, payload);
  }

  private async operate<Request, Response>(
    operation: number,
    codecs: payloads.PayloadCodecs<Request, Response>,
    payload: Request,
  ): Promise<Response> {
    const item = await this.call(operation, codecs.encodeRequest(payload));
    if (item.resultStatus !== ResultStatus.Success) throw new KmipResultError(item.operation ?? operation, item);
    if (item.responsePayload === undefined) {
      throw new KmipError(ResultReason.MissingData, `${enumerationName(Tag.Operation, operation)} succeeded without a Response Payload`, {
        tag: Tag.ResponsePayload,
      });
    }
    return codecs.decodeResponse(item.responsePayload);
  }

  private deliver(reply: Uint8Array): boolean {
    const next = this.pending[this.head];
    if (next === undefined) {
      this.socket.destroy(new KmipConnectionError("UNEXPECTED_RESPONSE", `${this.peer} sent a message while no request was pending`));
      return false;
    }
    this.pending[this.head++] = undefined;
    if (this.head === this.pending.length) {
      this.pending.length = 0;
      this.head = 0;
    } else if (this.head >= 1024) {
      this.pending.splice(0, this.head);
      this.head = 0;
    }
    next.resolve(reply);
    return true;
  }

  private rejectPending(error: Error): void {
    const waiting = this.pending.splice(this.head);
    this.pending.length = 0;
    this.head = 0;
    for (const waiter of waiting) waiter?.reject(error);
  }
}
