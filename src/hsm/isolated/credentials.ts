// What the relay side of the isolated backend answers without a round trip
// to the module process. The relay resolves the username and authenticates
// the PIN before every KMIP request (doc/compatibility.md#credentials); through the
// module process that made three sequential round trips per request where
// one does the work.
//
// Slots: the slot a username selects is kept for SLOT_TTL_MS. The module
// process keeps its own slot list for a moment too (slots.ts), so this adds
// at most that long to how soon a token that appeared is seen; a call that
// finds the slot gone drops every entry at once (isolated-backend.ts).
//
// PINs: per slot, a salted digest of the PIN the module process last
// accepted; see IsolatedBackend.authenticate for why that accepts no PIN the
// module process would refuse. The digest is login.ts's pinDigest under a
// random 32-byte key drawn per module process (the purpose is that the PIN
// itself is not kept; a slow KDF would cost milliseconds on every request
// and slow no network guesser down), compared in constant time.
import { randomBytes, timingSafeEqual } from "node:crypto";
import { performance } from "node:perf_hooks";
import type { SlotSummary } from "../backend.js";
import { pinDigest } from "../login.js";

const SLOT_TTL_MS = 1000;
/**
 * Usernames remembered at most. Only usernames that selected a slot are
 * kept, but many spellings select the same one ("1", "01", "slot:0x1", ...),
 * so a client could otherwise grow the map without bound.
 */
const MAX_USERNAMES = 256;

interface CachedSlot {
  readonly summary: SlotSummary;
  readonly expiresAt: number;
}

export class CredentialCache {
  private key = randomBytes(32);
  private readonly pins = new Map<string, Buffer>();
  /** Per slot, the ticket of the PIN check sent to the module process last. */
  private readonly lastCheck = new Map<string, number>();
  private tickets = 0;
  private readonly slots = new Map<string, CachedSlot>();

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** The digest `accepts` and `rememberPin` take, under the current module process's key. */
  digest(pin: Uint8Array): Buffer {
    return pinDigest(this.key, pin);
  }

  /** Whether `digest` is the digest of the PIN the module process last accepted for the slot. */
  accepts(slotId: string, digest: Buffer): boolean {
    const accepted = this.pins.get(slotId);
    return accepted !== undefined && timingSafeEqual(accepted, digest);
  }

  /** A PIN check (authenticate) for the slot goes to the module process: its ticket for rememberPin. */
  checkSent(slotId: string): number {
    const ticket = ++this.tickets;
    this.lastCheck.set(slotId, ticket);
    return ticket;
  }

  /**
   * The module process accepted the PIN of this digest in the check with
   * `ticket`. Remembered only when no check for the slot was sent after it:
   * an answer that a later check may have overtaken says nothing about the
   * PIN the module process holds now.
   */
  rememberPin(slotId: string, ticket: number, digest: Buffer): void {
    if (this.lastCheck.get(slotId) === ticket) this.pins.set(slotId, digest);
  }

  /** The module process refused a PIN or lost its login: ask it again next time. */
  forgetPin(slotId: string): void {
    this.pins.delete(slotId);
  }

  /** The slot `username` selected within the last SLOT_TTL_MS, if any. */
  slot(username: string): SlotSummary | undefined {
    const cached = this.slots.get(username);
    if (cached === undefined) return undefined;
    if (this.now() < cached.expiresAt) return cached.summary;
    this.slots.delete(username);
    return undefined;
  }

  rememberSlot(username: string, summary: SlotSummary): void {
    this.slots.delete(username);
    if (this.slots.size >= MAX_USERNAMES) this.slots.delete(this.slots.keys().next().value!);
    this.slots.set(username, { summary, expiresAt: this.now() + SLOT_TTL_MS });
  }

  /** A slot is gone or was replaced: resolve every username afresh. */
  forgetSlots(): void {
    this.slots.clear();
  }

  /**
   * A new module process: it has no login and may see other slots. The key
   * is drawn anew, so a digest computed for the old process matches nothing.
   */
  clear(): void {
    this.pins.clear();
    this.lastCheck.clear();
    this.slots.clear();
    this.key = randomBytes(32);
  }
}
