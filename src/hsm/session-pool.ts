// A pool of read-write sessions on one slot. A session runs one operation at
// a time (PKCS#11 v2.40 section 5.6: one active operation of each kind per
// session), so each call borrows a session for its whole C_xInit + C_x pair.
//
// Login state belongs to the application, not the session (section 5.6,
// C_Login), and lasts while the application has at least one session open
// with the token (section 5.6, C_CloseSession: closing the last session
// returns the token to public sessions). The pool therefore keeps the
// sessions it opened, including the one C_Login used, and reports when its
// last session is gone so that the login record can be dropped.
import pkcs11js from "pkcs11js";
import { HsmError } from "./hsm-error.js";
import { p11 } from "./ckr.js";

export type Session = pkcs11js.Handle;

// A session that failed with one of these is of no further use: the module
// no longer knows it, the token is gone, or (CKR_BUFFER_TOO_SMALL,
// CKR_OPERATION_ACTIVE) an operation is left active on it (section 5.12,
// C_Sign: only CKR_BUFFER_TOO_SMALL leaves the signing operation active).
const SESSION_UNUSABLE: ReadonlySet<string> = new Set([
  "CKR_SESSION_HANDLE_INVALID",
  "CKR_SESSION_CLOSED",
  "CKR_DEVICE_REMOVED",
  "CKR_TOKEN_NOT_PRESENT",
  "CKR_BUFFER_TOO_SMALL",
  "CKR_OPERATION_ACTIVE",
]);

interface Waiter {
  resolve(session: Session): void;
  reject(err: Error): void;
}

export class SessionPool {
  private readonly idle: Session[] = [];
  private readonly waiters: Waiter[] = [];
  private open = 0;
  /** Sessions streams hold (pin): at most half the cap, so that streams never take every session. */
  private pinned = 0;
  private closed = false;
  /** Resolves close() once the last busy session has come back and been closed. */
  private drained: (() => void) | undefined;

  constructor(
    private readonly pkcs11: pkcs11js.PKCS11,
    private readonly slot: pkcs11js.Handle,
    /** Most sessions to hold open; lowered when the module answers CKR_SESSION_COUNT. */
    private cap: number,
    /** Called when the last session is closed: the token's login state is gone. */
    private readonly onEmpty: () => void,
  ) {}

  /** Sessions open now, busy or idle. */
  get size(): number {
    return this.open;
  }

  /** Borrows a session for `use`, returning it afterwards or discarding it when it became unusable. */
  async use<T>(use: (session: Session) => T | Promise<T>): Promise<T> {
    const session = await this.acquire();
    let result: T;
    try {
      result = await use(session);
    } catch (err) {
      if (err instanceof HsmError && err.ckr !== undefined && SESSION_UNUSABLE.has(err.ckr)) {
        this.discard(session);
      } else {
        this.release(session);
      }
      throw err;
    }
    this.release(session);
    return result;
  }

  /**
   * Borrows a session for a stream (cipher-stream.ts), until unpin. Streams
   * may hold at most half the sessions (at least one is always left for
   * every other operation); BUSY beyond that, at once, without waiting.
   */
  async pin(): Promise<Session> {
    const limit = Math.floor(this.cap / 2);
    if (this.pinned >= limit) {
      throw new HsmError("BUSY", `${this.pinned} streams hold ${this.pinned} of the slot's ${this.cap} sessions, as many as streams may (half): end a stream, or send the whole Data in one request`);
    }
    this.pinned++;
    try {
      return await this.acquire();
    } catch (err) {
      this.pinned--;
      throw err;
    }
  }

  /** Gives back a session pin lent; `usable` false closes it (an operation may be left active on it). */
  unpin(session: Session, usable: boolean): void {
    this.pinned--;
    if (usable) this.release(session);
    else this.discard(session);
  }

  /** Sessions streams hold now. */
  get pinnedCount(): number {
    return this.pinned;
  }

  /**
   * Refuses further use and closes every session: idle ones now, busy ones
   * when their call returns. Resolves when none is left open.
   */
  close(): Promise<void> {
    this.closed = true;
    for (const waiter of this.waiters.splice(0)) waiter.reject(new HsmError("PKCS11_ERROR", "session pool closed"));
    const done = new Promise<void>((resolve) => (this.drained = resolve));
    for (const session of this.idle.splice(0)) this.discard(session);
    if (this.open === 0) this.drained?.();
    return done;
  }

  private acquire(): Promise<Session> {
    if (this.closed) return Promise.reject(new HsmError("PKCS11_ERROR", "session pool closed"));
    const session = this.idle.pop();
    if (session !== undefined) return Promise.resolve(session);
    if (this.open < this.cap) {
      const opened = this.openSession();
      if (opened !== undefined) return Promise.resolve(opened);
    }
    // FIFO: the earliest caller gets the next session returned.
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /**
   * C_OpenSession, or undefined when the module has no more sessions for us
   * but some of ours are open (they will come back). Throws otherwise.
   */
  private openSession(): Session | undefined {
    try {
      const session = p11("C_OpenSession", () => this.pkcs11.C_OpenSession(this.slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION));
      this.open++;
      return session;
    } catch (err) {
      if (err instanceof HsmError && err.ckr === "CKR_SESSION_COUNT" && this.open > 0) {
        // Other applications hold sessions too: make do with the ones we have.
        this.cap = this.open;
        return undefined;
      }
      throw err;
    }
  }

  private release(session: Session): void {
    if (this.closed) {
      this.discard(session);
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter !== undefined) waiter.resolve(session);
    else this.idle.push(session);
  }

  private discard(session: Session): void {
    try {
      this.pkcs11.C_CloseSession(session);
    } catch {
      // Already invalid: that is why it is being discarded.
    }
    this.open--;
    if (this.open === 0) {
      this.onEmpty();
      if (this.closed) this.drained?.();
    }
    // A waiter queued behind the cap can have a fresh session now.
    const waiter = this.waiters.shift();
    if (waiter === undefined) return;
    try {
      const opened = this.openSession();
      if (opened !== undefined) waiter.resolve(opened);
      else this.waiters.unshift(waiter);
    } catch (err) {
      waiter.reject(err as Error);
    }
  }
}
