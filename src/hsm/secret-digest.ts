// The Digest of a secret key (KMIP 1.x 3.17: SHA-256 of the key value in Raw
// format), computed by the token: C_DigestInit(CKM_SHA256), C_DigestKey,
// C_DigestFinal (PKCS#11 v2.40 section 5.10). The value never leaves the
// token; a module that refuses (CKR_KEY_INDIGESTIBLE, or no C_DigestKey)
// gives no Digest, and the key simply has none.
import pkcs11js from "pkcs11js";
import type { Session } from "./session-pool.js";

export function digestSecretKey(p: pkcs11js.PKCS11, session: Session, handle: pkcs11js.Handle): Uint8Array | undefined {
  try {
    p.C_DigestInit(session, { mechanism: pkcs11js.CKM_SHA256 });
  } catch {
    return undefined;
  }
  try {
    p.C_DigestKey(session, handle);
    return Buffer.from(p.C_DigestFinal(session, Buffer.alloc(32)));
  } catch {
    // A failed C_DigestKey ends the operation (PKCS#11 v2.40 5.10); a C_DigestFinal makes sure of it.
    try {
      p.C_DigestFinal(session, Buffer.alloc(32));
    } catch {
      // nothing was active
    }
    return undefined;
  }
}
