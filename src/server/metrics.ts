// Prometheus metrics and a health check, off unless [metrics] addr is set.
// The relay's own registry (not prom-client's global one), served over plain
// HTTP on its own address: /metrics for Prometheus, /healthz answering from
// the module's real liveness (a C_GetInfo round trip through the backend).
import { createServer } from "node:http";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { formatBoundAddress, parseHostPort } from "../config/host-port.js";
import type { HsmBackend } from "../hsm/backend.js";
import { HsmError } from "../hsm/hsm-error.js";
import type { Logger } from "../log/logger.js";
import { enumerationName } from "../ttlv/names.js";
import { Tag } from "../ttlv/tags.js";

/** Latency buckets from 50 µs to 30 s: a SoftHSM ECDSA signature to an RSA-4096 key generation. */
const BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class RelayMetrics {
  readonly registry = new Registry();
  private readonly requests = new Counter({
    name: "kmip2pkcs11_requests_total",
    help: "KMIP batch items answered, by operation and result reason (\"success\" when it succeeded)",
    labelNames: ["operation", "result"] as const,
    registers: [this.registry],
  });
  private readonly requestSeconds = new Histogram({
    name: "kmip2pkcs11_request_duration_seconds",
    help: "Time to answer one KMIP batch item, by operation",
    labelNames: ["operation"] as const,
    buckets: BUCKETS,
    registers: [this.registry],
  });
  private readonly hsmSeconds = new Histogram({
    name: "kmip2pkcs11_hsm_call_duration_seconds",
    help: "Time of one HSM backend call (one or a few PKCS#11 functions), by call and outcome",
    labelNames: ["call", "outcome"] as const,
    buckets: BUCKETS,
    registers: [this.registry],
  });
  readonly connections = new Gauge({
    name: "kmip2pkcs11_connections_open",
    help: "Client connections open",
    registers: [this.registry],
  });
  private readonly sessionsInUse = new Gauge({
    name: "kmip2pkcs11_hsm_calls_in_progress",
    help: "HSM backend calls in progress, each holding a PKCS#11 session",
    registers: [this.registry],
  });
  private readonly moduleFailures = new Counter({
    name: "kmip2pkcs11_module_failed_calls_total",
    help: "HSM backend calls failed because the module process crashed or hung (one crash fails every call in flight)",
    registers: [this.registry],
  });
  private readonly moduleRestarts = new Counter({
    name: "kmip2pkcs11_module_restarts_total",
    help: "Times the PKCS#11 module process was restarted after it crashed or hung ([pkcs11] isolation = \"process\")",
    registers: [this.registry],
  });
  private readonly loginFailures = new Counter({
    name: "kmip2pkcs11_login_failures_total",
    help: "Requests refused for a wrong PIN, an unknown token or a login cool-down, by reason",
    labelNames: ["reason"] as const,
    registers: [this.registry],
  });

  /**
   * Counts one answered batch item. Labels come from the KMIP Operation and
   * Result Reason enumerations only: any other value a client sends is
   * "unknown", so that no client can make a time series per value it makes
   * up (each one costs memory and scrape time for as long as the relay runs).
   */
  observeItem(operation: number | undefined, resultReason: number | undefined, seconds: number): void {
    const op = operation === undefined ? "none" : (enumerationName(Tag.Operation, operation) ?? "unknown");
    const result = resultReason === undefined ? "success" : (enumerationName(Tag.ResultReason, resultReason) ?? "unknown");
    this.requests.inc({ operation: op, result });
    this.requestSeconds.observe({ operation: op }, seconds);
  }

  /** Counts one restart of the module process (IsolatedBackendOptions.onRestart). */
  countModuleRestart(): void {
    this.moduleRestarts.inc();
  }

  /**
   * The backend with every call timed and counted. A Proxy keeps this
   * independent of the interface's list of methods.
   */
  instrument(backend: HsmBackend): HsmBackend {
    const wrappers = new Map<string, (...args: unknown[]) => Promise<unknown>>();
    return new Proxy(backend, {
      get: (target, property, receiver) => {
        const value = Reflect.get(target, property, receiver) as unknown;
        if (typeof value !== "function" || typeof property !== "string") return value;
        const known = wrappers.get(property);
        if (known !== undefined) return known;
        const wrapper = async (...args: unknown[]) => {
          const started = process.hrtime.bigint();
          this.sessionsInUse.inc();
          let outcome = "ok";
          try {
            return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          } catch (error) {
            outcome = error instanceof HsmError ? error.code : "error";
            if (error instanceof HsmError) {
              if (error.code === "MODULE_FAILED") this.moduleFailures.inc();
              if (property === "authenticate" || property === "resolveSlot") this.loginFailures.inc({ reason: error.code });
            }
            throw error;
          } finally {
            this.sessionsInUse.dec();
            this.hsmSeconds.observe({ call: property, outcome }, Number(process.hrtime.bigint() - started) / 1e9);
          }
        };
        wrappers.set(property, wrapper);
        return wrapper;
      },
    });
  }
}

/** The running endpoint. */
export interface MetricsServer {
  /** Where it listens, "host:port" (the bound port when addr asked for port 0). */
  readonly address: string;
  /** Stops listening and ends open connections (Prometheus keeps its connection alive). */
  close(): Promise<void>;
}

/** Serves /metrics and /healthz on `addr` until closed. */
export async function serveMetrics(
  addr: string,
  // With workers, the supervisor's sums over its workers (src/server/workers/).
  metrics: { readonly registry: Pick<Registry, "metrics" | "contentType"> },
  backend: Pick<HsmBackend, "ping">,
  logger: Logger,
): Promise<MetricsServer> {
  const target = parseHostPort(addr);
  if (target === undefined) throw new Error(`metrics.addr: not host:port: ${addr}`);
  const server = createServer((request, response) => {
    const path = (request.url ?? "/").split("?")[0];
    if (request.method !== "GET") {
      response.writeHead(405, { allow: "GET" }).end();
    } else if (path === "/metrics") {
      metrics.registry.metrics().then(
        (body) => response.writeHead(200, { "content-type": metrics.registry.contentType }).end(body),
        (error: Error) => response.writeHead(500).end(error.message),
      );
    } else if (path === "/healthz") {
      // The module's liveness, bounded so that a hung module answers 503, not never.
      const timeout = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 5_000).unref());
      Promise.race([backend.ping().catch(() => false), timeout]).then((alive) =>
        response.writeHead(alive ? 200 : 503, { "content-type": "text/plain" }).end(alive ? "ok\n" : "the HSM module does not answer\n"),
      );
    } else {
      response.writeHead(404, { "content-type": "text/plain" }).end("not found: try /metrics or /healthz\n");
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(target.port, target.host, () => resolve());
  }).catch((error: NodeJS.ErrnoException) => {
    throw new Error(`cannot listen on metrics.addr ${addr}: ${error.code ?? error.message}`, { cause: error });
  });
  const address = formatBoundAddress(server.address(), addr);
  logger.info(`Metrics on http://${address}/metrics, health on http://${address}/healthz`);
  return {
    address,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
