// The HSM backend's (backend.ts) failures: a code independent of KMIP, and
// the PKCS#11 function and CKR name behind it.

/** Why a backend call failed, independent of KMIP. */
export type HsmErrorCode =
  /** The username names no slot or token. */
  | "SLOT_NOT_FOUND"
  /** The username selects a slot whose token is not initialised (CKR_TOKEN_NOT_RECOGNIZED): no PIN mends it. */
  | "TOKEN_NOT_INITIALISED"
  /** The PIN was refused (C_Login said so, or it differs from the PIN that logged the token in). */
  | "AUTH_FAILED"
  /** Logins on this slot are refused for a while after repeated failures. */
  | "LOGIN_COOLDOWN"
  /** The token has locked the PIN. */
  | "PIN_LOCKED"
  /** No object with that id, or the id is not of the key-id scheme. */
  | "ITEM_NOT_FOUND"
  /** The key exists but may not do this (CKA_SIGN false, ...). */
  | "PERMISSION_DENIED"
  /** An algorithm, size, curve or mechanism the module does not offer. */
  | "UNSUPPORTED"
  /** Arguments the module refused (bad sizes, bad data length, ...). */
  | "INVALID_ARGUMENT"
  /** The data did not decrypt with the key (a GCM tag that does not verify, bad padding). */
  | "CRYPTO_FAILED"
  /** Too many calls are waiting for this slot's module; try again later. */
  | "BUSY"
  /** The module process crashed or a call timed out. */
  | "MODULE_FAILED"
  /** Any other PKCS#11 failure. */
  | "PKCS11_ERROR";

/** A backend failure. `message` names the PKCS#11 function and CKR code. */
export class HsmError extends Error {
  override readonly name = "HsmError";
  constructor(
    readonly code: HsmErrorCode,
    message: string,
    /** The PKCS#11 function that failed, e.g. "C_Sign". */
    readonly fn?: string,
    /** The CKR name, e.g. "CKR_PIN_INCORRECT". */
    readonly ckr?: string,
  ) {
    super(message);
  }
}
