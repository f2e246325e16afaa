// The failed-login throttle, kept in the relay process per client, so that
// it can neither be reset by restarting the module process nor be turned
// against the signer by someone else's wrong PINs.
//
// Who is a client: the peer's address, and the SHA-256 fingerprint of its
// certificate when it presented one (mutual TLS). Per slot and client,
// `limit` failed authentications within `windowMs` refuse that client's
// further attempts for `cooldownMs`, without asking the module. Per slot,
// all clients together, at most `budgetPerHour` failures in the last hour
// (attempts in flight with other PINs count as failures until they are
// answered; concurrent requests with one PIN share one C_Login), so that
// clients at many addresses still cannot use up a token's own PIN retry
// counter (an HSM that locks the user PIN after N failures locks it for
// good): once the budget is spent, only the PIN that last authenticated on
// the slot is let through.
//
// The right PIN is never refused because others failed: the slot's last
// accepted PIN is recorded as a keyed SHA-256 digest (login.ts's pinDigest,
// key drawn per relay process, compared in constant time), and a request
// carrying it passes every limit here. Before the relay has seen the right
// PIN once since it started, the budget applies to everyone.
//
// Not kept across relay restarts: the state is small, but a digest of the PIN
// must not reach the disk (PINs are short; an offline guesser would find it),
// and without the digest a persisted budget would refuse the right PIN after
// a restart. A relay restart is the operator's (or systemd's, with its own
// restart delay), not something a client can cause.
import { randomBytes, timingSafeEqual } from "node:crypto";
import { HsmError } from "../hsm/hsm-error.js";
import { pinDigest } from "../hsm/login.js";

export interface ClientThrottleSettings {
  readonly limit: number;
  readonly windowMs: number;
  readonly cooldownMs: number;
  /** Failed authentications per slot per hour, all clients together. */
  readonly budgetPerHour: number;
}

const HOUR_MS = 3_600_000;
/** Clients remembered per slot at most; the one seen longest ago goes first. */
const MAX_CLIENTS = 10_000;

interface ClientState {
  failures: number[];
  /** Attempts in flight per distinct PIN (keyed digest, hex): concurrent requests with one PIN make one C_Login. */
  readonly inFlight: Map<string, number>;
  cooldownUntil: number;
}

interface SlotState {
  accepted: Buffer | undefined;
  failures: number[];
  readonly inFlight: Map<string, number>;
  /** Per PIN (keyed digest, hex) with an attempt in flight: settles when it ends. */
  readonly ongoing: Map<string, Promise<void>>;
  readonly clients: Map<string, ClientState>;
}

/** An admitted attempt: report how it ended. */
export interface LoginAttempt {
  succeeded(): void;
  /** The PIN was refused. */
  failed(): void;
  /** It ended saying nothing about the PIN (the module failed, busy, ...). */
  abandoned(): void;
}

export class ClientLoginThrottle {
  private readonly key = randomBytes(32);
  private readonly slots = new Map<string, SlotState>();

  constructor(
    private readonly settings: ClientThrottleSettings,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Admits an authentication of `client` on `slotId` with `pin`, or throws
   * LOGIN_COOLDOWN. The caller reports the outcome on the returned attempt.
   */
  async admit(slotId: string, client: string, pin: Uint8Array): Promise<LoginAttempt> {
    const slot = this.slot(slotId);
    const digest = pinDigest(this.key, pin);
    // Requests with a PIN whose check is in flight wait for its outcome: the
    // right PIN is then known and passes; a wrong one has been counted.
    const isKnown = (): boolean => slot.accepted !== undefined && timingSafeEqual(slot.accepted, digest);
    const id = digest.toString("hex");
    while (!isKnown() && slot.ongoing.has(id)) await slot.ongoing.get(id);
    const known = isKnown();
    const now = this.now();
    const state = this.client(slot, client);
    if (!known) {
      state.failures = state.failures.filter((t) => now - t < this.settings.windowMs);
      slot.failures = slot.failures.filter((t) => now - t < HOUR_MS);
      if (now < state.cooldownUntil) {
        throw new HsmError("LOGIN_COOLDOWN", `slot ${slotId}: client ${client} is refused for another ${Math.ceil((state.cooldownUntil - now) / 1000)} s after ${this.settings.limit} failed logins`);
      }
      if (state.failures.length + pendingOther(state.inFlight, id) >= this.settings.limit) {
        throw new HsmError("LOGIN_COOLDOWN", `slot ${slotId}: client ${client} has ${this.settings.limit} failed or pending logins within ${this.settings.windowMs / 1000} s (pkcs11.login-failure-window)`);
      }
      if (slot.failures.length + pendingOther(slot.inFlight, id) >= this.settings.budgetPerHour) {
        throw new HsmError("LOGIN_COOLDOWN", `slot ${slotId}: ${this.settings.budgetPerHour} failed logins within the last hour; only the PIN last accepted is let through`);
      }
    }
    add(state.inFlight, id, 1);
    add(slot.inFlight, id, 1);
    let ended = (): void => {};
    if (!known) slot.ongoing.set(id, new Promise<void>((resolve) => (ended = resolve)));
    let done = false;
    const settle = (): boolean => {
      if (done) return false;
      done = true;
      if (!known) slot.ongoing.delete(id);
      ended();
      add(state.inFlight, id, -1);
      add(slot.inFlight, id, -1);
      return true;
    };
    return {
      abandoned: () => void settle(),
      succeeded: () => {
        if (!settle()) return;
        slot.accepted = digest;
        state.failures = [];
      },
      failed: () => {
        if (!settle()) return;
        const at = this.now();
        // The PIN last accepted was refused: it was changed (or the token reset).
        if (known) slot.accepted = undefined;
        state.failures.push(at);
        slot.failures.push(at);
        if (state.failures.length >= this.settings.limit) {
          state.cooldownUntil = at + this.settings.cooldownMs;
          state.failures = [];
        }
      },
    };
  }

  private slot(slotId: string): SlotState {
    let slot = this.slots.get(slotId);
    if (slot === undefined) {
      slot = { accepted: undefined, failures: [], inFlight: new Map(), ongoing: new Map(), clients: new Map() };
      this.slots.set(slotId, slot);
    }
    return slot;
  }

  private client(slot: SlotState, client: string): ClientState {
    let state = slot.clients.get(client);
    if (state !== undefined) {
      // Most recently seen last, for the eviction below.
      slot.clients.delete(client);
    } else {
      state = { failures: [], inFlight: new Map(), cooldownUntil: 0 };
      if (slot.clients.size >= MAX_CLIENTS) {
        for (const [id, old] of slot.clients) {
          if (old.inFlight.size === 0) {
            slot.clients.delete(id);
            break;
          }
        }
      }
    }
    slot.clients.set(client, state);
    return state;
  }
}

function add(counts: Map<string, number>, id: string, delta: number): void {
  const n = (counts.get(id) ?? 0) + delta;
  if (n === 0) counts.delete(id);
  else counts.set(id, n);
}

/** Distinct PINs in flight other than `id`, which, pending already, would share its C_Login. */
function pendingOther(counts: Map<string, number>, id: string): number {
  return counts.size - (counts.has(id) ? 1 : 0);
}
