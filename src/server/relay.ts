// The relay: the HSM backend, the TLS listener and the connections, wired
// from the config. startRelay resolves once the relay is listening. The parts
// have files of their own: server set-up (tls-server.ts), connection tracking
// (connection-tracker.ts), shutdown (shutdown.ts).
import { readFile } from "node:fs/promises";
import type { Server, Socket } from "node:net";
import { relayVersion } from "../version.js";
import type { Config } from "../config/config.js";
import { formatBoundAddress, parseHostPort } from "../config/host-port.js";
import { openBackend } from "../hsm/open-backend.js";
import type { Logger } from "../log/logger.js";
import { createOperations } from "../operations/index.js";
import type { ServerInfo } from "../operations/operation.js";
import { ClientDirectory, PinSourceError } from "./client-identity.js";
import { ClientWork, type WorkShare } from "./client-work.js";
import { Connection } from "./connection.js";
import { ClientLoginThrottle } from "./login-throttle.js";
import { Dispatcher } from "./dispatch.js";
import { listenBacklog } from "./listen-fds.js";
import { RelayMetrics, serveMetrics, type MetricsServer } from "./metrics.js";
import { PeerLimits } from "./peer-limits.js";
import { loadTlsIdentity, type TlsIdentity } from "./tls-identity.js";
import { ConnectionTracker } from "./connection-tracker.js";
import { shutdown } from "./shutdown.js";
import { createTlsServer } from "./tls-server.js";

export interface StartOptions {
  /** A listening socket inherited from systemd (fd 3), used instead of server.addr. */
  readonly listenFd?: number;
  /**
   * A worker process (src/server/workers/): it neither listens nor serves
   * [metrics]; the supervisor hands it each accepted socket (RelayHandle.accept),
   * read its TLS identity once, and holds the login throttle.
   */
  readonly worker?: {
    readonly identity: TlsIdentity;
    readonly clientCa: string | undefined;
    readonly loginThrottle: Pick<ClientLoginThrottle, "admit">;
  };
}

export interface RelayHandle {
  /** Where the relay listens: "host:port", followed by "(socket from systemd, fd N)" for an inherited socket. */
  readonly address: string;
  /** Stops accepting, lets requests in progress finish (server.shutdown-timeout), closes the module. */
  close(reason?: string): Promise<void>;
  /** Once this process switched user and group: the module processes it started switch too. */
  followCredentials(): void;
  /** The supervisor's: resolves once every worker has switched user and group too (after followCredentials). */
  credentialsFollowed?(): Promise<void>;
  /** The supervisor's (workers > 1): its workers reopen their log files too (SIGHUP). */
  reopenLog?(): void;
  /** A worker's: serves a TCP socket the supervisor accepted. */
  accept?(socket: Socket): void;
  /** A worker's: its metrics, for the supervisor to add up (prom-client's metric JSON). */
  metricsJson?(): Promise<object[]>;
  /** A worker's: whether its module answers (C_GetInfo), for /healthz. */
  ping?(): Promise<boolean>;
}

export function productInfo(): ServerInfo {
  return { productName: "kmip2pkcs11", productVersion: relayVersion() };
}

export async function startRelay(config: Config, logger: Logger, options: StartOptions = {}): Promise<RelayHandle> {
  const s = config.server;
  const worker = options.worker;
  const identity = worker?.identity ?? (await loadTlsIdentity(config, logger));
  const clientCa = worker !== undefined ? worker.clientCa : s.clientCaPath === undefined ? undefined : await readFile(s.clientCaPath, "utf8");
  // [clients]: their PINs are read now, so that an unusable source stops the start.
  const clients = config.clients.length === 0 ? undefined : loadClients(config);
  // [metrics] addr: every backend call and batch item is counted; absent, nothing is.
  const metrics = config.metrics.addr === undefined ? undefined : new RelayMetrics();
  const opened = await openBackend(config, logger, metrics && (() => metrics.countModuleRestart()), true);
  const backend = metrics === undefined ? opened : metrics.instrument(opened);

  const dispatcher = new Dispatcher({
    backend,
    handlers: createOperations(),
    server: productInfo(),
    logger,
    maxMessageSize: s.maxMessageSize,
    maxBatchCount: s.maxBatchCount,
    maxResponseSize: s.maxResponseSize,
    // A creation pending longer than a write may take is a leftover (doc/object-model.md#crash-safe-creation).
    // [tokens.NAME] key-export rides along: what KMIP leaves to the server about a key's export (src/operations/key-export.ts).
    lifecycle: { strictDestroy: config.lifecycle.strictDestroy, pendingTimeoutMs: config.pkcs11.writeTimeout * 1000, keyExport: config.keyExport },
    loginThrottle: worker?.loginThrottle ?? createLoginThrottle(config),
    clientWork: new ClientWork(clientShare(config)),
    ...(metrics && { onItem: metrics.observeItem.bind(metrics) }),
    ...(clients && { clients }),
  });
  const limits = {
    maxMessageSize: s.maxMessageSize,
    maxRequestsInFlight: s.maxRequestsInFlight,
    idleTimeoutMs: s.idleTimeout * 1000,
    firstRequestTimeoutMs: Math.min(s.firstRequestTimeout, s.idleTimeout) * 1000,
  };

  const server = createTlsServer(
    { identity, clientCa, handshakeTimeoutMs: s.handshakeTimeout * 1000, maxConnections: s.maxConnections, peerLimits: new PeerLimits(s, logger) },
    logger,
    // Clients arrive only once listening, after the tracker exists.
    (socket, connLogger) => tracker.add(new Connection(socket, dispatcher, limits, connLogger)),
  );
  const tracker = new ConnectionTracker(server, s.maxConnections, logger, metrics?.connections);

  if (worker !== undefined) {
    let closing: Promise<void> | undefined;
    const parts = { server, tracker, metricsServer: undefined, backend, shutdownTimeout: s.shutdownTimeout, logger };
    return {
      address: "worker",
      followCredentials: () => opened.followCredentials?.(),
      accept: (socket) => server.emit("connection", socket),
      metricsJson: async () => (metrics === undefined ? [] : ((await metrics.registry.getMetricsAsJSON()) as object[])),
      ping: () => opened.ping().catch(() => false),
      close(reason?: string) {
        closing ??= shutdown(parts, reason);
        return closing;
      },
    };
  }

  let address: string;
  let metricsServer: MetricsServer | undefined;
  try {
    address = await listen(server, config, options, logger);
    if (metrics !== undefined) metricsServer = await serveMetrics(config.metrics.addr as string, metrics, opened, logger);
  } catch (error) {
    server.close();
    await backend.close();
    throw error;
  }
  logger.info(`Listening on ${address}`);

  const parts = { server, tracker, metricsServer, backend, shutdownTimeout: s.shutdownTimeout, logger };
  let closing: Promise<void> | undefined;
  return {
    address,
    followCredentials: () => opened.followCredentials?.(),
    close(reason?: string) {
      closing ??= shutdown(parts, reason);
      return closing;
    },
  };
}

/**
 * A client's share of a slot's work (client-work.ts): a sixteenth of the
 * slot's queue to the module (64 items, 4 writes by default). One client
 * alone cannot fill the queue, and another client's write waits behind at
 * most 4 of its writes. Measured in an RSA-4096 flood (4 connections x 32 in
 * flight, 60 s): a second client of the flooded token got one P-256 pair in
 * 22 to 39 s with a quarter (16 writes), in 0.7 s (median) with a sixteenth,
 * and the flooding client made more pairs, not fewer.
 */
export function clientShare(config: Config): WorkShare {
  return { items: Math.max(1, Math.floor(config.pkcs11.maxQueuedCalls / 16)), writes: Math.max(1, Math.floor(config.pkcs11.maxQueuedWrites / 16)) };
}

/** The failed-login throttle of [pkcs11] login-failure-*: one per relay (the supervisor's, with workers). */
export function createLoginThrottle(config: Config): ClientLoginThrottle {
  return new ClientLoginThrottle({
    limit: config.pkcs11.loginFailureLimit,
    windowMs: config.pkcs11.loginFailureWindow * 1000,
    cooldownMs: config.pkcs11.loginCooldown * 1000,
    budgetPerHour: config.pkcs11.loginFailureBudget,
  });
}

/** Listens on server.addr or the inherited socket; resolves to the address for the log. */
export async function listen(server: Server, config: Config, options: StartOptions, logger: Logger): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    if (options.listenFd !== undefined) {
      // Node listens again on the socket: with the backlog it has (systemd's Backlog=), not 511.
      const backlog = listenBacklog(options.listenFd);
      // (Node takes a backlog for an fd only as the second argument.)
      if (backlog === undefined) server.listen({ fd: options.listenFd }, () => resolve());
      else server.listen({ fd: options.listenFd }, backlog, () => resolve());
    } else {
      const target = parseHostPort(config.server.addr);
      if (target === undefined) throw new Error(`server.addr: not host:port: ${config.server.addr}`);
      server.listen({ host: target.host, port: target.port }, () => resolve());
    }
  }).catch((error: NodeJS.ErrnoException) => {
    const where = options.listenFd !== undefined ? `inherited socket fd ${options.listenFd}` : config.server.addr;
    throw new Error(`cannot listen on ${where}: ${error.code ?? error.message}`, { cause: error });
  });
  server.removeAllListeners("error");
  server.on("error", (error) => logger.error({ err: error.message }, "listener error"));
  const bound = formatBoundAddress(server.address(), config.server.addr);
  return options.listenFd === undefined ? bound : `${bound} (socket from systemd, fd ${options.listenFd})`;
}

/** [clients] with their PINs; an unusable PIN source is an Error that names it and the fix. */
function loadClients(config: Config): ClientDirectory {
  try {
    const directory = ClientDirectory.load(config.clients);
    // Read once: the module's processes (started with this environment) need not inherit the PINs.
    for (const client of config.clients) if (client.pinSource.type === "env") delete process.env[client.pinSource.name];
    return directory;
  } catch (error) {
    if (error instanceof PinSourceError) throw new Error(`${error.message} (${error.fix})`, { cause: error });
    throw error;
  }
}
