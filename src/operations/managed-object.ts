// The KMIP model of the token's key objects (doc/object-model.md): each key
// object is a managed object with its own State, dates, Revocation Reason,
// Links and client attributes. What PKCS#11 enforces stays on the key object
// (CKA_SIGN, the usage flags, CKA_LABEL); the rest is in a metadata object in
// the token (metadata-record.ts), one per CKA_ID, read and written here. The
// relay keeps nothing: every relay on the token sees the same model.
//
// Keys without a record (made by pkcs11-tool, OpenDNSSEC, the Rust relay or
// earlier versions of this relay) are read as they are (legacy.ts) and get a
// record on their first change.
import { randomBytes } from "node:crypto";
import type { KeyExportRule } from "../config/tokens.js";
import { HsmError } from "../hsm/hsm-error.js";
import type { KeyDescription, ObjectClass, UsageFlags } from "../hsm/key-types.js";
import { formatKeyId, parseKeyId } from "../hsm/key-id.js";
import { type Attribute, type AttributeName, type Link, type AttributeValues, attributeValue, attributeValues } from "../kmip/attributes.js";
import { KmipError } from "../kmip/errors.js";
import { CryptographicUsageMask, LinkType, PaddingMethod, ResultReason, State } from "../ttlv/enums.js";
import { legacyAttributes, today } from "./legacy.js";
import { decodeRecord, encodeRecord, isPending, type MetadataRecord, newest } from "./metadata-record.js";
import type { OperationContext } from "./operation.js";
import { flagChanges, secretTokenUsage, secretUsageIn } from "./secret-usage.js";

/** How the relay treats what KMIP leaves to the server ([lifecycle] in the config). */
export interface LifecyclePolicy {
  /** Destroy of an Active object is refused (KMIP 1.x 4.21) instead of deactivating it first. */
  readonly strictDestroy: boolean;
  /** A record still pending after this long is what a crashed creation left: its objects are removed. */
  readonly pendingTimeoutMs: number;
  /** [tokens.NAME] key-export: whether keys may leave their token in the clear (key-export.ts); absent: "on-request" everywhere. */
  readonly keyExport?: readonly KeyExportRule[];
}

export const DEFAULT_LIFECYCLE_POLICY: LifecyclePolicy = { strictDestroy: false, pendingTimeoutMs: 600_000 };

export function policyOf(context: OperationContext): LifecyclePolicy {
  return context.lifecycle ?? DEFAULT_LIFECYCLE_POLICY;
}

/** Now as a KMIP Date-Time (seconds since the epoch). */
export function nowSeconds(): bigint {
  return BigInt(Math.floor(Date.now() / 1000));
}

/** A key object and its KMIP model. */
export interface ManagedKey {
  readonly id: string;
  /** The metadata object's label: the hex CKA_ID. */
  readonly label: string;
  readonly key: KeyDescription;
  /** The stored attributes (State, dates, Links, ...); for a key without a record, those its PKCS#11 attributes give. */
  readonly attributes: readonly Attribute[];
  /** The record of its CKA_ID; undefined when the key has none. */
  readonly record: MetadataRecord | undefined;
  /** A key without a record: the model its partner would get with the first change (legacy.ts). */
  readonly partnerAttributes?: readonly Attribute[];
}

/** The value of a single-valued stored attribute. */
export function stored<K extends AttributeName>(attributes: readonly Attribute[], name: K): AttributeValues[K] | undefined {
  return attributes.find((attribute) => attribute.name === name)?.value as AttributeValues[K] | undefined;
}

/** The Link an attribute is, if it is one. */
export function linkOf(attribute: Attribute): Link | undefined {
  return attribute.name === "Link" ? (attribute.value as Link) : undefined;
}

/** `attributes` with the single-valued attribute `name` set to `value` (removed when undefined). */
export function withValue<K extends AttributeName>(attributes: readonly Attribute[], name: K, value: AttributeValues[K] | undefined): Attribute[] {
  const others = attributes.filter((attribute) => attribute.name !== name);
  return value === undefined ? others : [...others, { name, value } as Attribute];
}

export function stateOf(attributes: readonly Attribute[]): number {
  return stored(attributes, "State") ?? State.Active;
}

/**
 * Whether the token should let this private key sign: Active, Sign in its
 * usage mask, and its Protect Stop Date (KMIP 1.x 3.26), if any, not come.
 */
export function signingAllowed(attributes: readonly Attribute[], now = nowSeconds()): boolean {
  const mask = stored(attributes, "Cryptographic Usage Mask") ?? CryptographicUsageMask.Sign;
  const stop = stored(attributes, "Protect Stop Date");
  return stateOf(attributes) === State.Active && (mask & CryptographicUsageMask.Sign) !== 0 && (stop === undefined || stop > now);
}

/**
 * Whether the token should let this public key verify: Verify in its usage
 * mask, and its Process Start Date (KMIP 1.x 3.25), if any, come. Its state
 * does not matter: a Deactivated or Compromised key may still process what
 * it protected (3.22).
 */
export function verifyingAllowed(attributes: readonly Attribute[], now = nowSeconds()): boolean {
  const mask = stored(attributes, "Cryptographic Usage Mask") ?? CryptographicUsageMask.Verify;
  const start = stored(attributes, "Process Start Date");
  return (mask & CryptographicUsageMask.Verify) !== 0 && (start === undefined || start <= now);
}

/** The label and class of a key id. Throws Item Not Found for an id not of the scheme. */
export function labelOf(id: string): { label: string; objectClass: ObjectClass; ckaId: Buffer } {
  const parsed = parseKeyId(id);
  if (parsed === undefined) throw new KmipError(ResultReason.ItemNotFound, `"${id}" is not a key id of this relay (hex CKA_ID followed by _pub, _priv or _sec)`);
  return { label: parsed.ckaId.toString("hex").toUpperCase(), objectClass: parsed.objectClass, ckaId: parsed.ckaId };
}

const OTHER: Readonly<Record<ObjectClass, ObjectClass>> = { private: "public", public: "private", secret: "secret" };

const isGone = (error: unknown) => error instanceof HsmError && error.code === "ITEM_NOT_FOUND";

async function readRecord(context: OperationContext, label: string): Promise<MetadataRecord | undefined> {
  const found = await context.backend.readMetadata(context.slot.slotId, label);
  return newest(found.map((object) => decodeRecord(label, object.value)));
}

/**
 * Whether a failed metadata write says the module keeps no data objects
 * (NSS's softokn refuses every CKO_DATA object with
 * CKR_ATTRIBUTE_VALUE_INVALID), rather than that the write failed.
 */
function noDataObjects(error: unknown): boolean {
  return error instanceof HsmError && error.fn === "C_CreateObject" && error.ckr !== undefined && DATA_OBJECT_REFUSALS.has(error.ckr);
}
const DATA_OBJECT_REFUSALS: ReadonlySet<string> = new Set([
  "CKR_ATTRIBUTE_VALUE_INVALID",
  "CKR_ATTRIBUTE_TYPE_INVALID",
  "CKR_TEMPLATE_INCONSISTENT",
  "CKR_TEMPLATE_INCOMPLETE",
  "CKR_FUNCTION_NOT_SUPPORTED",
]);

async function writeRecord(context: OperationContext, label: string, record: MetadataRecord): Promise<void> {
  await context.backend.writeMetadata(context.slot.slotId, label, encodeRecord(record));
}

/**
 * A record whose objects are still being made (doc/object-model.md#crash-safe-creation):
 * reported as not found. Once it is older than the write timeout, no relay
 * can still be making it: the key objects and the record are removed.
 */
export async function settlePending(context: OperationContext, label: string, record: MetadataRecord): Promise<void> {
  const since = record.pendingSince;
  if (since === undefined) return;
  if (Number(nowSeconds() - since) * 1000 <= policyOf(context).pendingTimeoutMs) return;
  const ckaId = Buffer.from(label, "hex");
  const pending = record.pendingObjects ?? (["private", "public", "secret"] as const);
  const gone = new Set(pending.map((objectClass) => formatKeyId(ckaId, objectClass)));
  for (const id of gone) {
    await context.backend.destroyKey(context.slot.slotId, id).catch((error: unknown) => {
      if (!isGone(error)) throw error;
    });
  }
  // A key registered beside one that existed: that one keeps its entry, without the Link to the key never made.
  const rest = Object.entries(record.objects)
    .filter(([objectClass]) => !pending.includes(objectClass as ObjectClass))
    .map(([objectClass, attributes]) => [objectClass, (attributes ?? []).filter((a) => !gone.has(linkOf(a)?.linkedObjectIdentifier ?? ""))]);
  if (rest.length === 0) await context.backend.destroyMetadata(context.slot.slotId, label);
  else await writeRecord(context, label, { generation: record.generation + 1, objects: Object.fromEntries(rest) });
  context.logger.warn({ label, pendingSince: new Date(Number(since) * 1000).toISOString() }, `removed the leftovers of a key creation that did not finish (CKA_ID ${label})`);
}

/** A key and its model. Throws Item Not Found for a key that does not exist or is still being made. */
export async function describeManaged(context: OperationContext, id: string): Promise<ManagedKey> {
  const { label, objectClass } = labelOf(id);
  const [key, record] = await Promise.all([context.backend.describeKey(context.slot.slotId, id), readRecord(context, label)]);
  if (record !== undefined && isPending(record, objectClass)) {
    await settlePending(context, label, record);
    throw new KmipError(ResultReason.ItemNotFound, `${id} is being created and is not usable yet`);
  }
  const attributes = record?.objects[objectClass];
  if (record === undefined || attributes === undefined) {
    // A secret key has no partner: OTHER.secret is itself.
    const partner = objectClass === "secret" ? undefined : await context.backend.describeKey(context.slot.slotId, formatKeyId(Buffer.from(label, "hex"), OTHER[objectClass])).catch((error: unknown) => {
      if (isGone(error)) return undefined;
      throw error;
    });
    const legacy = legacyAttributes(key, partner);
    return { id: key.id, label, key, attributes: legacy.own, record, ...(legacy.partner === undefined ? {} : { partnerAttributes: legacy.partner }) };
  }
  const managed: ManagedKey = { id: key.id, label, key, attributes, record };
  const due = dueAttributes(attributes, nowSeconds());
  return due === undefined ? syncFlags(context, managed) : commit(context, managed, due);
}

/** The attributes a key's record keeps for it, read only (no dates applied, nothing written); [] for a key without a record. Item Not Found while it is being made. */
export async function storedModel(context: OperationContext, id: string): Promise<readonly Attribute[]> {
  const { label, objectClass } = labelOf(id);
  const record = await readRecord(context, label);
  if (isPending(record, objectClass)) throw new KmipError(ResultReason.ItemNotFound, `${id} is being created and is not usable yet`);
  return record?.objects[objectClass] ?? [];
}

/**
 * A Protect Stop Date or Process Start Date that has come changes no state,
 * only what the token allows: CKA_SIGN goes false, CKA_VERIFY true (a
 * secret key: CKA_ENCRYPT and CKA_SIGN false, CKA_DECRYPT and CKA_VERIFY as
 * its state allows, secret-usage.ts), when the relay reads the key (nothing
 * is written when they agree).
 */
async function syncFlags(context: OperationContext, managed: ManagedKey): Promise<ManagedKey> {
  const { attributes, key } = managed;
  let update: Partial<Record<"sign" | "verify" | "encrypt" | "decrypt", boolean>> | undefined;
  if (key.objectClass === "secret" && (stored(attributes, "Protect Stop Date") !== undefined || stored(attributes, "Process Start Date") !== undefined)) {
    const changes = flagChanges(secretTokenUsage(attributes), key.usage);
    if (Object.keys(changes).length > 0) update = changes;
  }
  if (key.objectClass === "private" && key.usage.sign && stored(attributes, "Protect Stop Date") !== undefined && !signingAllowed(attributes)) update = { sign: false };
  if (key.objectClass === "public" && !key.usage.verify && stored(attributes, "Process Start Date") !== undefined && verifyingAllowed(attributes)) update = { verify: true };
  if (update === undefined) return managed;
  await context.backend.updateKey(context.slot.slotId, managed.id, update);
  return { ...managed, key: { ...key, usage: { ...key.usage, ...update } } };
}

/**
 * The attributes after the changes their dates have made due (KMIP 1.x 3.22):
 * an Activation Date reached makes a Pre-Active object Active, a
 * Deactivation Date reached makes an Active one Deactivated. Undefined when
 * nothing is due.
 */
export function dueAttributes(attributes: readonly Attribute[], now: bigint): Attribute[] | undefined {
  const state = stateOf(attributes);
  const activation = stored(attributes, "Activation Date");
  const deactivation = stored(attributes, "Deactivation Date");
  let next = state;
  if (next === State.PreActive && activation !== undefined && activation <= now) next = State.Active;
  if (next === State.Active && deactivation !== undefined && deactivation <= now) next = State.Deactivated;
  return next === state ? undefined : withValue(attributes, "State", next);
}

/**
 * Writes a key's new model: the private key's CKA_SIGN as the model says (a
 * key that may no longer sign loses it before the record says so, one that
 * may sign gets it after), the record with Last Change Date now. A key
 * without a record gets one here, for itself and its partner.
 */
export async function commit(context: OperationContext, managed: ManagedKey, attributes: readonly Attribute[]): Promise<ManagedKey> {
  const { objectClass } = managed.key;
  const changed = withValue(attributes, "Last Change Date", nowSeconds());
  const objects = { ...(managed.record?.objects ?? {}), [objectClass]: changed };
  if (managed.record === undefined && managed.partnerAttributes !== undefined) objects[OTHER[objectClass]] = managed.partnerAttributes;
  // A record pending for the other key (Register of it is under way) stays pending for that key.
  const pending = managed.record?.pendingSince === undefined ? {} : { pendingSince: managed.record.pendingSince, ...(managed.record.pendingObjects === undefined ? {} : { pendingObjects: managed.record.pendingObjects }) };
  const record: MetadataRecord = { generation: (managed.record?.generation ?? 0) + 1, ...pending, objects };
  // The flag the token enforces: CKA_SIGN of a private key; CKA_VERIFY of a public key with a Process Start Date.
  const flag = objectClass === "private" ? "sign" : objectClass === "public" && stored(changed, "Process Start Date") !== undefined ? "verify" : undefined;
  const allowed = flag === "sign" ? signingAllowed(changed) : flag === "verify" ? verifyingAllowed(changed) : undefined;
  const setFlag = (value: boolean) => context.backend.updateKey(context.slot.slotId, managed.id, { [flag!]: value });
  if (allowed === false && managed.key.usage[flag!]) await setFlag(false);
  // A secret key: the flags its new state takes away go before the record says so, those it grants after (secret-usage.ts).
  const secret = objectClass === "secret" ? secretTokenUsage(changed) : undefined;
  const setSecretFlags = async (grant: boolean) => {
    const update = flagChanges(secret!, managed.key.usage, grant);
    if (Object.keys(update).length > 0) await context.backend.updateKey(context.slot.slotId, managed.id, update);
  };
  if (secret !== undefined) await setSecretFlags(false);
  try {
    await writeRecord(context, managed.label, record);
  } catch (error) {
    if (managed.record !== undefined || !noDataObjects(error)) throw error;
    await commitWithoutMetadata(context, managed, changed);
  }
  if (allowed === true && !managed.key.usage[flag!]) await setFlag(true);
  let key = allowed === undefined ? managed.key : { ...managed.key, usage: { ...managed.key.usage, [flag!]: allowed } };
  if (secret !== undefined) {
    await setSecretFlags(true);
    key = { ...key, usage: { ...key.usage, ...secret } };
  }
  return { id: managed.id, label: managed.label, key, attributes: changed, record };
}

/**
 * A change to a key without a record on a module that keeps no data objects:
 * recorded as earlier versions of the relay did (legacy.ts), on the pair's
 * public key: CKA_START_DATE for an activation, CKA_END_DATE for a
 * revocation, both keys then sharing the state; CKA_SIGN as for every key.
 * A token that refuses the dates keeps only CKA_SIGN.
 */
async function commitWithoutMetadata(context: OperationContext, managed: ManagedKey, attributes: readonly Attribute[]): Promise<void> {
  const state = stateOf(attributes);
  const publicId = managed.key.objectClass === "public" ? managed.id : formatKeyId(Buffer.from(managed.label, "hex"), "public");
  const update = state === State.Active ? { startDate: today() } : state === State.PreActive ? {} : { endDate: today() };
  context.logger.debug({ id: managed.id }, "the module keeps no data objects: the change is kept on the key objects only");
  if (Object.keys(update).length === 0) return;
  await context.backend.updateKey(context.slot.slotId, publicId, update).catch((error: unknown) => {
    if (!(error instanceof HsmError) || error.code === "MODULE_FAILED") throw error;
    context.logger.debug({ id: publicId, err: error.message }, "date not recorded");
  });
}

/**
 * After C_Destroy of a key object: its entry leaves the record, and the
 * record goes with its last entry.
 */
export async function forgetDestroyed(context: OperationContext, managed: ManagedKey): Promise<void> {
  const record = managed.record;
  if (record === undefined) return;
  const { [managed.key.objectClass]: _gone, ...rest } = record.objects;
  if (Object.keys(rest).length === 0) await context.backend.destroyMetadata(context.slot.slotId, managed.label);
  else await writeRecord(context, managed.label, { generation: record.generation + 1, objects: rest });
}

/** What Create Key Pair or Register makes of one object, from the client's template. */
export interface ObjectPlan {
  /** The stored attributes it starts with. */
  readonly attributes: Attribute[];
  /** The PKCS#11 usage flags the object gets: what its mask grants (CKA_SIGN only when Active), every other flag false. */
  readonly usage: UsageFlags;
}

const DEFAULT_MASK: Readonly<Record<ObjectClass, number>> = {
  private: CryptographicUsageMask.Sign,
  public: CryptographicUsageMask.Verify,
  secret: CryptographicUsageMask.Encrypt | CryptographicUsageMask.Decrypt,
};
/** The client attributes kept in the record as given (KMIP 1.x 3.33, 3.36, 3.40). */
const KEPT: readonly AttributeName[] = ["Object Group", "Contact Information"];

export function isCustomAttributeName(name: string): boolean {
  return name.startsWith("x-") || name.startsWith("y-");
}

/** The usage flags the mask grants; CKA_SIGN and CKA_VERIFY only where `allowed` says the model lets the key use them now. */
function usageOf(objectClass: ObjectClass, mask: number, allowed: { sign: boolean; verify: boolean }, active: boolean): UsageFlags {
  const has = (bit: number) => (mask & bit) !== 0;
  if (objectClass === "secret") return secretUsageIn(active ? State.Active : State.PreActive, mask);
  if (objectClass === "private") {
    return { sign: allowed.sign && has(CryptographicUsageMask.Sign), decrypt: has(CryptographicUsageMask.Decrypt), unwrap: has(CryptographicUsageMask.UnwrapKey), derive: has(CryptographicUsageMask.DeriveKey) };
  }
  return { verify: allowed.verify && has(CryptographicUsageMask.Verify), encrypt: has(CryptographicUsageMask.Encrypt), wrap: has(CryptographicUsageMask.WrapKey), derive: has(CryptographicUsageMask.DeriveKey) };
}

/** The dates of KMIP 1.x 3.24-3.27 a template may give, kept as given. */
const DATES: readonly ("Activation Date" | "Process Start Date" | "Protect Stop Date" | "Deactivation Date")[] = ["Activation Date", "Process Start Date", "Protect Stop Date", "Deactivation Date"];

function planOf(objectClass: ObjectClass, requested: readonly Attribute[], links: Attribute[], now: bigint): ObjectPlan {
  const mask = attributeValue(requested, "Cryptographic Usage Mask") ?? DEFAULT_MASK[objectClass];
  const activation = attributeValue(requested, "Activation Date");
  // 3.22: Pre-Active until activated, unless the Activation Date given is now or past.
  const active = activation !== undefined && activation <= now;
  const attributes: Attribute[] = [
    { name: "State", value: active ? State.Active : State.PreActive },
    { name: "Initial Date", value: now },
    { name: "Cryptographic Usage Mask", value: mask },
  ];
  for (const name of DATES) {
    const value = attributeValue(requested, name);
    if (value !== undefined) attributes.push({ name, value });
  }
  attributes.push({ name: "Last Change Date", value: now }, ...links);
  for (const name of KEPT) attributes.push(...attributeValues(requested, name).map((value) => ({ name, value }) as Attribute));
  // A key pair's OAEP parameters: PKCS#11 has no place for them on the key, and Encrypt / Decrypt without parameters apply them (ciphers.ts).
  if (objectClass !== "secret") attributes.push(...attributeValues(requested, "Cryptographic Parameters").filter((p) => p.paddingMethod === PaddingMethod.OAEP).map((value) => ({ name: "Cryptographic Parameters", value }) as Attribute));
  attributes.push(...requested.filter((attribute) => isCustomAttributeName(attribute.name)).map(({ name, value }) => ({ name, value }) as Attribute));
  // A secret key's flags as its state and dates allow (secret-usage.ts).
  if (objectClass === "secret") return { attributes, usage: secretTokenUsage(attributes, now) };
  return { attributes, usage: usageOf(objectClass, mask, { sign: signingAllowed(attributes, now), verify: verifyingAllowed(attributes, now) }, active) };
}

/** How createManagedObjects makes its objects. */
export interface CreateOptions {
  /**
   * The objects join a CKA_ID that may already hold the other key of their
   * pair (Register of one half): that key keeps its model (its record's
   * entry, or the one it is read with when it has none), gets a Link to the
   * new object and the new object one to it; the record is pending for the
   * new object alone. Without: the CKA_ID is fresh and its record is new.
   */
  readonly join?: boolean;
  /** Attributes the server computed for an object, kept with its model (the Digest of registered material). */
  readonly computed?: Partial<Record<ObjectClass, readonly Attribute[]>>;
}

/**
 * Makes managed objects with their model, safe against a crash between the
 * writes (doc/object-model.md#crash-safe-creation): the record is written
 * first, marked pending; `make` creates the key objects with CKA_ID `ckaId`
 * and the usage flags of the plan; then the record is marked complete. A
 * record still pending is never reported, and once older than the write
 * timeout its objects are removed by whichever relay comes across it.
 *
 * `requested` holds the client's template attributes per object (Name is
 * the caller's: it is the key object's CKA_LABEL). Create Key Pair and
 * Register both make objects through here; the two keys of a pair are
 * linked (KMIP 1.x 4.2: Private Key Link, Public Key Link).
 */
export async function createManagedObjects<T>(
  context: OperationContext,
  ckaId: Uint8Array,
  requested: Partial<Record<ObjectClass, readonly Attribute[]>>,
  make: (plans: Partial<Record<ObjectClass, ObjectPlan>>) => Promise<T>,
  options: CreateOptions = {},
): Promise<T> {
  const now = nowSeconds();
  const label = Buffer.from(ckaId).toString("hex").toUpperCase();
  const made = (["private", "public", "secret"] as const).filter((objectClass) => requested[objectClass] !== undefined);
  const before = options.join === true ? await joinedModel(context, label, made) : { generation: 0, objects: {} };
  const present = (objectClass: ObjectClass) => requested[objectClass] !== undefined || before.objects[objectClass] !== undefined;
  const linkTo = (objectClass: "private" | "public"): Attribute => ({
    name: "Link",
    value: { linkType: objectClass === "private" ? LinkType.PublicKeyLink : LinkType.PrivateKeyLink, linkedObjectIdentifier: formatKeyId(ckaId, OTHER[objectClass]) },
  });
  const plans: Partial<Record<ObjectClass, ObjectPlan>> = {};
  for (const objectClass of made) {
    const links = objectClass !== "secret" && present(OTHER[objectClass]) ? [linkTo(objectClass)] : [];
    plans[objectClass] = planOf(objectClass, requested[objectClass]!, [...links, ...(options.computed?.[objectClass] ?? [])], now);
  }
  const objects: Partial<Record<ObjectClass, readonly Attribute[]>> = { ...before.objects };
  for (const [objectClass, attributes] of Object.entries(before.objects) as [ObjectClass, readonly Attribute[]][]) {
    if (objectClass === "secret" || !made.includes(OTHER[objectClass])) continue;
    const others = attributes.filter((a) => linkOf(a)?.linkType !== linkOf(linkTo(objectClass))!.linkType);
    objects[objectClass] = withValue([...others, linkTo(objectClass)], "Last Change Date", now);
  }
  for (const [objectClass, plan] of Object.entries(plans)) objects[objectClass as ObjectClass] = plan.attributes;
  const pendingObjects = options.join === true ? { pendingObjects: made } : {};
  try {
    await writeRecord(context, label, { generation: before.generation + 1, pendingSince: now, ...pendingObjects, objects });
  } catch (error) {
    if (!noDataObjects(error)) throw error;
    // No model without metadata: the objects are made Active, as keys of other tools are read (legacy.ts).
    warnNoDataObjects(context, error as HsmError);
    const active: Partial<Record<ObjectClass, ObjectPlan>> = {};
    for (const [objectClass, plan] of Object.entries(plans) as [ObjectClass, ObjectPlan][]) {
      const mask = stored(plan.attributes, "Cryptographic Usage Mask") ?? DEFAULT_MASK[objectClass];
      active[objectClass] = { attributes: plan.attributes, usage: usageOf(objectClass, mask, { sign: true, verify: true }, true) };
    }
    return make(active);
  }
  let result: T;
  try {
    result = await make(plans);
  } catch (error) {
    // A refusal made nothing (a failed C_GenerateKeyPair or C_CreateObject
    // creates no object): the record goes back to what it was. After a
    // module failure the objects may exist: the pending record stays, so
    // that they are never taken for keys of other tools, and is cleaned up
    // with them (settlePending).
    if (!(error instanceof HsmError && error.code === "MODULE_FAILED")) {
      const restore = Object.keys(before.objects).length === 0
        ? context.backend.destroyMetadata(context.slot.slotId, label)
        : writeRecord(context, label, { generation: before.generation + 2, objects: before.objects });
      await restore.catch(() => undefined);
    }
    throw error;
  }
  await writeRecord(context, label, { generation: before.generation + 2, objects });
  return result;
}

/**
 * The model a CKA_ID has before an object joins it: its record's entries,
 * or the model its key without a record is read with (legacy.ts). Refused
 * while another creation on the CKA_ID is pending, and when the record
 * already has an entry for an object to make.
 */
async function joinedModel(context: OperationContext, label: string, made: readonly ObjectClass[]): Promise<{ generation: number; objects: Partial<Record<ObjectClass, readonly Attribute[]>> }> {
  const record = await readRecord(context, label);
  if (record?.pendingSince !== undefined) {
    await settlePending(context, label, record);
    throw new KmipError(ResultReason.GeneralFailure, `another object with CKA_ID ${label} is being created; try again`);
  }
  const taken = made.find((objectClass) => record?.objects[objectClass] !== undefined);
  if (taken !== undefined) throw new KmipError(ResultReason.InvalidField, `the token already has a ${taken} key with CKA_ID ${label}`);
  if (record !== undefined) return record;
  const ckaId = Buffer.from(label, "hex");
  const objects: Partial<Record<ObjectClass, readonly Attribute[]>> = {};
  for (const objectClass of ["private", "public"] as const) {
    if (made.includes(objectClass)) continue;
    const key = await context.backend.describeKey(context.slot.slotId, formatKeyId(ckaId, objectClass)).catch((error: unknown) => {
      if (isGone(error)) return undefined;
      throw error;
    });
    if (key !== undefined) objects[objectClass] = legacyAttributes(key, undefined).own;
  }
  return { generation: 0, objects };
}

let warnedNoDataObjects = false;

function warnNoDataObjects(context: OperationContext, error: HsmError): void {
  if (warnedNoDataObjects) return;
  warnedNoDataObjects = true;
  context.logger.warn(
    { ckr: error.ckr },
    `the module refuses data objects (${error.message}): keys are made Active and without KMIP metadata (no Pre-Active state, Links, or per-key dates); see README "Key lifecycle"`,
  );
}

/** A fresh random CKA_ID for objects the relay makes (doc/compatibility.md#key-identifiers: 20 bytes). */
export function newCkaId(): Buffer {
  return randomBytes(20);
}
