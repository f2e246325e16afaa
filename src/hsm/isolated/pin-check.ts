// Whether a PIN is the token's PIN now, asked of a PKCS#11 application of its
// own: a short-lived module process that loads the module, calls C_Login and
// exits.
//
// Why another process. PKCS#11 login belongs to the application (v2.40
// section 5.6, C_Login): once the serving module process is logged in, its
// C_Login answers CKR_USER_ALREADY_LOGGED_IN whatever the PIN, so it cannot
// tell whether a PIN changed on the token (pkcs11-tool --change-pin) is
// right; logging it out to find out would fail every call in flight, and a
// wrong PIN would leave it logged out. A separate process has its own login
// and leaves the serving one alone.
import { performance } from "node:perf_hooks";
import type { Logger } from "../../log/logger.js";
import { HsmError } from "../hsm-error.js";
import type { Pkcs11BackendOptions } from "../pkcs11-backend.js";
import { ModuleProcess } from "./module-process.js";
import { deserializeError, type CallResponse } from "./protocol.js";

/**
 * Resolves true when the token of `slotId` accepts `pin` (C_Login succeeds in
 * a new process), false when it refuses the PIN (AUTH_FAILED, PIN_LOCKED);
 * rejects when the check itself fails (the module, a timeout).
 */
export async function checkPin(
  options: Pkcs11BackendOptions,
  env: Record<string, string> | undefined,
  logger: Logger,
  timeoutMs: number,
  slotId: string,
  pin: Uint8Array,
): Promise<boolean> {
  const started = performance.now();
  let answer!: (response: CallResponse) => void;
  const answered = new Promise<CallResponse>((resolve) => (answer = resolve));
  const child = new ModuleProcess(env, logger, answer, () => answer([1, false, { code: "MODULE_FAILED", message: "the PIN check process ended" }]));
  const timer = setTimeout(() => child.kill(), timeoutMs);
  try {
    // No throttle in the checker: the relay admitted this check (src/server/login-throttle.ts).
    child.send({ kind: "open", options: { ...options, loginThrottle: null }, logLevel: "warn" });
    await child.opened;
    child.call([1, "authenticate", [slotId, pin]]);
    const response = await answered;
    if (response[1]) return true;
    const error = deserializeError(response[2]);
    if (error instanceof HsmError && (error.code === "AUTH_FAILED" || error.code === "PIN_LOCKED")) return false;
    throw error;
  } finally {
    clearTimeout(timer);
    await child.stop(timeoutMs);
    logger.debug({ slotId, ms: Math.round(performance.now() - started) }, "PIN checked in a process of its own");
  }
}
