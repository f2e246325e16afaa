// C_WrapKey of a secret key with an AES key of the same token (Get with a
// Key Wrapping Specification, README "Key export"): the key leaves the HSM
// only encrypted, wrapped inside the HSM; the relay never sees its value.
//
// - "AES-KEY-WRAP" is CKM_AES_KEY_WRAP (RFC 3394, NIST SP 800-38F KW): the
//   value must be a multiple of 8 bytes, at least 16.
// - "AES-KEY-WRAP-PAD" is CKM_AES_KEY_WRAP_PAD (RFC 5649, KWP): any length.
//
// The token decides what may be wrapped: the key must be CKA_EXTRACTABLE
// (it may be CKA_SENSITIVE: wrapping is the way such a key leaves), the
// wrapping key CKA_WRAP (a Wrap Key usage, and Active). Its refusals are
// turned into HsmErrors that say which key and why.
import pkcs11js from "pkcs11js";
import type { WrapMechanism } from "./crypto-types.js";
import { HsmError } from "./hsm-error.js";
import { hsmErrorOf } from "./ckr.js";
import type { KeyObject } from "./objects.js";
import type { Session } from "./session-pool.js";

const MECHANISMS: Readonly<Record<WrapMechanism, number>> = {
  "AES-KEY-WRAP": pkcs11js.CKM_AES_KEY_WRAP,
  "AES-KEY-WRAP-PAD": pkcs11js.CKM_AES_KEY_WRAP_PAD,
};

/** The largest wrapped value: a secret of the relay's 8192 bytes at most, plus the padding and integrity block. */
const MAX_WRAPPED_BYTES = 8192 + 16;

/** Wraps `key` with `wrappingKey` (both secret keys of the session's token); returns the wrapped bytes. */
export async function wrapSecretKey(p: pkcs11js.PKCS11, session: Session, mechanism: WrapMechanism, wrappingKey: KeyObject, key: KeyObject): Promise<Buffer> {
  if (key.objectClass !== "secret") throw new HsmError("PERMISSION_DENIED", `${key.id} is not a secret key; only secret keys are wrapped here`);
  if (wrappingKey.objectClass !== "secret") throw new HsmError("INVALID_ARGUMENT", `${wrappingKey.id} is not a secret key; the wrapping key must be an AES key of the token`);
  try {
    return await p.C_WrapKeyAsync(session, { mechanism: MECHANISMS[mechanism] }, wrappingKey.handle, key.handle, Buffer.alloc(MAX_WRAPPED_BYTES));
  } catch (err) {
    const error = hsmErrorOf("C_WrapKey", err);
    switch (error.ckr) {
      case "CKR_KEY_UNEXTRACTABLE":
      case "CKR_KEY_NOT_WRAPPABLE":
        return refuse("PERMISSION_DENIED", error, `${key.id} cannot leave the HSM, even wrapped: CKA_EXTRACTABLE is false (README "Key export")`);
      case "CKR_KEY_FUNCTION_NOT_PERMITTED":
        return refuse("PERMISSION_DENIED", error, `${wrappingKey.id} may not wrap keys: CKA_WRAP is false (give it the Wrap Key usage, and activate it)`);
      case "CKR_WRAPPING_KEY_TYPE_INCONSISTENT":
      case "CKR_WRAPPING_KEY_SIZE_RANGE":
      case "CKR_WRAPPING_KEY_HANDLE_INVALID":
        return refuse("INVALID_ARGUMENT", error, `${wrappingKey.id} cannot wrap with ${mechanism}: the wrapping key must be an AES key`);
      case "CKR_KEY_SIZE_RANGE":
      case "CKR_DATA_LEN_RANGE":
        return refuse("INVALID_ARGUMENT", error, `${key.id} has a length ${mechanism} cannot wrap (AES-KEY-WRAP: a multiple of 8 bytes, at least 16; ask for AES Key Wrap with Padding)`);
      default:
        throw error;
    }
  }
}

function refuse(code: "PERMISSION_DENIED" | "INVALID_ARGUMENT", error: HsmError, why: string): never {
  throw new HsmError(code, `${why} (${error.message})`, error.fn, error.ckr);
}
