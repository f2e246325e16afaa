// [server]: the KMIP listener (address, TLS identity, client CA), its
// timeouts and limits, and the number of worker processes.
import { availableParallelism } from "node:os";
import { DEFAULTS } from "./defaults.js";
import type { TableReader } from "./table-reader.js";

/** Worker processes: a count, or "auto" for one per core but one, at least one (src/server/workers/). */
export type Workers = number | "auto";
/** More would only add processes: each worker holds a module session pool of its own. */
export const MAX_WORKERS = 256;

export interface TlsIdentityPaths {
  readonly certPath: string;
  readonly keyPath: string;
}

export interface ServerConfig {
  /** "host:port"; IPv6 hosts in brackets. Split it with parseHostPort(). */
  readonly addr: string;
  /** Absent: a self-signed certificate for localhost is used. */
  readonly identity?: TlsIdentityPaths;
  /** Bytes, TTLV header included. */
  readonly maxMessageSize: number;
  readonly stateDir: string;
  /** When set, clients must present a certificate chaining to these CAs. */
  readonly clientCaPath?: string;
  /** Seconds. */
  readonly handshakeTimeout: number;
  /** Seconds from the handshake to the first whole request. */
  readonly firstRequestTimeout: number;
  /** Seconds. */
  readonly idleTimeout: number;
  readonly maxConnections: number;
  /** Per peer address (an IPv6 /64) and per client certificate. */
  readonly maxConnectionsPerPeer: number;
  /** Connections of one peer address in the TLS handshake at once. */
  readonly maxHandshakesPerPeer: number;
  /** Bytes of one response message, at most. */
  readonly maxResponseSize: number;
  /** Per connection. */
  readonly maxRequestsInFlight: number;
  readonly maxBatchCount: number;
  /** Seconds to let requests in progress finish on shutdown. */
  readonly shutdownTimeout: number;
  /** Worker processes serving clients; 1 serves them in the relay's own process. */
  readonly workers: Workers;
}

export function readServer(t: TableReader): ServerConfig {
  const d = DEFAULTS.server;
  const config: ServerConfig = {
    addr: t.hostPort("addr") ?? d.addr,
    identity: readIdentity(t.table("identity")),
    maxMessageSize: t.integer("max-message-size", 16, 1 << 30) ?? d.maxMessageSize,
    stateDir: t.path("state-dir") ?? d.stateDir,
    clientCaPath: t.path("client-ca-path"),
    handshakeTimeout: t.seconds("handshake-timeout") ?? d.handshakeTimeout,
    firstRequestTimeout: t.seconds("first-request-timeout") ?? d.firstRequestTimeout,
    idleTimeout: t.seconds("idle-timeout") ?? d.idleTimeout,
    maxConnections: t.integer("max-connections", 1, 1_000_000) ?? d.maxConnections,
    maxConnectionsPerPeer: t.integer("max-connections-per-peer", 1, 1_000_000) ?? d.maxConnectionsPerPeer,
    maxHandshakesPerPeer: t.integer("max-handshakes-per-peer", 1, 1_000_000) ?? d.maxHandshakesPerPeer,
    maxResponseSize: t.integer("max-response-size", 1024, 1 << 30) ?? d.maxResponseSize,
    maxRequestsInFlight: t.integer("max-requests-in-flight", 1, 65536) ?? d.maxRequestsInFlight,
    maxBatchCount: t.integer("max-batch-count", 1, 1_000_000) ?? d.maxBatchCount,
    shutdownTimeout: t.seconds("shutdown-timeout") ?? d.shutdownTimeout,
    workers: readWorkers(t) ?? d.workers,
  };
  t.finish();
  return config;
}

/**
 * The number of worker processes `workers` asks for. "auto" is one per core
 * but one, at least one: a core is left to the module's work (its process,
 * its threads, or its network client), the kernel's TLS and TCP work and
 * the supervisor, and on two cores that is one worker, which measured best
 * there (bench/README.md, "Worker processes").
 */
export function resolveWorkers(workers: Workers, cores = availableParallelism()): number {
  return workers === "auto" ? Math.max(1, Math.min(cores - 1, MAX_WORKERS)) : workers;
}

function readWorkers(t: TableReader): Workers | undefined {
  if (t.raw("workers") === "auto") return "auto";
  if (typeof t.raw("workers") === "string") t.fail("workers", `must be "auto" or an integer between 1 and ${MAX_WORKERS}`);
  return t.integer("workers", 1, MAX_WORKERS);
}

function readIdentity(t: TableReader): TlsIdentityPaths | undefined {
  const certPath = t.path("cert-path");
  const keyPath = t.path("key-path");
  t.finish();
  if (certPath === undefined && keyPath === undefined) return undefined;
  if (certPath === undefined) t.fail("cert-path", "missing: key-path and cert-path go together");
  if (keyPath === undefined) t.fail("key-path", "missing: cert-path and key-path go together");
  return { certPath, keyPath };
}
