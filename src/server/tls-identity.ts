// The relay's TLS certificate and private key.
//
// With [server.identity] they come from the configured PEM files. Without it
// (doc/compatibility.md#config-file), the relay uses a self-signed certificate for
// "localhost": generated on the first start into <state-dir>/tls/ and reused
// afterwards, so that a client that pinned or trusted it keeps working across
// restarts. Either way the SHA-256 fingerprint is logged, for pinning.
import { createPrivateKey, KeyObject, randomBytes, webcrypto, X509Certificate } from "node:crypto";
import { chmod, mkdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Config } from "../config/config.js";
import { writeFileAtomically } from "../config/state-files.js";
import type { Logger } from "../log/logger.js";


export interface TlsIdentity {
  /** PEM certificate (chain). */
  readonly cert: string;
  /** PEM private key. */
  readonly key: string;
  /** SHA-256 of the certificate's DER, colon-separated upper-case hex. */
  readonly fingerprint256: string;
  /** True for the relay's own self-signed certificate (made now or earlier). */
  readonly generated: boolean;
}

/** A certificate or key that cannot be used; the message names the file. */
export class TlsIdentityError extends Error {
  override readonly name = "TlsIdentityError";
}

const VALIDITY_YEARS = 10;

export async function loadTlsIdentity(config: Config, logger: Logger): Promise<TlsIdentity> {
  const configured = config.server.identity;
  if (configured !== undefined) {
    const identity = await readIdentity(configured.certPath, configured.keyPath, false);
    logCertificate(logger, identity, configured.certPath);
    return identity;
  }

  const dir = join(config.server.stateDir, "tls");
  const certPath = join(dir, "cert.pem");
  const keyPath = join(dir, "key.pem");
  let identity: TlsIdentity;
  if (await exists(certPath)) {
    identity = await readIdentity(certPath, keyPath, true);
    logger.warn({ certPath }, `Using the self-signed TLS certificate for localhost in ${dir}; configure [server.identity] to use your own`);
  } else {
    identity = await generateIdentity(dir, certPath, keyPath);
    logger.warn({ certPath }, `Generated a self-signed TLS certificate for localhost in ${dir}; configure [server.identity] to use your own`);
  }
  logCertificate(logger, identity, certPath);
  return identity;
}

function logCertificate(logger: Logger, identity: TlsIdentity, certPath: string): void {
  logger.info({ certPath }, `TLS certificate SHA-256 fingerprint ${identity.fingerprint256}`);
  const validTo = new Date(new X509Certificate(identity.cert).validTo);
  if (validTo.getTime() < Date.now()) logger.warn({ certPath }, `TLS certificate expired on ${validTo.toISOString()}`);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw new TlsIdentityError(`cannot read TLS certificate ${path}: ${(err as Error).message}`);
  }
}

async function readPem(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    throw new TlsIdentityError(`cannot read TLS ${what} ${path}: ${(err as Error).message}`);
  }
}

/** Reads a certificate and key and checks that they belong together. */
export async function readIdentity(certPath: string, keyPath: string, generated: boolean): Promise<TlsIdentity> {
  const cert = await readPem(certPath, "certificate");
  const key = await readPem(keyPath, "private key");
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch (err) {
    throw new TlsIdentityError(`${certPath}: not a PEM certificate (${(err as Error).message})`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    throw new TlsIdentityError(`${keyPath}: not an unencrypted PEM private key (${(err as Error).message})`);
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    const hint = generated ? "; remove both files to generate a new pair" : "";
    throw new TlsIdentityError(`TLS certificate ${certPath} does not match private key ${keyPath}${hint}`);
  }
  return { cert, key, fingerprint256: certificate.fingerprint256, generated };
}

type X509 = typeof import("@peculiar/x509");
let x509Loaded: Promise<X509> | undefined;

/** @peculiar/x509, loaded on first use: only generating a certificate needs it. */
function loadX509(): Promise<X509> {
  x509Loaded ??= (async () => {
    // @peculiar/x509 keeps its algorithm registry in tsyringe, which needs
    // the Reflect metadata API installed first.
    await import("reflect-metadata");
    const x509 = await import("@peculiar/x509");
    x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
    return x509;
  })();
  return x509Loaded;
}

async function generateIdentity(dir: string, certPath: string, keyPath: string): Promise<TlsIdentity> {
  const x509 = await loadX509();
  const keys = (await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  // An hour of slack for clients whose clock is a little behind.
  const notBefore = new Date(Date.now() - 3600_000);
  const notAfter = new Date(notBefore);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + VALIDITY_YEARS);
  // RFC 5280 section 4.1.2.2: a positive serial of at most 20 octets.
  const serial = randomBytes(16);
  serial[0] = (serial[0] as number) & 0x7f;
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial.toString("hex"),
    name: "CN=localhost",
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: "dns", value: "localhost" },
        { type: "ip", value: "127.0.0.1" },
        { type: "ip", value: "::1" },
      ]),
      // Key identifiers: OpenSSL's strict verification (Python 3.13's
      // default) wants them, even on a self-signed certificate.
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const cert = certificate.toString("pem") + "\n";
  const key = KeyObject.from(keys.privateKey).export({ type: "pkcs8", format: "pem" }) as string;

  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
    // The key first: a certificate on disk always has its key beside it.
    await writeFileAtomically(keyPath, key, 0o600);
    await writeFileAtomically(certPath, cert, 0o644);
  } catch (err) {
    throw new TlsIdentityError(`cannot store the generated TLS certificate in ${dir}: ${(err as Error).message}`);
  }
  return { cert, key, fingerprint256: new X509Certificate(cert).fingerprint256, generated: true };
}
