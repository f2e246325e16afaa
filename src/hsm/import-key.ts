// Importing a key a client brings (KMIP Register) with C_CreateObject, and
// choosing its CKA_ID. The Unique Identifier scheme (key-id.ts) pairs a
// public and a private key by their common CKA_ID, so a key registered as
// the other half of a key on the token takes that key's CKA_ID:
//   1. the key the request links to (KMIP Link, Private / Public Key Link),
//      which must be of the other class and hold the same public material;
//   2. else a key of the other class with the same public material and no
//      object of this class beside it: an RSA key by CKA_MODULUS; an EC
//      private key finds its public key by CKA_EC_POINT; an EC public key
//      finds its private key by the CKA_ID an EC private key registered alone
//      takes, the SHA-1 of its public point (import-templates.ts), since
//      PKCS#11 keeps no public point on an EC private key;
//   3. else a fresh CKA_ID, random as for Create Key Pair.
// A request may only choose (chooseOnly), then come again with the CKA_ID
// chosen (ckaId): Register writes the key's metadata between the two.
import pkcs11js from "pkcs11js";
import type { Logger } from "../log/logger.js";
import { HsmError } from "./hsm-error.js";
import type { KeyImportRequest, ObjectClass } from "./key-types.js";
import { p11 } from "./ckr.js";
import { CURVES, unwrapEcPoint } from "./ec.js";
import { derOctetString, ecPairCkaId, importTemplate, publicPartOf } from "./import-templates.js";
import { formatKeyId, parseKeyId } from "./key-id.js";
import { CKK_EC, CKK_RSA } from "./mechanisms.js";
import { findObjects } from "./objects.js";
import { readAttributes, readUlong } from "./attributes.js";
import { mayBeAttributeRefusal, type AttributeQuirks } from "./quirks.js";
import type { Session } from "./session-pool.js";

const A = pkcs11js;
const CKO: Readonly<Record<ObjectClass, number>> = { public: A.CKO_PUBLIC_KEY, private: A.CKO_PRIVATE_KEY, secret: A.CKO_SECRET_KEY };
/** Candidates looked at when matching by material: a token rarely holds the same key more than once. */
const MAX_CANDIDATES = 16;

function invalid(message: string): HsmError {
  return new HsmError("INVALID_ARGUMENT", message, "C_CreateObject");
}

export interface ImportedKey {
  readonly id: string;
  /** Absent for a chooseOnly request: nothing was created. */
  readonly handle?: pkcs11js.Handle;
  /** Whether it joined a key already on the token. */
  readonly paired: boolean;
}

export function importKey(
  p: pkcs11js.PKCS11,
  session: Session,
  request: KeyImportRequest,
  quirks: AttributeQuirks,
  logger: Logger,
  unusedCkaId: () => Buffer,
): ImportedKey {
  const own = request.material.objectClass;
  const has = (ckaId: Buffer, objectClass: ObjectClass) =>
    findObjects(p, session, [
      { type: A.CKA_CLASS, value: CKO[objectClass] },
      { type: A.CKA_ID, value: ckaId },
    ], 1).length > 0;

  let paired: Buffer | undefined;
  let ckaId: Buffer | undefined;
  if (request.ckaId !== undefined) {
    // Chosen by an earlier chooseOnly call; another key may have taken it since.
    ckaId = Buffer.from(request.ckaId);
    if (has(ckaId, own)) throw invalid(`the token already holds a ${own} key with CKA_ID ${ckaId.toString("hex").toUpperCase()}`);
    paired = has(ckaId, own === "private" ? "public" : "private") ? ckaId : undefined;
  } else {
    paired = request.partnerId !== undefined ? linkedCkaId(p, session, request, has) : matchingCkaId(p, session, request, has);
    ckaId = paired;
    if (ckaId === undefined && request.material.keyType === "EC" && own === "private") {
      const derived = ecPairCkaId(request.material.ecPoint);
      if (!has(derived, "private") && !has(derived, "public")) ckaId = derived;
    }
    ckaId ??= unusedCkaId();
  }
  if (request.chooseOnly === true) return { id: formatKeyId(ckaId, own), paired: paired !== undefined };

  const template = quirks.withoutOmitted(importTemplate(request, ckaId));
  let handle: pkcs11js.Handle;
  try {
    handle = p11("C_CreateObject", () => p.C_CreateObject(session, template));
  } catch (err) {
    // CKA_ALLOWED_MECHANISMS is PKCS#11 v2.40; an older module refuses it. The key is still worth having.
    if (request.allowedMechanisms === undefined || !mayBeAttributeRefusal(err)) throw err;
    handle = p11("C_CreateObject", () => p.C_CreateObject(session, template.filter((a) => a.type !== A.CKA_ALLOWED_MECHANISMS)));
    logger.warn(
      { ckr: err.ckr },
      "C_CreateObject refused CKA_ALLOWED_MECHANISMS (%s): the key is registered without its Cryptographic Parameters, so requests without them get the relay's defaults",
      err.ckr,
    );
  }
  return { id: formatKeyId(ckaId, own), handle, paired: paired !== undefined };
}

/** The CKA_ID of the key the request links to, checked to be the other half of this one. */
function linkedCkaId(p: pkcs11js.PKCS11, session: Session, request: KeyImportRequest, has: (ckaId: Buffer, objectClass: ObjectClass) => boolean): Buffer {
  const own = request.material.objectClass;
  const other: ObjectClass = own === "private" ? "public" : "private";
  const partnerId = request.partnerId!;
  const parsed = parseKeyId(partnerId);
  if (parsed === undefined) throw invalid(`the Link names "${partnerId}", which is not a key id of this relay (hex CKA_ID followed by _pub or _priv)`);
  if (parsed.objectClass !== other) throw invalid(`the Link names ${partnerId}, a ${parsed.objectClass} key; a ${own} key pairs with a ${other} key`);
  const handles = findObjects(p, session, [
    { type: A.CKA_CLASS, value: CKO[other] },
    { type: A.CKA_ID, value: parsed.ckaId },
  ], 2);
  if (handles.length !== 1) throw new HsmError("ITEM_NOT_FOUND", `the Link names ${partnerId}, which ${handles.length === 0 ? "is not on the token" : "is ambiguous"}`);
  if (!samePublicMaterial(p, session, handles[0]!, other, request)) {
    throw invalid(`the Link names ${partnerId}, which is not the other half of this key (its key type or public material differs)`);
  }
  if (has(parsed.ckaId, own)) throw invalid(`the Link names ${partnerId}, which already has a ${own} key, ${formatKeyId(parsed.ckaId, own)}`);
  return parsed.ckaId;
}

/** The CKA_ID of a key of the other class with the same public material and no object of this class beside it. */
function matchingCkaId(p: pkcs11js.PKCS11, session: Session, request: KeyImportRequest, has: (ckaId: Buffer, objectClass: ObjectClass) => boolean): Buffer | undefined {
  const { material } = request;
  const own = material.objectClass;
  const other: ObjectClass = own === "private" ? "public" : "private";
  const template: pkcs11js.Template = [{ type: A.CKA_CLASS, value: CKO[other] }];
  if (material.keyType === "RSA") {
    template.push({ type: A.CKA_KEY_TYPE, value: CKK_RSA }, { type: A.CKA_MODULUS, value: Buffer.from(material.modulus) });
  } else {
    template.push({ type: A.CKA_KEY_TYPE, value: CKK_EC }, { type: A.CKA_EC_PARAMS, value: CURVES[material.curve].oid });
    if (own === "private") template.push({ type: A.CKA_EC_POINT, value: derOctetString(material.ecPoint) });
    else template.push({ type: A.CKA_ID, value: ecPairCkaId(material.ecPoint) });
  }
  for (const handle of findObjects(p, session, template, MAX_CANDIDATES)) {
    const ckaId = readAttributes(p, session, handle, [A.CKA_ID]).get(A.CKA_ID);
    if (ckaId !== undefined && ckaId.length > 0 && !has(ckaId, own)) return ckaId;
  }
  return undefined;
}

/** Whether the object `handle` (of class `objectClass`) has the key type and public material of the key to import. */
function samePublicMaterial(p: pkcs11js.PKCS11, session: Session, handle: pkcs11js.Handle, objectClass: ObjectClass, request: KeyImportRequest): boolean {
  const { material } = request;
  const { modulus, ecPoint } = publicPartOf(material);
  const keyType = readUlong(readAttributes(p, session, handle, [A.CKA_KEY_TYPE]).get(A.CKA_KEY_TYPE));
  if (material.keyType === "RSA") {
    if (keyType !== CKK_RSA) return false;
    return readAttributes(p, session, handle, [A.CKA_MODULUS]).get(A.CKA_MODULUS)?.equals(modulus!) === true;
  }
  if (keyType !== CKK_EC) return false;
  const curve = CURVES[material.curve];
  const attrs = readAttributes(p, session, handle, objectClass === "public" ? [A.CKA_EC_PARAMS, A.CKA_EC_POINT] : [A.CKA_EC_PARAMS]);
  if (attrs.get(A.CKA_EC_PARAMS)?.equals(curve.oid) !== true) return false;
  // An EC private key keeps no public point: its curve is all that can be compared.
  if (objectClass === "private") return true;
  const raw = attrs.get(A.CKA_EC_POINT);
  const point = raw === undefined ? undefined : unwrapEcPoint(raw, curve);
  return point !== undefined && Buffer.from(point).equals(ecPoint!);
}
