// Certificate authorities and client certificates for the mutual-TLS tests,
// made with the `openssl` command (OpenSSL 3) in a temporary directory.
// Keys are ECDSA P-256. Each certificate exists both as PEM text (for
// KmipClient) and as files (for PyKMIP and the relay's server.client-ca-path).
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

export interface CertificateFiles {
  /** PEM text. */
  readonly cert: string;
  readonly key: string;
  readonly certPath: string;
  readonly keyPath: string;
}

export interface CertificateAuthority extends CertificateFiles {
  /** The directory holding this CA's files and the certificates it issued. */
  readonly dir: string;
  /** Removes the directory. */
  cleanup(): Promise<void>;
}

export interface ClientCertificateOptions {
  /**
   * Issue a certificate whose validity ended before it was made: OpenSSL's
   * `-days -1` puts notAfter one day before notBefore (= now), so every
   * verifier reports it expired.
   */
  readonly expired?: boolean;
  /** A subjectAltName extension, as OpenSSL's config takes it ("DNS:a.example, URI:spiffe://example/app"). */
  readonly subjectAltName?: string;
}

async function openssl(args: string[]): Promise<void> {
  try {
    await execFileAsync("openssl", args);
  } catch (error) {
    throw new Error(`openssl ${args[0]} failed: ${(error as Error).message}`);
  }
}

async function readPair(certPath: string, keyPath: string): Promise<CertificateFiles> {
  return { cert: await readFile(certPath, "utf8"), key: await readFile(keyPath, "utf8"), certPath, keyPath };
}

const P256 = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];

/** A self-signed CA (basicConstraints CA:TRUE, from OpenSSL's v3_ca section) named `CN=<name>`. */
export async function createCertificateAuthority(name: string): Promise<CertificateAuthority> {
  const dir = await mkdtemp(join(tmpdir(), "kmip2pkcs11-ca-"));
  const certPath = join(dir, "ca.pem");
  const keyPath = join(dir, "ca.key");
  await openssl(["req", "-x509", ...P256, "-keyout", keyPath, "-out", certPath, "-subj", `/CN=${name}`, "-days", "2"]);
  return { ...(await readPair(certPath, keyPath)), dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A TLS client certificate for `CN=<name>` issued by `ca` (extendedKeyUsage clientAuth). */
export async function issueClientCertificate(
  ca: CertificateAuthority,
  name: string,
  options: ClientCertificateOptions = {},
): Promise<CertificateFiles> {
  const base = join(ca.dir, name);
  const extensions = `${base}.ext`;
  const san = options.subjectAltName === undefined ? "" : `subjectAltName = ${options.subjectAltName}\n`;
  await writeFile(extensions, `basicConstraints = CA:FALSE\nkeyUsage = critical, digitalSignature\nextendedKeyUsage = clientAuth\n${san}`);
  await openssl(["req", ...P256, "-keyout", `${base}.key`, "-out", `${base}.csr`, "-subj", `/CN=${name}`]);
  await openssl([
    "x509", "-req", "-in", `${base}.csr`, "-CA", ca.certPath, "-CAkey", ca.keyPath, "-CAcreateserial",
    "-extfile", extensions, "-days", options.expired ? "-1" : "1", "-out", `${base}.pem`,
  ]);
  return readPair(`${base}.pem`, `${base}.key`);
}
