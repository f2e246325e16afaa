// The slots with a token present, and which one a KMIP username selects
// (compat.md "Protocol": token label with trailing spaces trimmed, then slot
// id, then index in the slot list).
//
// Every KMIP request resolves its username, so the list is cached for a
// moment. Tokens may appear or disappear at any time: an unknown name
// refreshes the list (at most every MISS_REFRESH_MS, so that a client sending
// bogus usernames cannot make every request enumerate the slots), and the
// backend invalidates the cache when a call reports the token gone.
import pkcs11js from "pkcs11js";
import { HsmError, type SlotSummary } from "./backend.js";
import { p11 } from "./ckr.js";
import { trimPadding } from "./module.js";

const LIST_TTL_MS = 2_000;
const MISS_REFRESH_MS = 250;
/** pkcs11js passes CK_ULONG counts through a uint32: CK_UNAVAILABLE_INFORMATION arrives as this. */
const UNAVAILABLE_COUNT = 0xffffffff;

export interface SlotEntry {
  readonly summary: SlotSummary;
  readonly handle: pkcs11js.Handle;
}

/** A CK_ULONG handle (slot id) as a decimal string; it may exceed 2^53. */
export function handleToString(handle: pkcs11js.Handle): string {
  return (handle.length === 8 ? handle.readBigUInt64LE(0) : BigInt(handle.readUInt32LE(0))).toString();
}

const DECIMAL = /^\d{1,20}$/;

export class SlotDirectory {
  private entries: SlotEntry[] = [];
  private fetchedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly pkcs11: pkcs11js.PKCS11,
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

  /** The slot a KMIP username selects. Throws SLOT_NOT_FOUND. */
  resolve(username: string): SlotEntry {
    return this.lookUp((entries) => selectSlot(entries, username)) ?? notFound(`no token labelled "${username}", and no slot with that id or index`);
  }

  /** The slot with this id (decimal string). Throws SLOT_NOT_FOUND. */
  byId(slotId: string): SlotEntry {
    return this.lookUp((entries) => entries.find((e) => e.summary.slotId === slotId)) ?? notFound(`no slot ${slotId} with a token present`);
  }

  private lookUp(pick: (entries: SlotEntry[]) => SlotEntry | undefined): SlotEntry | undefined {
    const found = pick(this.list());
    if (found !== undefined || this.now() - this.fetchedAt < MISS_REFRESH_MS) return found;
    this.refresh();
    return pick(this.entries);
  }

  private refresh(): void {
    const handles = p11("C_GetSlotList", () => this.pkcs11.C_GetSlotList(true));
    const entries: SlotEntry[] = [];
    handles.forEach((handle, index) => {
      const summary = this.describe(handle, index);
      if (summary !== undefined) entries.push({ summary, handle });
    });
    this.entries = entries;
    this.fetchedAt = this.now();
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

/** compat.md: label first, then slot id, then index. */
function selectSlot(entries: SlotEntry[], username: string): SlotEntry | undefined {
  const byLabel = entries.find((e) => e.summary.tokenLabel === username);
  if (byLabel !== undefined || !DECIMAL.test(username)) return byLabel;
  const number = BigInt(username);
  return entries.find((e) => BigInt(e.summary.slotId) === number) ?? entries.find((e) => BigInt(e.summary.index) === number);
}

function notFound(message: string): never {
  throw new HsmError("SLOT_NOT_FOUND", message);
}
