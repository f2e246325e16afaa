// Streaming Encrypt, Decrypt, MAC and MAC Verify (KMIP 1.3+, 1.4 sections
// 4.29-4.30, 4.33-4.34): the first part carries Init Indicator true, the relay answers with a
// Correlation Value it makes (16 random bytes), and each later part carries
// that value, the last one with Final Indicator true. The HSM side keeps a
// PKCS#11 multi-part operation on one session (src/hsm/cipher-stream.ts,
// doc/architecture.md#streaming).
//
// A stream belongs to the connection that started it: another connection
// cannot continue it, a connection may hold MAX_STREAMS_PER_CONNECTION of
// them, and when the connection closes its streams end and their sessions
// go back to the pool. A stream idle for STREAM_IDLE_MS ends too. A
// Correlation Value that is unknown, ended, expired or another connection's
// is Invalid Field (KMIP 1.x has no Invalid Correlation Value reason; 2.0 does).
import { randomBytes } from "node:crypto";
import type { CipherStreamStep, StreamResult } from "../hsm/crypto-types.js";
import { HsmError } from "../hsm/hsm-error.js";
import { STREAM_IDLE_MS, type StreamKind } from "../hsm/cipher-stream.js";
import { KmipError } from "../kmip/errors.js";
import { atLeast } from "../kmip/versions.js";
import { ResultReason } from "../ttlv/enums.js";
import { type CipherFields, cipherRequest, ecbPadded, macAlgorithm } from "./ciphers.js";
import type { OperationContext } from "./operation.js";
import { usingSecretKey } from "./secret-state.js";

const OPERATION: Readonly<Record<StreamKind, string>> = { encrypt: "Encrypt", decrypt: "Decrypt", mac: "MAC", verify: "MAC Verify" };

/** Streams one connection may have open at once. */
export const MAX_STREAMS_PER_CONNECTION = 4;

/** The fields of an Encrypt or Decrypt request that make it a part of a stream. */
export interface StreamFields extends CipherFields {
  readonly correlationValue?: Uint8Array;
  readonly initIndicator?: boolean;
  readonly finalIndicator?: boolean;
}

interface Entry {
  readonly stream: string;
  readonly slotId: string;
  readonly keyId: string;
  readonly kind: StreamKind;
  busy: boolean;
  timer: NodeJS.Timeout | undefined;
}

type Streams = Map<string, Entry>;

/** Streams being started, per connection (the items of one batch run concurrently): they count against the bound too. */
const starting = new WeakMap<Streams, number>();

/** Streams by connection (its AbortSignal); requests without a connection (tests) share one owner. */
const owners = new WeakMap<object, Streams>();
const NO_CONNECTION = {};

const invalid = (message: string) => new KmipError(ResultReason.InvalidField, message);

function streamsOf(context: OperationContext): Streams {
  const owner = context.signal ?? NO_CONNECTION;
  let streams = owners.get(owner);
  if (streams === undefined) {
    const created: Streams = new Map();
    streams = created;
    owners.set(owner, created);
    context.signal?.addEventListener(
      "abort",
      () => {
        for (const value of [...created.keys()]) end(context, created, value);
        owners.delete(owner);
      },
      { once: true },
    );
  }
  return streams;
}

/** Forgets a stream and ends it in the backend (its session goes back to the pool). */
function end(context: OperationContext, streams: Streams, value: string): void {
  const entry = streams.get(value);
  if (entry === undefined) return;
  streams.delete(value);
  clearTimeout(entry.timer);
  context.backend.endCipherStream?.(entry.slotId, entry.stream).catch((error: unknown) => {
    context.logger.warn({ err: error }, `a stream of ${entry.keyId} could not be ended: ${(error as Error).message}`);
  });
}

function arm(context: OperationContext, streams: Streams, value: string, entry: Entry): void {
  clearTimeout(entry.timer);
  entry.timer = setTimeout(() => {
    if (streams.get(value) !== entry) return;
    context.logger.info({ id: entry.keyId }, `a streaming ${OPERATION[entry.kind]} was idle for ${STREAM_IDLE_MS / 1000} s and is ended`);
    end(context, streams, value);
  }, STREAM_IDLE_MS);
  entry.timer.unref();
}

/** Number of streams the connection of `context` holds (for tests and logs). */
export function openStreams(context: OperationContext): number {
  return owners.get(context.signal ?? NO_CONNECTION)?.size ?? 0;
}

export interface StreamAnswer {
  readonly result: StreamResult;
  /** The Correlation Value to send with the next part; absent after the last. */
  readonly correlationValue?: Uint8Array;
}

/** The stream fields of any of the four requests. */
interface StreamRequest {
  readonly correlationValue?: Uint8Array;
  readonly initIndicator?: boolean;
  readonly finalIndicator?: boolean;
}

/** "init", "next", or undefined for a request that is not a part of a stream (Init and Final both true: the whole Data at once). */
function partOf(context: OperationContext, request: StreamRequest, kind: StreamKind): "init" | "next" | undefined {
  const { correlationValue, initIndicator, finalIndicator } = request;
  if (correlationValue === undefined && initIndicator === undefined && finalIndicator === undefined) return undefined;
  if (!atLeast(context.version, 1, 3)) {
    throw invalid(`Correlation Value, Init Indicator and Final Indicator are KMIP 1.3 fields; this request is KMIP ${context.version.major}.${context.version.minor}`);
  }
  if (initIndicator === true) {
    if (correlationValue !== undefined) throw invalid("the first part of a stream (Init Indicator true) has no Correlation Value: the server makes it");
    return finalIndicator === true ? undefined : "init";
  }
  if (correlationValue === undefined) throw new KmipError(ResultReason.MissingData, `a part of a streaming ${OPERATION[kind]} after the first needs the Correlation Value the first part's answer gave`);
  return "next";
}

/**
 * Runs an Encrypt or Decrypt that is a part of a stream; undefined for a
 * request that is not.
 */
export async function streamPart(context: OperationContext, id: string, request: StreamFields, decrypting: boolean): Promise<StreamAnswer | undefined> {
  const kind = decrypting ? "decrypt" : "encrypt";
  const part = partOf(context, request, kind);
  if (part === undefined) return undefined;
  if (part === "next") {
    if (request.ivCounterNonce !== undefined || request.authenticatedEncryptionAdditionalData !== undefined) {
      throw invalid("IV/Counter/Nonce and Authenticated Encryption Additional Data go with the first part of a stream only");
    }
    return next(context, id, request.correlationValue!, kind, request.data, request.finalIndicator === true, request.authenticatedEncryptionTag);
  }
  const backend = context.backend;
  if (backend.startCipherStream === undefined) throw new KmipError(ResultReason.FeatureNotSupported, `this HSM backend does not stream: send the whole Data in one ${OPERATION[kind]}`);
  if (ecbPadded(request.cryptographicParameters)) {
    throw new KmipError(ResultReason.FeatureNotSupported, `a streaming ${OPERATION[kind]} with AES-ECB and PKCS#5 padding is not supported (use CBC with padding, or one request)`);
  }
  return start(context, id, kind, async () => {
    const cipher = await cipherRequest(context, id, { ...request, data: request.data ?? new Uint8Array(0) }, decrypting);
    return usingSecretKey(context, id, () => backend.startCipherStream!(context.slot.slotId, id, cipher, decrypting));
  });
}

/** The fields of a MAC or MAC Verify request. */
export interface MacStreamFields extends StreamRequest {
  readonly cryptographicParameters?: CipherFields["cryptographicParameters"];
  readonly data?: Uint8Array;
  readonly macData?: Uint8Array;
}

/**
 * Runs a MAC or MAC Verify that is a part of a stream; undefined for a
 * request that is not. The last part of a MAC answers the MAC (as data); of
 * a MAC Verify, which takes the MAC Data with its last part, whether it verified.
 */
export async function macStreamPart(context: OperationContext, id: string, request: MacStreamFields, verifying: boolean): Promise<StreamAnswer | undefined> {
  const kind = verifying ? "verify" : "mac";
  const part = partOf(context, request, kind);
  if (part === undefined) return undefined;
  if (part === "next") return next(context, id, request.correlationValue!, kind, request.data, request.finalIndicator === true, request.macData);
  if (request.macData !== undefined) throw invalid("a streaming MAC Verify takes the MAC Data with its last part (Final Indicator)");
  const backend = context.backend;
  if (backend.startMacStream === undefined) throw new KmipError(ResultReason.FeatureNotSupported, `this HSM backend does not stream: send the whole Data in one ${OPERATION[kind]}`);
  return start(context, id, kind, async () => {
    const algorithm = await macAlgorithm(context, id, request.cryptographicParameters);
    return usingSecretKey(context, id, () => backend.startMacStream!(context.slot.slotId, id, algorithm, request.data ?? new Uint8Array(0), verifying));
  });
}

async function start(context: OperationContext, id: string, kind: StreamKind, begin: () => Promise<CipherStreamStep>): Promise<StreamAnswer> {
  const streams = streamsOf(context);
  const pending = starting.get(streams) ?? 0;
  if (streams.size + pending >= MAX_STREAMS_PER_CONNECTION) {
    throw new KmipError(ResultReason.GeneralFailure, `this connection has ${streams.size + pending} streams open, as many as one connection may: finish or abandon one first`);
  }
  starting.set(streams, pending + 1);
  let step: CipherStreamStep;
  try {
    step = await begin();
  } finally {
    starting.set(streams, (starting.get(streams) ?? 1) - 1);
  }
  const value = randomBytes(16);
  const entry: Entry = { stream: step.stream, slotId: context.slot.slotId, keyId: id, kind, busy: false, timer: undefined };
  const key = value.toString("hex");
  streams.set(key, entry);
  // The connection closed while the stream started: nobody can continue it.
  if (context.signal?.aborted === true) end(context, streams, key);
  else arm(context, streams, key, entry);
  return { result: step, correlationValue: value };
}

async function next(
  context: OperationContext,
  id: string,
  correlationValue: Uint8Array,
  kind: StreamKind,
  data: Uint8Array | undefined,
  final: boolean,
  extra: Uint8Array | undefined,
): Promise<StreamAnswer> {
  const streams = streamsOf(context);
  const key = Buffer.from(correlationValue).toString("hex");
  const entry = streams.get(key);
  if (entry === undefined || entry.slotId !== context.slot.slotId) {
    throw invalid(`Correlation Value ${key} names no stream of this connection: it has ended, expired (idle ${STREAM_IDLE_MS / 1000} s), or was never made here`);
  }
  if (entry.keyId !== id || entry.kind !== kind) {
    throw invalid(`Correlation Value ${key} is a streaming ${OPERATION[entry.kind]} with ${entry.keyId}, not a ${OPERATION[kind]} with ${id}`);
  }
  if (entry.busy) throw invalid(`the previous part of stream ${key} is still being processed: send the parts one after the other`);
  entry.busy = true;
  clearTimeout(entry.timer);
  let result: StreamResult;
  try {
    result = await context.backend.continueCipherStream!(entry.slotId, entry.stream, data ?? new Uint8Array(0), final, extra);
  } catch (error) {
    // The backend has ended the stream (asking again costs nothing and covers a module that failed).
    end(context, streams, key);
    if (error instanceof HsmError && error.code === "ITEM_NOT_FOUND") throw invalid(`Correlation Value ${key}: ${error.message}`);
    throw error;
  } finally {
    entry.busy = false;
  }
  if (final) {
    streams.delete(key);
    return { result };
  }
  if (streams.get(key) === entry) arm(context, streams, key, entry);
  return { result, correlationValue };
}
