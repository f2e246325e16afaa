// The operator commands against SoftHSM and a running relay: `check`,
// `keys list` and `client`, each on success and on the failures operators
// meet (wrong module path, wrong PIN, no such slot), with their exit codes.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createPublicKey, verify } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { MAIN, startRelayProcess, type RunningRelay } from "../helpers/relay.js";
import { createSoftHsmToken } from "../helpers/softhsm.js";

let relay: RunningRelay;
let pinFile: string;
let badModuleConfig: string;

before(async () => {
  relay = await startRelayProcess();
  pinFile = join(relay.dir, "pin");
  await writeFile(pinFile, `${relay.token.pin}\n`, { mode: 0o600 });
  badModuleConfig = join(relay.dir, "bad-module.toml");
  await writeFile(badModuleConfig, 'version = "v1"\n[pkcs11]\nlib-path = "/nonexistent/libvendor-pkcs11.so"\n');
});
after(() => relay.cleanup());

interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs `kmip2pkcs11 ARGS` with the token's environment plus `env`. */
function run(args: string[], env: NodeJS.ProcessEnv = {}, input?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [MAIN, ...args], { env: { ...relay.token.env, ...env } }, (err, stdout, stderr) => {
      resolve({ status: err === null ? 0 : typeof err.code === "number" ? err.code : -1, stdout, stderr });
    });
    child.stdin?.end(input);
  });
}

const WRONG_PIN = { KMIP2PKCS11_PIN: "0000", KMIP2PKCS11_PASSWORD: "0000" };

describe("kmip2pkcs11 check", () => {
  test("shows the [tokens] aliases that select a token", async () => {
    const config = join(relay.dir, "aliases.toml");
    await writeFile(config, `${await readFile(relay.configPath, "utf8")}\n[tokens.signer]\nlabel = ${JSON.stringify(relay.token.label)}\n[tokens.elsewhere]\nlabel = "no-such-token"\n`);
    const r = await run(["check", "-c", config, "--slot", "signer"]);
    assert.match(r.stdout, /^ {2}aliases +\[tokens\] "signer": usernames that select this token too$/m);
    // One that selects nothing is said so, once.
    assert.equal(r.stdout.match(/^warning +\[tokens\] "elsewhere" selects no token: .*KMIP clients with this username are refused$/gm)?.length, 1, r.stdout);
  });

  test("two tokens with one label: the ambiguity is one warning, not one per token", async () => {
    const twins = await createSoftHsmToken({ labels: ["twin", "twin"] });
    try {
      const config = join(twins.dir, "config.toml");
      await writeFile(config, `version = "v1"\n[pkcs11]\nlib-path = ${JSON.stringify(twins.modulePath)}\n[server]\naddr = "127.0.0.1:0"\nstate-dir = ${JSON.stringify(join(twins.dir, "state"))}\n`);
      const r = await run(["check", "-c", config], twins.env);
      assert.equal(r.status, 0, r.stdout);
      assert.equal(r.stdout.match(/^warning +2 tokens are labelled "twin": that username is refused as ambiguous$/gm)?.length, 1, r.stdout);
      assert.equal(r.stdout.match(/^ {2}username +KMIP clients select this token with username "serial:[0-9a-f]+"$/gm)?.length, 2, r.stdout);
    } finally {
      await twins.cleanup();
    }
  });

  test("a working setup: module, token, mechanisms and login; exit 0", async () => {
    const r = await run(["check", "-c", relay.configPath, "--slot", relay.token.label, "--pin-file", pinFile]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^config +\S+config\.toml: valid$/m);
    assert.match(r.stdout, /^module +\/usr\/lib\/softhsm\/libsofthsm2\.so$/m);
    assert.match(r.stdout, new RegExp(`^  token +"${relay.token.label}", serial [0-9a-f]+, SoftHSM project SoftHSM v2$`, "m"));
    assert.match(r.stdout, /^ {2}flags +user PIN set, login required$/m);
    assert.match(r.stdout, /^ {2}sessions +token allows no limit \(read\/write: no limit\); the relay opens up to 16$/m);
    assert.match(r.stdout, /^ {2}username +KMIP clients select this token with username "kmip2pkcs11-test" \(or "serial:[0-9a-f]+"\)$/m);
    assert.match(r.stdout, /^ {4}ok +ECDSA signatures +CKM_ECDSA$/m);
    assert.match(r.stdout, /^ {4}ok +RSA key pairs +CKM_RSA_PKCS_KEY_PAIR_GEN$/m);
    assert.match(r.stdout, /^login +slot 0 \("kmip2pkcs11-test"\): PIN accepted; \d+ key objects/m);
    assert.match(r.stdout, /^result +no problems found\n$/m);
  });

  test("without a PIN it checks all tokens and does not log in", async () => {
    const r = await run(["check", "-c", relay.configPath]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^login +not tried/m);
    // SoftHSM's spare slot is listed, and is no problem.
    assert.match(r.stdout, /^ {2}token +not initialised/m);
  });

  test("a wrong module path: the problem and the fix, exit 1", async () => {
    const r = await run(["check", "-c", badModuleConfig]);
    assert.equal(r.status, 1);
    assert.match(r.stdout, /^PROBLEM +PKCS#11 module \/nonexistent\/libvendor-pkcs11\.so: cannot load the library/m);
    assert.match(r.stdout, /^ {2}fix +check \[pkcs11\] lib-path = "\/nonexistent\/libvendor-pkcs11\.so"/m);
    assert.match(r.stdout, /^result +1 problem found\n$/m);
  });

  test("a wrong PIN: CKR_PIN_INCORRECT, exit 1", async () => {
    const r = await run(["check", "-c", relay.configPath, "--slot", relay.token.label], WRONG_PIN);
    assert.equal(r.status, 1);
    assert.match(r.stdout, /^PROBLEM +login to "kmip2pkcs11-test" failed: C_Login: CKR_PIN_INCORRECT$/m);
    assert.match(r.stdout, /^ {2}fix +give the token's user PIN/m);
  });

  test("no such slot: the tokens there are, exit 1", async () => {
    const r = await run(["check", "-c", relay.configPath, "--slot", "no-such-token"]);
    assert.equal(r.status, 1);
    assert.match(r.stdout, /^PROBLEM +no token \S+ [^\n]*"no-such-token"/m);
    assert.match(r.stdout, /^ {2}fix +name one of the tokens: "kmip2pkcs11-test" \(slot 0, id \d+\)$/m);
  });

  test("a PIN on the command line is refused: exit 2", async () => {
    const r = await run(["check", "-c", relay.configPath, "--pin", "1234"]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^kmip2pkcs11 check: unknown option '--pin'\n/);
  });
});

describe("kmip2pkcs11 client and keys list", () => {
  const connection = () => ["-s", `${relay.host}:${relay.port}`, "--ca", join(relay.dir, "state", "tls", "cert.pem"), "-u", relay.token.label];
  const password = () => ({ KMIP2PKCS11_PASSWORD: relay.token.pin });
  const client = (args: string[], env: NodeJS.ProcessEnv = password(), input?: string) => run(["client", ...connection(), ...args], env, input);

  test("discover and query", async () => {
    const discover = await client(["discover"]);
    assert.deepEqual(discover, { status: 0, stdout: "Protocol versions: 1.4, 1.3, 1.2, 1.1, 1.0\n", stderr: "" });
    const query = await client(["query"]);
    assert.equal(query.status, 0, query.stderr);
    assert.match(query.stdout, /^Server: +kmip2pkcs11 \d+\.\d+\.\d+; token "kmip2pkcs11-test"/m);
    assert.match(query.stdout, /^Operations: +.*Create Key Pair, .*Sign/m);
    assert.match(query.stdout, /^Object types: Symmetric Key, Public Key, Private Key, Secret Data, Opaque Data$/m);
  });

  test("create, keys list, get, sign (verified), locate, revoke, destroy", async () => {
    const created = await client(["create", "--algorithm", "ec", "--curve", "P-384", "--label", "ops-key"]);
    assert.equal(created.status, 0, created.stderr);
    const [, priv, pub] = /^Private key: (\S+_priv)\nPublic key: {2}(\S+_pub)\n$/.exec(created.stdout) ?? [];
    assert.ok(priv !== undefined && pub !== undefined, created.stdout);

    const table = await run(["keys", "list", "-c", relay.configPath, "--pin-file", pinFile]);
    assert.equal(table.status, 0, table.stderr);
    assert.match(table.stdout, /^KMIP ID +CLASS +TYPE +BITS +USAGE +LABEL$/m);
    assert.match(table.stdout, new RegExp(`^${priv} +private +EC P-384 +384 +sign\\S* +ops-key$`, "m"));
    assert.match(table.stdout, new RegExp(`^${pub} +public +EC P-384 +384 +verify +ops-key$`, "m"));
    assert.match(table.stdout, /^\d+ keys \(\d+ CKA_IDs?\) on token "kmip2pkcs11-test" \(slot 0, id \d+, serial [0-9a-f]+\) of \/usr\/lib\/softhsm\/libsofthsm2\.so\.$/m);
    const json = await run(["keys", "list", "-c", relay.configPath, "--slot", relay.token.label, "--type", "ec", "--json"], { KMIP2PKCS11_PIN: relay.token.pin });
    assert.equal(json.status, 0, json.stderr);
    const listed = JSON.parse(json.stdout) as { keys: { id: string; ckaId: string; class: string; curve: string; label: string }[] };
    const mine = listed.keys.filter((k) => k.label === "ops-key");
    assert.deepEqual(
      mine.map((k) => [k.id, k.class, k.curve, k.ckaId]),
      [
        [priv, "private", "P-384", priv.replace("_priv", "")],
        [pub, "public", "P-384", priv.replace("_priv", "")],
      ],
    );

    const got = await client(["get", pub]);
    assert.equal(got.status, 0, got.stderr);
    assert.match(got.stdout, /^ECDSA, 384 bits, X509\n-----BEGIN PUBLIC KEY-----\n/);
    const publicKey = createPublicKey(got.stdout.slice(got.stdout.indexOf("-----BEGIN")));

    const data = "example.com. 3600 IN A 192.0.2.1";
    const signed = await client(["sign", priv], password(), data);
    assert.equal(signed.status, 0, signed.stderr);
    const signature = Buffer.from(signed.stdout.trim(), "hex");
    assert.ok(verify("sha384", Buffer.from(data), publicKey, signature), "the signature verifies with the public key from get");

    const located = await client(["locate", "--label", "ops-key", "--class", "private"]);
    assert.deepEqual(located, { status: 0, stdout: `${priv}\n`, stderr: "" });

    assert.deepEqual(await client(["revoke", priv]), { status: 0, stdout: `Revoked ${priv} (cessation-of-operation)\n`, stderr: "" });
    assert.deepEqual(await client(["destroy", priv]), { status: 0, stdout: `Destroyed ${priv}\n`, stderr: "" });
    const gone = await client(["sign", priv, "--data", "x"]);
    assert.equal(gone.status, 1);
    assert.match(gone.stderr, /^kmip2pkcs11 client: Sign: \w+, ItemNotFound: /);
    assert.match(gone.stderr, /\n {2}fix: list the keys with/);
  });

  test("sign --count: many signatures over several connections", async () => {
    const created = await client(["create", "--algorithm", "ec"]);
    const priv = /^Private key: (\S+)$/m.exec(created.stdout)?.[1] as string;
    const r = await client(["sign", priv, "--data", "x", "--count", "40", "--connections", "2", "--in-flight", "2", "--batch", "4"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^40 signatures in [\d.]+ s over 2 connections \(2 in flight each, 4 per request\): \d+ signatures\/s\nlatency per request: p50 /);
  });

  test("Permission Denied: the server's message, and a fix only where it fits the command", async () => {
    const created = await client(["create", "--algorithm", "ec"]);
    const [, priv, pub] = /^Private key: (\S+)\nPublic key: {2}(\S+)\n$/.exec(created.stdout) ?? [];
    assert.ok(priv !== undefined && pub !== undefined, created.stdout);

    // The Result Message says what to do; a hint about signing would mislead.
    const getPrivate = await client(["get", priv]);
    assert.equal(getPrivate.status, 1);
    assert.match(getPrivate.stderr, /^kmip2pkcs11 client: Get: \w+, PermissionDenied: \S+_priv is a private key; private keys never leave the HSM[^\n]*\n$/);

    const signPublic = await client(["sign", pub, "--data", "x"]);
    assert.equal(signPublic.status, 1);
    assert.match(signPublic.stderr, /^kmip2pkcs11 client: Sign: \w+, PermissionDenied: [^\n]*public key[^\n]*\n {2}fix: the key may not do this \(a public key cannot sign/);

    // Destroy of an Active key: deactivated first on the default configuration (Cascade's removal).
    for (const id of [priv, pub]) assert.equal((await client(["destroy", id])).status, 0);
  });

  test("a wrong password and an unknown token: Authentication Not Successful, exit 1", async () => {
    for (const [args, env] of [
      [[], WRONG_PIN],
      [["-u", "no-such-token"], password()],
    ] as const) {
      const r = await client([...args, "query"], env);
      assert.equal(r.status, 1);
      assert.match(r.stderr, /^kmip2pkcs11 client: Query: \w+, AuthenticationNotSuccessful/);
      assert.match(r.stderr, /fix: check --username/);
    }
  });

  test("keys list: wrong module path, wrong PIN, no such slot exit 1; no PIN exits 2", async () => {
    const badModule = await run(["keys", "list", "-c", badModuleConfig, "--pin-file", pinFile]);
    assert.equal(badModule.status, 1);
    assert.match(badModule.stderr, /^kmip2pkcs11 keys: PKCS#11 module \/nonexistent\/libvendor-pkcs11\.so: cannot load the library/);
    const wrongPin = await run(["keys", "list", "-c", relay.configPath], WRONG_PIN);
    assert.equal(wrongPin.status, 1);
    assert.match(wrongPin.stderr, /^kmip2pkcs11 keys: login to "kmip2pkcs11-test" failed: C_Login: CKR_PIN_INCORRECT\n {2}fix: /);
    const noSlot = await run(["keys", "list", "-c", relay.configPath, "--slot", "nope", "--pin-file", pinFile]);
    assert.equal(noSlot.status, 1);
    assert.match(noSlot.stderr, /^kmip2pkcs11 keys: no token \S+ [^\n]*"nope"[^\n]*\n {2}fix: name one of the tokens: "kmip2pkcs11-test"/);
    const noPin = await run(["keys", "list", "-c", relay.configPath]);
    assert.equal(noPin.status, 2);
    assert.match(noPin.stderr, /the token's user PIN is needed/);
  });

  test("connection failures: nothing listening, an untrusted certificate", async () => {
    const refused = await run(["client", "-s", "127.0.0.1:1", "-u", "x", "discover"], password());
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /^kmip2pkcs11 client: cannot connect to 127\.0\.0\.1:1: ECONNREFUSED\n {2}fix: is the relay running/);
    const untrusted = await run(["client", "-s", `${relay.host}:${relay.port}`, "-u", relay.token.label, "discover"], password());
    assert.equal(untrusted.status, 1);
    assert.match(untrusted.stderr, /^kmip2pkcs11 client: the certificate of 127\.0\.0\.1:\d+ is not trusted: .*\n {2}fix: give the relay's certificate/);
  });

  test("-c takes the address and the generated certificate from the relay's config", async () => {
    // The relay's config listens on port 0; -s overrides the address, the CA still comes from -c.
    const r = await run(["client", "-c", relay.configPath, "-s", `${relay.host}:${relay.port}`, "-u", relay.token.label, "discover"], password());
    assert.equal(r.status, 0, r.stderr);
  });

  test("command line errors exit 2", async () => {
    const cases: [string[], RegExp][] = [
      [["get"], /'get' takes one key id/],
      [["get", "X_pub", "--bits", "2048"], /--bits is not an option of 'get'/],
      [["create"], /create needs --algorithm/],
      [["create", "--algorithm", "dsa"], /--algorithm: expected rsa, ec, ed25519; got 'dsa'/],
      [["sign", "X_priv", "--count", "10", "--batch", "3"], /--count 10 is not a multiple of --batch 3/],
      [["frobnicate"], /unknown command 'frobnicate'/],
    ];
    for (const [args, message] of cases) {
      const r = await client(args);
      assert.equal(r.status, 2, args.join(" "));
      assert.match(r.stderr, message);
    }
    const noPassword = await run(["client", ...connection(), "discover"], { KMIP2PKCS11_PASSWORD: "" });
    assert.equal(noPassword.status, 2);
    assert.match(noPassword.stderr, /give the password/);
  });
});
