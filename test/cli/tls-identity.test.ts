import { after, test, describe } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate, createPrivateKey } from "node:crypto";
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { parseConfig, type Config } from "../../src/config/config.js";
import { loadTlsIdentity, TlsIdentityError } from "../../src/server/tls-identity.js";

/** A logger that keeps [level, message] of each record. */
function captureLogger() {
  const records: [string, string][] = [];
  const logger = pino({ level: "info" }, {
    write: (json: string) => {
      const r = JSON.parse(json) as { level: number; msg: string };
      records.push([pino.levels.labels[r.level] ?? String(r.level), r.msg]);
    },
  });
  return { logger, records };
}

function configFor(stateDir: string, identity?: { cert: string; key: string }): Config {
  const server = `[server]\nstate-dir = ${JSON.stringify(stateDir)}\n`;
  const id = identity ? `[server.identity]\ncert-path = ${JSON.stringify(identity.cert)}\nkey-path = ${JSON.stringify(identity.key)}\n` : "";
  return parseConfig(`version = "v1"\n[pkcs11]\nlib-path = "x.so"\n${server}${id}`, "test.toml");
}

describe("loadTlsIdentity", async () => {
  const root = await mkdtemp(join(tmpdir(), "kmip2pkcs11-tls-"));
  after(() => rm(root, { recursive: true, force: true }));
  const stateDir = join(root, "state");
  const certPath = join(stateDir, "tls", "cert.pem");
  const keyPath = join(stateDir, "tls", "key.pem");
  const { logger, records } = captureLogger();
  const first = await loadTlsIdentity(configFor(stateDir), logger);

  test("generates a self-signed ECDSA P-256 certificate for localhost", () => {
    assert.equal(first.generated, true);
    const cert = new X509Certificate(first.cert);
    assert.equal(cert.subject, "CN=localhost");
    assert.equal(cert.issuer, "CN=localhost");
    assert.equal(cert.subjectAltName, "DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1");
    assert.ok(cert.verify(cert.publicKey));
    assert.deepEqual(cert.publicKey.asymmetricKeyDetails, { namedCurve: "prime256v1" });
    const years = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / (365.25 * 86400_000);
    assert.ok(years > 9.9 && years < 10.1, `validity ${years} years`);
    assert.equal(first.fingerprint256, cert.fingerprint256);
    assert.match(first.fingerprint256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    assert.ok(cert.checkPrivateKey(createPrivateKey(first.key)));
  });

  test("stores it with the key readable by the owner only", async () => {
    assert.equal((await stat(keyPath)).mode & 0o777, 0o600);
    assert.equal((await stat(join(stateDir, "tls"))).mode & 0o777, 0o700);
    assert.equal((await stat(certPath)).isFile(), true);
  });

  test("warns that it is self-signed and logs the fingerprint", () => {
    assert.deepEqual(records, [
      ["warn", `Generated a self-signed TLS certificate for localhost in ${join(stateDir, "tls")}; configure [server.identity] to use your own`],
      ["info", `TLS certificate SHA-256 fingerprint ${first.fingerprint256}`],
    ]);
  });

  test("reuses it on the next start", async () => {
    const again = await loadTlsIdentity(configFor(stateDir), captureLogger().logger);
    assert.equal(again.fingerprint256, first.fingerprint256);
    assert.equal(again.key, first.key);
    assert.equal(again.generated, true);
  });

  test("loads configured PEM files", async () => {
    const { logger, records } = captureLogger();
    const configured = await loadTlsIdentity(configFor(join(root, "unused"), { cert: certPath, key: keyPath }), logger);
    assert.equal(configured.generated, false);
    assert.equal(configured.fingerprint256, first.fingerprint256);
    assert.deepEqual(records, [["info", `TLS certificate SHA-256 fingerprint ${first.fingerprint256}`]]);
    await assert.rejects(stat(join(root, "unused")), { code: "ENOENT" });
  });

  test("a certificate with another key's file is a clear error", async () => {
    const otherDir = join(root, "other");
    await loadTlsIdentity(configFor(otherDir), captureLogger().logger);
    const otherKey = join(otherDir, "tls", "key.pem");
    await assert.rejects(loadTlsIdentity(configFor(root, { cert: certPath, key: otherKey }), logger), (err: unknown) => {
      assert.ok(err instanceof TlsIdentityError);
      assert.equal(err.message, `TLS certificate ${certPath} does not match private key ${otherKey}`);
      return true;
    });
  });

  test("unreadable or malformed files are clear errors naming the file", async () => {
    const missing = join(root, "missing.pem");
    await assert.rejects(loadTlsIdentity(configFor(root, { cert: missing, key: keyPath }), logger), {
      name: "TlsIdentityError",
      message: `cannot read TLS certificate ${missing}: ENOENT: no such file or directory, open '${missing}'`,
    });
    const garbage = join(root, "garbage.pem");
    await writeFile(garbage, "not a certificate\n");
    await assert.rejects(loadTlsIdentity(configFor(root, { cert: garbage, key: keyPath }), logger), (err: Error) =>
      err.message.startsWith(`${garbage}: not a PEM certificate (`),
    );
    await assert.rejects(loadTlsIdentity(configFor(root, { cert: certPath, key: garbage }), logger), (err: Error) =>
      err.message.startsWith(`${garbage}: not an unencrypted PEM private key (`),
    );
  });
});
