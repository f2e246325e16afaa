// Locate (KMIP 1.x section 4.9): the ids of the token's keys that match every
// attribute given, found with C_FindObjects. Keys made by other tools
// (pkcs11-tool, OpenDNSSEC) are found like the relay's own, under ids of the
// same scheme, when they have a CKA_ID; objects without one (or with one that
// two objects of a class share) have no id and are never returned.
//
// Matched attributes: Name (CKA_LABEL), Object Type (CKA_CLASS),
// Cryptographic Algorithm (CKA_KEY_TYPE; Triple DES and HMAC by the key, as
// Get Attributes reports them), Cryptographic Length (modulus or
// curve size) and State (the model, managed-object.ts). Keys whose creation
// has not finished (a pending metadata record) are never returned. Maximum Items caps the answer;
// Offset Items (1.3+) skips the first matches, and Located Items (1.3+)
// counts them all, in the answer to a request that pages (Maximum Items or
// Offset Items given) only: 1.3/1.4 4.9 let a server leave it out, and the
// OASIS SKFF cases expect it absent from an answer to a plain Locate.
import type { KeyDescription, KeyFilter, KeyType, ObjectClass } from "../hsm/key-types.js";
import type { Attribute } from "../kmip/attributes.js";
import { KmipError } from "../kmip/errors.js";
import { decodeLocateRequest, encodeLocateResponse } from "../kmip/payloads/locate.js";
import { CryptographicAlgorithm, NameType, ObjectType, Operation, ResultReason, State, StorageStatusMask } from "../ttlv/enums.js";
import { partnerId } from "./keys.js";
import { legacyState } from "./legacy.js";
import { secretAlgorithmOf } from "./secret-keys.js";
import { dueAttributes, labelOf, nowSeconds, settlePending, stateOf } from "./managed-object.js";
import { decodeRecord, isPending, type MetadataRecord } from "./metadata-record.js";
import type { OperationContext, OperationHandler } from "./operation.js";
import { atLeast } from "../kmip/versions.js";
import { paddedLength } from "../ttlv/item.js";

/** What to look for: a backend filter and, optionally, a State to check per key. */
export interface LocateCriteria {
  readonly filter: KeyFilter;
  readonly state?: number;
  /** The KMIP Object Type: a secret key object is a Symmetric Key, or the Secret Data or Opaque Object its model says. */
  readonly objectType?: number;
  /** Object Group values the object's model must all hold. */
  readonly objectGroups?: readonly string[];
  /** A Cryptographic Algorithm of SECRET_ALGORITHMS, checked per key. */
  readonly algorithm?: number;
  /** The one object a Unique Identifier names: Locate answers it if it exists and meets the other criteria. */
  readonly uniqueIdentifier?: string;
}

const OBJECT_CLASSES: ReadonlyMap<number, ObjectClass> = new Map([
  [ObjectType.PublicKey, "public"],
  [ObjectType.PrivateKey, "private"],
  [ObjectType.SymmetricKey, "secret"],
  // Kept as secret keys (register-secret.ts); the model tells them apart.
  [ObjectType.SecretData, "secret"],
  [ObjectType.OpaqueData, "secret"],
]);

const KEY_TYPES: ReadonlyMap<number, KeyType> = new Map([
  [CryptographicAlgorithm.RSA, "RSA"],
  // Get reports EC keys as ECDSA; a client asking for EC means the same keys.
  [CryptographicAlgorithm.ECDSA, "EC"],
  [CryptographicAlgorithm.EC, "EC"],
  [CryptographicAlgorithm.Ed25519, "EdDSA"],
  [CryptographicAlgorithm.AES, "AES"],
]);

/**
 * Algorithms told by the key itself rather than by one CKA_KEY_TYPE, as Get
 * Attributes reports them (secretAlgorithmOf): Triple DES is CKK_DES3 or
 * CKK_DES2, an HMAC key a generic secret whose CKA_ALLOWED_MECHANISMS names
 * its HMAC. Matched on the secret keys, each described.
 */
const SECRET_ALGORITHMS: ReadonlySet<number> = new Set([
  CryptographicAlgorithm.TripleDES,
  CryptographicAlgorithm.HMACSHA1,
  CryptographicAlgorithm.HMACSHA256,
  CryptographicAlgorithm.HMACSHA384,
  CryptographicAlgorithm.HMACSHA512,
]);

const LOCATABLE_STATES: ReadonlySet<number> = new Set([State.PreActive, State.Active, State.Deactivated, State.Compromised]);

const MATCHED = "Unique Identifier, Name, Object Type, Cryptographic Algorithm, Cryptographic Length, State, Object Group";

/**
 * The criteria for a Locate request's attributes, or undefined when no token
 * key can match them (an object type other than a key, an algorithm or State
 * the relay never reports, two different values of a single-valued attribute).
 * Attribute Index values are ignored (4.9).
 */
export function locateCriteria(attributes: readonly Attribute[]): LocateCriteria | undefined {
  const label = new Set<string>();
  const objectClass = new Set<ObjectClass>();
  const keyType = new Set<KeyType>();
  const algorithm = new Set<number>();
  const bits = new Set<number>();
  const state = new Set<number>();
  const objectType = new Set<number>();
  const objectGroups = new Set<string>();
  const ids = new Set<string>();
  for (const attribute of attributes) {
    switch (attribute.name) {
      case "Unique Identifier":
        ids.add(attribute.value as string);
        break;
      case "Name": {
        const name = attribute.value as { nameValue: string; nameType: number };
        // A CKA_LABEL is plain text: only Uninterpreted Text String Names can be labels.
        if (name.nameType !== NameType.UninterpretedTextString) return undefined;
        label.add(name.nameValue);
        break;
      }
      case "Object Type": {
        const value = OBJECT_CLASSES.get(attribute.value as number);
        if (value === undefined) return undefined;
        objectClass.add(value);
        objectType.add(attribute.value as number);
        break;
      }
      case "Cryptographic Algorithm": {
        const value = KEY_TYPES.get(attribute.value as number);
        if (value !== undefined) keyType.add(value);
        else if (SECRET_ALGORITHMS.has(attribute.value as number)) {
          algorithm.add(attribute.value as number);
          objectClass.add("secret");
        } else return undefined;
        break;
      }
      case "Cryptographic Length":
        bits.add(attribute.value as number);
        break;
      case "State":
        if (!LOCATABLE_STATES.has(attribute.value as number)) return undefined;
        state.add(attribute.value as number);
        break;
      case "Object Group":
        objectGroups.add(attribute.value as string);
        break;
      default:
        throw new KmipError(ResultReason.FeatureNotSupported, `Locate cannot match the attribute "${attribute.name}" here; it matches ${MATCHED}`);
    }
  }
  // A key has one value of each: two different values match nothing.
  if ([ids, label, objectClass, keyType, bits, state, objectType, algorithm].some((values) => values.size > 1)) return undefined;
  if (algorithm.size > 0 && keyType.size > 0) return undefined;
  const only = <T>(values: Set<T>): T | undefined => values.values().next().value;
  const filter: KeyFilter = { objectClass: only(objectClass), keyType: only(keyType), label: only(label), bits: only(bits) };
  const wantedState = only(state);
  const wantedType = only(objectType);
  const wantedAlgorithm = only(algorithm);
  const wantedId = only(ids);
  return {
    ...(wantedId === undefined ? {} : { uniqueIdentifier: wantedId }),
    ...(wantedAlgorithm === undefined ? {} : { algorithm: wantedAlgorithm }),
    filter,
    ...(wantedState === undefined ? {} : { state: wantedState }),
    ...(wantedType === undefined ? {} : { objectType: wantedType }),
    ...(objectGroups.size === 0 ? {} : { objectGroups: [...objectGroups] }),
  };
}

/**
 * Every metadata record of the token, by label: one search. Records still
 * pending are kept (their keys are not reported); those a crash left are
 * cleaned up on the way.
 */
async function allRecords(context: OperationContext): Promise<Map<string, MetadataRecord>> {
  const records = new Map<string, MetadataRecord>();
  for (const { label, value } of await context.backend.readMetadata(context.slot.slotId)) {
    let record: MetadataRecord;
    try {
      record = decodeRecord(label, value);
    } catch (error) {
      context.logger.warn({ label, err: (error as Error).message }, "metadata object skipped by Locate");
      continue;
    }
    const other = records.get(label);
    if (other !== undefined && other.generation >= record.generation) continue;
    records.set(label, record);
  }
  for (const [label, record] of records) {
    if (record.pendingSince !== undefined) await settlePending(context, label, record);
  }
  return records;
}

/**
 * The ids of the keys matching the criteria, in token order. A State needs
 * every key's model, read from the token in one search per class (each
 * object read once, describeKeys) and one search of the metadata records,
 * never one lookup per key: the work grows with the number of keys, not its
 * square.
 */
async function matchingIds(context: OperationContext, criteria: LocateCriteria): Promise<string[]> {
  const { backend, slot } = context;
  const records = await allRecords(context);
  const recordOf = (id: string) => records.get(labelOf(id).label);
  const modelOf = (id: string) => recordOf(id)?.objects[labelOf(id).objectClass] ?? [];
  // Object Type and Object Group are in the model (a key without a record is of its class's type, in no group).
  const fits = (id: string) => {
    const model = modelOf(id);
    if (criteria.objectType !== undefined) {
      const stored = model.find((attribute) => attribute.name === "Object Type")?.value ?? (id.endsWith("_sec") ? ObjectType.SymmetricKey : criteria.objectType);
      if (stored !== criteria.objectType) return false;
    }
    const groups = new Set(model.filter((attribute) => attribute.name === "Object Group").map((attribute) => attribute.value));
    return (criteria.objectGroups ?? []).every((group) => groups.has(group));
  };
  const made = (id: string) => !isPending(recordOf(id), labelOf(id).objectClass) && fits(id);
  if (criteria.state === undefined && criteria.algorithm === undefined) return (await backend.findKeys(slot.slotId, criteria.filter)).filter(made);
  const keys = (await backend.describeKeys(slot.slotId, criteria.filter)).filter((key) => made(key.id) && (criteria.algorithm === undefined || secretAlgorithmOf(key) === criteria.algorithm));
  if (criteria.state === undefined) return keys.map((key) => key.id);
  // A private key without a record is dated by its public key (legacy.ts):
  // those of the pairs found, unless the keys found already hold every public key.
  let publicKeys = new Map<string, KeyDescription>();
  if (keys.some((key) => key.objectClass === "private" && recordOf(key.id)?.objects.private === undefined)) {
    const { objectClass, label, bits, keyType } = criteria.filter;
    context.signal?.throwIfAborted();
    const candidates =
      objectClass === undefined && label === undefined && bits === undefined ? keys : await backend.describeKeys(slot.slotId, { objectClass: "public", keyType });
    publicKeys = new Map(candidates.filter((key) => key.objectClass === "public").map((key) => [key.id, key]));
  }
  const now = nowSeconds();
  const stateOfKey = (key: KeyDescription): number => {
    const model = recordOf(key.id)?.objects[key.objectClass];
    if (model === undefined) return legacyState(key, key.objectClass === "private" ? publicKeys.get(partnerId(key.id)) : undefined);
    return stateOf(dueAttributes(model, now) ?? model);
  };
  return keys.filter((key) => stateOfKey(key) === criteria.state).map((key) => key.id);
}

function count(name: string, value: number | undefined): number | undefined {
  if (value !== undefined && value < 0) throw new KmipError(ResultReason.InvalidField, `${name} is ${value}; it cannot be negative`);
  return value;
}

export const locate: OperationHandler = {
  operation: Operation.Locate,
  name: "Locate",
  // Not read-only: Locate sets the ID Placeholder (4.9).
  readOnly: false,
  async run(context, requestPayload) {
    const request = decodeLocateRequest(requestPayload);
    const v13 = atLeast(context.version, 1, 3);
    if (!v13) {
      for (const [field, value] of [
        ["Offset Items", request.offsetItems],
        ["Storage Status Mask", request.storageStatusMask],
        ["Object Group Member", request.objectGroupMember],
      ] as const) {
        if (value !== undefined) {
          const { major, minor } = context.version;
          throw new KmipError(ResultReason.InvalidField, `${field} is a KMIP 1.3 field; this request is KMIP ${major}.${minor}`);
        }
      }
    }
    if (request.objectGroupMember !== undefined) {
      throw new KmipError(ResultReason.FeatureNotSupported, "Object Group Member is not supported: token keys belong to no object group");
    }
    const maximumItems = count("Maximum Items", request.maximumItems);
    const offsetItems = count("Offset Items", request.offsetItems) ?? 0;
    const criteria = locateCriteria(request.attributes);
    // Token keys are all in online storage (Storage Status Mask, 1.3 3.x).
    const online = request.storageStatusMask === undefined || (request.storageStatusMask & StorageStatusMask.OnlineStorage) !== 0;

    const matching = criteria === undefined || !online ? [] : await matchingIds(context, criteria);
    const found = criteria?.uniqueIdentifier === undefined ? matching : matching.filter((id) => id === criteria.uniqueIdentifier);
    const uniqueIdentifiers = found.slice(offsetItems, maximumItems === undefined ? undefined : offsetItems + maximumItems);
    // Each Unique Identifier: an 8-byte header and the text, padded to 8 (KMIP 1.x 9.1.1.3).
    context.responseBudget?.reserve(
      uniqueIdentifiers.reduce((sum, id) => sum + 8 + paddedLength(Buffer.byteLength(id)), 0),
      `Locate's answer of ${uniqueIdentifiers.length} Unique Identifiers`,
    );
    // 4.9: one id returned becomes the ID Placeholder; otherwise it is emptied.
    context.idPlaceholder = uniqueIdentifiers.length === 1 ? uniqueIdentifiers[0] : undefined;
    const pages = request.maximumItems !== undefined || request.offsetItems !== undefined;
    return encodeLocateResponse({ uniqueIdentifiers, ...(v13 && pages ? { locatedItems: found.length } : {}) });
  },
};
