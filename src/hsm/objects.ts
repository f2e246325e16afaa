// Finding key objects, and the per-slot cache of their handles and facts.
//
// All key state lives on the token; another process (another relay, an admin
// with pkcs11-tool) may create or destroy objects at any time. The cache is
// only a shortcut past C_FindObjects: a cached handle the module no longer
// knows (CKR_OBJECT_HANDLE_INVALID / CKR_KEY_HANDLE_INVALID) is dropped, the
// id looked up again once, and the call retried once.
import pkcs11js from "pkcs11js";
import { HsmError } from "./hsm-error.js";
import type { KeyDescription, KeyFacts, KeyFilter, ObjectClass } from "./key-types.js";
import { p11 } from "./ckr.js";
import { describeObject, keyTypeOf, readAttributes, readUlong } from "./attributes.js";
import { formatKeyId, parseKeyId } from "./key-id.js";
import { CKK_AES, CKK_DES3, CKK_EC, CKK_EC_EDWARDS, CKK_GENERIC_SECRET, CKK_RSA } from "./mechanisms.js";
import type { AttributeQuirks } from "./quirks.js";
import type { Session } from "./session-pool.js";

/** Handles per C_FindObjects call: few round trips even for tokens with thousands of keys. */
const FIND_BATCH = 256;
/** Cached handles per slot; the oldest entry goes first beyond this. */
const MAX_CACHED_HANDLES = 4096;

const CKO_OF: Readonly<Record<ObjectClass, number>> = {
  public: pkcs11js.CKO_PUBLIC_KEY,
  private: pkcs11js.CKO_PRIVATE_KEY,
  secret: pkcs11js.CKO_SECRET_KEY,
};
const CKK_OF = { RSA: CKK_RSA, EC: CKK_EC, EdDSA: CKK_EC_EDWARDS, AES: CKK_AES, DES3: CKK_DES3, GenericSecret: CKK_GENERIC_SECRET } as const;

/**
 * Handles of the objects matching `template`, in token order, at most `limit`.
 * C_FindObjectsFinal always ends the search (PKCS#11 v2.40 section 5.7), so
 * the session stays usable for the next caller.
 */
export function findObjects(p: pkcs11js.PKCS11, session: Session, template: pkcs11js.Template, limit = Infinity): pkcs11js.Handle[] {
  p11("C_FindObjectsInit", () => p.C_FindObjectsInit(session, template));
  const found: pkcs11js.Handle[] = [];
  try {
    while (found.length < limit) {
      const batch = p11("C_FindObjects", () => p.C_FindObjects(session, Math.min(FIND_BATCH, limit - found.length)));
      if (batch.length === 0) break;
      found.push(...batch);
    }
  } finally {
    p11("C_FindObjectsFinal", () => p.C_FindObjectsFinal(session));
  }
  return found;
}

/** A key object found by its id. */
export interface KeyObject {
  readonly id: string;
  readonly objectClass: ObjectClass;
  readonly handle: pkcs11js.Handle;
  /**
   * What the key is (signature.ts decides from it what it may do): read
   * once, when first needed, and kept with the handle; known from the
   * template for a key the relay just made.
   */
  facts?: KeyFacts;
}

const STALE_HANDLE: ReadonlySet<string> = new Set(["CKR_OBJECT_HANDLE_INVALID", "CKR_KEY_HANDLE_INVALID"]);

function itemNotFound(message: string): never {
  throw new HsmError("ITEM_NOT_FOUND", message);
}

/** id -> handle for one slot. */
export class KeyHandles {
  private readonly entries = new Map<string, KeyObject>();

  constructor(private readonly p: pkcs11js.PKCS11) {}

  /**
   * Runs `use` on the object `keyId` names. Throws ITEM_NOT_FOUND when the id
   * is not of the key-id scheme or no single object matches it. The cache
   * holds ids in their canonical form (formatKeyId), which is what clients
   * send back, so the id is parsed only when it misses: every Sign item
   * passes here.
   */
  async use<T>(session: Session, keyId: string, use: (key: KeyObject) => T | Promise<T>): Promise<T> {
    let key = this.entries.get(keyId);
    const id = key?.id ?? canonicalKeyId(keyId);
    key ??= this.entries.get(id);
    if (key === undefined) return use(this.lookUp(session, id));
    try {
      return await use(key);
    } catch (err) {
      if (!(err instanceof HsmError && err.ckr !== undefined && STALE_HANDLE.has(err.ckr))) throw err;
      this.entries.delete(id);
      return use(this.lookUp(session, id));
    }
  }

  /** Caches a handle the relay just created. */
  remember(key: KeyObject): void {
    this.entries.delete(key.id);
    this.entries.set(key.id, key);
    if (this.entries.size > MAX_CACHED_HANDLES) this.entries.delete(this.entries.keys().next().value!);
  }

  forget(id: string): void {
    this.entries.delete(id);
  }

  clear(): void {
    this.entries.clear();
  }

  /** doc/compatibility.md#key-identifiers: CKA_ID + CKA_CLASS, exactly one match. `id` is canonical. */
  private lookUp(session: Session, id: string): KeyObject {
    const { ckaId, objectClass } = parseKeyId(id)!;
    const template = [
      { type: pkcs11js.CKA_CLASS, value: CKO_OF[objectClass] },
      { type: pkcs11js.CKA_ID, value: ckaId },
    ];
    const handles = findObjects(this.p, session, template, 2);
    const hex = ckaId.toString("hex").toUpperCase();
    if (handles.length === 0) itemNotFound(`no ${objectClass} key object with CKA_ID ${hex}`);
    if (handles.length > 1) itemNotFound(`more than one ${objectClass} key object with CKA_ID ${hex}; the id is ambiguous`);
    const key: KeyObject = { id, objectClass, handle: handles[0]! };
    this.remember(key);
    return key;
  }
}

/** The id in the form formatKeyId makes (upper-case hex). Throws ITEM_NOT_FOUND when it is not of the scheme. */
function canonicalKeyId(keyId: string): string {
  const parsed = parseKeyId(keyId) ?? itemNotFound(`"${keyId}" is not a key id of this relay (hex CKA_ID followed by _pub, _priv or _sec)`);
  return formatKeyId(parsed.ckaId, parsed.objectClass);
}

/**
 * Ids of the key objects matching `filter`, in token order (public keys
 * first when no class is asked for). Objects without a CKA_ID (or with an
 * empty one) have no id in the relay's scheme and are skipped; so are ids two
 * objects of one class share, since such an id cannot be resolved.
 */
export function findKeyIds(p: pkcs11js.PKCS11, session: Session, filter: KeyFilter, quirks: AttributeQuirks): string[] {
  return matchingKeys(p, session, filter, quirks, false).map((key) => key.id);
}

/**
 * The descriptions of the key objects findKeyIds finds, in the same order:
 * one C_FindObjects search per class and each object's attributes read once.
 * Looking each id up by itself would be a search per key, and a module such
 * as SoftHSM answers a search by going through every object of the token:
 * the work would grow with the square of the number of keys.
 */
export function describeKeys(p: pkcs11js.PKCS11, session: Session, filter: KeyFilter, quirks: AttributeQuirks): KeyDescription[] {
  return matchingKeys(p, session, filter, quirks, true).map((key) => key.description!);
}

function matchingKeys(
  p: pkcs11js.PKCS11,
  session: Session,
  filter: KeyFilter,
  quirks: AttributeQuirks,
  describe: boolean,
): { id: string; description?: KeyDescription }[] {
  const classes: ObjectClass[] = filter.objectClass !== undefined ? [filter.objectClass] : ["public", "private", "secret"];
  const keys: { id: string; description?: KeyDescription }[] = [];
  for (const objectClass of classes) {
    const template: pkcs11js.Template = [{ type: pkcs11js.CKA_CLASS, value: CKO_OF[objectClass] }];
    if (filter.keyType !== undefined && filter.keyType !== "other") template.push({ type: pkcs11js.CKA_KEY_TYPE, value: CKK_OF[filter.keyType] });
    if (filter.label !== undefined) template.push({ type: pkcs11js.CKA_LABEL, value: Buffer.from(filter.label, "utf8") });

    const seen = new Map<string, number>();
    const matching: { id: string; description?: KeyDescription }[] = [];
    for (const handle of findObjects(p, session, template)) {
      const key = matchingKey(p, session, handle, objectClass, filter, quirks, describe);
      if (key === undefined) continue;
      seen.set(key.id, (seen.get(key.id) ?? 0) + 1);
      matching.push(key);
    }
    keys.push(...matching.filter((key) => seen.get(key.id) === 1));
  }
  return keys;
}

function matchingKey(
  p: pkcs11js.PKCS11,
  session: Session,
  handle: pkcs11js.Handle,
  objectClass: ObjectClass,
  filter: KeyFilter,
  quirks: AttributeQuirks,
  describe: boolean,
): { id: string; description?: KeyDescription } | undefined {
  try {
    const attrs = readAttributes(p, session, handle, [pkcs11js.CKA_ID, pkcs11js.CKA_KEY_TYPE]);
    const ckaId = attrs.get(pkcs11js.CKA_ID);
    if (ckaId === undefined || ckaId.length === 0) return undefined;
    if (filter.keyType === "other" && keyTypeOf(readUlong(attrs.get(pkcs11js.CKA_KEY_TYPE))) !== "other") return undefined;
    const id = formatKeyId(ckaId, objectClass);
    if (!describe && filter.bits === undefined) return { id };
    const description = describeObject(p, session, handle, id, objectClass, quirks);
    if (filter.bits !== undefined && description.bits !== filter.bits) return undefined;
    return { id, description };
  } catch (err) {
    // Destroyed by someone else since C_FindObjects found it.
    if (err instanceof HsmError && err.ckr !== undefined && STALE_HANDLE.has(err.ckr)) return undefined;
    throw err;
  }
}
