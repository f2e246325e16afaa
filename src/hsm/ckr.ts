// PKCS#11 return values (CK_RV): names, and how a failure becomes an HsmError.
// Values from PKCS#11 v2.40 Base Specification, section 3.6 (pkcs11t.h).
import pkcs11js from "pkcs11js";
import { HsmError, type HsmErrorCode } from "./hsm-error.js";

const CKR_NAMES: ReadonlyMap<number, string> = new Map([
  [0x0, "CKR_OK"],
  [0x1, "CKR_CANCEL"],
  [0x2, "CKR_HOST_MEMORY"],
  [0x3, "CKR_SLOT_ID_INVALID"],
  [0x5, "CKR_GENERAL_ERROR"],
  [0x6, "CKR_FUNCTION_FAILED"],
  [0x7, "CKR_ARGUMENTS_BAD"],
  [0x8, "CKR_NO_EVENT"],
  [0x9, "CKR_NEED_TO_CREATE_THREADS"],
  [0xa, "CKR_CANT_LOCK"],
  [0x10, "CKR_ATTRIBUTE_READ_ONLY"],
  [0x11, "CKR_ATTRIBUTE_SENSITIVE"],
  [0x12, "CKR_ATTRIBUTE_TYPE_INVALID"],
  [0x13, "CKR_ATTRIBUTE_VALUE_INVALID"],
  [0x1b, "CKR_ACTION_PROHIBITED"],
  [0x20, "CKR_DATA_INVALID"],
  [0x21, "CKR_DATA_LEN_RANGE"],
  [0x30, "CKR_DEVICE_ERROR"],
  [0x31, "CKR_DEVICE_MEMORY"],
  [0x32, "CKR_DEVICE_REMOVED"],
  [0x40, "CKR_ENCRYPTED_DATA_INVALID"],
  [0x41, "CKR_ENCRYPTED_DATA_LEN_RANGE"],
  [0x50, "CKR_FUNCTION_CANCELED"],
  [0x51, "CKR_FUNCTION_NOT_PARALLEL"],
  [0x54, "CKR_FUNCTION_NOT_SUPPORTED"],
  [0x60, "CKR_KEY_HANDLE_INVALID"],
  [0x62, "CKR_KEY_SIZE_RANGE"],
  [0x63, "CKR_KEY_TYPE_INCONSISTENT"],
  [0x64, "CKR_KEY_NOT_NEEDED"],
  [0x65, "CKR_KEY_CHANGED"],
  [0x66, "CKR_KEY_NEEDED"],
  [0x67, "CKR_KEY_INDIGESTIBLE"],
  [0x68, "CKR_KEY_FUNCTION_NOT_PERMITTED"],
  [0x69, "CKR_KEY_NOT_WRAPPABLE"],
  [0x6a, "CKR_KEY_UNEXTRACTABLE"],
  [0x70, "CKR_MECHANISM_INVALID"],
  [0x71, "CKR_MECHANISM_PARAM_INVALID"],
  [0x82, "CKR_OBJECT_HANDLE_INVALID"],
  [0x90, "CKR_OPERATION_ACTIVE"],
  [0x91, "CKR_OPERATION_NOT_INITIALIZED"],
  [0xa0, "CKR_PIN_INCORRECT"],
  [0xa1, "CKR_PIN_INVALID"],
  [0xa2, "CKR_PIN_LEN_RANGE"],
  [0xa3, "CKR_PIN_EXPIRED"],
  [0xa4, "CKR_PIN_LOCKED"],
  [0xb0, "CKR_SESSION_CLOSED"],
  [0xb1, "CKR_SESSION_COUNT"],
  [0xb3, "CKR_SESSION_HANDLE_INVALID"],
  [0xb4, "CKR_SESSION_PARALLEL_NOT_SUPPORTED"],
  [0xb5, "CKR_SESSION_READ_ONLY"],
  [0xb6, "CKR_SESSION_EXISTS"],
  [0xb7, "CKR_SESSION_READ_ONLY_EXISTS"],
  [0xb8, "CKR_SESSION_READ_WRITE_SO_EXISTS"],
  [0xc0, "CKR_SIGNATURE_INVALID"],
  [0xc1, "CKR_SIGNATURE_LEN_RANGE"],
  [0xd0, "CKR_TEMPLATE_INCOMPLETE"],
  [0xd1, "CKR_TEMPLATE_INCONSISTENT"],
  [0xe0, "CKR_TOKEN_NOT_PRESENT"],
  [0xe1, "CKR_TOKEN_NOT_RECOGNIZED"],
  [0xe2, "CKR_TOKEN_WRITE_PROTECTED"],
  [0xf0, "CKR_UNWRAPPING_KEY_HANDLE_INVALID"],
  [0xf1, "CKR_UNWRAPPING_KEY_SIZE_RANGE"],
  [0xf2, "CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT"],
  [0x100, "CKR_USER_ALREADY_LOGGED_IN"],
  [0x101, "CKR_USER_NOT_LOGGED_IN"],
  [0x102, "CKR_USER_PIN_NOT_INITIALIZED"],
  [0x103, "CKR_USER_TYPE_INVALID"],
  [0x104, "CKR_USER_ANOTHER_ALREADY_LOGGED_IN"],
  [0x105, "CKR_USER_TOO_MANY_TYPES"],
  [0x110, "CKR_WRAPPED_KEY_INVALID"],
  [0x112, "CKR_WRAPPED_KEY_LEN_RANGE"],
  [0x113, "CKR_WRAPPING_KEY_HANDLE_INVALID"],
  [0x114, "CKR_WRAPPING_KEY_SIZE_RANGE"],
  [0x115, "CKR_WRAPPING_KEY_TYPE_INCONSISTENT"],
  [0x120, "CKR_RANDOM_SEED_NOT_SUPPORTED"],
  [0x121, "CKR_RANDOM_NO_RNG"],
  [0x130, "CKR_DOMAIN_PARAMS_INVALID"],
  [0x140, "CKR_CURVE_NOT_SUPPORTED"],
  [0x150, "CKR_BUFFER_TOO_SMALL"],
  [0x160, "CKR_SAVED_STATE_INVALID"],
  [0x170, "CKR_INFORMATION_SENSITIVE"],
  [0x180, "CKR_STATE_UNSAVEABLE"],
  [0x190, "CKR_CRYPTOKI_NOT_INITIALIZED"],
  [0x191, "CKR_CRYPTOKI_ALREADY_INITIALIZED"],
  [0x1a0, "CKR_MUTEX_BAD"],
  [0x1a1, "CKR_MUTEX_NOT_LOCKED"],
  [0x1b0, "CKR_NEW_PIN_MODE"],
  [0x1b1, "CKR_NEXT_OTP"],
  [0x1b5, "CKR_EXCEEDED_MAX_ITERATIONS"],
  [0x1b6, "CKR_FIPS_SELF_TEST_FAILED"],
  [0x1b7, "CKR_LIBRARY_LOAD_FAILED"],
  [0x1b8, "CKR_PIN_TOO_WEAK"],
  [0x1b9, "CKR_PUBLIC_KEY_INVALID"],
  [0x200, "CKR_FUNCTION_REJECTED"],
]);

/** CKR_VENDOR_DEFINED: values from here on belong to the module's vendor. */
const CKR_VENDOR_DEFINED = 0x80000000;

/** The CKR_* name of a return value; vendor and unknown values in hex. */
export function ckrName(rv: number): string {
  const name = CKR_NAMES.get(rv);
  if (name !== undefined) return name;
  const hex = `0x${rv.toString(16).toUpperCase().padStart(8, "0")}`;
  return rv >= CKR_VENDOR_DEFINED ? `CKR_VENDOR_DEFINED+${hex}` : `CKR_${hex}`;
}

/** Every name in the table with its value, for checks against other tables. */
export function ckrTable(): ReadonlyMap<number, string> {
  return CKR_NAMES;
}

// Which HsmErrorCode a return value means. Unlisted values are PKCS11_ERROR.
// CKR_KEY_TYPE_INCONSISTENT is INVALID_ARGUMENT, not PERMISSION_DENIED: it
// says the request paired a key with a mechanism of another algorithm (an RSA
// key with CKM_ECDSA), which the client can fix by asking differently; the key
// itself is not forbidden anything.
const CODE_OF_CKR: ReadonlyMap<string, HsmErrorCode> = new Map<string, HsmErrorCode>([
  ["CKR_PIN_INCORRECT", "AUTH_FAILED"],
  ["CKR_PIN_INVALID", "AUTH_FAILED"],
  ["CKR_PIN_LEN_RANGE", "AUTH_FAILED"],
  ["CKR_PIN_EXPIRED", "AUTH_FAILED"],
  ["CKR_USER_NOT_LOGGED_IN", "AUTH_FAILED"],
  ["CKR_USER_PIN_NOT_INITIALIZED", "AUTH_FAILED"],
  ["CKR_PIN_LOCKED", "PIN_LOCKED"],
  ["CKR_OBJECT_HANDLE_INVALID", "ITEM_NOT_FOUND"],
  ["CKR_KEY_HANDLE_INVALID", "ITEM_NOT_FOUND"],
  ["CKR_KEY_FUNCTION_NOT_PERMITTED", "PERMISSION_DENIED"],
  ["CKR_ATTRIBUTE_READ_ONLY", "PERMISSION_DENIED"],
  ["CKR_ACTION_PROHIBITED", "PERMISSION_DENIED"],
  ["CKR_TOKEN_WRITE_PROTECTED", "PERMISSION_DENIED"],
  ["CKR_KEY_SIZE_RANGE", "UNSUPPORTED"],
  ["CKR_MECHANISM_INVALID", "UNSUPPORTED"],
  ["CKR_DOMAIN_PARAMS_INVALID", "UNSUPPORTED"],
  ["CKR_CURVE_NOT_SUPPORTED", "UNSUPPORTED"],
  ["CKR_FUNCTION_NOT_SUPPORTED", "UNSUPPORTED"],
  ["CKR_KEY_TYPE_INCONSISTENT", "INVALID_ARGUMENT"],
  ["CKR_MECHANISM_PARAM_INVALID", "INVALID_ARGUMENT"],
  ["CKR_DATA_LEN_RANGE", "INVALID_ARGUMENT"],
  ["CKR_DATA_INVALID", "INVALID_ARGUMENT"],
  ["CKR_ARGUMENTS_BAD", "INVALID_ARGUMENT"],
  ["CKR_ATTRIBUTE_TYPE_INVALID", "INVALID_ARGUMENT"],
  ["CKR_ATTRIBUTE_VALUE_INVALID", "INVALID_ARGUMENT"],
]);

// pkcs11js wraps most functions so that they throw a Pkcs11Error carrying the
// CK_RV, but not the three it overrides in JavaScript (C_SetAttributeValue,
// C_CreateObject, C_CopyObject): those throw a plain Error "CKR_NAME:value".
const CKR_MESSAGE = /^CKR_\w+:(\d+)$/;

/** The return value carried by a pkcs11js error, or undefined for other errors. */
export function ckrOf(err: unknown): number | undefined {
  if (err instanceof pkcs11js.Pkcs11Error) return err.code;
  const match = err instanceof Error && !(err instanceof TypeError) ? CKR_MESSAGE.exec(err.message) : null;
  return match === null ? undefined : Number(match[1]);
}

/**
 * The HsmError for a failed PKCS#11 call: "C_Sign: CKR_KEY_HANDLE_INVALID".
 * `detail` is appended in parentheses; it must never contain a secret.
 */
export function hsmErrorOf(fn: string, err: unknown, detail?: string): HsmError {
  if (err instanceof HsmError) return err;
  const suffix = detail === undefined ? "" : ` (${detail})`;
  const rv = ckrOf(err);
  if (rv === undefined) {
    // A pkcs11js argument check (TypeError) or a native failure without a CK_RV.
    const reason = err instanceof Error ? err.message : String(err);
    return new HsmError("PKCS11_ERROR", `${fn}: ${reason}${suffix}`, fn);
  }
  const name = ckrName(rv);
  return new HsmError(CODE_OF_CKR.get(name) ?? "PKCS11_ERROR", `${fn}: ${name}${suffix}`, fn, name);
}

/** Runs one synchronous PKCS#11 call, turning its failure into an HsmError. */
export function p11<T>(fn: string, call: () => T, detail?: string): T {
  try {
    return call();
  } catch (err) {
    throw hsmErrorOf(fn, err, detail);
  }
}

/** Awaits one asynchronous PKCS#11 call, turning its failure into an HsmError. */
export async function p11Async<T>(fn: string, call: () => Promise<T>, detail?: string): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw hsmErrorOf(fn, err, detail);
  }
}
