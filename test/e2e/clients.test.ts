// [clients.NAME] over TLS, on SoftHSM: a client certificate mapped to the
// token makes and uses keys without any KMIP credential (our client, and
// PyKMIP's); a certificate nobody mapped is Authentication Not Successful
// and the log names it; a mapping whose PIN file holds a wrong PIN is
// counted by the login throttle like a wrong Password, without holding back
// the other clients; a PIN file others can read stops the start.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { verify, X509Certificate } from "node:crypto";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { KmipClient } from "../../src/client/kmip-client.js";
import { CryptographicAlgorithm, HashingAlgorithm, ResultReason } from "../../src/ttlv/enums.js";
import { runPyKmip } from "../helpers/pykmip.js";
import { algorithm, createKeyPair, DATA, length, publicKeyOf, rejectsWith } from "../helpers/relay-client.js";
import { MAIN, startRelayProcess, type RunningRelay } from "../helpers/relay.js";
import { createSoftHsmToken, type SoftHsmToken } from "../helpers/softhsm.js";
import { createCertificateAuthority, issueClientCertificate, type CertificateAuthority, type CertificateFiles } from "../helpers/tls-certs.js";

let relay: RunningRelay;
let token: SoftHsmToken;
let ca: CertificateAuthority;
let pins: string;
let mongo: CertificateFiles;
let stranger: CertificateFiles;
let wrong: CertificateFiles;
let python: CertificateFiles;

/** The [clients] tables of the relay under test. */
function clientTables(fingerprint: string): string {
  return [
    "[clients.mongodb]",
    'subject = "CN=mongo-app"',
    `token = "${token.label}"`,
    `pin-file = "${join(pins, "mongodb.pin")}"`,
    "[clients.misconfigured]",
    'san-dns = "wrong.example.test"',
    `token = "${token.label}"`,
    `pin-file = "${join(pins, "wrong.pin")}"`,
    "[clients.pykmip]",
    `fingerprint-sha256 = "${fingerprint}"`,
    `token = "label:${token.label}"`,
    'pin-env = "KMIP2PKCS11_TEST_PYKMIP_PIN"',
  ].join("\n");
}

before(async () => {
  [ca, token, pins] = await Promise.all([createCertificateAuthority("kmip2pkcs11 clients"), createSoftHsmToken(), mkdtemp(join(tmpdir(), "kmip2pkcs11-pins-"))]);
  mongo = await issueClientCertificate(ca, "mongo-app", { subjectAltName: "DNS:mongo.example.test" });
  stranger = await issueClientCertificate(ca, "stranger");
  wrong = await issueClientCertificate(ca, "wrong-pin", { subjectAltName: "DNS:wrong.example.test" });
  python = await issueClientCertificate(ca, "pykmip-app");
  await writeFile(join(pins, "mongodb.pin"), `${token.pin}\n`, { mode: 0o600 });
  await writeFile(join(pins, "wrong.pin"), "99999999\n", { mode: 0o600 });
  relay = await startRelayProcess({
    token,
    server: [`client-ca-path = "${ca.certPath}"`],
    // Two failures of one client start its cool-down.
    pkcs11: ["login-failure-limit = 2"],
    extra: clientTables(new X509Certificate(python.cert).fingerprint256),
    env: { ...token.env, KMIP2PKCS11_TEST_PYKMIP_PIN: token.pin },
  });
});
after(async () => {
  await relay?.cleanup();
  await token?.cleanup();
  await ca?.cleanup();
  if (pins !== undefined) await rm(pins, { recursive: true, force: true });
});

/** A client with this certificate and no KMIP credential. */
async function connectAs(certificate: CertificateFiles): Promise<KmipClient> {
  return KmipClient.connect({
    host: relay.host,
    port: relay.port,
    ca: await readFile(join(relay.dir, "state", "tls", "cert.pem")),
    cert: certificate.cert,
    key: certificate.key,
    timeoutMs: 20_000,
  });
}

test("a mapped certificate without a credential creates a key pair and signs", async () => {
  const client = await connectAs(mongo);
  try {
    const pair = await createKeyPair(client, [algorithm(CryptographicAlgorithm.ECDSA), length(256)], "mongo");
    const params = { cryptographicAlgorithm: CryptographicAlgorithm.ECDSA, hashingAlgorithm: HashingAlgorithm.SHA256 };
    const { signatureData } = await client.sign({ uniqueIdentifier: pair.privateKeyUniqueIdentifier, cryptographicParameters: params, data: DATA });
    const key = publicKeyOf(await client.get({ uniqueIdentifier: pair.publicKeyUniqueIdentifier }));
    assert.equal(verify("sha256", DATA, key, signatureData!), true);
  } finally {
    await client.close();
  }
});

test("a certificate nobody mapped is Authentication Not Successful, and the log names its subject and fingerprint", async () => {
  const client = await connectAs(stranger);
  try {
    await rejectsWith(createKeyPair(client, [algorithm(CryptographicAlgorithm.ECDSA), length(256)]), ResultReason.AuthenticationNotSuccessful, /client certificate is not mapped to a token/);
  } finally {
    await client.close();
  }
  const fingerprint = new X509Certificate(stranger.cert).fingerprint256;
  await relay.waitForOutput(new RegExp(`not mapped to a token .*subject="CN=stranger" sha256=${fingerprint}`));
});

test("a mapping's wrong PIN is counted by the login throttle; other clients go on", async () => {
  const client = await connectAs(wrong);
  try {
    for (let i = 0; i < 3; i++) {
      await rejectsWith(createKeyPair(client, [algorithm(CryptographicAlgorithm.ECDSA), length(256)]), ResultReason.AuthenticationNotSuccessful, /^authentication failed/);
    }
  } finally {
    await client.close();
  }
  // Two reached the token; the third was refused by the throttle.
  await relay.waitForOutput(/authentication failed: .*is refused for another \d+ s after 2 failed logins .*mapped=misconfigured/);
  assert.doesNotMatch(relay.output(), /99999999/, "the PIN is never logged");
  const good = await connectAs(mongo);
  try {
    await createKeyPair(good, [algorithm(CryptographicAlgorithm.ECDSA), length(256)]);
  } finally {
    await good.close();
  }
});

test("PyKMIP with a mapped client certificate and no credential makes a key pair and signs", async () => {
  const result = await runPyKmip({
    host: relay.host,
    port: relay.port,
    ca: join(relay.dir, "state", "tls", "cert.pem"),
    cert: python.certPath,
    key: python.keyPath,
    steps: ["create", "activate", "sign"],
    name: "pykmip-mapped",
  });
  assert.match(result.sign as string, /^[0-9a-f]+$/);
});

test("a PIN file group or others can read stops the start, saying which and how to fix it", async () => {
  const loose = join(pins, "loose.pin");
  await writeFile(loose, token.pin);
  await chmod(loose, 0o644);
  await assert.rejects(
    startRelayProcess({
      token,
      server: [`client-ca-path = "${ca.certPath}"`],
      extra: ["[clients.loose]", 'subject = "CN=mongo-app"', `token = "${token.label}"`, `pin-file = "${loose}"`].join("\n"),
    }),
    new RegExp(`clients\\.loose: pin-file ${loose}: ${loose} has mode 0644: group or others can read or write the PIN \\(chmod 600 ${loose}\\)`),
  );
});

test("`check` lists each mapping with its token's slot, and refuses a token nothing selects", async () => {
  const check = (config: string) =>
    promisify(execFile)(process.execPath, [MAIN, "check", "-c", config], { env: { ...token.env, KMIP2PKCS11_TEST_PYKMIP_PIN: token.pin } }).then(
      ({ stdout }) => ({ status: 0, stdout }),
      (error: { code: number; stdout: string }) => ({ status: error.code, stdout: error.stdout }),
    );
  const good = await check(relay.configPath);
  assert.equal(good.status, 0, good.stdout);
  assert.match(good.stdout, /clients +mongodb: a certificate with subject CN=mongo-app uses token "kmip2pkcs11-test", PIN from pin-file /);
  assert.match(good.stdout, /clients +pykmip: token "label:kmip2pkcs11-test" is slot 0 \("kmip2pkcs11-test"\)/);
  assert.doesNotMatch(good.stdout, new RegExp(token.pin));
  const bad = join(pins, "bad-token.toml");
  await writeFile(bad, (await readFile(relay.configPath, "utf8")).replace('token = "label:kmip2pkcs11-test"', 'token = "label:nothing"'));
  const refused = await check(bad);
  assert.equal(refused.status, 1, refused.stdout);
  assert.match(refused.stdout, /PROBLEM +clients\.pykmip: token "label:nothing": no token matches username "label:nothing"/);
});
