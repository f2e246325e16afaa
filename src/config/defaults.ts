// The default of every optional key of the config file, in one place.
import type { QuirkAttributeName } from "../hsm/quirks.js";
import type { LogLevel, LogTarget } from "../log/logger.js";
import type { Isolation } from "./pkcs11.js";
import type { Workers } from "./server.js";

/**
 * The default of every optional key, in config-file units (seconds, bytes).
 * The sample config, the docs and the tests read them from here.
 */
export const DEFAULTS = {
  pkcs11: {
    isolation: "process" as Isolation,
    callTimeout: 60,
    writeTimeout: 600,
    maxQueuedCalls: 1024,
    maxQueuedWrites: 64,
    startTimeout: 30,
    maxSessions: 16,
    loginFailureLimit: 5,
    loginFailureWindow: 60,
    loginCooldown: 300,
    loginFailureBudget: 20,
    pinRecheck: 300,
    quirks: { omitAttributes: [] as readonly QuirkAttributeName[], skipAttributes: [] as readonly QuirkAttributeName[] },
  },
  server: {
    addr: "127.0.0.1:5696",
    maxMessageSize: 65536,
    stateDir: "/var/lib/kmip2pkcs11",
    handshakeTimeout: 10,
    firstRequestTimeout: 10,
    idleTimeout: 300,
    maxConnections: 1024,
    maxConnectionsPerPeer: 256,
    maxHandshakesPerPeer: 64,
    maxResponseSize: 1048576,
    maxRequestsInFlight: 32,
    maxBatchCount: 1024,
    shutdownTimeout: 10,
    workers: "auto" as Workers,
  },
  lifecycle: {
    strictDestroy: false,
  },
  daemon: {
    logLevel: "info" as LogLevel,
    logTarget: { type: "stderr" } as LogTarget,
    daemonize: false,
  },
} as const;
