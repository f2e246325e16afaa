// MongoDB client-side encryption's KMIP flows, driven by the real
// libmongocrypt (Debian's libmongocrypt0) through
// test/fixtures/libmongocrypt/harness.py: libmongocrypt makes each request,
// the harness carries it to the relay over TLS with a client certificate
// mapped in [clients] (libmongocrypt sends no KMIP credential) and feeds the
// answer back. Asserted: the TLS handshake with the certificate, each
// request decoded and answered with Success in its own version (KMIP 1.0),
// the data key libmongocrypt makes with the Secret Data it registered, and a
// later Get of that Secret Data by its keyId.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile, rm, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { decodeRequestMessage, decodeResponseMessage } from "../../src/kmip/message.js";
import { decodeTtlv } from "../../src/ttlv/decode.js";
import { Operation, ResultReason, ResultStatus } from "../../src/ttlv/enums.js";
import { enumerationName } from "../../src/ttlv/names.js";
import { Tag } from "../../src/ttlv/tags.js";
import { startRelayProcess, type RunningRelay } from "../helpers/relay.js";
import { createSoftHsmToken, type SoftHsmToken } from "../helpers/softhsm.js";
import { createCertificateAuthority, issueClientCertificate, type CertificateAuthority, type CertificateFiles } from "../helpers/tls-certs.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const HARNESS = join(ROOT, "test/fixtures/libmongocrypt/harness.py");
const FIXTURES = join(ROOT, "test/data/libmongocrypt");

interface Exchange {
  operation: number;
  request: string;
  response?: string;
  resultStatus?: number;
  resultReason?: number;
  resultMessage?: string;
  kmsError?: string;
}
interface HarnessResult {
  exchanges: Exchange[];
  ok: boolean;
  error?: string;
  dataKey?: { masterKey: { provider: string; keyId: string }; keyMaterialBytes: number };
}

async function harness(args: Record<string, unknown>): Promise<HarnessResult> {
  const { stdout } = await promisify(execFile)("/usr/bin/python3", [HARNESS, JSON.stringify(args)], { timeout: 60_000 });
  return JSON.parse(stdout) as HarnessResult;
}

let relay: RunningRelay;
let token: SoftHsmToken;
let ca: CertificateAuthority;
let pins: string;
let mongodb: CertificateFiles;
let stranger: CertificateFiles;

before(async () => {
  [ca, token, pins] = await Promise.all([createCertificateAuthority("kmip2pkcs11 database clients"), createSoftHsmToken(), mkdtemp(join(tmpdir(), "kmip2pkcs11-pins-"))]);
  mongodb = await issueClientCertificate(ca, "mongodb-csfle");
  stranger = await issueClientCertificate(ca, "stranger");
  await writeFile(join(pins, "mongodb.pin"), token.pin, { mode: 0o600 });
  relay = await startRelayProcess({
    token,
    server: [`client-ca-path = "${ca.certPath}"`],
    extra: ["[clients.mongodb]", 'subject = "CN=mongodb-csfle"', `token = "${token.label}"`, `pin-file = "${join(pins, "mongodb.pin")}"`].join("\n"),
  });
});
after(async () => {
  await relay?.cleanup();
  await token?.cleanup();
  await ca?.cleanup();
  if (pins !== undefined) await rm(pins, { recursive: true, force: true });
});

function target(certificate: CertificateFiles): Record<string, unknown> {
  return { host: relay.host, port: relay.port, ca: join(relay.dir, "state", "tls", "cert.pem"), cert: certificate.certPath, key: certificate.keyPath };
}

const name = (operation: number) => enumerationName(Tag.Operation, operation) ?? String(operation);

/** The relay's answer to one exchange is a whole, well-formed Response Message for the request's operation and version. */
function assertWellFormed(exchange: Exchange): void {
  assert.ok(exchange.response !== undefined && exchange.response.length > 0, `the relay answered the ${name(exchange.operation)}`);
  const request = decodeRequestMessage(decodeTtlv(Buffer.from(exchange.request, "hex")));
  const response = decodeResponseMessage(decodeTtlv(Buffer.from(exchange.response, "hex")));
  assert.deepEqual(response.header.protocolVersion, request.header.protocolVersion, "answered in the request's version");
  assert.equal(response.batchItems.length, 1);
  assert.equal(response.batchItems[0]!.operation, exchange.operation);
}

test("the fixtures in test/data/libmongocrypt are what libmongocrypt sends today", async () => {
  const result = await harness({ flow: "create", stub: true });
  assert.equal(result.ok, true, result.error);
  assert.deepEqual(result.exchanges.map((e) => name(e.operation)), ["Register", "Activate", "Get"]);
  assert.equal(result.dataKey?.masterKey.provider, "kmip");
  for (const [index, file] of ["register", "activate", "get"].entries()) {
    const fixture = (await readFile(join(FIXTURES, `${file}-request.hex`), "utf8")).replace(/\s/g, "").toLowerCase();
    const sent = result.exchanges[index]!.request;
    // The Register's last 96 bytes are the random Key Material of the Secret Data.
    const fixed = (hex: string) => (file === "register" ? hex.slice(0, -192) : hex);
    assert.equal(sent.length, fixture.length, file);
    assert.equal(fixed(sent), fixed(fixture), file);
  }
});

test("every fixture decodes as a KMIP 1.0 request without a credential", async () => {
  for (const file of ["register", "activate", "get"]) {
    const hex = (await readFile(join(FIXTURES, `${file}-request.hex`), "utf8")).replace(/\s/g, "");
    const request = decodeRequestMessage(decodeTtlv(Buffer.from(hex, "hex")));
    assert.deepEqual(request.header.protocolVersion, { major: 1, minor: 0 }, file);
    assert.equal(request.header.authentication, undefined, file);
    assert.equal(name(request.batchItems[0]!.operation).toLowerCase(), file);
  }
});

test("libmongocrypt creates a data key over TLS with its client certificate: Register, Activate, Get; a second data key Gets the same Secret Data", async () => {
  const result = await harness({ flow: "create", ...target(mongodb) });
  assert.ok(result.exchanges.length >= 1, result.error);
  assert.equal(result.exchanges[0]!.operation, Operation.Register);
  for (const exchange of result.exchanges) assertWellFormed(exchange);
  assert.deepEqual(
    result.exchanges.map((e) => [name(e.operation), e.resultStatus, e.resultMessage ?? null]),
    ["Register", "Activate", "Get"].map((operation) => [operation, ResultStatus.Success, null]),
  );
  assert.equal(result.ok, true, result.error);
  assert.equal(result.dataKey?.masterKey.provider, "kmip");
  const keyId = result.dataKey?.masterKey.keyId ?? "";
  assert.match(keyId, /^[0-9A-F]{40}_sec$/, "the data key names the Secret Data the relay registered");
  // AES-256-CBC with a 16-byte IV and HMAC-SHA-512/256 over 96 bytes: IV + 112 bytes of ciphertext (padded) + 32-byte tag.
  assert.equal(result.dataKey?.keyMaterialBytes, 16 + 112 + 32, "libmongocrypt wrapped its 96-byte data key with the Secret Data");
  // A data key that names the Secret Data: libmongocrypt Gets it (KMIP 1.0 Get, answered as Secret Data, Seed, Opaque key format).
  const again = await harness({ flow: "get", keyId, ...target(mongodb) });
  assert.deepEqual(again.exchanges.map((e) => [name(e.operation), e.resultStatus]), [["Get", ResultStatus.Success]]);
  assertWellFormed(again.exchanges[0]!);
  assert.equal(again.ok, true, again.error);
  assert.equal(again.dataKey?.masterKey.keyId, keyId);
});

test("a data key with a keyId the token does not hold: libmongocrypt reads the relay's Item Not Found", async () => {
  const result = await harness({ flow: "get", keyId: "no-such-object", ...target(mongodb) });
  assert.deepEqual(result.exchanges.map((e) => name(e.operation)), ["Get"]);
  assertWellFormed(result.exchanges[0]!);
  assert.equal(result.exchanges[0]!.resultReason, ResultReason.ItemNotFound);
  assert.equal(result.ok, false);
  assert.match(result.error ?? "", /KMIP response error.*Result Reason \(1\): Item Not Found/);
});

test("libmongocrypt with a certificate nobody mapped: Authentication Not Successful, and libmongocrypt says so", async () => {
  const result = await harness({ flow: "create", ...target(stranger) });
  assertWellFormed(result.exchanges[0]!);
  assert.equal(result.exchanges[0]!.resultReason, ResultReason.AuthenticationNotSuccessful);
  assert.match(result.exchanges[0]!.resultMessage ?? "", /client certificate is not mapped to a token/);
  assert.match(result.error ?? "", /KMIP response error/);
});
