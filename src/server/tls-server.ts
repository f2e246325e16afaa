// Server set-up: the TLS listener with the relay's TLS policy, the handshake
// limits, and the client certificate check. Each client that passes is handed
// on with a logger of its own; what happens next is the connection's job.
import type { Socket } from "node:net";
import * as tls from "node:tls";
import type { Logger } from "../log/logger.js";
import type { TlsIdentity } from "./tls-identity.js";

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

export interface TlsServerSettings {
  readonly identity: TlsIdentity;
  /** CA certificates (PEM) a client certificate must verify against; absent, none is asked for. */
  readonly clientCa: string | undefined;
  readonly handshakeTimeoutMs: number;
  /** Open TCP connections, handshake or not; Node refuses more ("drop"). */
  readonly maxConnections: number;
  /** A share of the listener per peer (peer-limits.ts): checked at the TCP accept and again once the client is known. */
  readonly peerLimits?: { admit(socket: Socket): boolean; secured(socket: tls.TLSSocket): boolean };
}

/** A TLS server that calls `onClient` for each client whose handshake (and certificate, if asked for) passed. */
export function createTlsServer(settings: TlsServerSettings, logger: Logger, onClient: (socket: tls.TLSSocket, logger: Logger) => void): tls.Server {
  const { clientCa } = settings;
  const server = tls.createServer({
    cert: settings.identity.cert,
    key: settings.identity.key,
    minVersion: "TLSv1.2",
    maxVersion: "TLSv1.3",
    ciphers: TLS12_CIPHERS,
    honorCipherOrder: true,
    handshakeTimeout: settings.handshakeTimeoutMs,
    // Not during the handshake: a client that ends its side then has given
    // up (Node.js clients that refuse the relay's certificate close without
    // an alert), and half-open it would only be noticed at the handshake
    // timeout. Allowed once secure (below): a client may end its side after
    // its last request and still read the answers.
    allowHalfOpen: false,
    // The client certificate is checked in secureConnection, not by Node:
    // with rejectUnauthorized Node drops a certificate that does not verify
    // without a word, and the operator would never learn who or why.
    ...(clientCa === undefined ? {} : { ca: clientCa, requestCert: true, rejectUnauthorized: false }),
  });
  // Counted by Node from the TCP accept, so that clients stuck in the
  // handshake count too; connections over the limit are closed before any
  // TLS work is done for them.
  server.maxConnections = settings.maxConnections;

  const { peerLimits } = settings;
  if (peerLimits !== undefined) {
    server.on("connection", (socket: Socket) => {
      if (!peerLimits.admit(socket)) socket.destroy();
    });
  }

  let nextId = 1;
  server.on("tlsClientError", (error: Error & { code?: string; reason?: string }, socket: tls.TLSSocket) => {
    const peer = peerOf(socket);
    const { level, text } = describeHandshakeFailure(error, socket, peer);
    logger[level]({ peer, code: error.code }, text);
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
    if (peerLimits !== undefined && !peerLimits.secured(socket)) {
      socket.destroy();
      return;
    }
    socket.allowHalfOpen = true;
    const connLogger = logger.child({ conn: nextId++, peer });
    const subject = socket.getPeerCertificate()?.subject?.CN;
    connLogger.debug({ protocol: socket.getProtocol(), cipher: socket.getCipher().name, client: subject }, "connection accepted");
    onClient(socket, connLogger);
  });
  return server;
}

/** TLS alerts (RFC 8446 section 6.2, RFC 5246 section 7.2.2) by which a client says it does not accept the server's certificate. */
const CERTIFICATE_ALERTS = new Set(["BAD_CERTIFICATE", "UNSUPPORTED_CERTIFICATE", "CERTIFICATE_REVOKED", "CERTIFICATE_EXPIRED", "CERTIFICATE_UNKNOWN", "UNKNOWN_CA"]);

/**
 * The log line for a handshake that failed. A client's alert arrives as an
 * error whose code names it (ERR_SSL_TLSV1_ALERT_UNKNOWN_CA, reason "tlsv1
 * alert unknown ca"). A peer that closes before the handshake is routine
 * (a port probe, a health check); one that closes after the relay sent its
 * certificate has most likely refused it without an alert, as Node.js
 * clients do in TLS 1.3.
 */
function describeHandshakeFailure(error: Error & { code?: string; reason?: string }, socket: tls.TLSSocket, peer: string): { level: "debug" | "info"; text: string } {
  const alert = /^ERR_SSL_(?:SSLV3|TLSV1)_ALERT_(\w+)$/.exec(error.code ?? "")?.[1];
  if (alert !== undefined) {
    const name = alert.toLowerCase().replace(/_/g, " ");
    if (CERTIFICATE_ALERTS.has(alert)) {
      return { level: "info", text: `${peer} refused the relay's certificate (TLS alert "${name}"): the client does not trust it; give the client the relay's certificate or the CA that issued it (server.cert-path)` };
    }
    return { level: "info", text: `${peer} ended the TLS handshake with alert "${name}"` };
  }
  if (error.code === "ECONNRESET" || error.code === "EPIPE") {
    // The TCP socket under the TLS one (Node keeps it as _parent): whether the relay's certificate went out.
    const sent = (socket as tls.TLSSocket & { _parent?: Socket | null })._parent?.bytesWritten ?? 0;
    if (sent > 0) {
      return { level: "info", text: `${peer} closed the connection during the TLS handshake, after the relay sent its certificate: the client most likely does not trust it; give the client the relay's certificate or the CA that issued it (server.cert-path)` };
    }
    return { level: "debug", text: `TLS handshake with ${peer} failed: ${error.reason ?? error.message}` };
  }
  return { level: "info", text: `TLS handshake with ${peer} failed: ${error.reason ?? error.message}` };
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
