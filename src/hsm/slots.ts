// The slots with a token present, and which one a KMIP username selects.
//
// doc/compatibility.md#username-rule is the default rule: a token whose label (trailing
// spaces trimmed) equals the username, then a slot whose id equals it, then
// the slot at that index in the slot list. Labels are not unique and slot
// ids and indexes are not stable (SoftHSM numbers slots after its tokens'
// serial numbers, p11-kit's client in the order the server lists them), so
// an operator can be explicit:
//   label:<label>    the token with this label
//   serial:<serial>  the token with this serial number
//   slot:<id>        the slot with this id (decimal, or hex with 0x)
//   <alias>          a name from [tokens], selecting by label and/or serial
// Whatever the form, a username that matches several tokens is refused with
// a list of them; guessing could sign with the wrong key. After all the
// compat rule's steps, and for label: and aliases when no label is equal, a
// label followed by a parenthesised suffix matches too: OpenSC names a
// card's token after the card and the PIN, "NL-smartcard (UserPIN)".
//
// Every KMIP request resolves its username, so the list is cached for a
// moment. Tokens may appear or disappear at any time: an unknown name
// refreshes the list (at most every MISS_REFRESH_MS, so that a client sending
// bogus usernames cannot make every request enumerate the slots), and the
// backend invalidates the cache when a call reports the token gone.
import pkcs11js from "pkcs11js";
import type { SlotSummary } from "./backend.js";
import { HsmError } from "./hsm-error.js";
import { p11 } from "./ckr.js";
import { trimPadding } from "./module.js";
import { EXPLICIT, TokenAliases } from "./token-aliases.js";

const LIST_TTL_MS = 2_000;
const MISS_REFRESH_MS = 250;
/** pkcs11js passes CK_ULONG counts through a uint32: CK_UNAVAILABLE_INFORMATION arrives as this. */
const UNAVAILABLE_COUNT = 0xffffffff;

export interface SlotEntry {
  readonly summary: SlotSummary;
  readonly handle: pkcs11js.Handle;
}

/** A CK_ULONG handle (slot id) as a decimal string; it may exceed 2^53. */
function handleToString(handle: pkcs11js.Handle): string {
  return (handle.length === 8 ? handle.readBigUInt64LE(0) : BigInt(handle.readUInt32LE(0))).toString();
}

const DECIMAL = /^\d{1,20}$/;
const SLOT_ID = /^(?:\d{1,20}|0x[0-9a-fA-F]{1,16})$/;
/** Usernames whose slot is remembered at most, per list (many spellings select one slot: "1", "01", "slot:0x1", ...). */
const MAX_RESOLVED = 256;

export class SlotDirectory {
  private entries: SlotEntry[] = [];
  /**
   * The slot each username selected from the current list, and the entries by
   * slot id: every KMIP request resolves its username and looks its slot up
   * several times, and building the selection each time cost about 2 µs.
   * Both are rebuilt whenever the list is.
   */
  private resolved = new Map<string, SlotEntry>();
  private byIds = new Map<string, SlotEntry>();
  private fetchedAt = Number.NEGATIVE_INFINITY;
  /** When a read first missed a token the list before it had (see refresh). */
  private missingSince: number | undefined;

  constructor(
    private readonly pkcs11: pkcs11js.PKCS11,
    private readonly aliases: TokenAliases = new TokenAliases({}),
    private readonly now: () => number = Date.now,
  ) {}

  /** The slots with a token, from the cache when it is fresh. */
  list(): SlotEntry[] {
    if (this.now() - this.fetchedAt >= LIST_TTL_MS) this.refresh();
    return this.entries;
  }

  /** Forgets the cached list; the next lookup asks the module. */
  invalidate(): void {
    this.fetchedAt = Number.NEGATIVE_INFINITY;
  }

  /** Whether the cached list may be used as it is. */
  private get fresh(): boolean {
    return this.now() - this.fetchedAt < LIST_TTL_MS;
  }

  /**
   * The slot a KMIP username selects. Throws SLOT_NOT_FOUND when no token or
   * several match (the message lists those).
   */
  resolve(username: string): SlotEntry {
    const known = this.fresh ? this.resolved.get(username) : undefined;
    if (known !== undefined) return known;
    const { matches, what, uninitialised } = this.lookUp((entries) => {
      // A slot whose token is not initialised is no match (a fresh list may show it initialised), but is named.
      const selection = this.select(entries, username);
      const usable = selection.matches.filter((e) => e.summary.tokenInitialized);
      if (usable.length === selection.matches.length) return selection;
      return { matches: usable, what: selection.what, uninitialised: selection.matches.filter((e) => !e.summary.tokenInitialized) };
    });
    if (matches.length === 1) {
      if (this.resolved.size >= MAX_RESOLVED) this.resolved.clear();
      this.resolved.set(username, matches[0]!);
      return matches[0]!;
    }
    if (matches.length === 0 && uninitialised !== undefined && uninitialised.length > 0) {
      // C_OpenSession would answer CKR_TOKEN_NOT_RECOGNIZED: not a login failure, and not one a PIN mends.
      const slots = uninitialised.map((e) => `slot ${e.summary.slotId}`).join(", ");
      throw new HsmError(
        "TOKEN_NOT_INITIALISED",
        `username "${username}" (${what}) selects ${slots}: token not initialised (initialise it with the vendor's tool, or use another username)`,
      );
    }
    if (matches.length === 0) return notFound(`no token matches username "${username}" (${what})`);
    const list = matches.map(describeEntry).join("; ");
    return notFound(
      `username "${username}" matches ${matches.length} tokens: ${list}; ` +
        `select one with "serial:<serial>", "slot:<id>" or "label:<label>", or a [tokens] alias with a label and a serial`,
    );
  }

  /** The slot with this id (decimal string). Throws SLOT_NOT_FOUND. */
  byId(slotId: string): SlotEntry {
    const known = this.fresh ? this.byIds.get(slotId) : undefined;
    if (known !== undefined) return known;
    const { matches } = this.lookUp((entries) => ({ matches: entries.filter((e) => e.summary.slotId === slotId), what: "" }));
    return matches[0] ?? notFound(`no slot ${slotId} with a token present`);
  }

  /** Picks from the cached list; on anything but one match, from a fresh list (at most every MISS_REFRESH_MS). */
  private lookUp(pick: (entries: SlotEntry[]) => Selection): Selection {
    const selection = pick(this.list());
    if (selection.matches.length === 1 || this.now() - this.fetchedAt < MISS_REFRESH_MS) return selection;
    this.refresh();
    return pick(this.entries);
  }

  private select(entries: SlotEntry[], username: string): Selection {
    const explicit = EXPLICIT.exec(username);
    if (explicit !== null) {
      const value = explicit[2]!;
      if (explicit[1] === "label") return { matches: byLabel(entries, value), what: `token label "${value}"` };
      if (explicit[1] === "serial") return { matches: entries.filter((e) => e.summary.tokenSerial === value), what: `token serial number "${value}"` };
      if (!SLOT_ID.test(value)) return { matches: [], what: `"${value}" is not a slot id (decimal, or hex with 0x)` };
      return { matches: entries.filter((e) => BigInt(e.summary.slotId) === BigInt(value)), what: `slot id ${value}` };
    }
    const alias = this.aliases.get(username);
    if (alias !== undefined) {
      const bySerial = alias.serial === undefined ? entries : entries.filter((e) => e.summary.tokenSerial === alias.serial);
      const fields = [alias.label !== undefined && `label "${alias.label}"`, alias.serial !== undefined && `serial number "${alias.serial}"`];
      return {
        matches: alias.label === undefined ? bySerial : byLabel(bySerial, alias.label),
        what: `[tokens] alias for token ${fields.filter(Boolean).join(" and ")}`,
      };
    }
    return { matches: compatRule(entries, username), what: "token label, slot id or slot index" };
  }

  private refresh(): void {
    const handles = p11("C_GetSlotList", () => this.pkcs11.C_GetSlotList(true));
    const entries: SlotEntry[] = [];
    handles.forEach((handle, index) => {
      const summary = this.describe(handle, index);
      if (summary !== undefined) entries.push({ summary, handle });
    });
    const now = this.now();
    // A token that was there a moment ago and is missing now is believed gone
    // only when a read at least MISS_REFRESH_MS later confirms it: SoftHSM
    // rewrites its token file at every login (by any process), and for that
    // moment other processes find no token in the slot. Until then the
    // previous list stays, and the next lookup reads again.
    const present = new Set(entries.map((e) => e.summary.slotId));
    if (this.entries.some((e) => !present.has(e.summary.slotId))) {
      this.missingSince ??= now;
      if (now - this.missingSince < MISS_REFRESH_MS) {
        this.fetchedAt = now - LIST_TTL_MS + MISS_REFRESH_MS;
        return;
      }
    }
    this.missingSince = undefined;
    this.entries = entries;
    this.resolved = new Map();
    this.byIds = new Map(entries.map((e) => [e.summary.slotId, e]));
    this.fetchedAt = now;
  }

  private describe(handle: pkcs11js.Handle, index: number): SlotSummary | undefined {
    let slot: pkcs11js.SlotInfo;
    let token: pkcs11js.TokenInfo;
    try {
      slot = this.pkcs11.C_GetSlotInfo(handle);
      token = this.pkcs11.C_GetTokenInfo(handle);
    } catch {
      // The token left between C_GetSlotList and now; it is simply not listed.
      return undefined;
    }
    const count = (n: number): number => (n === UNAVAILABLE_COUNT ? 0 : n);
    return {
      slotId: handleToString(handle),
      index,
      slotDescription: trimPadding(slot.slotDescription),
      tokenLabel: trimPadding(token.label),
      tokenSerial: trimPadding(token.serialNumber),
      tokenManufacturer: trimPadding(token.manufacturerID),
      tokenModel: trimPadding(token.model),
      maxSessionCount: count(token.maxSessionCount),
      maxRwSessionCount: count(token.maxRwSessionCount),
      tokenInitialized: (token.flags & pkcs11js.CKF_TOKEN_INITIALIZED) !== 0,
      userPinInitialized: (token.flags & pkcs11js.CKF_USER_PIN_INITIALIZED) !== 0,
      loginRequired: (token.flags & pkcs11js.CKF_LOGIN_REQUIRED) !== 0,
    };
  }
}

/** The tokens a username matches, and what it was taken for (for the error message). */
interface Selection {
  readonly matches: SlotEntry[];
  readonly what: string;
  /** Slots the username named whose token is not initialised (left out of matches). */
  readonly uninitialised?: SlotEntry[];
}

/**
 * doc/compatibility.md#username-rule: label first, then slot id, then index; then, so that every
 * username that selected a token before still selects the same one, a label
 * with a suffix.
 */
function compatRule(entries: SlotEntry[], username: string): SlotEntry[] {
  const labelled = entries.filter((e) => e.summary.tokenLabel === username);
  if (labelled.length > 0) return labelled;
  if (DECIMAL.test(username)) {
    const number = BigInt(username);
    const found = entries.find((e) => BigInt(e.summary.slotId) === number) ?? entries.find((e) => BigInt(e.summary.index) === number);
    if (found !== undefined) return [found];
  }
  return withSuffix(entries, username);
}

/** Tokens labelled `label`, or else `label (anything)`. */
function byLabel(entries: SlotEntry[], label: string): SlotEntry[] {
  const labelled = entries.filter((e) => e.summary.tokenLabel === label);
  return labelled.length > 0 ? labelled : withSuffix(entries, label);
}

/** OpenSC's "<card label> (<PIN label>)" token labels. */
function withSuffix(entries: SlotEntry[], label: string): SlotEntry[] {
  const prefix = `${label} (`;
  return entries.filter((e) => e.summary.tokenLabel.startsWith(prefix) && e.summary.tokenLabel.endsWith(")"));
}

function describeEntry(entry: SlotEntry): string {
  const { slotId, tokenLabel, tokenSerial } = entry.summary;
  return `slot ${slotId} (label "${tokenLabel}", serial "${tokenSerial}")`;
}

function notFound(message: string): never {
  throw new HsmError("SLOT_NOT_FOUND", message);
}
