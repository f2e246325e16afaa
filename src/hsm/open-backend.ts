// From the config to an HSM backend: the module in this process or in a
// supervised child process ([pkcs11] isolation). Used by the relay and by the
// operator tools (check, keys), which need no server to talk to the module.
import type { Config } from "../config/config.js";
import type { Logger } from "../log/logger.js";
import type { HsmBackend } from "./backend.js";
import { openIsolatedBackend } from "./isolated/isolated-backend.js";
import { openPkcs11Backend } from "./pkcs11-backend.js";

/**
 * `onModuleRestart`: called when the isolated module process serves again after a failure.
 * `throttledAbove`: the relay counts failed logins per client (src/server/login-throttle.ts), so the backend does not.
 */
export async function openBackend(config: Config, logger: Logger, onModuleRestart?: () => void, throttledAbove = false): Promise<HsmBackend> {
  const p = config.pkcs11;
  const options = {
    libPath: p.libPath,
    maxSessionsPerSlot: p.maxSessions,
    loginThrottle: throttledAbove ? null : { limit: p.loginFailureLimit, windowMs: p.loginFailureWindow * 1000, cooldownMs: p.loginCooldown * 1000 },
    initArgs: p.initArgs, tokens: config.tokens, quirks: p.quirks,
  };
  if (p.isolation === "in-process") {
    for (const [name, value] of Object.entries(p.env)) process.env[name] = value;
    return openPkcs11Backend(options, logger);
  }
  return openIsolatedBackend({ ...options, callTimeoutMs: p.callTimeout * 1000, writeTimeoutMs: p.writeTimeout * 1000, maxQueuedCalls: p.maxQueuedCalls, maxQueuedWrites: p.maxQueuedWrites, pinRecheckMs: p.pinRecheck * 1000, startTimeoutMs: p.startTimeout * 1000, env: { ...p.env }, onRestart: onModuleRestart }, logger);
}
