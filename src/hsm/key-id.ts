// KMIP Unique Identifiers of keys (doc/compatibility.md#key-identifiers): the upper-case
// hex of the object's CKA_ID followed by `_pub` (CKO_PUBLIC_KEY) or `_priv`
// (CKO_PRIVATE_KEY). The original relay made these; keys already in HSMs are
// known to clients by them, so the scheme is fixed. Secret keys
// (CKO_SECRET_KEY), which the original relay never made, take `_sec`: a
// suffix of its own, so no id of a secret key can name a key of a pair.
import type { ObjectClass } from "./key-types.js";

const SUFFIX: Readonly<Record<ObjectClass, string>> = { public: "_pub", private: "_priv", secret: "_sec" };
const CLASS_OF_SUFFIX: Readonly<Record<string, ObjectClass>> = { pub: "public", priv: "private", sec: "secret" };

// Non-empty, even-length hex; lower case is accepted on input.
const KEY_ID = /^((?:[0-9A-Fa-f]{2})+)_(pub|priv|sec)$/;

export function formatKeyId(ckaId: Uint8Array, objectClass: ObjectClass): string {
  return Buffer.from(ckaId.buffer, ckaId.byteOffset, ckaId.byteLength).toString("hex").toUpperCase() + SUFFIX[objectClass];
}

/** The CKA_ID and class an id names, or undefined when it is not of the scheme. */
export function parseKeyId(id: string): { ckaId: Buffer; objectClass: ObjectClass } | undefined {
  const match = KEY_ID.exec(id);
  if (match === null) return undefined;
  return { ckaId: Buffer.from(match[1]!, "hex"), objectClass: CLASS_OF_SUFFIX[match[2]!]! };
}
