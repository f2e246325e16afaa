// Interoperability with a KMIP client we did not write: PyKMIP discovers,
// queries, creates an RSA key pair, activates it, gets the public key and
// signs; the signature verifies with that public key.
import assert from "node:assert/strict";
import { createPublicKey, generateKeyPairSync, verify } from "node:crypto";
import { after, before, test } from "node:test";
import { pykmipTarget, runPyKmip } from "../helpers/pykmip.js";
import { startRelayProcess, type RunningRelay } from "../helpers/relay.js";

let relay: RunningRelay;
before(async () => {
  relay = await startRelayProcess();
});
after(async () => relay?.cleanup());

test("PyKMIP: discover, query, create, activate, get, sign; the signature verifies", async () => {
  const result = await runPyKmip({
    ...pykmipTarget(relay),
    steps: ["discover", "query", "create", "activate", "get", "sign"],
    data: "example.com. 3600 IN A 192.0.2.1",
  });
  assert.deepEqual(result.discover, ["1.4", "1.3", "1.2", "1.1", "1.0"]);
  const query = result.query as { operations: string[]; objects: string[]; vendor: string };
  for (const op of ["DISCOVER_VERSIONS", "QUERY", "CREATE_KEY_PAIR", "REGISTER", "GET", "ACTIVATE", "MODIFY_ATTRIBUTE", "SIGN"]) {
    assert.ok(query.operations.includes(op), `Query lists ${op}: ${query.operations}`);
  }
  assert.deepEqual(query.objects, ["SYMMETRIC_KEY", "PUBLIC_KEY", "PRIVATE_KEY", "SECRET_DATA", "OPAQUE_DATA"]);
  assert.match(query.vendor, /kmip2pkcs11 .*token "kmip2pkcs11-test".*libsofthsm2\.so/);

  const created = result.create as { public: string; private: string };
  assert.match(created.public, /^[0-9A-F]{40}_pub$/);
  assert.equal(created.private, created.public.replace(/_pub$/, "_priv"));

  const got = result.get as { format: string; der: string; algorithm: string; length: number };
  assert.equal(got.format, "PKCS_1");
  assert.equal(got.algorithm, "RSA");
  assert.equal(got.length, 2048);
  const publicKey = createPublicKey({ key: Buffer.from(got.der, "hex"), format: "der", type: "pkcs1" });
  const ok = verify("sha256", Buffer.from("example.com. 3600 IN A 192.0.2.1"), publicKey, Buffer.from(result.sign as string, "hex"));
  assert.equal(ok, true, "the RSA signature made through the relay verifies");
});

test("PyKMIP: Register of an RSA private key (PKCS#1); once activated it signs through the relay, and the signature verifies with its public key", async () => {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const data = "example.com. 3600 IN DNSKEY 257 3 8 AwEAAQ==";
  const result = await runPyKmip({
    ...pykmipTarget(relay),
    steps: ["register", "activate_registered", "sign_registered"],
    private_key: privateKey.export({ format: "der", type: "pkcs1" }).toString("hex"),
    data,
  });
  assert.match(result.register as string, /^[0-9A-F]{40}_priv$/);
  assert.equal(verify("sha256", Buffer.from(data), publicKey, Buffer.from(result.sign_registered as string, "hex")), true);
});

test("PyKMIP: a wrong password is refused", async () => {
  await assert.rejects(
    runPyKmip({
      ...pykmipTarget(relay),
      password: "not-the-pin",
      steps: ["create"],
    }),
    /AUTHENTICATION_NOT_SUCCESSFUL|Authentication/i,
  );
});
