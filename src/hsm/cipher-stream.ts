// Streaming Encrypt, Decrypt, MAC and MAC Verify (KMIP 1.3 Init Indicator,
// Final Indicator, Correlation Value; doc/architecture.md#streaming) as
// PKCS#11 multi-part operations: C_EncryptInit + C_EncryptUpdate ... +
// C_EncryptFinal (v2.40 sections 5.8-5.12; C_Sign*, C_Verify* alike) on one
// session that the stream keeps (SessionPool.pin) from its first part to its
// last.
//
// What keeps a stream from holding a session for ever: streams may pin half
// of a slot's sessions at most (SessionPool.pin), a stream idle for
// STREAM_IDLE_MS is ended here, whatever the KMIP side does, and the relay
// ends the streams of a connection that closes (operations/cipher-streams.ts).
// Ending a stream runs the Final function for nothing, which ends the
// operation whatever it answers but CKR_BUFFER_TOO_SMALL; a session where
// that is not sure is closed instead of going back to the pool.
import { randomBytes } from "node:crypto";
import type pkcs11js from "pkcs11js";
import type { CipherRequest, CipherStreamStep, SecretMechanism, StreamResult } from "./crypto-types.js";
import { HsmError } from "./hsm-error.js";
import { refusal } from "./cipher.js";
import { hsmErrorOf, p11 } from "./ckr.js";
import type { SessionPool, Session } from "./session-pool.js";

/** A stream with no part for this long is ended (its session goes back to the pool). */
export const STREAM_IDLE_MS = 120_000;
/** Most bytes one stream takes in all (SoftHSM keeps a GCM Decrypt's whole input until C_DecryptFinal). */
export const MAX_STREAM_BYTES = 64 * 1024 * 1024;
/** Room for the largest MAC the relay computes (HMAC-SHA512). */
const MAC_BYTES = 64;

/** What a stream does: the PKCS#11 function family it runs. */
export type StreamKind = "encrypt" | "decrypt" | "mac" | "verify";

interface OpenStream {
  readonly slotId: string;
  readonly pool: SessionPool;
  readonly session: Session;
  readonly keyId: string;
  readonly mechanism: SecretMechanism;
  readonly kind: StreamKind;
  readonly tagLength: number;
  /** Input taken so far. */
  bytes: number;
  busy: boolean;
  timer: NodeJS.Timeout | undefined;
}

/** Refuses what cannot stream: RSA (one block) and a GCM tag before the last part. */
export function checkStreamable(request: CipherRequest): void {
  if (request.mechanism === "RSA-OAEP") throw new HsmError("INVALID_ARGUMENT", "RSA-OAEP ciphers one block: send the whole Data in one request");
  if (request.tag !== undefined) throw new HsmError("INVALID_ARGUMENT", "a streaming GCM Decrypt takes the Authenticated Encryption Tag with its last part (Final Indicator)");
}

export class CipherStreams {
  private readonly streams = new Map<string, OpenStream>();

  constructor(
    private readonly p: pkcs11js.PKCS11,
    private readonly idleMs = STREAM_IDLE_MS,
  ) {}

  /** Streams open now. */
  get size(): number {
    return this.streams.size;
  }

  /**
   * Pins a session, runs `init` on it (the key lookup and C_EncryptInit, or
   * C_SignInit ...; it returns the IV it made, if any) and the first update.
   */
  async start(
    slotId: string,
    pool: SessionPool,
    keyId: string,
    first: { readonly mechanism: SecretMechanism; readonly data: Uint8Array; readonly tagLength?: number },
    kind: StreamKind,
    init: (session: Session) => Promise<Buffer | undefined>,
  ): Promise<CipherStreamStep> {
    const session = await pool.pin();
    const stream: OpenStream = {
      slotId,
      pool,
      session,
      keyId,
      mechanism: first.mechanism,
      kind,
      tagLength: first.mechanism === "AES-GCM" ? (first.tagLength ?? 16) : 0,
      bytes: 0,
      busy: true,
      timer: undefined,
    };
    let made: Buffer | undefined;
    try {
      made = await init(session);
    } catch (error) {
      // The init failed: no operation is active on the session.
      pool.unpin(session, !(error instanceof HsmError && error.ckr === "CKR_OPERATION_ACTIVE"));
      throw error;
    }
    const id = randomBytes(16).toString("hex");
    this.streams.set(id, stream);
    try {
      const data = this.update(stream, first.data);
      return { stream: id, data, ...(made !== undefined && { iv: made }) };
    } catch (error) {
      this.end(id);
      throw refusal(keyId, kind, stream.mechanism, error);
    } finally {
      this.idle(id, stream);
    }
  }

  /** The next part; `final` ends the stream. `extra` is the GCM tag of a Decrypt's last part, or the MAC a MAC Verify checks. */
  continue(slotId: string, id: string, data: Uint8Array, final: boolean, extra?: Uint8Array): StreamResult {
    const stream = this.streams.get(id);
    if (stream === undefined || stream.slotId !== slotId) {
      throw new HsmError("ITEM_NOT_FOUND", "no such stream: it has ended, was never started, or was idle too long and ended");
    }
    if (stream.busy) throw new HsmError("INVALID_ARGUMENT", "the previous part of this stream is still being processed: send the parts one after the other");
    stream.busy = true;
    clearTimeout(stream.timer);
    try {
      let input: Uint8Array = data;
      if (stream.mechanism === "AES-GCM" && stream.kind === "decrypt" && final) {
        if (extra === undefined) throw new HsmError("INVALID_ARGUMENT", "the last part of a GCM Decrypt needs the Authenticated Encryption Tag");
        if (extra.length !== stream.tagLength) throw new HsmError("INVALID_ARGUMENT", `the Authenticated Encryption Tag is ${extra.length} bytes; the tag length is ${stream.tagLength}`);
        input = Buffer.concat([data, extra]);
      } else if (stream.kind === "verify" && final) {
        if (extra === undefined) throw new HsmError("INVALID_ARGUMENT", "the last part of a MAC Verify needs the MAC Data");
      } else if (extra !== undefined) {
        throw new HsmError("INVALID_ARGUMENT", "only the last part of a GCM Decrypt (its tag) or of a MAC Verify (its MAC Data) takes that field");
      }
      const head = this.update(stream, input);
      if (!final) return { data: head };
      const result = this.finish(stream, head, extra);
      this.streams.delete(id);
      stream.pool.unpin(stream.session, true);
      return result;
    } catch (error) {
      this.end(id);
      throw refusal(stream.keyId, stream.kind, stream.mechanism, error);
    } finally {
      stream.busy = false;
      this.idle(id, stream);
    }
  }

  /** Ends a stream before its last part; unknown ids are no error. */
  end(id: string): void {
    const stream = this.streams.get(id);
    if (stream === undefined) return;
    this.streams.delete(id);
    clearTimeout(stream.timer);
    let usable = true;
    try {
      if (stream.kind === "verify") this.p.C_VerifyFinal(stream.session, Buffer.alloc(MAC_BYTES));
      else this.final(stream);
    } catch (err) {
      // Any failure but these ends the operation (PKCS#11 v2.40 sections 5.8-5.12); after these, who knows: close the session.
      const ckr = hsmErrorOf("C_EncryptFinal", err).ckr;
      usable = ckr !== "CKR_BUFFER_TOO_SMALL" && ckr !== "CKR_SESSION_HANDLE_INVALID" && ckr !== "CKR_DEVICE_REMOVED";
    }
    stream.pool.unpin(stream.session, usable);
  }

  /** Ends every stream (the backend closes, or a slot's token is gone). */
  endAll(slotId?: string): void {
    for (const [id, stream] of [...this.streams]) if (slotId === undefined || stream.slotId === slotId) this.end(id);
  }

  /** The Final call of a last part, and its answer. */
  private finish(stream: OpenStream, head: Buffer, mac: Uint8Array | undefined): StreamResult {
    if (stream.kind === "verify") {
      try {
        return { data: head, valid: this.p.C_VerifyFinal(stream.session, Buffer.from(mac!)) };
      } catch (err) {
        const error = hsmErrorOf("C_VerifyFinal", err);
        // PKCS#11 v2.40 section 5.13: these two mean "does not verify"; they end the operation.
        if (error.ckr === "CKR_SIGNATURE_INVALID" || error.ckr === "CKR_SIGNATURE_LEN_RANGE") return { data: head, valid: false };
        throw error;
      }
    }
    const name = { encrypt: "C_EncryptFinal", decrypt: "C_DecryptFinal", mac: "C_SignFinal" }[stream.kind];
    const tail = p11(name, () => this.final(stream));
    const output = Buffer.concat([head, tail]);
    if (stream.kind !== "encrypt" || stream.tagLength === 0) return { data: output };
    const split = output.length - stream.tagLength;
    return { data: output.subarray(0, split), tag: output.subarray(split) };
  }

  private final(stream: OpenStream): Buffer {
    const output = Buffer.allocUnsafe(stream.bytes + 64);
    switch (stream.kind) {
      case "decrypt":
        return this.p.C_DecryptFinal(stream.session, output);
      case "mac":
        return this.p.C_SignFinal(stream.session, output);
      default:
        return this.p.C_EncryptFinal(stream.session, output);
    }
  }

  private update(stream: OpenStream, input: Uint8Array): Buffer {
    stream.bytes += input.length;
    if (stream.bytes > MAX_STREAM_BYTES) throw new HsmError("INVALID_ARGUMENT", `a stream takes at most ${MAX_STREAM_BYTES} bytes in all`);
    // C_EncryptUpdate takes no empty buffer (CKR_ARGUMENTS_BAD): an empty part changes nothing.
    if (input.length === 0) return Buffer.alloc(0);
    const buffer = Buffer.from(input);
    switch (stream.kind) {
      case "mac":
        p11("C_SignUpdate", () => this.p.C_SignUpdate(stream.session, buffer));
        return Buffer.alloc(0);
      case "verify":
        p11("C_VerifyUpdate", () => this.p.C_VerifyUpdate(stream.session, buffer));
        return Buffer.alloc(0);
      case "decrypt":
        return Buffer.from(p11("C_DecryptUpdate", () => this.p.C_DecryptUpdate(stream.session, buffer, Buffer.allocUnsafe(input.length + 32))));
      default:
        return Buffer.from(p11("C_EncryptUpdate", () => this.p.C_EncryptUpdate(stream.session, buffer, Buffer.allocUnsafe(input.length + 32))));
    }
  }

  /** (Re)arms the idle timer of a stream still open. */
  private idle(id: string, stream: OpenStream): void {
    stream.busy = false;
    if (this.streams.get(id) !== stream) return;
    clearTimeout(stream.timer);
    stream.timer = setTimeout(() => this.end(id), this.idleMs);
    stream.timer.unref();
  }
}
