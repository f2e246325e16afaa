// The HSM backend with the PKCS#11 module in a supervised child process.
//
// Vendor PKCS#11 libraries are untrusted code: they crash, hang and print to
// stdout. Here the module runs in a child process (child.ts) that serves the
// in-process backend over IPC, and this side implements HsmBackend by
// forwarding each call. When the child dies or stops answering (see "When a
// module counts as hung" below), the calls in flight fail with MODULE_FAILED,
// the failure is logged, and a new child is started with exponential backoff;
// calls that arrive meanwhile wait for it. The module's stdout and stderr are
// logged with a prefix (see module-output.ts), never mixed into the relay's
// own output.
//
// When a module counts as hung. Killing the module in the middle of a write
// destroys data: SoftHSM rewrites object files in place (on
// C_SetAttributeValue, C_DestroyObject, and its token file on every
// C_Login), so a kill there leaves a truncated key or a whole token
// unreadable, of whichever token was writing, not only the one whose call was
// slow. Hence:
// - A call is timed from when it can have started, not from when it was
//   queued: the module runs the calls it has in some order, on a few sessions
//   and threads, so a call waiting behind others has not started. What this
//   side can see is progress: the clock runs from the later of the oldest
//   unanswered call's sending and the module's last answer. A module that
//   answers something at least every callTimeoutMs is working through its
//   queue, however long the queue is.
// - While any write (WRITES) is under way, the limit is writeTimeoutMs, much
//   longer: the module is killed only when even a write has made no progress
//   for that long, and the log then names every write in flight and the
//   objects it may have damaged. A write is under way once the module
//   process says it started it (child.ts sends "started" before the
//   PKCS#11 call): a write sent but queued behind a call that hangs has
//   not started and damages nothing, so it does not hold the kill of a
//   hung read back for writeTimeoutMs.
// - Each slot has at most maxQueuedCalls unanswered calls, of which at most
//   maxQueuedWrites writes; beyond that a call fails at once with BUSY, so
//   a client flooding one token cannot make the queue, and with it every
//   other token's wait, arbitrarily long.
// - When the relay exits without closing the backend, a child with a write
//   in flight is not killed: it notices the relay is gone, finishes its calls
//   and exits by itself (child.ts).
//
// A new child has no session and no login. What this side keeps to answer
// resolveSlot() and authenticate() without a round trip (credentials.ts) is
// dropped when a child fails, so the next authenticate() reaches the new
// child, which logs the token in with that request's PIN, exactly as after
// the relay's own start.
//
// The child processes themselves are module-process.ts; this file is the
// supervisor that owns them, including killing them when the relay exits
// without closing the backend.
import { timingSafeEqual } from "node:crypto";
import { performance } from "node:perf_hooks";
import type { Logger } from "../../log/logger.js";
import type { HsmBackend, ModuleInfo, SlotSummary } from "../backend.js";
import type { CipherRequest, CipherResult, CipherStreamStep, StreamResult, MacAlgorithm, Signature, SignatureRequest, SignMechanism, WrapMechanism } from "../crypto-types.js";
import { HsmError } from "../hsm-error.js";
import type { SecretKeyRequest, KeyDescription, KeyFilter, KeyImportRequest, KeyPairIds, KeyPairRequest, KeyUpdate, MetadataObject } from "../key-types.js";
import type { Pkcs11BackendOptions } from "../pkcs11-backend.js";
import { CredentialCache } from "./credentials.js";
import { ModuleProcess } from "./module-process.js";
import { checkPin } from "./pin-check.js";
import { deserializeError, WRITES, type BackendMethod, type SerializedError, type CallResponse, type ParentMessage } from "./protocol.js";

export interface IsolatedBackendOptions extends Pkcs11BackendOptions {
  /**
   * The module answering nothing for this long while calls are waiting, none
   * of them a write: the child is killed (SIGKILL) and restarted.
   */
  callTimeoutMs: number;
  /** The same while a write is waiting (WRITES). Default DEFAULT_WRITE_TIMEOUT_MS. */
  writeTimeoutMs?: number;
  /** Unanswered calls per slot; more fail at once with BUSY. Default DEFAULT_MAX_QUEUED_CALLS. */
  maxQueuedCalls?: number;
  /** Unanswered writes per slot, among maxQueuedCalls. Default DEFAULT_MAX_QUEUED_WRITES. */
  maxQueuedWrites?: number;
  /** Extra environment for the module's process only (vendor variables). */
  env?: Record<string, string>;
  /**
   * Delay before restarting a failed child: initialMs, doubled after each
   * further failure up to maxMs. A child that served for maxMs or longer
   * before failing counts as stable, and the delay starts again at initialMs.
   * Default { initialMs: 100, maxMs: 30000 }.
   */
  restartBackoff?: { initialMs: number; maxMs: number };
  /** How long a child may take to load the module and C_Initialize it. Default 30000. */
  startTimeoutMs?: number;
  /**
   * How often a PIN accepted by its digest is checked again against the
   * token, in a process of its own (pin-check.ts), so that a PIN changed on
   * the token stops working within this long. Default DEFAULT_PIN_RECHECK_MS.
   */
  pinRecheckMs?: number;
  /** Called each time a restarted child serves again (for the module restarts metric). */
  onRestart?: () => void;
}

const DEFAULT_RESTART_BACKOFF = { initialMs: 100, maxMs: 30_000 };
const DEFAULT_START_TIMEOUT_MS = 30_000;
export const DEFAULT_WRITE_TIMEOUT_MS = 600_000;
export const DEFAULT_MAX_QUEUED_CALLS = 1024;
export const DEFAULT_MAX_QUEUED_WRITES = 64;
export const DEFAULT_PIN_RECHECK_MS = 300_000;


/** The PKCS#11 functions each method drives, to say where a failure happened. */
const PKCS11_FUNCTIONS: Record<BackendMethod, string> = {
  listSlots: "C_GetSlotList, C_GetSlotInfo, C_GetTokenInfo",
  resolveSlot: "C_GetSlotList, C_GetSlotInfo, C_GetTokenInfo",
  authenticate: "C_OpenSession, C_Login",
  adoptPin: "C_OpenSession, C_Login",
  mechanisms: "C_GetMechanismList",
  generateKeyPair: "C_GenerateKeyPair",
  importKey: "C_FindObjects, C_CreateObject",
  generateSecretKey: "C_GenerateKey",
  readSecretValue: "C_GetAttributeValue",
  wrapKey: "C_WrapKey",
  encrypt: "C_EncryptInit, C_Encrypt",
  decrypt: "C_DecryptInit, C_Decrypt",
  mac: "C_SignInit, C_Sign",
  macVerify: "C_VerifyInit, C_Verify",
  describeKey: "C_FindObjects, C_GetAttributeValue",
  findKeys: "C_FindObjects, C_GetAttributeValue",
  describeKeys: "C_FindObjects, C_GetAttributeValue",
  updateKey: "C_SetAttributeValue",
  destroyKey: "C_DestroyObject",
  readMetadata: "C_FindObjects, C_GetAttributeValue",
  writeMetadata: "C_FindObjects, C_CreateObject or C_SetAttributeValue",
  destroyMetadata: "C_FindObjects, C_DestroyObject",
  sign: "C_SignInit, C_Sign",
  verify: "C_VerifyInit, C_Verify",
  generateRandom: "C_GenerateRandom",
  seedRandom: "C_SeedRandom",
  startCipherStream: "C_EncryptInit (C_DecryptInit), C_EncryptUpdate",
  startMacStream: "C_SignInit (C_VerifyInit), C_SignUpdate",
  continueCipherStream: "C_EncryptUpdate (C_DecryptUpdate, C_SignUpdate, ...), C_EncryptFinal",
  endCipherStream: "C_EncryptFinal (C_DecryptFinal)",
  ping: "C_GetInfo",
};

/**
 * Starts the module in a child process and returns the backend once the module
 * is loaded and initialised. A module that cannot be loaded is a startup
 * error carrying the child's message, not a restart loop.
 */
export async function openIsolatedBackend(options: IsolatedBackendOptions, logger: Logger): Promise<HsmBackend> {
  const backend = new IsolatedBackend(options, logger);
  await backend.start();
  return backend;
}

interface PendingCall {
  resolve(value: unknown): void;
  reject(error: Error): void;
  readonly method: BackendMethod;
  readonly args: unknown[];
  /** performance.now() when the call was sent to the child. */
  readonly startedAt: number;
  readonly write: boolean;
  /** For a write: the module process said it started it (see "When a module counts as hung"). */
  started: boolean;
  /** The slot the call is about; undefined for listSlots, resolveSlot and ping. */
  readonly slotId: string | undefined;
  /** Runs when the call succeeds, in the order the child answered, before the caller resumes. */
  readonly onSuccess: ((value: unknown) => void) | undefined;
}

/** The methods whose first argument is not a slot id. */
const SLOTLESS: ReadonlySet<BackendMethod> = new Set(["listSlots", "resolveSlot", "ping"]);

interface RestartWaiter {
  resolve(): void;
  reject(error: Error): void;
  readonly timer: NodeJS.Timeout;
}

class IsolatedBackend implements HsmBackend {
  module!: ModuleInfo;

  private readonly callTimeoutMs: number;
  private readonly writeTimeoutMs: number;
  private readonly maxQueuedCalls: number;
  private readonly maxQueuedWrites: number;
  private readonly backoff: { initialMs: number; maxMs: number };
  private readonly startTimeoutMs: number;
  private readonly pkcs11Options: Pkcs11BackendOptions;
  private readonly env: Record<string, string> | undefined;
  private readonly onRestart: (() => void) | undefined;
  private readonly pinRecheckMs: number;
  /** Per slot, performance.now() when the token last confirmed the PIN whose digest `credentials` holds. */
  private readonly pinVerifiedAt = new Map<string, number>();
  private readonly rechecking = new Set<string>();
  /**
   * Per slot, the digest of the PIN the child is logged in with once the
   * token refused it in a recheck. The child itself cannot notice: a module
   * may keep checking C_Login against the PIN it loaded at C_Initialize
   * (SoftHSM does, until its process restarts), so this side refuses it.
   */
  private readonly refusedPins = new Map<string, Buffer>();

  /** The child serving calls; undefined while restarting. */
  private serving: ModuleProcess | undefined;
  /** A child being started, not yet serving. */
  private starting: ModuleProcess | undefined;
  /**
   * Every child of this backend that has not exited, for killOnExit: one
   * that failed or is stopping may still be running.
   */
  private readonly live = new Set<ModuleProcess>();
  /** Calls sent to `serving`, oldest first (Map keeps insertion order). */
  private readonly pending = new Map<number, PendingCall>();
  private nextId = 0;
  /** Unanswered calls and writes per slot, for maxQueuedCalls and maxQueuedWrites. */
  private readonly queued = new Map<string, { calls: number; writes: number }>();
  /** Writes the module process started and has not answered, of all slots: while there is one, writeTimeoutMs applies. */
  private writesPending = 0;
  /** performance.now() of the serving child's last answer (or of its start). */
  private lastAnswerAt = 0;
  /** One timer for all calls: it checks the oldest pending call. */
  private watchdog: NodeJS.Timeout | undefined;
  private readonly waiters = new Set<RestartWaiter>();
  /** Slots and accepted PINs of the serving child; cleared when it fails. */
  private readonly credentials = new CredentialCache();
  private restartTimer: NodeJS.Timeout | undefined;
  private restartDelayMs: number;
  private lastFailure = "";
  private failedAt = 0;
  private closing: Promise<void> | undefined;

  constructor(
    options: IsolatedBackendOptions,
    private readonly logger: Logger,
  ) {
    const { callTimeoutMs, writeTimeoutMs, maxQueuedCalls, maxQueuedWrites, pinRecheckMs, env, restartBackoff, startTimeoutMs, onRestart, ...pkcs11Options } = options;
    this.pinRecheckMs = pinRecheckMs ?? DEFAULT_PIN_RECHECK_MS;
    this.callTimeoutMs = callTimeoutMs;
    this.writeTimeoutMs = Math.max(writeTimeoutMs ?? DEFAULT_WRITE_TIMEOUT_MS, callTimeoutMs);
    this.maxQueuedCalls = maxQueuedCalls ?? DEFAULT_MAX_QUEUED_CALLS;
    this.maxQueuedWrites = maxQueuedWrites ?? DEFAULT_MAX_QUEUED_WRITES;
    this.env = env;
    this.onRestart = onRestart;
    this.backoff = restartBackoff ?? DEFAULT_RESTART_BACKOFF;
    this.startTimeoutMs = startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    this.pkcs11Options = pkcs11Options;
    this.restartDelayMs = this.backoff.initialMs;
  }

  async start(): Promise<void> {
    process.on("exit", this.killOnExit);
    try {
      this.serving = await this.startProcess();
    } catch (error) {
      process.off("exit", this.killOnExit);
      throw error;
    }
    this.lastAnswerAt = performance.now();
    this.module = this.serving.module;
  }

  /**
   * When the relay exits without closing the backend (a second stop signal,
   * a crash), its module processes are killed: a module hung inside a call
   * blocks its process's event loop, so it would never notice that the
   * relay is gone and would linger. ("exit" listeners must be synchronous.)
   */
  private readonly killOnExit = (): void => {
    for (const child of this.live) {
      // A write may be under way: the child finishes it and exits by itself
      // once it sees the relay gone (child.ts), rather than leave a damaged file.
      if (child === this.serving && this.writesPending > 0) continue;
      child.kill();
    }
  };

  /**
   * Called once the relay has switched user and group ([daemon] identity): the
   * module processes started before, as root, switch to the relay's new
   * credentials. (Processes started afterwards inherit them.) The message goes
   * ahead of any later call on the same channel, so no call runs with the old
   * credentials.
   */
  followCredentials(): void {
    const message: ParentMessage = {
      kind: "set-credentials",
      uid: process.getuid?.() ?? 0,
      gid: process.getgid?.() ?? 0,
      groups: process.getgroups?.() ?? [],
    };
    this.serving?.send(message);
    this.starting?.send(message);
  }

  listSlots(): Promise<SlotSummary[]> {
    return this.call("listSlots", []);
  }
  resolveSlot(username: string): Promise<SlotSummary> {
    const cached = this.credentials.slot(username);
    if (cached !== undefined) return Promise.resolve(cached);
    return this.call("resolveSlot", [username], (summary) => this.credentials.rememberSlot(username, summary as SlotSummary));
  }

  /**
   * Answered here, without a round trip, when the PIN's digest equals the
   * digest of the PIN the serving child last accepted for this slot;
   * otherwise the child decides (its LoginGuard compares the PIN with the
   * one that logged the token in, or calls C_Login behind the login
   * throttle), and a PIN it accepts is remembered.
   *
   * Why this accepts no PIN the child would refuse. The child accepts only
   * the PIN its token is logged in with (login.ts); it changes that PIN only
   * by logging in again, after losing its login, when a PIN check reaches
   * it. The child takes PIN checks of a slot in the order they were sent
   * (one FIFO channel; LoginGuard orders logins), and a digest is recorded
   * only from the "accepted" answer to the check sent last for the slot
   * (CredentialCache.rememberPin), so it is of the PIN the child holds,
   * never of an older one. The digest is dropped whenever a call on the slot
   * answers AUTH_FAILED (a refused PIN, or a login the child found lost,
   * pkcs11-backend.ts) or PIN_LOCKED, and every digest is dropped when a
   * child fails, before a new one serves: the new child's first request
   * logs in again. A PIN whose digest differs always goes to the child,
   * which checks it (failures are throttled per client in the relay,
   * src/server/login-throttle.ts). The digest is SHA-256(key || PIN) under a
   * key drawn per child (login.ts's pinDigest), compared with
   * timingSafeEqual; the PIN itself is not kept: its bytes go to the child
   * only when the child decides, and the caller zeroes them afterwards.
   *
   * One difference from the in-process backend: a child that loses its
   * login without any call noticing (its last session closed) keeps its
   * digest here until a call on the slot answers AUTH_FAILED, so that
   * request fails where the in-process backend would log in again; the next
   * request logs in. (Operations on a child that is not logged in fail, so
   * the digest grants nothing meanwhile.)
   */
  authenticate(slotId: string, pin: Uint8Array): Promise<void> {
    const pinDigest = this.credentials.digest(pin);
    const refused = this.refusedPins.get(slotId);
    if (refused !== undefined && timingSafeEqual(refused, pinDigest)) {
      return Promise.reject(new HsmError("AUTH_FAILED", `slot ${slotId}: the token no longer accepts this PIN (changed on the token)`));
    }
    if (this.credentials.accepts(slotId, pinDigest)) {
      this.recheckIfDue(slotId, pin);
      return Promise.resolve();
    }
    const ticket = this.credentials.checkSent(slotId);
    return this.call<void>("authenticate", [slotId, pin], () => {
      this.credentials.rememberPin(slotId, ticket, pinDigest);
      this.pinVerifiedAt.set(slotId, performance.now());
    }).catch((error: unknown) => this.perhapsChangedPin(error, slotId, pin, pinDigest));
  }

  /**
   * PIN changes (pkcs11-tool --change-pin while the relay is logged in).
   * A PIN other than the one the child is logged in with is refused by the
   * child without C_Login: it is then checked in a process of its own
   * (pin-check.ts; the relay's login throttle admitted this request), and
   * when the token accepts it, the child takes it as the PIN from now on.
   */
  private async perhapsChangedPin(error: unknown, slotId: string, pin: Uint8Array, pinDigest: Buffer): Promise<void> {
    const differs = error instanceof HsmError && error.code === "AUTH_FAILED" && error.ckr === undefined && /does not match the one the token is logged in with/.test(error.message);
    if (!differs || !(await checkPin(this.pkcs11Options, this.env, this.logger, this.writeTimeoutMs, slotId, pin))) throw error;
    const ticket = this.credentials.checkSent(slotId);
    await this.call("adoptPin", [slotId, pin], () => {
      this.refusedPins.delete(slotId);
      this.credentials.rememberPin(slotId, ticket, pinDigest);
      this.pinVerifiedAt.set(slotId, performance.now());
    });
  }

  /**
   * The old PIN after a change: answered here by its digest, it would work
   * for as long as the child stays logged in. So at most every pinRecheckMs
   * per slot, a request accepted by digest has its PIN checked again in a
   * process of its own, in the background; when the token refuses it, it is
   * refused here from then on (refusedPins) until the child is replaced.
   * The check outlives the request, whose caller zeroes `pin`: it works on a
   * copy, zeroed when it ends.
   */
  private recheckIfDue(slotId: string, requestPin: Uint8Array): void {
    const now = performance.now();
    if (now - (this.pinVerifiedAt.get(slotId) ?? now) < this.pinRecheckMs || this.rechecking.has(slotId)) return;
    this.rechecking.add(slotId);
    this.pinVerifiedAt.set(slotId, now);
    const pin = Buffer.from(requestPin);
    const pinDigest = this.credentials.digest(pin);
    void checkPin(this.pkcs11Options, this.env, this.logger, this.writeTimeoutMs, slotId, pin)
      .then((accepted) => {
        // Only while the digest is still the accepted one (no new child, no adopted PIN meanwhile).
        if (accepted || !this.credentials.accepts(slotId, pinDigest)) return;
        this.logger.warn({ slotId }, `Slot ${slotId}: the token no longer accepts the PIN it was logged in with (changed?); requests with it are refused from now on`);
        this.credentials.forgetPin(slotId);
        this.refusedPins.set(slotId, pinDigest);
      })
      .catch((error: unknown) => this.logger.warn({ slotId, err: error }, `Slot ${slotId}: the PIN could not be checked again: ${(error as Error).message}`))
      .finally(() => {
        pin.fill(0);
        this.rechecking.delete(slotId);
      });
  }
  mechanisms(slotId: string): Promise<number[]> {
    return this.call("mechanisms", [slotId]);
  }
  generateKeyPair(slotId: string, request: KeyPairRequest): Promise<KeyPairIds> {
    return this.call("generateKeyPair", [slotId, request]);
  }
  generateSecretKey(slotId: string, request: SecretKeyRequest): Promise<string> {
    return this.call("generateSecretKey", [slotId, request]);
  }
  readSecretValue(slotId: string, keyId: string): Promise<Uint8Array> {
    return this.call("readSecretValue", [slotId, keyId]);
  }

  wrapKey(slotId: string, keyId: string, wrappingKeyId: string, mechanism: WrapMechanism): Promise<Uint8Array> {
    return this.call("wrapKey", [slotId, keyId, wrappingKeyId, mechanism]);
  }
  encrypt(slotId: string, keyId: string, request: CipherRequest): Promise<CipherResult> {
    return this.call("encrypt", [slotId, keyId, request]);
  }
  decrypt(slotId: string, keyId: string, request: CipherRequest): Promise<CipherResult> {
    return this.call("decrypt", [slotId, keyId, request]);
  }
  mac(slotId: string, keyId: string, algorithm: MacAlgorithm, data: Uint8Array): Promise<Uint8Array> {
    return this.call("mac", [slotId, keyId, algorithm, data]);
  }
  macVerify(slotId: string, keyId: string, algorithm: MacAlgorithm, data: Uint8Array, mac: Uint8Array): Promise<boolean> {
    return this.call("macVerify", [slotId, keyId, algorithm, data, mac]);
  }
  describeKey(slotId: string, keyId: string): Promise<KeyDescription> {
    return this.call("describeKey", [slotId, keyId]);
  }
  findKeys(slotId: string, filter: KeyFilter): Promise<string[]> {
    return this.call("findKeys", [slotId, filter]);
  }
  describeKeys(slotId: string, filter: KeyFilter): Promise<KeyDescription[]> {
    return this.call("describeKeys", [slotId, filter]);
  }
  importKey(slotId: string, request: KeyImportRequest): Promise<string> {
    return this.call("importKey", [slotId, request]);
  }
  updateKey(slotId: string, keyId: string, update: KeyUpdate): Promise<void> {
    return this.call("updateKey", [slotId, keyId, update]);
  }
  destroyKey(slotId: string, keyId: string): Promise<void> {
    return this.call("destroyKey", [slotId, keyId]);
  }
  readMetadata(slotId: string, label?: string): Promise<MetadataObject[]> {
    return this.call("readMetadata", label === undefined ? [slotId] : [slotId, label]);
  }
  writeMetadata(slotId: string, label: string, value: Uint8Array): Promise<void> {
    return this.call("writeMetadata", [slotId, label, value]);
  }
  destroyMetadata(slotId: string, label: string): Promise<void> {
    return this.call("destroyMetadata", [slotId, label]);
  }
  sign(slotId: string, keyId: string, request: SignatureRequest): Promise<Signature> {
    return this.call("sign", [slotId, keyId, request]);
  }
  verify(slotId: string, keyId: string, mechanism: SignMechanism, data: Uint8Array, signature: Uint8Array): Promise<boolean> {
    return this.call("verify", [slotId, keyId, mechanism, data, signature]);
  }
  generateRandom(slotId: string, length: number): Promise<Uint8Array> {
    return this.call("generateRandom", [slotId, length]);
  }
  seedRandom(slotId: string, seed: Uint8Array): Promise<void> {
    return this.call("seedRandom", [slotId, seed]);
  }
  startCipherStream(slotId: string, keyId: string, request: CipherRequest, decrypting: boolean): Promise<CipherStreamStep> {
    return this.call("startCipherStream", [slotId, keyId, request, decrypting]);
  }
  startMacStream(slotId: string, keyId: string, algorithm: MacAlgorithm, data: Uint8Array, verifying: boolean): Promise<CipherStreamStep> {
    return this.call("startMacStream", [slotId, keyId, algorithm, data, verifying]);
  }
  continueCipherStream(slotId: string, stream: string, data: Uint8Array, final: boolean, extra?: Uint8Array): Promise<StreamResult> {
    return this.call("continueCipherStream", extra === undefined ? [slotId, stream, data, final] : [slotId, stream, data, final, extra]);
  }
  endCipherStream(slotId: string, stream: string): Promise<void> {
    return this.call("endCipherStream", [slotId, stream]);
  }

  async ping(): Promise<boolean> {
    try {
      return await this.call<boolean>("ping", []);
    } catch {
      return false;
    }
  }

  /**
   * Asks the child to finish the calls in flight, C_Finalize and exit; kills
   * it if it has not exited within callTimeoutMs. Later calls fail at once.
   */
  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private call<T>(method: BackendMethod, args: unknown[], onSuccess?: (value: unknown) => void): Promise<T> {
    const child = this.serving;
    if (child === undefined) return this.callAfterRestart(method, args, onSuccess);
    const slotId = SLOTLESS.has(method) ? undefined : (args[0] as string);
    const write = WRITES.has(method);
    if (slotId !== undefined) {
      const queued = this.queued.get(slotId) ?? { calls: 0, writes: 0 };
      if (queued.calls >= this.maxQueuedCalls || (write && queued.writes >= this.maxQueuedWrites)) {
        const what = write ? `${queued.writes} writes` : `${queued.calls} calls`;
        return Promise.reject(new HsmError("BUSY", `busy: ${what} queued for slot ${slotId}; try again later`));
      }
      queued.calls++;
      if (write) queued.writes++;
      this.queued.set(slotId, queued);
    }
    if (this.pending.size === 0) this.lastAnswerAt = performance.now();
    return new Promise<T>((resolve, reject) => {
      const id = ++this.nextId;
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject, method, args, startedAt: performance.now(), write, started: false, slotId, onSuccess });
      child.call([id, method, args]);
      this.watchdog ??= setTimeout(this.checkTimeouts, this.callTimeoutMs);
    });
  }

  /** A call left `pending`: it no longer counts against its slot's queue. */
  private settled(call: PendingCall): void {
    if (call.started) this.writesPending--;
    if (call.slotId === undefined) return;
    const queued = this.queued.get(call.slotId);
    if (queued === undefined) return;
    queued.calls--;
    if (call.write) queued.writes--;
    if (queued.calls === 0) this.queued.delete(call.slotId);
  }

  private async callAfterRestart<T>(method: BackendMethod, args: unknown[], onSuccess?: (value: unknown) => void): Promise<T> {
    await this.waitForRestart();
    return this.call(method, args, onSuccess);
  }

  private waitForRestart(): Promise<void> {
    if (this.closing !== undefined) return Promise.reject(closedError());
    return new Promise((resolve, reject) => {
      const waiter: RestartWaiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          reject(
            new HsmError(
              "MODULE_FAILED",
              `the HSM module failed: ${this.lastFailure}; it has not restarted within ${this.callTimeoutMs / 1000} s (call-timeout)`,
            ),
          );
        }, this.callTimeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  /** See "When a module counts as hung" at the top of this file. */
  private readonly checkTimeouts = (): void => {
    this.watchdog = undefined;
    const oldest = this.pending.values().next().value;
    if (oldest === undefined || this.serving === undefined) return;
    const limit = this.writesPending > 0 ? this.writeTimeoutMs : this.callTimeoutMs;
    const silent = performance.now() - Math.max(oldest.startedAt, this.lastAnswerAt);
    if (silent < limit) {
      this.watchdog = setTimeout(this.checkTimeouts, Math.ceil(Math.min(limit - silent, this.callTimeoutMs)));
      return;
    }
    const failed = this.serving;
    const writes = [...this.pending.values()].filter((call) => call.started);
    const kind = writes.length > 0 ? "a write" : "a call";
    if (writes.length > 0) {
      this.logger.error(
        { modulePid: failed.pid, writes: writes.map(describeWrite) },
        `the HSM module has answered nothing for ${Math.round(silent)} ms with ${writes.length} write${writes.length === 1 ? "" : "s"} in flight; killing it may damage: ${writes.map(describeWrite).join("; ")}`,
      );
    }
    this.childFailed(failed, `timeout: no answer for ${Math.round(silent)} ms with ${kind} in flight, the oldest ${describeCall(oldest)} (limit ${limit} ms)`);
    failed.kill();
  };

  /** The module process started a write: from now on the write bound applies. */
  private readonly onWriteStarted = (id: number): void => {
    const call = this.pending.get(id);
    if (call === undefined || !call.write || call.started) return;
    call.started = true;
    this.writesPending++;
    this.lastAnswerAt = performance.now();
  };

  private readonly onResponse = (message: CallResponse): void => {
    const id = message[0];
    const call = this.pending.get(id);
    // Absent: the call already failed (timeout, crash) and was answered.
    if (call === undefined) return;
    this.pending.delete(id);
    this.settled(call);
    this.lastAnswerAt = performance.now();
    if (message[1]) {
      call.onSuccess?.(message[2]);
      call.resolve(message[2]);
    } else {
      if (call.slotId !== undefined) this.slotCallFailed(call.slotId, message[2]);
      call.reject(deserializeError(message[2]));
    }
  };

  /** What a failed call on a slot says about the credentials kept here. */
  private slotCallFailed(slotId: string, error: SerializedError): void {
    // A refused PIN, a lost login, a locked token: the child decides again.
    if (error.code === "AUTH_FAILED" || error.code === "PIN_LOCKED") this.credentials.forgetPin(slotId);
    // The slot a cached username led to is gone (removed, renumbered).
    else if (error.code === "SLOT_NOT_FOUND") this.credentials.forgetSlots();
  }

  private readonly onExit = (child: ModuleProcess, how: string): void => {
    this.live.delete(child);
    if (this.closing !== undefined && this.live.size === 0) process.off("exit", this.killOnExit);
    if (child !== this.serving) return;
    const oldest = this.pending.values().next().value;
    const during = oldest === undefined ? "while no call was in flight" : `during ${describeCall(oldest)}`;
    this.childFailed(child, `${how} ${during}`);
  };

  /** The serving child failed: fail its calls, log, and schedule a restart. */
  private childFailed(child: ModuleProcess, reason: string): void {
    this.serving = undefined;
    this.credentials.clear();
    this.pinVerifiedAt.clear();
    this.refusedPins.clear();
    const calls = this.pending.size;
    this.failPending(new HsmError("MODULE_FAILED", `the HSM module failed: ${reason}`));
    if (this.closing !== undefined) return;
    this.lastFailure = reason;
    this.failedAt = performance.now();
    if (performance.now() - child.readyAt >= this.backoff.maxMs) this.restartDelayMs = this.backoff.initialMs;
    const delay = this.nextRestartDelay();
    this.logger.error(
      { modulePid: child.pid, callsFailed: calls },
      `the HSM module process ${child.pid} failed: ${reason}; ${calls} call${calls === 1 ? "" : "s"} in flight failed; restarting it in ${delay} ms`,
    );
    this.scheduleRestart(delay);
  }

  private failPending(error: HsmError): void {
    const calls = [...this.pending.values()];
    this.pending.clear();
    for (const call of calls) {
      this.settled(call);
      call.reject(error);
    }
  }

  private nextRestartDelay(): number {
    const delay = this.restartDelayMs;
    this.restartDelayMs = Math.min(delay * 2, this.backoff.maxMs);
    return delay;
  }

  private scheduleRestart(delay: number): void {
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      void this.restart();
    }, delay);
  }

  private async restart(): Promise<void> {
    let child: ModuleProcess;
    try {
      child = await this.startProcess();
    } catch (error) {
      if (this.closing !== undefined) return;
      const delay = this.nextRestartDelay();
      this.logger.error(
        `the HSM module process could not be restarted: ${(error as Error).message}; next attempt in ${delay} ms`,
      );
      this.scheduleRestart(delay);
      return;
    }
    if (this.closing !== undefined) {
      child.kill();
      return;
    }
    this.serving = child;
    this.lastAnswerAt = performance.now();
    this.logger.info(
      { modulePid: child.pid },
      `the HSM module process ${child.pid} is serving again, ${Math.round(performance.now() - this.failedAt)} ms after the failure`,
    );
    this.onRestart?.();
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.resolve();
    }
    this.waiters.clear();
  }

  /** Forks a child and resolves once it has opened the module. */
  private async startProcess(): Promise<ModuleProcess> {
    const child = new ModuleProcess(this.env, this.logger, this.onResponse, this.onExit, this.onWriteStarted);
    this.live.add(child);
    this.starting = child;
    const tooSlow = `the HSM module process did not load ${this.pkcs11Options.libPath} within ${this.startTimeoutMs / 1000} s (start-timeout)`;
    const timer = setTimeout(() => child.failStart(new HsmError("MODULE_FAILED", tooSlow)), this.startTimeoutMs);
    try {
      child.send({ kind: "open", options: this.pkcs11Options, logLevel: this.logger.level });
      await child.opened;
      return child;
    } catch (error) {
      child.kill();
      throw error;
    } finally {
      clearTimeout(timer);
      this.starting = undefined;
    }
  }

  private async shutDown(): Promise<void> {
    clearTimeout(this.restartTimer);
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(closedError());
    }
    this.waiters.clear();
    this.starting?.failStart(closedError());
    // New calls now take the restart path, which fails once closing is set.
    const child = this.serving;
    this.serving = undefined;
    this.credentials.clear();
    await child?.stop(this.writesPending > 0 ? this.writeTimeoutMs : this.callTimeoutMs);
    clearTimeout(this.watchdog);
    this.failPending(closedError());
    // A child killed just before (a timeout, a failed start) may not have
    // exited yet: the hook stays until none is left.
    if (this.live.size === 0) process.off("exit", this.killOnExit);
  }
}

function describeCall(call: PendingCall): string {
  return `${call.method} (${PKCS11_FUNCTIONS[call.method]}) after ${Math.round(performance.now() - call.startedAt)} ms`;
}

/** What a write in flight may have left damaged, for the log line before a kill. */
function describeWrite(call: PendingCall): string {
  const slot = `slot ${call.slotId}`;
  switch (call.method) {
    case "authenticate":
      return `${slot}: the token's own file (C_Login)`;
    case "generateKeyPair":
      return `${slot}: a key pair being generated (C_GenerateKeyPair); its ids were not returned to any client`;
    case "importKey":
      return `${slot}: a key being registered (C_CreateObject); its id was not returned to any client`;
    case "generateSecretKey":
      return `${slot}: a secret key being generated (C_GenerateKey); its id was not returned to any client`;
    case "updateKey":
      return `${slot}: key ${String(call.args[1])} (C_SetAttributeValue)`;
    case "destroyKey":
      return `${slot}: key ${String(call.args[1])} (C_DestroyObject)`;
    case "writeMetadata":
      return `${slot}: the metadata object of CKA_ID ${String(call.args[1])} (C_CreateObject or C_SetAttributeValue)`;
    case "destroyMetadata":
      return `${slot}: the metadata object of CKA_ID ${String(call.args[1])} (C_DestroyObject)`;
    default:
      return `${slot}: ${call.method}`;
  }
}

function closedError(): HsmError {
  return new HsmError("MODULE_FAILED", "the HSM backend is closed");
}
