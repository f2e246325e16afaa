// The relay: the HSM backend, the TLS listener and the connections, wired
// from the config. startRelay resolves once the relay is listening.
import { readFile } from "node:fs/promises";
import type { Socket } from "node:net";
import * as tls from "node:tls";
import { relayVersion } from "../version.js";
import { formatBoundAddress, parseHostPort, type Config } from "../config/config.js";
import { openBackend } from "../hsm/open-backend.js";
import type { Logger } from "../log/logger.js";
import { createOperations } from "../operations/index.js";
import type { ServerInfo } from "../operations/operation.js";
import { Connection } from "./connection.js";
import { ClientLoginThrottle } from "./login-throttle.js";
import { Dispatcher } from "./dispatch.js";
import { RelayMetrics, serveMetrics, type MetricsServer } from "./metrics.js";
import { loadTlsIdentity } from "./tls-identity.js";

export interface StartOptions {
  /** A listening socket inherited from systemd (fd 3), used instead of server.addr. */
  readonly listenFd?: number;
}

export interface RelayHandle {
  /** Where the relay listens: "host:port", or "fd:N" for an inherited socket. */
  readonly address: string;
  /** Stops accepting, lets requests in progress finish (server.shutdown-timeout), closes the module. */
  close(reason?: string): Promise<void>;
  /** Once this process switched user and group: the module processes it started switch too. */
  followCredentials(): void;
}

/**
 * TLS policy: TLS 1.2 and 1.3 only; for TLS 1.2 only ECDHE key exchange with
 * AEAD ciphers (forward secrecy, no CBC); TLS 1.3 uses OpenSSL's defaults
 * (all AEAD).
 */
export const TLS12_CIPHERS = [
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
].join(":");

export function productInfo(): ServerInfo {
  return { productName: "kmip2pkcs11", productVersion: relayVersion() };
}

export async function startRelay(config: Config, logger: Logger, options: StartOptions = {}): Promise<RelayHandle> {
  const s = config.server;
  const identity = await loadTlsIdentity(config, logger);
  const clientCa = s.clientCaPath === undefined ? undefined : await readFile(s.clientCaPath, "utf8");
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
    loginThrottle: new ClientLoginThrottle({
      limit: config.pkcs11.loginFailureLimit,
      windowMs: config.pkcs11.loginFailureWindow * 1000,
      cooldownMs: config.pkcs11.loginCooldown * 1000,
      budgetPerHour: config.pkcs11.loginFailureBudget,
    }),
    ...(metrics && { onItem: metrics.observeItem.bind(metrics) }),
  });
  const limits = { maxMessageSize: s.maxMessageSize, maxRequestsInFlight: s.maxRequestsInFlight, idleTimeoutMs: s.idleTimeout * 1000 };

  const server = tls.createServer({
    cert: identity.cert,
    key: identity.key,
    minVersion: "TLSv1.2",
    maxVersion: "TLSv1.3",
    ciphers: TLS12_CIPHERS,
    honorCipherOrder: true,
    handshakeTimeout: s.handshakeTimeout * 1000,
    // A client may end its side after its last request and still read the answers.
    allowHalfOpen: true,
    // The client certificate is checked in secureConnection, not by Node:
    // with rejectUnauthorized Node drops a certificate that does not verify
    // without a word, and the operator would never learn who or why.
    ...(clientCa === undefined ? {} : { ca: clientCa, requestCert: true, rejectUnauthorized: false }),
  });
  // Counted by Node from the TCP accept, so that clients stuck in the
  // handshake count too; connections over the limit are closed before any
  // TLS work is done for them.
  server.maxConnections = s.maxConnections;

  const connections = new Set<Connection>();
  /** Every accepted TCP connection, handshake or not, for shutdown. */
  const sockets = new Set<Socket>();
  let refusedSinceLog = 0;
  let nextId = 1;
  server.on("drop", () => {
    // Logged once per burst, not once per refused socket.
    if (refusedSinceLog++ === 0) {
      logger.warn(`refusing connections: ${s.maxConnections} are open (server.max-connections)`);
    }
  });
  server.on("connection", (socket: Socket) => {
    if (refusedSinceLog > 0) {
      logger.info(`accepting connections again; ${refusedSinceLog} were refused (server.max-connections)`);
      refusedSinceLog = 0;
    }
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  server.on("tlsClientError", (error: Error & { code?: string; reason?: string }, socket: tls.TLSSocket) => {
    // A peer that connects and closes again (a port probe, a health check)
    // is routine; a failed negotiation or a timeout is worth a line.
    const routine = error.code === "ECONNRESET" || error.code === "EPIPE";
    const peer = peerOf(socket);
    logger[routine ? "debug" : "info"]({ peer, code: error.code }, `TLS handshake with ${peer} failed: ${error.reason ?? error.message}`);
    // With a listener for this event Node leaves the socket open, even after
    // a handshake timeout: closing it is up to the listener.
    socket.destroy();
  });
  server.on("secureConnection", (socket: tls.TLSSocket) => {
    const peer = peerOf(socket);
    if (clientCa !== undefined && !socket.authorized) {
      logger.warn({ peer }, `client certificate of ${peer} refused: ${certificateProblem(socket)}; closing the connection`);
      socket.destroy();
      return;
    }
    const connLogger = logger.child({ conn: nextId++, peer });
    const subject = socket.getPeerCertificate()?.subject?.CN;
    connLogger.debug({ protocol: socket.getProtocol(), cipher: socket.getCipher().name, client: subject }, "connection accepted");
    const connection = new Connection(socket, dispatcher, limits, connLogger);
    connections.add(connection);
    metrics?.connections.inc();
    void connection.closed.then(() => {
      connections.delete(connection);
      metrics?.connections.dec();
    });
  });

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

  let closing: Promise<void> | undefined;
  return {
    address,
    followCredentials: () => opened.followCredentials?.(),
    close(reason?: string) {
      closing ??= (async () => {
        // The listener closes before the line is logged: whoever reads the
        // line may rely on new connections being refused.
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        const drained = Promise.all([...connections].map((c) => c.drain()));
        logger.info(
          `shutting down${reason ? ` (${reason})` : ""}: no new connections; ${connections.size} open connections finish their requests (server.shutdown-timeout ${s.shutdownTimeout} s)`,
        );
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<"timeout">((resolve) => {
          timer = setTimeout(() => resolve("timeout"), s.shutdownTimeout * 1000);
        });
        if ((await Promise.race([drained, timeout])) === "timeout") {
          logger.warn(`requests still in progress after ${s.shutdownTimeout} s (server.shutdown-timeout); closing their connections`);
          for (const c of connections) c.destroy();
        }
        clearTimeout(timer);
        // What is left has not finished its handshake and has no request.
        for (const socket of sockets) socket.destroy();
        await stopped;
        await metricsServer?.close();
        await backend.close();
        logger.info("stopped");
      })();
      return closing;
    },
  };
}

/** "address:port" of the peer, or a stand-in once the socket is gone. */
function peerOf(socket: tls.TLSSocket): string {
  return socket.remoteAddress === undefined ? "a peer that has disconnected" : `${socket.remoteAddress}:${socket.remotePort}`;
}

/** Why a client certificate did not verify against server.client-ca-path, for the log. */
function certificateProblem(socket: tls.TLSSocket): string {
  const certificate = socket.getPeerCertificate();
  if (certificate === null || Object.keys(certificate).length === 0) return "no certificate presented";
  // authorizationError is OpenSSL's verify code name (CERT_HAS_EXPIRED, ...), typed as an Error.
  return `certificate CN=${certificate.subject?.CN ?? "?"} issued by CN=${certificate.issuer?.CN ?? "?"}: ${String(socket.authorizationError)}`;
}

async function listen(server: tls.Server, config: Config, options: StartOptions, logger: Logger): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    if (options.listenFd !== undefined) {
      server.listen({ fd: options.listenFd }, () => resolve());
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
  if (options.listenFd !== undefined) return `fd:${options.listenFd}`;
  return formatBoundAddress(server.address(), config.server.addr);
}
