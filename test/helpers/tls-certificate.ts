// A self-signed certificate for "localhost" / 127.0.0.1 / ::1, for tests
// that run a TLS server of their own. It is the relay's own generated
// identity (src/server/tls-identity.ts), made in a temporary state directory.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { parseConfig } from "../../src/config/config.js";
import { loadTlsIdentity } from "../../src/server/tls-identity.js";

export interface TestCertificate {
  /** PEM certificate, also the CA a client trusts. */
  cert: string;
  /** PEM private key. */
  key: string;
}

export async function makeTestCertificate(): Promise<TestCertificate> {
  const stateDir = await mkdtemp(join(tmpdir(), "kmip2pkcs11-cert-"));
  try {
    const config = parseConfig(
      ['version = "v1"', "[pkcs11]", 'lib-path = "/unused"', "[server]", `state-dir = ${JSON.stringify(stateDir)}`].join("\n"),
      "test certificate",
    );
    const { cert, key } = await loadTlsIdentity(config, pino({ level: "silent" }));
    return { cert, key };
  } finally {
    await rm(stateDir, { recursive: true, force: true });
  }
}
