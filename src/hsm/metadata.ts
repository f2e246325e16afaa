// The relay's metadata objects in the token (doc/object-model.md#where-it-lives-in-the-token):
// CKO_DATA objects (PKCS#11 v2.40 section 4.5) with CKA_APPLICATION
// "kmip2pkcs11", one per CKA_ID of the key objects they describe, named by
// that CKA_ID in CKA_LABEL. CKA_TOKEN true so they outlive the session and
// every relay on the token sees them; CKA_PRIVATE true so that only a logged-in
// user reads them, like the private keys they describe. What CKA_VALUE holds
// is the operations layer's business; here it is bytes.
import pkcs11js from "pkcs11js";
import { HsmError } from "./hsm-error.js";
import { METADATA_APPLICATION, type MetadataObject } from "./key-types.js";
import { p11 } from "./ckr.js";
import { findObjects } from "./objects.js";
import { readAttributes } from "./attributes.js";
import type { Session } from "./session-pool.js";

const APPLICATION = Buffer.from(METADATA_APPLICATION, "utf8");
const STALE_HANDLE: ReadonlySet<string> = new Set(["CKR_OBJECT_HANDLE_INVALID", "CKR_KEY_HANDLE_INVALID"]);
/** A label is the hex of a CKA_ID: nothing else is ever written. */
const LABEL = /^[0-9A-F]{2,256}$/;

function checkLabel(label: string): void {
  if (!LABEL.test(label)) throw new HsmError("INVALID_ARGUMENT", `metadata label "${label}" is not the upper-case hex of a CKA_ID`);
}

function searchTemplate(label: string | undefined): pkcs11js.Template {
  const template: pkcs11js.Template = [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_DATA },
    { type: pkcs11js.CKA_APPLICATION, value: APPLICATION },
  ];
  if (label !== undefined) template.push({ type: pkcs11js.CKA_LABEL, value: Buffer.from(label, "latin1") });
  return template;
}

/** The metadata objects `label` names, or all of them: one search, each read once. */
export function readMetadata(p: pkcs11js.PKCS11, session: Session, label: string | undefined): MetadataObject[] {
  if (label !== undefined) checkLabel(label);
  const found: MetadataObject[] = [];
  for (const handle of findObjects(p, session, searchTemplate(label))) {
    let values: Map<number, Buffer>;
    try {
      values = readAttributes(p, session, handle, [pkcs11js.CKA_LABEL, pkcs11js.CKA_VALUE]);
    } catch (err) {
      // Destroyed by another relay since the search found it.
      if (err instanceof HsmError && err.ckr !== undefined && STALE_HANDLE.has(err.ckr)) continue;
      throw err;
    }
    const text = values.get(pkcs11js.CKA_LABEL)?.toString("latin1");
    const value = values.get(pkcs11js.CKA_VALUE);
    if (text === undefined || value === undefined || !LABEL.test(text)) continue;
    found.push({ label: text, value });
  }
  return found;
}

/**
 * Writes a new metadata object `label` with `value`, then destroys those
 * that had the label before. A new object rather than C_SetAttributeValue:
 * SoftHSM 2.6 refuses to change CKA_VALUE of a data object
 * (CKR_ATTRIBUTE_READ_ONLY), and a replacement is whole or absent. A crash
 * between the two steps, or two relays writing at once, leaves two objects
 * with one label: the value says which is newer (the operations layer
 * numbers its records), and the next write removes the older.
 */
export function writeMetadata(p: pkcs11js.PKCS11, session: Session, label: string, value: Uint8Array): void {
  checkLabel(label);
  const before = findObjects(p, session, searchTemplate(label));
  p11("C_CreateObject", () =>
    p.C_CreateObject(session, [
      ...searchTemplate(label),
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_PRIVATE, value: true },
      { type: pkcs11js.CKA_VALUE, value: Buffer.from(value) },
    ]),
  );
  for (const old of before) destroyHandle(p, session, old);
}

/** Destroys the metadata objects `label`. */
export function destroyMetadata(p: pkcs11js.PKCS11, session: Session, label: string): void {
  checkLabel(label);
  for (const handle of findObjects(p, session, searchTemplate(label))) destroyHandle(p, session, handle);
}

function destroyHandle(p: pkcs11js.PKCS11, session: Session, handle: pkcs11js.Handle): void {
  try {
    p11("C_DestroyObject", () => p.C_DestroyObject(session, handle));
  } catch (err) {
    if (!(err instanceof HsmError && err.ckr !== undefined && STALE_HANDLE.has(err.ckr))) throw err;
  }
}
