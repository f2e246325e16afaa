// One request message in, one response message out: decoding, protocol
// version, credentials, the batch (its order, error continuation, ID
// Placeholder), the response header and Maximum Response Size. Operations
// themselves live in src/operations; this file knows none of them by name.
//
// Bounds: a response is at most maxResponseSize bytes (operations that make
// large answers reserve their size first, see ResponseBudget); a client has
// at most its share of a token's work in progress (ClientWork,
// client-work.ts); a request whose client has gone (RequestScope.signal)
// starts no more items, and one whose client ended its side
// (RequestScope.ended) starts none but its first, answering the others as
// not run; lines about requests that fail before any operation runs
// (unreadable, without credentials, refused credentials) are rate-limited
// per peer.
//
// The PIN: the decoder never makes a string of a Password (src/ttlv/decode.ts);
// its value is a view of the request's own bytes, handed to the backend
// and zeroed, in those bytes, once the request is authenticated or refused.
// The relay then keeps no copy of it but the backend's digest.
import type { HsmBackend } from "../hsm/backend.js";
import { HsmError } from "../hsm/hsm-error.js";
import { KmipError } from "../kmip/errors.js";
import {
  decodeRequestMessage,
  encodeResponseMessage,
  type ProtocolVersion,
  type RequestBatchItem,
  type RequestMessage,
  type ResponseBatchItem,
} from "../kmip/message.js";
import type { Logger } from "../log/logger.js";
import { PeerLogLimiter } from "../log/rate-limit.js";
import { ResponseBudget, type OperationContext, type OperationHandler, type ServerInfo } from "../operations/operation.js";
import { isSupportedVersion, NEWEST_VERSION } from "../kmip/versions.js";
import { child } from "../ttlv/build.js";
import { decodeTtlv } from "../ttlv/decode.js";
import { encodeTtlv } from "../ttlv/encode.js";
import { BatchErrorContinuationOption, CredentialType, ResultReason, ResultStatus } from "../ttlv/enums.js";
import { toHex } from "../ttlv/hex.js";
import { ItemType, type TtlvItem } from "../ttlv/item.js";
import { enumerationName } from "../ttlv/names.js";
import { formatTtlv } from "../ttlv/pretty.js";
import { Tag } from "../ttlv/tags.js";
import type { ClientDirectory, PeerCertificate } from "./client-identity.js";
import type { ClientWork, Release } from "./client-work.js";
import type { ClientLoginThrottle } from "./login-throttle.js";
import type { LifecyclePolicy } from "../operations/managed-object.js";
import { describeFailure } from "./result.js";

export interface DispatcherOptions {
  readonly backend: HsmBackend;
  readonly handlers: readonly OperationHandler[];
  readonly server: ServerInfo;
  readonly logger: Logger;
  /** Largest request accepted, in bytes (the framing layer enforces it first). */
  readonly maxMessageSize: number;
  readonly maxBatchCount: number;
  /** Largest response message sent, in bytes (server.max-response-size); absent: no limit but the request's own. */
  readonly maxResponseSize?: number;
  /** Failed logins counted per client (login-throttle.ts); absent: not throttled here. */
  readonly loginThrottle?: Pick<ClientLoginThrottle, "admit">;
  /** What KMIP leaves to the server about the object lifecycle ([lifecycle]); absent: the defaults. */
  readonly lifecycle?: LifecyclePolicy;
  /** [clients]: the token and PIN of a client known by its certificate, for requests without a credential. */
  readonly clients?: ClientDirectory;
  /** Each client's share of a slot's work (client-work.ts); absent: no share but the module queue's. */
  readonly clientWork?: ClientWork;
  /** Called once per batch item with its outcome, for metrics. */
  readonly onItem?: (operation: number | undefined, resultReason: number | undefined, seconds: number) => void;
}

/** Where a request comes from, and whether its client is still there. */
export interface RequestScope {
  /** Aborted when the client has gone: items not yet started are not run, and nobody reads the answer. */
  readonly signal?: AbortSignal;
  /**
   * Aborted when the client ended its side of the connection (a TCP FIN or
   * TLS close_notify), which it may do and still read: a request started
   * before it runs its first item; items not yet started after it are
   * answered Operation Canceled By Requester, not run.
   */
  readonly ended?: AbortSignal;
  /** The client's address, which rate-limited log lines are counted by. */
  readonly peer?: string;
  /** Who the login throttle counts failures against: the address, and the certificate fingerprint when there is one. */
  readonly client?: string;
  /** The client certificate the connection presented and the TLS server verified; absent without one. */
  readonly certificate?: PeerCertificate;
}

/**
 * What a client is told for every refused PIN, cool-down and locked PIN
 * alike: a different text would tell an attacker whether the token is logged
 * in (the PIN compared with a digest) or not (C_Login called), and so when a
 * wrong PIN reaches the token. The log keeps the reason.
 */
const AUTHENTICATION_FAILED = "authentication failed: wrong username or password, or too many failed attempts";
const AUTHENTICATION_CODES: ReadonlySet<string> = new Set(["AUTH_FAILED", "LOGIN_COOLDOWN", "PIN_LOCKED"]);

/** Version used to answer a message whose own version cannot be read. */
const FALLBACK_VERSION: ProtocolVersion = { major: 1, minor: 2 };

/** Batch Error Continuation Option values of KMIP 1.x (9.1.3.2.29). */
const CONTINUATION_OPTIONS: ReadonlySet<number> = new Set(Object.values(BatchErrorContinuationOption));

/**
 * What an unauthenticated client is told when its credential is refused: no
 * slot id, label or serial number of any token, whatever the log says.
 */
const REFUSED_CREDENTIAL: Readonly<Record<string, string>> = {
  SLOT_NOT_FOUND: "no single token matches the username; the relay's log says why",
  TOKEN_NOT_INITIALISED: "the username selects a token not initialised (initialise it, or use another username); the relay's log says which",
};

export class Dispatcher {
  private readonly handlers: ReadonlyMap<number, OperationHandler>;
  /** Lines about requests refused before any operation ran, per peer. */
  private readonly refusalLog = new PeerLogLimiter("lines about refused requests");
  /** A client's login cool-down is logged on its own budget: a flood of refused PINs cannot hide it from the operator. */
  private readonly cooldownLog = new PeerLogLimiter("lines about login cool-downs", 1);

  constructor(private readonly options: DispatcherOptions) {
    this.handlers = new Map(options.handlers.map((h) => [h.operation, h]));
  }

  /**
   * Answers one framed request message. Never throws. The Password's bytes
   * in `bytes` are zeroed (see the top of this file).
   */
  async handle(bytes: Uint8Array, logger: Logger, scope: RequestScope = {}): Promise<Buffer> {
    let tree: TtlvItem;
    try {
      tree = decodeTtlv(bytes, { maxSize: this.options.maxMessageSize });
    } catch (error) {
      this.refusalLog.take(scope.peer, logger)?.warn({ err: (error as Error).message }, "unparseable request message");
      return this.messageFailure(FALLBACK_VERSION, ResultReason.InvalidMessage, (error as Error).message);
    }
    try {
      return await this.answer(tree, bytes.length, logger, scope);
    } finally {
      zeroPasswords(tree);
    }
  }

  private async answer(tree: TtlvItem, size: number, logger: Logger, scope: RequestScope): Promise<Buffer> {
    let request: RequestMessage;
    if (logger.isLevelEnabled("debug")) {
      // The redacted tree only: the raw bytes carry the Password (and any Key
      // Material a client sends) in clear, and secrets never reach a log.
      logger.debug(`request message (${size} bytes):\n${formatTtlv(tree)}`);
    }
    try {
      request = decodeRequestMessage(tree);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.refusalLog.take(scope.peer, logger)?.warn({ err: message }, "invalid request message");
      const reason = error instanceof KmipError ? error.reason : ResultReason.InvalidMessage;
      return this.messageFailure(versionOf(tree) ?? FALLBACK_VERSION, reason, message);
    }

    const version = request.header.protocolVersion;
    if (!isSupportedVersion(version)) {
      const text = `protocol version ${version.major}.${version.minor} is not supported; this relay speaks KMIP 1.0 to 1.4`;
      this.refusalLog.take(scope.peer, logger)?.info(text);
      return this.messageFailure(version.major === 1 ? NEWEST_VERSION : FALLBACK_VERSION, ResultReason.InvalidMessage, text);
    }

    const budget = new ResponseBudget(this.responseLimit(request));
    const items = await this.processBatch(request, logger, scope, budget, tree);
    return this.encodeResponse(request, items, logger);
  }

  /** The smaller of the request's Maximum Response Size and server.max-response-size. */
  private responseLimit(request: RequestMessage): number {
    const own = request.header.maximumResponseSize;
    const server = this.options.maxResponseSize;
    return Math.min(own === undefined || own < 0 ? Infinity : own, server ?? Infinity);
  }

  private async processBatch(request: RequestMessage, logger: Logger, scope: RequestScope, budget: ResponseBudget, tree: TtlvItem): Promise<ResponseBatchItem[]> {
    const { header, batchItems } = request;
    if (batchItems.length > this.options.maxBatchCount) {
      const text = `the batch has ${batchItems.length} items; this relay accepts at most ${this.options.maxBatchCount} (server.max-batch-count)`;
      logger.info(text);
      return batchItems.map((item) => failure(item, ResultReason.InvalidMessage, text));
    }
    const continuation = header.batchErrorContinuationOption ?? BatchErrorContinuationOption.Stop;
    if (!CONTINUATION_OPTIONS.has(continuation)) {
      // Taking an unknown value for Continue would run items the client meant to stop at the first failure.
      const text = `Batch Error Continuation Option ${continuation} is not one of Continue (1), Stop (2) or Undo (3)`;
      this.refusalLog.take(scope.peer, logger)?.info(text);
      return batchItems.map((item) => failure(item, ResultReason.InvalidField, text));
    }
    if (continuation === BatchErrorContinuationOption.Undo) {
      const text = "Batch Error Continuation Option Undo is not supported (PKCS#11 cannot undo an operation); use Stop or Continue";
      return batchItems.map((item) => failure(item, ResultReason.FeatureNotSupported, text));
    }

    // Credentials (compat: a request carries a Username and Password
    // credential; the username selects the slot, the password is the PIN).
    // Without one, a client certificate mapped in [clients] names both; a
    // credential the request does carry wins over the mapping.
    const credential = header.authentication?.credential;
    let username: string;
    let password: Uint8Array;
    let mapped: string | undefined;
    if (
      credential !== undefined &&
      credential.credentialType === CredentialType.UsernameAndPassword &&
      credential.username !== undefined &&
      credential.password !== undefined
    ) {
      username = credential.username;
      // Decoded: always bytes (secretText); a string only in a message built in code.
      password = typeof credential.password === "string" ? Buffer.from(credential.password, "utf8") : credential.password;
    } else {
      const client = this.options.clients?.match(scope.certificate);
      if (client === undefined) {
        // Authentication Not Successful (KMIP 1.x 11, Result Reason), not
        // General Failure: it is the reason a client acts on by sending a
        // credential, whether none came or one the relay cannot use.
        const certificate = scope.certificate;
        const text =
          certificate === undefined
            ? "the request carries no Username and Password credential (username: token label, password: user PIN)"
            : "the request carries no Username and Password credential, and the client certificate is not mapped to a token ([clients] in the relay's config)";
        const fields = certificate === undefined ? {} : { subject: certificate.subjectText.replaceAll("\n", ", "), sha256: certificate.fingerprint256 };
        this.refusalLog.take(scope.peer, logger)?.info(fields, text);
        return batchItems.map((item) => failure(item, ResultReason.AuthenticationNotSuccessful, text));
      }
      username = client.token;
      mapped = client.name;
      // A mapped client's PIN (bytes, read at start and kept for the relay's
      // life) joins the path of a request's Password here; it is never zeroed.
      password = client.pin;
    }
    let context: OperationContext;
    try {
      const slot = await this.options.backend.resolveSlot(username);
      const attempt = await this.options.loginThrottle?.admit(slot.slotId, scope.client ?? "unknown", password);
      try {
        await this.options.backend.authenticate(slot.slotId, password);
        attempt?.succeeded();
      } catch (error) {
        if (error instanceof HsmError && (error.code === "AUTH_FAILED" || error.code === "PIN_LOCKED")) attempt?.failed();
        else attempt?.abandoned();
        throw error;
      }
      context = {
        backend: this.options.backend,
        slot,
        version: header.protocolVersion,
        server: this.options.server,
        logger,
        idPlaceholder: undefined,
        signal: scope.signal,
        responseBudget: budget,
        ...(this.options.lifecycle === undefined ? {} : { lifecycle: this.options.lifecycle }),
      };
    } catch (error) {
      const { resultReason, resultMessage } = describeFailure(error);
      // A username that selects no usable token is not a failed login.
      const what = error instanceof HsmError && (error.code === "SLOT_NOT_FOUND" || error.code === "TOKEN_NOT_INITIALISED") ? "no token for this username" : "authentication failed";
      const log = error instanceof HsmError && error.code === "LOGIN_COOLDOWN" ? this.cooldownLog : this.refusalLog;
      log.take(scope.peer, logger)?.info({ username, ...(mapped !== undefined && { mapped }), client: scope.client }, `${what}: ${resultMessage}`);
      const told =
        error instanceof HsmError
          ? AUTHENTICATION_CODES.has(error.code)
            ? AUTHENTICATION_FAILED
            : (REFUSED_CREDENTIAL[error.code] ?? resultMessage)
          : resultMessage;
      return batchItems.map((item) => failure(item, resultReason, told));
    } finally {
      // Not needed past authentication: the operations can take long.
      zeroPasswords(tree);
      // A Password given as text in code was copied into bytes here; a mapped client's PIN is kept.
      if (mapped === undefined) password.fill(0);
    }

    // Items run in order. Consecutive read-only items run concurrently (a
    // batch of Sign items spreads over the slot's sessions); anything that
    // changes state or sets the ID Placeholder runs alone, after them.
    const results: ResponseBatchItem[] = [];
    // The first item runs unless the client has gone; the others also not once it ended its side.
    const client = scope.client ?? "unknown";
    const first: ItemWork = { client, cancel: [scope.signal] };
    const rest: ItemWork = { client, cancel: [scope.signal, scope.ended] };
    let index = 0;
    while (index < batchItems.length) {
      if (scope.signal?.aborted) {
        // Nobody would read the answers: what has not started is not run.
        logger.info(`the client closed the connection; ${batchItems.length - index} of ${batchItems.length} batch items not run`);
        return results;
      }
      if (index > 0 && scope.ended?.aborted) return this.notRun(batchItems, results, logger);
      let end = index + 1;
      if (this.handlers.get(batchItems[index]!.operation)?.readOnly) {
        while (end < batchItems.length && this.handlers.get(batchItems[end]!.operation)?.readOnly) end++;
      }
      // A lone item (every batch of one) is awaited as it is.
      const groupResults =
        end === index + 1
          ? [await this.runItem(context, batchItems[index]!, index === 0 ? first : rest)]
          : await Promise.all(batchItems.slice(index, end).map((item, i) => this.runItem(context, item, index + i === 0 ? first : rest)));
      if (groupResults.some((result) => NOT_RUN.has(result))) {
        results.push(...groupResults);
        return this.notRun(batchItems, results, logger);
      }
      for (const result of groupResults) {
        results.push(result);
        if (result.resultReason === ResultReason.ResponseTooLarge) {
          // The whole response becomes Response Too Large (encodeResponse): the rest would be wasted work.
          return results;
        }
        // Stop (KMIP 1.x 6.7): nothing after the first failed item is
        // processed; items of the same group that already ran are not reported.
        if (result.resultStatus !== ResultStatus.Success && continuation === BatchErrorContinuationOption.Stop) {
          return results;
        }
      }
      index = end;
    }
    return results;
  }

  /**
   * The answer once the client ended its side: `results` so far, then every
   * item after them as not run (a client that still reads learns which
   * items did run).
   */
  private notRun(batchItems: readonly RequestBatchItem[], results: ResponseBatchItem[], logger: Logger): ResponseBatchItem[] {
    const count = batchItems.length - results.length + results.filter((result) => NOT_RUN.has(result)).length;
    logger.info(`the client ended its side of the connection, or closed it; ${count} of ${batchItems.length} batch items not run (answered Operation Canceled By Requester)`);
    for (const item of batchItems.slice(results.length)) results.push(notRunItem(item));
    return results;
  }

  private async runItem(context: OperationContext, item: RequestBatchItem, work: ItemWork): Promise<ResponseBatchItem> {
    const handler = this.handlers.get(item.operation);
    if (work.cancel.some((signal) => signal?.aborted)) return notRunItem(item);
    let release: Release | undefined;
    if (handler !== undefined && this.options.clientWork !== undefined) {
      try {
        const share = this.options.clientWork.acquire(work.client, context.slot.slotId, !handler.readOnly, work.cancel);
        release = typeof share === "function" ? share : await share;
      } catch {
        // Cancelled while waiting for the client's share: it has not started.
        return notRunItem(item);
      }
    }
    try {
      return await this.runHandler(context, item, handler);
    } finally {
      release?.();
    }
  }

  private async runHandler(context: OperationContext, item: RequestBatchItem, handler: OperationHandler | undefined): Promise<ResponseBatchItem> {
    // Timed only for metrics: the clock read is per item.
    const started = this.options.onItem === undefined ? 0n : process.hrtime.bigint();
    let result: ResponseBatchItem;
    if (handler === undefined) {
      const name = enumerationName(Tag.Operation, item.operation) ?? `0x${item.operation.toString(16)}`;
      const text = `operation ${name} is not supported by this relay`;
      context.logger.info(text);
      result = failure(item, ResultReason.OperationNotSupported, text);
    } else {
      try {
        const responsePayload = await handler.run(context, item.requestPayload);
        result = { operation: item.operation, uniqueBatchItemId: item.uniqueBatchItemId, resultStatus: ResultStatus.Success, responsePayload };
      } catch (error) {
        const { resultReason, resultMessage, internal } = describeFailure(error);
        // The reason by name, as clients and the spec say it, not its number.
        const fields = { operation: handler.name, reason: enumerationName(Tag.ResultReason, resultReason) ?? resultReason };
        if (internal) context.logger.warn({ ...fields, err: error }, `${handler.name} failed: ${resultMessage}`);
        else context.logger.info(fields, `${handler.name} failed: ${resultMessage}`);
        result = failure(item, resultReason, resultMessage);
      }
    }
    if (this.options.onItem !== undefined) this.options.onItem(item.operation, result.resultReason, Number(process.hrtime.bigint() - started) / 1e9);
    return result;
  }

  private encodeResponse(request: RequestMessage, items: ResponseBatchItem[], logger: Logger): Buffer {
    const version = request.header.protocolVersion;
    let bytes = this.encode(version, items, logger);
    const own = request.header.maximumResponseSize;
    const limit = this.responseLimit(request);
    if (bytes.length > limit || responseTooLarge(items)) {
      // Maximum Response Size (KMIP 1.x 6.3): the items are replaced by
      // Response Too Large failures, which a client can retry with a larger
      // limit (or smaller batches, when the relay's own limit is the one).
      const text =
        own !== undefined && own === limit
          ? `the response would be over the request's Maximum Response Size of ${limit}${bytes.length > limit ? ` (${bytes.length} bytes)` : ""}`
          : `the response would be over the relay's limit of ${limit} bytes (server.max-response-size); ask for less per request`;
      logger.info(text);
      bytes = this.encode(
        version,
        request.batchItems.map((item) => failure(item, ResultReason.ResponseTooLarge, text)),
        logger,
      );
    }
    return bytes;
  }

  private encode(protocolVersion: ProtocolVersion, batchItems: ResponseBatchItem[], logger: Logger): Buffer {
    const tree = encodeResponseMessage({
      header: { protocolVersion, timeStamp: BigInt(Math.floor(Date.now() / 1000)), batchCount: batchItems.length },
      batchItems,
    });
    const bytes = encodeTtlv(tree);
    if (logger.isLevelEnabled("debug")) {
      logger.debug(`response message (${bytes.length} bytes): ${toHex(bytes)}\n${formatTtlv(tree)}`);
    }
    return bytes;
  }

  /** The answer to a message the connection refuses to read (Invalid Message). */
  refusal(resultMessage: string): Buffer {
    return this.messageFailure(FALLBACK_VERSION, ResultReason.InvalidMessage, resultMessage);
  }

  /** The answer to a message that cannot be processed at all: one item with no Operation (compat). */
  private messageFailure(version: ProtocolVersion, resultReason: number, resultMessage: string): Buffer {
    const tree = encodeResponseMessage({
      header: { protocolVersion: version, timeStamp: BigInt(Math.floor(Date.now() / 1000)), batchCount: 1 },
      batchItems: [{ resultStatus: ResultStatus.OperationFailed, resultReason, resultMessage }],
    });
    return encodeTtlv(tree);
  }
}

/** Zeroes the bytes of every Password in a decoded tree (they are the request's own, src/ttlv/decode.ts). */
function zeroPasswords(item: TtlvItem): void {
  if (item.type === ItemType.Structure) for (const c of item.value) zeroPasswords(c);
  else if (item.tag === Tag.Password && item.type === ItemType.TextString && typeof item.value !== "string") item.value.fill(0);
}

/** Whether an item ran out of the response budget (ResponseBudget.reserve), which makes the whole response too large. */
function responseTooLarge(items: readonly ResponseBatchItem[]): boolean {
  return items.some((item) => item.resultReason === ResultReason.ResponseTooLarge);
}

/** What an item runs under: whose share it takes (ClientWork), and what cancels it while it waits. */
interface ItemWork {
  readonly client: string;
  readonly cancel: readonly (AbortSignal | undefined)[];
}

/** Answers of items that were not run because the client ended its side (or went away). */
const NOT_RUN = new WeakSet<ResponseBatchItem>();

function notRunItem(item: RequestBatchItem): ResponseBatchItem {
  const result = failure(
    item,
    ResultReason.OperationCanceledByRequester,
    "not run: the client ended its side of the connection (TCP FIN or TLS close_notify) before this item started",
  );
  NOT_RUN.add(result);
  return result;
}

function failure(item: RequestBatchItem, resultReason: number, resultMessage: string): ResponseBatchItem {
  return {
    operation: item.operation,
    uniqueBatchItemId: item.uniqueBatchItemId,
    resultStatus: ResultStatus.OperationFailed,
    resultReason,
    resultMessage,
  };
}

/** The Protocol Version of a tree that is not a valid Request Message, when it can be read. */
function versionOf(tree: TtlvItem): ProtocolVersion | undefined {
  const version = child(child(tree, Tag.RequestHeader) ?? tree, Tag.ProtocolVersion);
  const major = version && child(version, Tag.ProtocolVersionMajor);
  const minor = version && child(version, Tag.ProtocolVersionMinor);
  if (major?.type === ItemType.Integer && minor?.type === ItemType.Integer) {
    const v = { major: major.value, minor: minor.value };
    return isSupportedVersion(v) ? v : undefined;
  }
  return undefined;
}
