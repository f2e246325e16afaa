// Who a client is when it sends no KMIP credential: the TLS client
// certificate it presented (verified against server.client-ca-path by the
// TLS server), looked up in [clients.NAME], gives the token and the user PIN.
//
// The PINs are read once, at start, by the user starting the relay (before
// [daemon] identity drops privileges), and kept as Buffers: a PIN file that
// group or others can read or write stops the start, as does an unset
// environment variable or a missing systemd credential. The PIN is never
// logged; what a log line may name is the certificate (subject, SHA-256).
import { closeSync, fstatSync, openSync, readFileSync, constants } from "node:fs";
import { join } from "node:path";
import type { X509Certificate } from "node:crypto";
import { certificateSubject, sameDistinguishedName, type ClientConfig, type DnAttribute, type PinSource } from "../config/clients.js";

/** What a connection's verified client certificate shows, as [clients] matches it. */
export interface PeerCertificate {
  /** The subject as Node prints it, one "TYPE=value" per line (for logs, escaped there). */
  readonly subjectText: string;
  readonly subject: readonly DnAttribute[];
  readonly sanDns: readonly string[];
  readonly sanEmail: readonly string[];
  readonly sanUri: readonly string[];
  /** SHA-256 of the DER, colon-separated upper-case hex (as `openssl x509 -fingerprint -sha256` prints it). */
  readonly fingerprint256: string;
}

/** The parts of a certificate [clients] can match on. */
export function peerCertificate(certificate: X509Certificate): PeerCertificate {
  const san = parseSubjectAltName(certificate.subjectAltName ?? "");
  return {
    subjectText: certificate.subject,
    subject: certificateSubject(certificate.subject),
    sanDns: san.get("DNS") ?? [],
    sanEmail: san.get("email") ?? [],
    sanUri: san.get("URI") ?? [],
    fingerprint256: certificate.fingerprint256,
  };
}

/**
 * Node's X509Certificate.subjectAltName: "DNS:a, email:b, URI:c", a value
 * holding a comma or quote written as a JSON string ("DNS:\"a, b\"").
 */
export function parseSubjectAltName(text: string): Map<string, string[]> {
  const names = new Map<string, string[]>();
  const entry = /([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/y;
  for (let m = entry.exec(text); m !== null && m[0] !== ""; m = entry.exec(text)) {
    const raw = m[2] as string;
    let value = raw;
    if (raw.startsWith('"')) {
      try {
        value = JSON.parse(raw) as string;
      } catch {
        // Not a JSON string after all: compared as written.
      }
    }
    const list = names.get(m[1] as string) ?? [];
    list.push(value);
    names.set(m[1] as string, list);
  }
  return names;
}

/** A mapped client, with the PIN read for it. */
export interface MappedClient {
  /** [clients.NAME] */
  readonly name: string;
  /** Selects the token like a KMIP username. */
  readonly token: string;
  /** The token's user PIN; never logged. */
  readonly pin: Buffer;
}

/** A PIN source that cannot be used; the message names the client and the source, never the PIN. */
export class PinSourceError extends Error {
  override readonly name = "PinSourceError";
  constructor(
    message: string,
    /** What the operator can do about it. */
    readonly fix: string,
  ) {
    super(message);
  }
}

/** [clients] with their PINs, matched against each connection's certificate. */
export class ClientDirectory {
  private constructor(private readonly clients: readonly (ClientConfig & { readonly secret: Buffer })[]) {}

  /** Reads every client's PIN; throws PinSourceError for the first that cannot be used. */
  static load(clients: readonly ClientConfig[], env: NodeJS.ProcessEnv = process.env): ClientDirectory {
    return new ClientDirectory(clients.map((client) => ({ ...client, secret: readPin(client, env) })));
  }

  get size(): number {
    return this.clients.length;
  }

  /** The first [clients] entry, in file order, whose every matcher the certificate meets. */
  match(certificate: PeerCertificate | undefined): MappedClient | undefined {
    if (certificate === undefined) return undefined;
    const found = this.clients.find((client) => matches(client, certificate));
    return found && { name: found.name, token: found.token, pin: found.secret };
  }
}

export function matches(client: ClientConfig, certificate: PeerCertificate): boolean {
  const m = client.match;
  if (m.subject !== undefined && !sameDistinguishedName(m.subject, certificate.subject)) return false;
  // DNS names compare without case (RFC 4343); email and URI exactly.
  if (m.sanDns !== undefined && !certificate.sanDns.some((d) => d.toLowerCase() === m.sanDns!.toLowerCase())) return false;
  if (m.sanEmail !== undefined && !certificate.sanEmail.includes(m.sanEmail)) return false;
  if (m.sanUri !== undefined && !certificate.sanUri.includes(m.sanUri)) return false;
  if (m.fingerprint !== undefined && certificate.fingerprint256.replaceAll(":", "").toUpperCase() !== m.fingerprint) return false;
  return true;
}

/** Where a client's PIN comes from, in words for messages. */
export function describePinSource(source: PinSource): string {
  switch (source.type) {
    case "file":
      return `pin-file ${source.path}`;
    case "env":
      return `pin-env ${source.name}`;
    case "credential":
      return `pin-credential ${source.name}`;
    case "config":
      return "pin in the config file";
  }
}

/** Group or other may read or write: the PIN is not the relay's alone. */
const SHARED_MODE = 0o066;

/** Reads the PIN of one [clients] entry as bytes; trailing line ends of a file are not part of it. */
export function readPin(client: ClientConfig, env: NodeJS.ProcessEnv = process.env): Buffer {
  const where = `clients.${client.name}: ${describePinSource(client.pinSource)}`;
  const source = client.pinSource;
  switch (source.type) {
    case "config":
      return Buffer.from(client.pin ?? "", "utf8");
    case "env": {
      const value = env[source.name];
      if (value === undefined || value === "") {
        throw new PinSourceError(`${where}: the variable is not set`, `set ${source.name} in the relay's environment (systemd: Environment= or EnvironmentFile= readable only by root)`);
      }
      return Buffer.from(value, "utf8");
    }
    case "credential": {
      const dir = env.CREDENTIALS_DIRECTORY;
      if (dir === undefined || dir === "") {
        throw new PinSourceError(`${where}: CREDENTIALS_DIRECTORY is not set (the relay is not started by systemd with credentials)`, `add LoadCredential=${source.name}:/path/to/pin (or LoadCredentialEncrypted=) to the service, or use pin-file`);
      }
      // systemd makes the directory and its files readable by the service alone.
      return readPinFile(join(dir, source.name), where, false);
    }
    case "file":
      return readPinFile(source.path, where, true);
  }
}

function readPinFile(path: string, where: string, checkMode: boolean): Buffer {
  let fd: number;
  try {
    // O_NOFOLLOW: the file checked is the file read, not what a link points to now.
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : code === "ELOOP" ? "a symbolic link (refused)" : String(code);
    throw new PinSourceError(`${where}: cannot read ${path}: ${why}`, `write the user PIN to ${path}, owned by the user starting the relay, mode 0600`);
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) throw new PinSourceError(`${where}: ${path} is not a regular file`, `write the user PIN to a regular file`);
    if (checkMode && (stats.mode & SHARED_MODE) !== 0) {
      const mode = (stats.mode & 0o777).toString(8).padStart(4, "0");
      throw new PinSourceError(`${where}: ${path} has mode ${mode}: group or others can read or write the PIN`, `chmod 600 ${path}`);
    }
    const bytes = readFileSync(fd);
    let end = bytes.length;
    while (end > 0 && (bytes[end - 1] === 0x0a || bytes[end - 1] === 0x0d)) end--;
    if (end === 0) {
      bytes.fill(0);
      throw new PinSourceError(`${where}: ${path} is empty`, `write the user PIN to ${path}`);
    }
    const pin = Buffer.from(bytes.subarray(0, end));
    bytes.fill(0);
    return pin;
  } finally {
    closeSync(fd);
  }
}
