// What the in-process backend (pkcs11-backend.ts) keeps per slot it has
// used (its session pool, login record and key handles), and running a call
// on a session of a slot the relay has logged in: a token found logged out
// loses its login record, one found gone everything cached about it.
import pkcs11js from "pkcs11js";
import type { Logger } from "../log/logger.js";
import type { SlotSummary } from "./backend.js";
import { hsmErrorOf, p11 } from "./ckr.js";
import { HsmError } from "./hsm-error.js";
import { LoginGuard, pinText, type LoginThrottle } from "./login.js";
import { KeyHandles, type KeyObject } from "./objects.js";
import { SessionPool, type Session } from "./session-pool.js";
import type { SlotDirectory, SlotEntry } from "./slots.js";

/** Session states of a logged-in user (PKCS#11 v2.40 section 3.5, CK_STATE). */
const CKS_RO_USER_FUNCTIONS = 1;
const CKS_RW_USER_FUNCTIONS = 3;

/** What the relay keeps per slot it has used. */
export interface SlotState {
  readonly entry: SlotEntry;
  readonly pool: SessionPool;
  readonly login: LoginGuard;
  readonly keys: KeyHandles;
}

/** Errors after which the token is gone (removed, replaced): forget what we knew about it. */
const TOKEN_GONE: ReadonlySet<string> = new Set(["CKR_DEVICE_REMOVED", "CKR_TOKEN_NOT_PRESENT", "CKR_SLOT_ID_INVALID"]);

export class SlotSessions {
  private readonly states = new Map<string, SlotState>();

  constructor(
    private readonly p: pkcs11js.PKCS11,
    private readonly slots: SlotDirectory,
    private readonly maxSessionsPerSlot: number,
    private readonly throttle: LoginThrottle | null,
    private readonly logger: Logger,
  ) {}

  /** The state of a slot with a token present. Throws SLOT_NOT_FOUND. */
  get(slotId: string): SlotState {
    const entry = this.slots.byId(slotId);
    let state = this.states.get(slotId);
    if (state === undefined) {
      const login = new LoginGuard(slotId, this.throttle, this.logger);
      const keys = new KeyHandles(this.p);
      const pool = new SessionPool(this.p, entry.handle, this.sessionCap(entry.summary), () => {
        // Closing the last session ends the application's login (PKCS#11 v2.40 section 5.6, C_CloseSession).
        login.forget("no session left open");
        keys.clear();
      });
      state = { entry, pool, login, keys };
      this.states.set(slotId, state);
    }
    return state;
  }

  /** min(configured cap, ulMaxSessionCount, ulMaxRwSessionCount), where 0 is "no limit". */
  private sessionCap(summary: SlotSummary): number {
    const limits = [this.maxSessionsPerSlot, summary.maxSessionCount, summary.maxRwSessionCount].filter((n) => n > 0);
    return Math.max(1, Math.min(...limits));
  }

  /** Logs the token in on first use, afterwards compares the PIN with the one that did (LoginGuard). */
  authenticate(state: SlotState, pin: Uint8Array): Promise<void> {
    return state.login.authenticate(pin, (candidate) => state.pool.use((session) => this.logIn(session, candidate)));
  }

  /** See LoginGuard.adopt. */
  adoptPin(state: SlotState, pin: Uint8Array): Promise<void> {
    return state.login.adopt(pin, (candidate) => state.pool.use((session) => this.logIn(session, candidate)));
  }

  /** Throws AUTH_FAILED unless the relay has logged the slot's token in. */
  checkLoggedIn(state: SlotState): void {
    if (!state.login.loggedIn) throw new HsmError("AUTH_FAILED", `slot ${state.entry.summary.slotId}: the relay has not logged this token in; authenticate first`);
  }

  /**
   * Runs `use` on a session of a slot the relay has logged in. A token that
   * is no longer logged in loses its login record; one that is gone loses
   * everything cached about it.
   */
  async withSession<T>(state: SlotState, use: (session: Session) => T | Promise<T>): Promise<T> {
    this.checkLoggedIn(state);
    try {
      return await state.pool.use(async (session) => {
        try {
          return await use(session);
        } catch (err) {
          throw this.loggedOutError(state, session, err);
        }
      });
    } catch (err) {
      if (err instanceof HsmError && err.ckr !== undefined && TOKEN_GONE.has(err.ckr)) {
        this.slots.invalidate();
        state.keys.clear();
      }
      throw err;
    }
  }

  /**
   * A token that logged out (another application cannot do that, but a
   * token reset or timeout can) does not always say CKR_USER_NOT_LOGGED_IN:
   * private objects simply vanish from C_FindObjects and their handles turn
   * invalid. So after any failure the session state is asked (C_GetSessionInfo,
   * PKCS#11 v2.40 section 5.6); when it is no user state, the login record is
   * dropped and the failure reported as AUTH_FAILED.
   */
  private loggedOutError(state: SlotState, session: Session, err: unknown): unknown {
    if (!(err instanceof HsmError)) return err;
    if (err.ckr === "CKR_USER_NOT_LOGGED_IN") {
      // Mapped to AUTH_FAILED already (ckr.ts).
      state.login.forget("the token reports CKR_USER_NOT_LOGGED_IN");
      return err;
    }
    if (err.code === "AUTH_FAILED") return err;
    let loggedIn: boolean;
    try {
      const { state: sessionState } = this.p.C_GetSessionInfo(session);
      loggedIn = sessionState === CKS_RW_USER_FUNCTIONS || sessionState === CKS_RO_USER_FUNCTIONS;
    } catch {
      return err; // The session itself is broken; the pool discards it.
    }
    if (loggedIn) return err;
    state.login.forget("the token is no longer logged in");
    return new HsmError("AUTH_FAILED", `${err.message}: the token is no longer logged in; the next request logs in again`, err.fn, err.ckr);
  }

  withKey<T>(state: SlotState, keyId: string, use: (session: Session, key: KeyObject) => T | Promise<T>): Promise<T> {
    return this.withSession(state, (session) => state.keys.use(session, keyId, (key) => use(session, key)));
  }

  /**
   * C_Login as CKU_USER. CKR_USER_ALREADY_LOGGED_IN means some other code in
   * this process logged the token in (login state is per application), so
   * that C_Login checked nothing: log out and log in with this PIN once, so
   * the PIN the relay records is one the token accepted.
   */
  private logIn(session: Session, pin: Uint8Array): void {
    try {
      this.p.C_Login(session, pkcs11js.CKU_USER, pinText(pin));
      return;
    } catch (err) {
      const error = hsmErrorOf("C_Login", err);
      if (error.ckr !== "CKR_USER_ALREADY_LOGGED_IN") throw error;
    }
    this.logger.warn("Token already logged in by other code in this process; logging out to verify the PIN");
    p11("C_Logout", () => this.p.C_Logout(session));
    p11("C_Login", () => this.p.C_Login(session, pkcs11js.CKU_USER, pinText(pin)));
  }

  /** Closes every slot's sessions (busy ones as their calls finish) and forgets the slots. */
  async closeAll(): Promise<void> {
    await Promise.all([...this.states.values()].map((state) => state.pool.close()));
    this.states.clear();
  }
}
