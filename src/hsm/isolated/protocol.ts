// The messages between the relay and the child process that runs the PKCS#11
// module. They travel over the child_process IPC channel with
// `serialization: "advanced"` (the structured clone algorithm), so Buffers and
// Uint8Arrays cross intact and nothing is converted to JSON. A call is a bare
// array to keep the per-call cost down, and calls (answers) travel in arrays
// of them, one message per turn of the event loop (batcher.ts); everything
// else is a tagged object.
import type { HsmBackend, ModuleInfo } from "../backend.js";
import { HsmError, type HsmErrorCode } from "../hsm-error.js";
import type { Pkcs11BackendOptions } from "../pkcs11-backend.js";

/**
 * The backend methods the child serves; `module`, `close` and
 * `followCredentials` are handled apart. `adoptPin` is the in-process
 * backend's own, for a PIN changed on the token (pin-check.ts).
 */
export type BackendMethod = Exclude<keyof HsmBackend, "module" | "close" | "followCredentials"> | "adoptPin";

/**
 * Calls that may write to the token: object files (C_GenerateKeyPair,
 * C_CreateObject, C_SetAttributeValue, C_DestroyObject) or the token's own file (C_Login
 * updates SoftHSM's token file, right PIN or wrong).
 */
export const WRITES: ReadonlySet<BackendMethod> = new Set(["authenticate", "adoptPin", "generateKeyPair", "generateSecretKey", "importKey", "updateKey", "destroyKey", "writeMetadata", "destroyMetadata"]);

/** Relay -> child: call `method` with `args`; the answer carries the same id. */
export type CallRequest = [id: number, method: BackendMethod, args: unknown[]];

/** Child -> relay: the result of a call, or the error it threw. */
export type CallResponse = [id: number, ok: true, value: unknown] | [id: number, ok: false, error: SerializedError];

/** An HsmError (or any other error) as plain data. */
export interface SerializedError {
  /** Absent when the child threw something other than an HsmError. */
  readonly code?: HsmErrorCode;
  readonly message: string;
  readonly fn?: string;
  readonly ckr?: string;
}

export type ParentMessage =
  | CallRequest[]
  /** The first message: open the in-process backend and log at this level. */
  | { readonly kind: "open"; readonly options: Pkcs11BackendOptions; readonly logLevel: string }
  /** Finish the calls in flight, close the backend (C_Finalize) and exit. */
  | { readonly kind: "close" }
  /**
   * The relay switched user and group ([daemon] identity): switch to the same
   * supplementary groups, group and user.
   */
  | { readonly kind: "set-credentials"; readonly uid: number; readonly gid: number; readonly groups: number[] };

export type ChildMessage =
  | CallResponse[]
  | { readonly kind: "ready"; readonly module: ModuleInfo }
  | { readonly kind: "open-failed"; readonly error: SerializedError }
  /** The child starts the write (WRITES) of this call id now (supervisor.ts, "When a module counts as hung"). */
  | { readonly kind: "started"; readonly id: number }
  /** One line of the child's pino output (JSON), to be logged by the relay. */
  | { readonly kind: "log"; readonly line: string }
  /** The module is closed (C_Finalize); the process exits now. */
  | { readonly kind: "closed" };

export function serializeError(error: unknown): SerializedError {
  if (error instanceof HsmError) {
    return { code: error.code, message: error.message, fn: error.fn, ckr: error.ckr };
  }
  return { message: error instanceof Error ? error.message : String(error) };
}

export function deserializeError(error: SerializedError): Error {
  return error.code === undefined ? new Error(error.message) : new HsmError(error.code, error.message, error.fn, error.ckr);
}
