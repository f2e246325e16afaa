// [clients.NAME]: the config keys and their refusals, the certificate
// matchers (subject in either order, SANs, fingerprint), the PIN sources
// (file mode, environment, systemd credential) and the dispatcher's use of a
// mapped client: the token and PIN of the mapping when the request has no
// credential, the request's own credential when it has one, Authentication
// Not Successful for a certificate nobody mapped. Over TLS with SoftHSM:
// test/e2e/clients.test.ts.
import assert from "node:assert/strict";
import { chmod, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import pino from "pino";
import { parseConfig, type Config } from "../../src/config/config.js";
import { ConfigError } from "../../src/config/table-reader.js";
import { certificateSubject, parseDistinguishedName, sameDistinguishedName } from "../../src/config/clients.js";
import type { HsmBackend, SlotSummary } from "../../src/hsm/backend.js";
import { HsmError } from "../../src/hsm/hsm-error.js";
import { decodeResponseMessage, encodeRequestMessage, type RequestHeader } from "../../src/kmip/message.js";
import { ClientDirectory, matches, parseSubjectAltName, PinSourceError, readPin, type PeerCertificate } from "../../src/server/client-identity.js";
import { Dispatcher, type RequestScope } from "../../src/server/dispatch.js";
import { ClientLoginThrottle } from "../../src/server/login-throttle.js";
import * as ttlv from "../../src/ttlv/build.js";
import { decodeTtlv } from "../../src/ttlv/decode.js";
import { encodeTtlv } from "../../src/ttlv/encode.js";
import { CredentialType, Operation, ResultReason, ResultStatus } from "../../src/ttlv/enums.js";
import { Tag } from "../../src/ttlv/tags.js";

const FILE = "/etc/kmip2pkcs11/config.toml";
const BASE = 'version = "v1"\n[pkcs11]\nlib-path = "/usr/lib/softhsm/libsofthsm2.so"\n[server]\nclient-ca-path = "/etc/kmip2pkcs11/clients-ca.pem"\n';
const FINGERPRINT = "87:C0:2D:C3:48:90:B8:B5:C4:F3:58:55:59:59:CB:5C:53:03:CA:32:D4:D9:58:11:73:20:1B:C6:5C:B7:3F:4E";

function parse(clients: string, base = BASE): Config {
  return parseConfig(`${base}${clients}`, FILE);
}

function rejects(clients: string, message: string, base = BASE): void {
  assert.throws(
    () => parse(clients, base),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError, `not a ConfigError: ${String(err)}`);
      assert.equal(err.message, message);
      return true;
    },
  );
}

/** What Node shows of a certificate with this subject, SANs and fingerprint. */
function certificate(overrides: Partial<PeerCertificate> = {}): PeerCertificate {
  const subjectText = overrides.subjectText ?? "CN=mongo app\nO=Example\\, Inc.\nOU=db";
  return {
    subjectText,
    subject: certificateSubject(subjectText),
    sanDns: ["app.example.com"],
    sanEmail: ["db@example.com"],
    sanUri: ["spiffe://example.com/mongo"],
    fingerprint256: FINGERPRINT,
    ...overrides,
  };
}

describe("[clients] in the config file", () => {
  test("a file without [clients] has none (existing files keep working)", () => {
    assert.deepEqual(parse("").clients, []);
  });

  test("each table maps matchers to a token and a PIN source", () => {
    const c = parse(
      [
        "[clients.mongodb]",
        'subject = "CN=mongo app, O=Example\\\\, Inc., OU=db"',
        'token = "dnssec"',
        'pin-file = "/etc/kmip2pkcs11/pins/mongodb"',
        "[clients.vault]",
        `fingerprint-sha256 = "${FINGERPRINT.toLowerCase()}"`,
        'san-uri = "spiffe://example.com/vault"',
        'token = "serial:9a3cd7b40a336c4d"',
        'pin-env = "VAULT_PIN"',
        "[clients.ceph]",
        'san-dns = "rgw.example.com"',
        'token = "label:ceph"',
        'pin-credential = "ceph-pin"',
      ].join("\n"),
    );
    assert.deepEqual(
      c.clients.map((x) => [x.name, x.token, x.pinSource]),
      [
        ["mongodb", "dnssec", { type: "file", path: "/etc/kmip2pkcs11/pins/mongodb" }],
        ["vault", "serial:9a3cd7b40a336c4d", { type: "env", name: "VAULT_PIN" }],
        ["ceph", "label:ceph", { type: "credential", name: "ceph-pin" }],
      ],
    );
    assert.deepEqual(c.clients[0]!.match.subject, [
      { type: "CN", value: "mongo app" },
      { type: "O", value: "Example, Inc." },
      { type: "OU", value: "db" },
    ]);
    assert.equal(c.clients[1]!.match.fingerprint, FINGERPRINT.replaceAll(":", ""));
    assert.equal(c.clients[1]!.match.sanUri, "spiffe://example.com/vault");
  });

  test("a PIN in the config file needs allow-pin-in-config = true", () => {
    rejects('[clients.a]\nsan-dns = "a"\ntoken = "t"\npin = "1234"', `${FILE}: clients.a.pin: a PIN in the config file is refused unless allow-pin-in-config = true: use pin-file, pin-env or pin-credential`);
    const c = parse('[clients.a]\nsan-dns = "a"\ntoken = "t"\npin = "1234"\nallow-pin-in-config = true');
    assert.deepEqual(c.clients[0]!.pinSource, { type: "config" });
    assert.equal(c.clients[0]!.pin, "1234");
  });

  test("refusals name the key and say what to write", () => {
    rejects('[clients.a]\ntoken = "t"\npin-file = "/p"', `${FILE}: clients.a.subject: missing: match the certificate by subject, san-dns, san-email, san-uri or fingerprint-sha256`);
    rejects('[clients.a]\nsan-dns = "a"\ntoken = "t"', `${FILE}: clients.a.pin-file: missing: say where the PIN comes from with pin-file, pin-env or pin-credential`);
    rejects('[clients.a]\nsan-dns = "a"\ntoken = "t"\npin-file = "/p"\npin-env = "P"', `${FILE}: clients.a.pin-env: give only one of pin-file, pin-env, pin-credential, pin`);
    rejects('[clients.a]\nsan-dns = "a"\npin-file = "/p"', `${FILE}: clients.a.token: missing: expected a string`);
    rejects('[clients.a]\nfingerprint-sha256 = "ab:cd"\ntoken = "t"\npin-file = "/p"', `${FILE}: clients.a.fingerprint-sha256: expected the certificate's SHA-256 fingerprint (64 hex digits, colons allowed), got "ab:cd"`);
    rejects('[clients.a]\nsubject = "mongo"\ntoken = "t"\npin-file = "/p"', `${FILE}: clients.a.subject: expected TYPE=value pairs such as "CN=app, O=Example", got "mongo"`);
    rejects('[clients.a]\nsan-dns = "a"\ntoken = "t"\npin-env = "NOT-A-NAME"', `${FILE}: clients.a.pin-env: not an environment variable name: "NOT-A-NAME"`);
    rejects('[clients.a]\nsan-dns = "a"\ntoken = "t"\npin-credential = "../pin"', `${FILE}: clients.a.pin-credential: not a credential name: "../pin"`);
    rejects('[clients.a]\nsan-dns = "a"\ntoken = "t"\npin-file = "/p"\npin-fil = "/q"', `${FILE}: clients.a.pin-fil: unknown key (did you mean "pin-file"?)`);
    rejects('[clients.a]\nsan-dns = "a"\ntoken = "t"\npin-file = "/p"\nallow-pin-in-config = true', `${FILE}: clients.a.allow-pin-in-config: only with pin`);
  });

  test("[clients] needs server.client-ca-path: no other certificate is verified", () => {
    rejects(
      '[clients.a]\nsan-dns = "a"\ntoken = "t"\npin-file = "/p"',
      `${FILE}: clients: a client certificate is verified only with server.client-ca-path: set it to the CA that issues the clients' certificates`,
      'version = "v1"\n[pkcs11]\nlib-path = "/x.so"\n',
    );
  });
});

describe("distinguished names", () => {
  const fail = (detail: string): never => {
    throw new Error(detail);
  };
  test("RFC 4514, OpenSSL's print form and openssl -subj's form read alike, in any order", () => {
    const cert = certificateSubject("CN=mongo app\nO=Example\\, Inc.\nOU=db");
    for (const text of ["CN=mongo app,O=Example\\, Inc.,OU=db", 'OU = db, O = "Example, Inc.", CN = mongo app', "/CN=mongo app/O=Example, Inc./OU=db", "ou=db,cn=mongo app,o=Example\\2C Inc."]) {
      assert.ok(sameDistinguishedName(parseDistinguishedName(text, fail), cert), text);
    }
  });
  test("hex pairs are UTF-8 bytes; an escaped comma is part of the value", () => {
    assert.ok(sameDistinguishedName(parseDistinguishedName("CN=J\\C3\\A9r\\C3\\B4me, O=A\\, B", fail), certificateSubject("CN=Jérôme\nO=A\\, B")));
  });
  test("a missing or extra attribute, or another value, does not match", () => {
    const cert = certificateSubject("CN=mongo app\nO=Example\\, Inc.\nOU=db");
    for (const text of ["CN=mongo app", "CN=mongo app,O=Example\\, Inc.,OU=db,C=NL", "CN=Mongo app,O=Example\\, Inc.,OU=db"]) {
      assert.ok(!sameDistinguishedName(parseDistinguishedName(text, fail), cert), text);
    }
  });
});

describe("matching a certificate", () => {
  const client = (match: string) => parse(`[clients.a]\n${match}\ntoken = "t"\npin-env = "P"`).clients[0]!;
  test("every matcher given must match", () => {
    assert.ok(matches(client('subject = "CN=mongo app,O=Example\\\\, Inc.,OU=db"'), certificate()));
    assert.ok(matches(client('san-dns = "APP.example.com"'), certificate()), "DNS names without case");
    assert.ok(matches(client('san-email = "db@example.com"'), certificate()));
    assert.ok(matches(client('san-uri = "spiffe://example.com/mongo"'), certificate()));
    assert.ok(matches(client(`fingerprint-sha256 = "${FINGERPRINT.replaceAll(":", "")}"`), certificate()));
    assert.ok(matches(client(`san-dns = "app.example.com"\nfingerprint-sha256 = "${FINGERPRINT}"`), certificate()));
    assert.ok(!matches(client(`san-dns = "app.example.com"\nfingerprint-sha256 = "${"00".repeat(32)}"`), certificate()));
    assert.ok(!matches(client('san-email = "DB@example.com"'), certificate()), "email exactly");
    assert.ok(!matches(client('san-uri = "spiffe://example.com/mongo/x"'), certificate()));
    assert.ok(!matches(client('subject = "CN=mongo app"'), certificate()));
  });

  test("Node's subjectAltName text is split into its names, quoted ones too", () => {
    const names = parseSubjectAltName('DNS:a.example, DNS:"b, c", email:x@y, URI:spiffe://t/u, IP Address:127.0.0.1');
    assert.deepEqual(names.get("DNS"), ["a.example", "b, c"]);
    assert.deepEqual(names.get("email"), ["x@y"]);
    assert.deepEqual(names.get("URI"), ["spiffe://t/u"]);
    assert.deepEqual(names.get("IP Address"), ["127.0.0.1"]);
  });

  test("the first table in file order that matches wins; no certificate matches nothing", () => {
    const c = parse('[clients.first]\nsan-dns = "app.example.com"\ntoken = "one"\npin-env = "P1"\n[clients.second]\nsan-email = "db@example.com"\ntoken = "two"\npin-env = "P2"');
    const directory = ClientDirectory.load(c.clients, { P1: "1111", P2: "2222" });
    assert.equal(directory.match(certificate())?.name, "first");
    assert.equal(directory.match(certificate({ sanDns: [] }))?.token, "two");
    assert.equal(directory.match(certificate({ sanDns: [], sanEmail: [] })), undefined);
    assert.equal(directory.match(undefined), undefined);
  });
});

describe("PIN sources", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "kmip2pkcs11-pins-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const clientWith = (source: string) => parse(`[clients.app]\nsan-dns = "a"\ntoken = "t"\n${source}`).clients[0]!;
  const refused = (fn: () => unknown, message: RegExp) =>
    assert.throws(fn, (err: unknown) => {
      assert.ok(err instanceof PinSourceError, String(err));
      assert.match(err.message, message);
      assert.ok(!err.message.includes("0000"), "the PIN is not in the message");
      return true;
    });

  test("a file of mode 0600 is read as bytes, without its line end", async () => {
    const path = join(dir, "pin");
    await writeFile(path, "1234\n", { mode: 0o600 });
    assert.deepEqual(readPin(clientWith(`pin-file = "${path}"`)), Buffer.from("1234"));
  });

  test("a file group or others can read or write is refused, naming its mode and the fix", async () => {
    for (const mode of [0o640, 0o604, 0o620]) {
      const path = join(dir, `pin-${mode.toString(8)}`);
      await writeFile(path, "0000");
      await chmod(path, mode);
      refused(() => readPin(clientWith(`pin-file = "${path}"`)), new RegExp(`^clients\\.app: pin-file ${path}: ${path} has mode 0${mode.toString(8)}: group or others can read or write the PIN$`));
    }
  });

  test("a missing, empty or symlinked file is refused", async () => {
    refused(() => readPin(clientWith(`pin-file = "${join(dir, "none")}"`)), /cannot read .*none: no such file/);
    await writeFile(join(dir, "empty"), "\n", { mode: 0o600 });
    refused(() => readPin(clientWith(`pin-file = "${join(dir, "empty")}"`)), /is empty/);
    await writeFile(join(dir, "target"), "0000", { mode: 0o600 });
    await symlink(join(dir, "target"), join(dir, "link"));
    refused(() => readPin(clientWith(`pin-file = "${join(dir, "link")}"`)), /symbolic link/);
  });

  test("an environment variable, set or not", () => {
    assert.deepEqual(readPin(clientWith('pin-env = "APP_PIN"'), { APP_PIN: "98765" }), Buffer.from("98765"));
    refused(() => readPin(clientWith('pin-env = "APP_PIN"'), {}), /^clients\.app: pin-env APP_PIN: the variable is not set$/);
  });

  test("a systemd credential is read from $CREDENTIALS_DIRECTORY", async () => {
    await writeFile(join(dir, "app-pin"), "4242", { mode: 0o400 });
    assert.deepEqual(readPin(clientWith('pin-credential = "app-pin"'), { CREDENTIALS_DIRECTORY: dir }), Buffer.from("4242"));
    refused(() => readPin(clientWith('pin-credential = "app-pin"'), {}), /CREDENTIALS_DIRECTORY is not set/);
    refused(() => readPin(clientWith('pin-credential = "other"'), { CREDENTIALS_DIRECTORY: dir }), /no such file/);
  });
});

describe("the dispatcher with [clients]", () => {
  const logger = pino({ level: "silent" });
  const SLOT: SlotSummary = {
    slotId: "7",
    index: 0,
    slotDescription: "fake slot",
    tokenLabel: "token",
    tokenSerial: "1",
    tokenManufacturer: "test",
    tokenModel: "fake",
    maxSessionCount: 0,
    maxRwSessionCount: 0,
    tokenInitialized: true,
    userPinInitialized: true,
    loginRequired: true,
  };
  /** Knows one token, "token", with PIN "1234"; records what it is asked. */
  function backend(calls: string[]): HsmBackend {
    return {
      async resolveSlot(username: string) {
        calls.push(`resolveSlot ${username}`);
        if (username !== "token") throw new HsmError("SLOT_NOT_FOUND", `no token labelled "${username}"`);
        return SLOT;
      },
      async authenticate(slotId: string, pin: Uint8Array) {
        calls.push(`authenticate ${slotId}`);
        if (Buffer.from(pin).toString("utf8") !== "1234") throw new HsmError("AUTH_FAILED", `slot ${slotId}: wrong PIN`);
      },
    } as unknown as HsmBackend;
  }
  const get = {
    operation: Operation.Get,
    name: "Get",
    readOnly: true,
    async run() {
      return ttlv.structure(Tag.ResponsePayload, [ttlv.textString(Tag.UniqueIdentifier, "k")]);
    },
  };
  const config = parse('[clients.good]\nsan-dns = "app.example.com"\ntoken = "token"\npin-env = "GOOD"\n[clients.wrong]\nsan-dns = "wrong.example.com"\ntoken = "token"\npin-env = "WRONG"');
  function dispatcher(calls: string[], loginThrottle?: ClientLoginThrottle): Dispatcher {
    return new Dispatcher({
      backend: backend(calls),
      handlers: [get],
      server: { productName: "kmip2pkcs11", productVersion: "0.0.0" },
      logger,
      maxMessageSize: 65536,
      maxBatchCount: 10,
      clients: ClientDirectory.load(config.clients, { GOOD: "1234", WRONG: "9999" }),
      ...(loginThrottle && { loginThrottle }),
    });
  }
  async function request(d: Dispatcher, scope: RequestScope, authentication?: RequestHeader["authentication"]) {
    const header: RequestHeader = { protocolVersion: { major: 1, minor: 2 }, batchCount: 1, ...(authentication && { authentication }) };
    const bytes = encodeTtlv(encodeRequestMessage({ header, batchItems: [{ operation: Operation.Get, requestPayload: ttlv.structure(Tag.RequestPayload, []) }] }));
    return decodeResponseMessage(decodeTtlv(await d.handle(bytes, logger, scope))).batchItems[0]!;
  }

  test("a mapped certificate without a credential uses the mapping's token and PIN", async () => {
    const calls: string[] = [];
    const answer = await request(dispatcher(calls), { client: "127.0.0.1 cert", certificate: certificate() });
    assert.equal(answer.resultStatus, ResultStatus.Success);
    assert.deepEqual(calls, ["resolveSlot token", "authenticate 7"]);
  });

  test("a request's own credential wins over the mapping", async () => {
    const calls: string[] = [];
    const answer = await request(dispatcher(calls), { certificate: certificate() }, { credential: { credentialType: CredentialType.UsernameAndPassword, username: "other", password: "1234" } });
    assert.equal(answer.resultReason, ResultReason.AuthenticationNotSuccessful);
    assert.deepEqual(calls, ["resolveSlot other"]);
  });

  test("a certificate nobody mapped, without a credential, is Authentication Not Successful saying so", async () => {
    const calls: string[] = [];
    const answer = await request(dispatcher(calls), { certificate: certificate({ sanDns: ["stranger.example.com"] }) });
    assert.equal(answer.resultReason, ResultReason.AuthenticationNotSuccessful);
    assert.match(answer.resultMessage ?? "", /no Username and Password credential, and the client certificate is not mapped to a token \(\[clients\]/);
    assert.deepEqual(calls, []);
  });

  test("a mapped client's wrong PIN is counted by the login throttle like a Password", async () => {
    const calls: string[] = [];
    const throttle = new ClientLoginThrottle({ limit: 2, windowMs: 60_000, cooldownMs: 300_000, budgetPerHour: 20 });
    const d = dispatcher(calls, throttle);
    const wrong = { client: "127.0.0.1 wrong", certificate: certificate({ sanDns: ["wrong.example.com"] }) };
    for (let i = 0; i < 3; i++) assert.equal((await request(d, wrong)).resultReason, ResultReason.AuthenticationNotSuccessful);
    // Two reached the token; the third was refused by the throttle without asking it.
    assert.equal(calls.filter((c) => c.startsWith("authenticate")).length, 2);
    assert.equal((await request(d, { client: "127.0.0.1 good", certificate: certificate() })).resultStatus, ResultStatus.Success);
  });
});
