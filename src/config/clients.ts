// [clients.NAME]: who a client is when it presents a TLS client certificate
// (issued by server.client-ca-path) and sends no KMIP credential, which
// token it uses, and where that token's user PIN comes from. The matchers'
// text forms are parsed here, once, so that a malformed one stops the relay
// at start rather than never matching; src/server/client-identity.ts applies
// them to the certificate a connection presents.
import type { TableReader } from "./table-reader.js";

/** Where a mapped client's PIN is read from (at start, by the user starting the relay). */
export type PinSource =
  | { readonly type: "file"; readonly path: string }
  | { readonly type: "env"; readonly name: string }
  /** systemd's LoadCredential=/SetCredential=: $CREDENTIALS_DIRECTORY/<name>. */
  | { readonly type: "credential"; readonly name: string }
  /** In the config file itself: only with allow-pin-in-config = true. */
  | { readonly type: "config" };

/** One relative distinguished name component, as compared: attribute upper-case, value unescaped. */
export interface DnAttribute {
  readonly type: string;
  readonly value: string;
}

/** What a certificate must show; every matcher given must match. */
export interface ClientMatch {
  /** The subject DN's attributes, in any order; the certificate's subject must have exactly these. */
  readonly subject?: readonly DnAttribute[];
  readonly sanDns?: string;
  readonly sanEmail?: string;
  readonly sanUri?: string;
  /** SHA-256 of the certificate's DER: 64 upper-case hex digits, no colons. */
  readonly fingerprint?: string;
}

export interface ClientConfig {
  /** The table's name, [clients.NAME], used in log lines. */
  readonly name: string;
  readonly match: ClientMatch;
  /** Selects the token like a KMIP username: a label, label:/serial:/slot: form, or a [tokens] alias. */
  readonly token: string;
  readonly pinSource: PinSource;
  /** The PIN written in the config file (pinSource "config" only). */
  readonly pin?: string;
}

/** The keys that say where a PIN comes from; exactly one of them. */
const PIN_KEYS = ["pin-file", "pin-env", "pin-credential", "pin"] as const;

export function readClients(t: TableReader): ClientConfig[] {
  const clients: ClientConfig[] = [];
  for (const name of t.keys()) {
    const c = t.table(name, { required: true });
    const match = readMatch(c);
    const token = c.string("token", { required: true });
    if (token === "") c.fail("token", "must not be empty");
    const given = PIN_KEYS.filter((key) => c.has(key));
    if (given.length !== 1) {
      c.fail(given[1] ?? "pin-file", given.length === 0 ? 'missing: say where the PIN comes from with pin-file, pin-env or pin-credential' : `give only one of ${PIN_KEYS.join(", ")}`);
    }
    const allowPin = c.boolean("allow-pin-in-config") ?? false;
    let pinSource: PinSource;
    let pin: string | undefined;
    switch (given[0]) {
      case "pin-file":
        pinSource = { type: "file", path: c.path("pin-file", { required: true }) };
        break;
      case "pin-env": {
        const env = c.string("pin-env", { required: true });
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(env)) c.fail("pin-env", `not an environment variable name: ${JSON.stringify(env)}`);
        pinSource = { type: "env", name: env };
        break;
      }
      case "pin-credential": {
        const credential = c.string("pin-credential", { required: true });
        // systemd credential names are file names in $CREDENTIALS_DIRECTORY.
        if (credential === "" || credential.includes("/") || credential === "." || credential === "..") c.fail("pin-credential", `not a credential name: ${JSON.stringify(credential)}`);
        pinSource = { type: "credential", name: credential };
        break;
      }
      default:
        pin = c.string("pin", { required: true });
        if (!allowPin) c.fail("pin", "a PIN in the config file is refused unless allow-pin-in-config = true: use pin-file, pin-env or pin-credential");
        if (pin === "") c.fail("pin", "must not be empty");
        pinSource = { type: "config" };
    }
    if (allowPin && pinSource.type !== "config") c.fail("allow-pin-in-config", "only with pin");
    c.finish();
    clients.push({ name, match, token, pinSource, ...(pin === undefined ? {} : { pin }) });
  }
  t.finish();
  return clients;
}

function readMatch(c: TableReader): ClientMatch {
  const subjectText = c.string("subject");
  const fingerprintText = c.string("fingerprint-sha256");
  const match: ClientMatch = {
    ...(subjectText !== undefined && { subject: parseDistinguishedName(subjectText, (detail) => c.fail("subject", detail)) }),
    ...optional("sanDns", c.string("san-dns")),
    ...optional("sanEmail", c.string("san-email")),
    ...optional("sanUri", c.string("san-uri")),
    ...(fingerprintText !== undefined && { fingerprint: parseFingerprint(fingerprintText, (detail) => c.fail("fingerprint-sha256", detail)) }),
  };
  for (const [key, value] of [["san-dns", match.sanDns], ["san-email", match.sanEmail], ["san-uri", match.sanUri]] as const) {
    if (value === "") c.fail(key, "must not be empty");
  }
  if (Object.keys(match).length === 0) {
    c.fail("subject", "missing: match the certificate by subject, san-dns, san-email, san-uri or fingerprint-sha256");
  }
  return match;
}

function optional<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
}

/**
 * A SHA-256 fingerprint as `openssl x509 -fingerprint -sha256` prints it
 * (colon-separated, any case), or 64 hex digits; normalised to upper-case
 * hex without colons.
 */
export function parseFingerprint(text: string, fail: (detail: string) => never): string {
  const hex = text.trim().replace(/^sha256 fingerprint=/i, "").replaceAll(":", "").toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex)) fail(`expected the certificate's SHA-256 fingerprint (64 hex digits, colons allowed), got ${JSON.stringify(text)}`);
  return hex;
}

/**
 * A distinguished name written as RFC 4514 text ("CN=app,O=Example\, Inc."),
 * as OpenSSL prints it ("CN = app, O = \"Example, Inc.\""), or with "/"
 * separators as `openssl req -subj` takes it ("/CN=app/O=Example").
 * Attribute order is not compared (RFC 4514 and OpenSSL print it in
 * opposite orders); multi-valued RDNs ("+") are not supported.
 */
export function parseDistinguishedName(text: string, fail: (detail: string) => never): DnAttribute[] {
  const slashForm = text.startsWith("/");
  const parts = splitUnescaped(slashForm ? text.slice(1) : text, slashForm ? "/" : ",");
  const attributes: DnAttribute[] = [];
  for (const part of parts) {
    const eq = part.indexOf("=");
    if (eq <= 0) fail(`expected TYPE=value pairs such as "CN=app, O=Example", got ${JSON.stringify(part.trim())}`);
    const type = part.slice(0, eq).trim().toUpperCase();
    if (!/^[A-Z][A-Z0-9-]*$|^\d+(\.\d+)+$/.test(type)) fail(`not an attribute type: ${JSON.stringify(type)}`);
    attributes.push({ type, value: unescapeDnValue(part.slice(eq + 1).trim()) });
  }
  if (attributes.length === 0) fail("must not be empty");
  return attributes;
}

/**
 * The subject of a certificate as Node's X509Certificate.subject gives it:
 * one "TYPE=value" per line, with "\" escaping special characters.
 */
export function certificateSubject(subject: string): DnAttribute[] {
  return subject
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => {
      const eq = line.indexOf("=");
      return { type: line.slice(0, eq).toUpperCase(), value: unescapeDnValue(line.slice(eq + 1)) };
    });
}

/** Whether two DNs have the same attributes, whatever their order. */
export function sameDistinguishedName(a: readonly DnAttribute[], b: readonly DnAttribute[]): boolean {
  if (a.length !== b.length) return false;
  const key = (x: DnAttribute) => `${x.type}=${x.value}`;
  const left = a.map(key).sort();
  const right = b.map(key).sort();
  return left.every((x, i) => x === right[i]);
}

/** Splits on `separator` outside double quotes and not escaped with "\". */
function splitUnescaped(text: string, separator: string): string[] {
  const parts: string[] = [];
  let current = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (ch === "\\" && i + 1 < text.length) {
      current += ch + (text[++i] as string);
    } else if (ch === '"') {
      quoted = !quoted;
      current += ch;
    } else if (ch === separator && !quoted) {
      parts.push(current);
      current = "";
    } else current += ch;
  }
  parts.push(current);
  return parts.filter((p) => p.trim() !== "");
}

/** A value without its quotes and backslash escapes (RFC 4514 2.4; hex pairs are UTF-8 bytes). */
function unescapeDnValue(value: string): string {
  const unquoted = value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
  return unquoted.replace(/((?:\\[0-9A-Fa-f]{2})+)|\\(.)/g, (_, hex: string | undefined, char: string | undefined) =>
    hex !== undefined ? Buffer.from(hex.replaceAll("\\", ""), "hex").toString("utf8") : (char as string),
  );
}
