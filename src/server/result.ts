// Turning whatever a batch item threw into its Result Status, Result Reason
// and Result Message. Every failure path of an operation ends here, so a
// failing item never takes the connection or the process down.
import { HsmError, type HsmErrorCode } from "../hsm/hsm-error.js";
import { KmipError } from "../kmip/errors.js";
import { ResultReason } from "../ttlv/enums.js";

export interface ItemFailure {
  readonly resultReason: number;
  readonly resultMessage: string;
  /** True for failures of the relay or the module rather than of the request. */
  readonly internal: boolean;
}

const hsmReasons: Record<HsmErrorCode, number> = {
  SLOT_NOT_FOUND: ResultReason.AuthenticationNotSuccessful,
  TOKEN_NOT_INITIALISED: ResultReason.AuthenticationNotSuccessful,
  AUTH_FAILED: ResultReason.AuthenticationNotSuccessful,
  LOGIN_COOLDOWN: ResultReason.AuthenticationNotSuccessful,
  PIN_LOCKED: ResultReason.AuthenticationNotSuccessful,
  ITEM_NOT_FOUND: ResultReason.ItemNotFound,
  PERMISSION_DENIED: ResultReason.PermissionDenied,
  UNSUPPORTED: ResultReason.CryptographicFailure,
  INVALID_ARGUMENT: ResultReason.InvalidField,
  CRYPTO_FAILED: ResultReason.CryptographicFailure,
  // KMIP 1.4 section 11 has no "busy" reason: the message says it.
  BUSY: ResultReason.GeneralFailure,
  MODULE_FAILED: ResultReason.GeneralFailure,
  PKCS11_ERROR: ResultReason.GeneralFailure,
};

export function describeFailure(error: unknown): ItemFailure {
  if (error instanceof KmipError) {
    return { resultReason: error.reason, resultMessage: error.message, internal: false };
  }
  if (error instanceof HsmError) {
    const internal = error.code === "MODULE_FAILED" || error.code === "PKCS11_ERROR";
    return { resultReason: hsmReasons[error.code], resultMessage: error.message, internal };
  }
  // A bug of ours: say so without leaking internals, and let the caller log it.
  const detail = error instanceof Error ? error.message : String(error);
  return { resultReason: ResultReason.GeneralFailure, resultMessage: `internal error: ${detail}`, internal: true };
}
