// The login record of one token, and the throttle in front of C_Login.
//
// PKCS#11 login is per application (v2.40 section 5.6, C_Login: "all sessions
// of the application with the token are logged in"). Once one KMIP client has
// logged the token in, every session of the relay can use private keys, so
// the relay itself must check each later request's PIN. It keeps a salted
// digest of the PIN that logged the token in and compares later PINs with it
// in constant time, without calling C_Login again: a wrong PIN then neither
// gets in nor reaches the token's failed-login counter.
//
// The digest is SHA-256 over a random 32-byte key, drawn at each login,
// followed by the PIN's UTF-8 bytes (see pinDigest). The PIN arrives as
// bytes that the caller zeroes after the request; the only string made of
// it is C_Login's argument (pinText), on the first login. A slow KDF (scrypt)
// would cost milliseconds on every KMIP request; the digest only ever lives
// in this process's memory, where its purpose is that the PIN itself is not
// kept, and guessing over the network is not made slower by a slow local hash.
import { hash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Logger } from "../log/logger.js";
import { HsmError } from "./hsm-error.js";

export interface LoginThrottle {
  /** Failed C_Login calls within `windowMs` that start a cooldown. */
  readonly limit: number;
  readonly windowMs: number;
  /** How long logins are refused, without calling C_Login, once `limit` is reached. */
  readonly cooldownMs: number;
}

export const DEFAULT_LOGIN_THROTTLE: LoginThrottle = { limit: 5, windowMs: 60_000, cooldownMs: 300_000 };

/** C_Login results that say the PIN was wrong (PKCS#11 v2.40 section 5.6, C_Login). */
const PIN_REFUSED: ReadonlySet<string> = new Set(["CKR_PIN_INCORRECT", "CKR_PIN_INVALID", "CKR_PIN_LEN_RANGE"]);

interface PinDigest {
  readonly key: Buffer;
  readonly mac: Buffer;
}

/**
 * SHA-256(key || PIN), the digest a PIN is recorded and compared by. Every
 * KMIP request pays for one (doc/compatibility.md#credentials: each carries the PIN), so it is the
 * one-shot `crypto.hash` over one buffer rather than an HMAC, which costs
 * about twice as much (bench/README.md#the-pin-digest).
 * As a keyed digest it is sound here: the key is secret, fixed-length and
 * fresh per login, and the digest never leaves the process, so length
 * extension (the reason for HMAC's construction) gives nobody anything. The
 * buffer holding the PIN is zeroed at once: this leaves no copy of it behind.
 */
export function pinDigest(key: Buffer, pin: Uint8Array): Buffer {
  const bytes = Buffer.allocUnsafe(key.length + pin.length);
  key.copy(bytes);
  bytes.set(pin, key.length);
  const digest = hash("sha256", bytes, "buffer");
  bytes.fill(0);
  return digest;
}

/**
 * The PIN as the string pkcs11js's C_Login takes (it accepts no Buffer).
 * The one string made of a PIN: call it at C_Login and drop it there.
 */
export function pinText(pin: Uint8Array): string {
  return Buffer.from(pin.buffer, pin.byteOffset, pin.byteLength).toString("utf8");
}

/**
 * Performs C_Login for the guard. Resolves when the token is logged in with
 * this PIN; throws an HsmError otherwise (AUTH_FAILED for a refused PIN).
 */
export type LoginCall = (pin: Uint8Array) => Promise<void>;

export class LoginGuard {
  private pin: PinDigest | undefined;
  private failures: number[] = [];
  private cooldownUntil = 0;
  /** Serialises logins, so that concurrent first requests make one C_Login. */
  private pending: Promise<void> = Promise.resolve();

  constructor(
    private readonly slotId: string,
    /** null: the relay throttles per client, above the backend (src/server/login-throttle.ts). */
    private readonly throttle: LoginThrottle | null,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether the relay has logged this token in (and not learnt otherwise since). */
  get loggedIn(): boolean {
    return this.pin !== undefined;
  }

  /** Checks `pin` against the recorded one, or logs the token in with `login`. */
  async authenticate(pin: Uint8Array, login: LoginCall): Promise<void> {
    if (this.pin !== undefined) return this.compare(this.pin, pin);
    const attempt = this.pending.then(() => (this.pin !== undefined ? this.compare(this.pin, pin) : this.logIn(pin, login)));
    // The chain only orders attempts; each caller sees its own outcome.
    this.pending = attempt.catch(() => undefined);
    return attempt;
  }

  /**
   * Records `pin` as the one the token is logged in with, without C_Login:
   * the caller has verified it in another PKCS#11 application (a PIN changed
   * on the token while this one stayed logged in). Not logged in: logs in.
   */
  async adopt(pin: Uint8Array, login: LoginCall): Promise<void> {
    if (this.pin === undefined) return this.authenticate(pin, login);
    const key = randomBytes(32);
    this.pin = { key, mac: pinDigest(key, pin) };
    this.logger.info({ slotId: this.slotId }, "Slot %s: the token's PIN was changed; the new one is accepted from now on", this.slotId);
  }

  /** Drops the record: the next request calls C_Login again. */
  forget(reason: string): void {
    if (this.pin === undefined) return;
    this.pin = undefined;
    this.logger.info({ slotId: this.slotId, reason }, "Slot %s: login state dropped (%s); the next request logs in again", this.slotId, reason);
  }

  private compare(recorded: PinDigest, pin: Uint8Array): void {
    if (timingSafeEqual(pinDigest(recorded.key, pin), recorded.mac)) return;
    this.logger.warn({ slotId: this.slotId }, "Slot %s: PIN differs from the one that logged the token in; refused without calling C_Login", this.slotId);
    throw new HsmError("AUTH_FAILED", `slot ${this.slotId}: the PIN does not match the one the token is logged in with`);
  }

  private async logIn(pin: Uint8Array, login: LoginCall): Promise<void> {
    const now = this.now();
    if (this.throttle !== null && now < this.cooldownUntil) {
      const seconds = Math.ceil((this.cooldownUntil - now) / 1000);
      throw new HsmError(
        "LOGIN_COOLDOWN",
        `slot ${this.slotId}: logins refused for another ${seconds} s after ${this.throttle.limit} failed C_Login calls`,
      );
    }
    try {
      await login(pin);
    } catch (err) {
      // Only refusals of the PIN count; a device error says nothing about it.
      if (err instanceof HsmError && err.ckr !== undefined && PIN_REFUSED.has(err.ckr)) this.recordFailure(now);
      throw err;
    }
    this.failures = [];
    const key = randomBytes(32);
    this.pin = { key, mac: pinDigest(key, pin) };
    this.logger.info({ slotId: this.slotId }, "Slot %s: token logged in", this.slotId);
  }

  private recordFailure(now: number): void {
    const throttle = this.throttle;
    if (throttle === null) {
      this.logger.warn({ slotId: this.slotId }, "Slot %s: C_Login refused the PIN", this.slotId);
      return;
    }
    this.failures = this.failures.filter((t) => now - t < throttle.windowMs);
    this.failures.push(now);
    this.logger.warn({ slotId: this.slotId, failures: this.failures.length }, "Slot %s: C_Login refused the PIN", this.slotId);
    if (this.failures.length >= throttle.limit) {
      this.cooldownUntil = now + throttle.cooldownMs;
      this.failures = [];
      // In seconds, the unit of pkcs11.login-failure-window and pkcs11.login-cooldown.
      this.logger.warn(
        { slotId: this.slotId, cooldownSeconds: throttle.cooldownMs / 1000 },
        "Slot %s: %d failed logins within %d s; refusing logins for %d s (pkcs11.login-cooldown)",
        this.slotId,
        throttle.limit,
        throttle.windowMs / 1000,
        throttle.cooldownMs / 1000,
      );
    }
  }
}
