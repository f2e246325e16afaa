// The HSM backend with the PKCS#11 module in a supervised child process.
//
// Vendor PKCS#11 libraries are untrusted code: they crash, hang and print to
// stdout. Here the module runs in a child process (child.ts) that serves the
// in-process backend over IPC, and this side implements HsmBackend by
// forwarding each call. The child processes, their calls in flight, the
// limits on each slot's queue, when a hung module is killed and how a failed
// one is restarted are the supervisor's (supervisor.ts). The module's stdout
// and stderr are logged with a prefix (see module-output.ts), never mixed
// into the relay's own output.
//
// A new child has no session and no login. What this side keeps to answer
// resolveSlot() and authenticate() without a round trip (credentials.ts) is
// dropped when a child fails, so the next authenticate() reaches the new
// child, which logs the token in with that request's PIN, exactly as after
// the relay's own start.
import { timingSafeEqual } from "node:crypto";
import { performance } from "node:perf_hooks";
import { DEFAULTS } from "../../config/defaults.js";
import type { Logger } from "../../log/logger.js";
import type { HsmBackend, ModuleInfo, SlotSummary } from "../backend.js";
import type { CipherRequest, CipherResult, CipherStreamStep, StreamResult, MacAlgorithm, Signature, SignatureRequest, SignMechanism, WrapMechanism } from "../crypto-types.js";
import { HsmError } from "../hsm-error.js";
import type { SecretKeyRequest, KeyDescription, KeyFilter, KeyImportRequest, KeyPairIds, KeyPairRequest, KeyUpdate, MetadataObject } from "../key-types.js";
import { CredentialCache } from "./credentials.js";
import { checkPin } from "./pin-check.js";
import type { BackendMethod, SerializedError } from "./protocol.js";
import { ModuleSupervisor, type SupervisorOptions } from "./supervisor.js";

export interface IsolatedBackendOptions extends SupervisorOptions {
  /**
   * How often a PIN accepted by its digest is checked again against the
   * token, in a process of its own (pin-check.ts), so that a PIN changed on
   * the token stops working within this long. Default DEFAULT_PIN_RECHECK_MS.
   */
  pinRecheckMs?: number;
}

/** The config file's [pkcs11] pin-recheck default (src/config/defaults.ts). */
const DEFAULT_PIN_RECHECK_MS = DEFAULTS.pkcs11.pinRecheck * 1000;

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

class IsolatedBackend implements HsmBackend {
  private readonly supervisor: ModuleSupervisor;
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
  /** Slots and accepted PINs of the serving child; cleared when it fails. */
  private readonly credentials = new CredentialCache();

  constructor(
    options: IsolatedBackendOptions,
    private readonly logger: Logger,
  ) {
    const { pinRecheckMs, ...supervised } = options;
    this.pinRecheckMs = pinRecheckMs ?? DEFAULT_PIN_RECHECK_MS;
    this.supervisor = new ModuleSupervisor(supervised, logger, {
      onChildFailed: () => {
        this.credentials.clear();
        this.pinVerifiedAt.clear();
        this.refusedPins.clear();
      },
      onSlotCallFailed: (slotId, error) => this.slotCallFailed(slotId, error),
    });
  }

  start(): Promise<void> {
    return this.supervisor.start();
  }

  get module(): ModuleInfo {
    return this.supervisor.module;
  }

  /** See ModuleSupervisor.followCredentials. */
  followCredentials(): void {
    this.supervisor.followCredentials();
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
    if (!differs || !(await checkPin(this.supervisor.pkcs11Options, this.supervisor.env, this.logger, this.supervisor.writeTimeoutMs, slotId, pin))) throw error;
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
    void checkPin(this.supervisor.pkcs11Options, this.supervisor.env, this.logger, this.supervisor.writeTimeoutMs, slotId, pin)
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
  digestSecretKey(slotId: string, keyId: string): Promise<Uint8Array | undefined> {
    return this.call("digestSecretKey", [slotId, keyId]);
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

  /** See ModuleSupervisor.close; what this side keeps of the child is dropped at once. */
  close(): Promise<void> {
    this.credentials.clear();
    return this.supervisor.close();
  }

  /** What a failed call on a slot says about the credentials kept here. */
  private slotCallFailed(slotId: string, error: SerializedError): void {
    // A refused PIN, a lost login, a locked token: the child decides again.
    if (error.code === "AUTH_FAILED" || error.code === "PIN_LOCKED") this.credentials.forgetPin(slotId);
    // The slot a cached username led to is gone (removed, renumbered).
    else if (error.code === "SLOT_NOT_FOUND") this.credentials.forgetSlots();
  }

  private call<T>(method: BackendMethod, args: unknown[], onSuccess?: (value: unknown) => void): Promise<T> {
    return this.supervisor.call(method, args, onSuccess);
  }
}
