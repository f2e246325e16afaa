// Loading and initialising the PKCS#11 module (doc/compatibility.md#start-up).
// Failures here are start-up errors: plain Errors whose message names the
// module path and says what to check, for the CLI to print and exit.
import pkcs11js from "pkcs11js";
import type { Logger } from "../log/logger.js";
import type { ModuleInfo } from "./backend.js";
import { ckrName, ckrOf } from "./ckr.js";
import { CKM_EC_KEY_PAIR_GEN, CKM_ECDSA } from "./mechanisms.js";

export interface LoadedModule {
  readonly pkcs11: pkcs11js.PKCS11;
  readonly info: ModuleInfo;
  /**
   * False when C_Initialize answered CKR_CRYPTOKI_ALREADY_INITIALIZED: some
   * other code in this process initialised the module and owns C_Finalize.
   */
  readonly ownsInitialize: boolean;
}

/** CK_INVALID_HANDLE (PKCS#11 v2.40 section 3.4): never a valid session or object. */
const INVALID_HANDLE = Buffer.alloc(8);

type Probe = (p: pkcs11js.PKCS11) => unknown;

// PKCS#11 v2.40 section 5 requires every function to have an entry point, a
// stub answering CKR_FUNCTION_NOT_SUPPORTED when unimplemented. So calling a
// function on CK_INVALID_HANDLE tells "implemented" (CKR_SESSION_HANDLE_INVALID
// or similar) from "stub" without touching a token. (A module that leaves a
// NULL pointer in its function list instead breaks the spec in a way pkcs11js
// cannot detect: that call would crash the process.)
const NO_DATA = Buffer.alloc(0);
const REQUIRED_PROBES: ReadonlyArray<readonly [string, Probe]> = [
  // Those the original relay used: a module without them cannot serve Cascade.
  ["C_CloseSession", (p) => p.C_CloseSession(INVALID_HANDLE)],
  ["C_Login", (p) => p.C_Login(INVALID_HANDLE, pkcs11js.CKU_USER)],
  ["C_FindObjectsInit", (p) => p.C_FindObjectsInit(INVALID_HANDLE, [])],
  ["C_FindObjects", (p) => p.C_FindObjects(INVALID_HANDLE, 1)],
  ["C_FindObjectsFinal", (p) => p.C_FindObjectsFinal(INVALID_HANDLE)],
  ["C_GetAttributeValue", (p) => p.C_GetAttributeValue(INVALID_HANDLE, INVALID_HANDLE, [{ type: pkcs11js.CKA_CLASS }])],
  ["C_SetAttributeValue", (p) => p.C_SetAttributeValue(INVALID_HANDLE, INVALID_HANDLE, [{ type: pkcs11js.CKA_LABEL, value: NO_DATA }])],
  ["C_GenerateKeyPair", (p) => p.C_GenerateKeyPair(INVALID_HANDLE, { mechanism: CKM_EC_KEY_PAIR_GEN }, [], [])],
  ["C_SignInit", (p) => p.C_SignInit(INVALID_HANDLE, { mechanism: CKM_ECDSA }, INVALID_HANDLE)],
  ["C_Sign", (p) => p.C_Sign(INVALID_HANDLE, NO_DATA, Buffer.alloc(1))],
];
const OPTIONAL_PROBES: ReadonlyArray<readonly [string, Probe]> = [
  // Additions of this relay (Destroy, Signature Verify, RNG Retrieve): without
  // them the relay still serves everything the original did.
  ["C_DestroyObject", (p) => p.C_DestroyObject(INVALID_HANDLE, INVALID_HANDLE)],
  ["C_VerifyInit", (p) => p.C_VerifyInit(INVALID_HANDLE, { mechanism: CKM_ECDSA }, INVALID_HANDLE)],
  ["C_Verify", (p) => p.C_Verify(INVALID_HANDLE, NO_DATA, NO_DATA)],
  ["C_GenerateRandom", (p) => p.C_GenerateRandom(INVALID_HANDLE, Buffer.alloc(1))],
  ["C_Logout", (p) => p.C_Logout(INVALID_HANDLE)],
];
const CKR_FUNCTION_NOT_SUPPORTED = 0x54;
const CKR_ARGUMENTS_BAD = 0x7;
const CKR_CRYPTOKI_ALREADY_INITIALIZED = 0x191;

/**
 * pkcs11js 2.1.7 copies libraryParameters into a buffer of strlen bytes, so
 * the terminating NUL takes the place of the last character (src/pkcs11.cpp,
 * C_Initialize). One ASCII character appended is what gets cut, and the
 * module receives the configured string exactly (test/hsm/quirks.e2e.test.ts
 * checks this byte for byte).
 */
const LIBRARY_PARAMETERS_SENTINEL = " ";

/** Whether the module has a real implementation behind the function. */
function implemented(p: pkcs11js.PKCS11, probe: Probe): boolean {
  try {
    probe(p);
  } catch (err) {
    return ckrOf(err) !== CKR_FUNCTION_NOT_SUPPORTED;
  }
  return true;
}

/** "Foo   " -> "Foo": PKCS#11 pads fixed-size strings with blanks. */
export function trimPadding(s: string): string {
  return s.replace(/[ \0]+$/, "");
}

function versionString(v: pkcs11js.Version): string {
  return `${v.major}.${v.minor}`;
}

function failure(path: string, what: string, err: unknown): Error {
  const rv = ckrOf(err);
  const reason = rv !== undefined ? ckrName(rv) : err instanceof Error ? err.message : String(err);
  return new Error(`PKCS#11 module ${path}: ${what}: ${reason}`, { cause: err });
}

/**
 * dlopen()s the module, calls C_Initialize with CKF_OS_LOCKING_OK (the relay
 * calls the module from libuv's thread pool), checks it has the functions
 * the relay needs and logs its identity.
 *
 * `initArgs`, when given, travels in CK_C_INITIALIZE_ARGS.pReserved (PKCS#11
 * v2.40 section 5.4: "reserved for future use", which NSS's softokn and some
 * vendor modules read their settings from; pkcs11js calls it
 * libraryParameters and passes it as a NUL-terminated string).
 */
export function loadModule(path: string, logger: Logger, initArgs?: string): LoadedModule {
  logger.info({ path }, "Loading PKCS#11 module %s", path);
  const pkcs11 = new pkcs11js.PKCS11();
  try {
    pkcs11.load(path);
  } catch (err) {
    throw failure(path, "cannot load the library (check the path, its permissions and that it is a PKCS#11 module for this architecture)", err);
  }

  let ownsInitialize = true;
  try {
    pkcs11.C_Initialize(
      initArgs === undefined
        ? { flags: pkcs11js.CKF_OS_LOCKING_OK }
        : { flags: pkcs11js.CKF_OS_LOCKING_OK, libraryParameters: initArgs + LIBRARY_PARAMETERS_SENTINEL },
    );
  } catch (err) {
    const rv = ckrOf(err);
    if (rv === CKR_CRYPTOKI_ALREADY_INITIALIZED) {
      ownsInitialize = false;
      logger.warn({ path }, "PKCS#11 module %s was already initialised in this process; sharing it", path);
    } else {
      pkcs11.close();
      const hint =
        rv === CKR_ARGUMENTS_BAD
          ? `C_Initialize failed; the module may need vendor environment variables (e.g. the path of its config file), a vendor config file it cannot read, or ${initArgs === undefined ? "initialisation arguments ([pkcs11] init-args)" : "other [pkcs11] init-args"}`
          : "C_Initialize failed";
      throw failure(path, hint, err);
    }
  }

  const shutDown = (): void => {
    if (ownsInitialize) pkcs11.C_Finalize();
    pkcs11.close();
  };
  let raw: pkcs11js.ModuleInfo;
  try {
    raw = pkcs11.C_GetInfo();
  } catch (err) {
    shutDown();
    throw failure(path, "C_GetInfo failed", err);
  }
  const missing = REQUIRED_PROBES.filter(([, probe]) => !implemented(pkcs11, probe)).map(([name]) => name);
  if (missing.length > 0) {
    shutDown();
    throw new Error(`PKCS#11 module ${path} lacks functions the relay needs: ${missing.join(", ")} (CKR_FUNCTION_NOT_SUPPORTED)`);
  }
  const unsupported = OPTIONAL_PROBES.filter(([, probe]) => !implemented(pkcs11, probe)).map(([name]) => name);
  const info: ModuleInfo = {
    path,
    manufacturer: trimPadding(raw.manufacturerID),
    libraryDescription: trimPadding(raw.libraryDescription),
    libraryVersion: versionString(raw.libraryVersion),
    cryptokiVersion: versionString(raw.cryptokiVersion),
  };
  logger.info(
    { module: info },
    "PKCS#11 module: manufacturer %s, library version %s, Cryptoki version %s, description %s",
    info.manufacturer,
    info.libraryVersion,
    info.cryptokiVersion,
    info.libraryDescription,
  );
  if (unsupported.length > 0) {
    // Their calls fail with CKR_FUNCTION_NOT_SUPPORTED -> UNSUPPORTED at run time.
    const names = unsupported.join(", ");
    logger.warn({ path, unsupported }, "PKCS#11 module does not support %s; the operations needing them will fail", names);
  }
  return { pkcs11, info, ownsInitialize };
}
