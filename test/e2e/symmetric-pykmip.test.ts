// Symmetric keys through a KMIP client we did not write: PyKMIP creates an
// exportable AES-256 key and an HMAC-SHA256 key on SoftHSM through the
// relay, encrypts and decrypts with AES-CBC and PKCS#5 padding (the IV made
// by the token), computes a MAC, gets the AES key and destroys both. The
// ciphertext and the MAC are checked against node:crypto with the key Get
// returned.
import assert from "node:assert/strict";
import { createDecipheriv } from "node:crypto";
import { after, before, test } from "node:test";
import { pykmipTarget, runPyKmip } from "../helpers/pykmip.js";
import { startRelayProcess, type RunningRelay } from "../helpers/relay.js";

let relay: RunningRelay;
before(async () => {
  relay = await startRelayProcess();
});
after(async () => relay?.cleanup());

test("PyKMIP: Create AES-256 (Extractable), Activate, Encrypt/Decrypt AES-CBC-PKCS5 with a random IV, Get, Create HMAC-SHA256, Activate, MAC, Destroy", async () => {
  const message = "attack at dawn, and bring the ciphertext";
  const result = await runPyKmip({
    ...pykmipTarget(relay),
    version: "1.4",
    extractable: true,
    data: message,
    steps: ["create_aes", "activate_aes", "encrypt_cbc", "decrypt_cbc", "get_aes", "create_hmac", "activate_hmac", "mac", "destroy_symmetric"],
  });
  assert.match(result.create_aes as string, /^[0-9A-F]{40}_sec$/);
  const encrypted = result.encrypt_cbc as { data: string; iv: string };
  assert.equal(Buffer.from(encrypted.iv, "hex").length, 16, "the relay returned the 16-byte IV the token made");
  assert.equal(Buffer.from(encrypted.data, "hex").length, 48, "40 bytes padded to 3 blocks");
  assert.equal(result.decrypt_cbc, message);

  const got = result.get_aes as { format: string; value: string; algorithm: string; length: number };
  assert.deepEqual([got.format, got.algorithm, got.length], ["RAW", "AES", 256]);
  const decipher = createDecipheriv("aes-256-cbc", Buffer.from(got.value, "hex"), Buffer.from(encrypted.iv, "hex"));
  const plain = Buffer.concat([decipher.update(Buffer.from(encrypted.data, "hex")), decipher.final()]).toString();
  assert.equal(plain, message, "the key Get returned decrypts what the token encrypted");

  assert.match(result.create_hmac as string, /^[0-9A-F]{40}_sec$/);
  const mac = result.mac as { uid: string; mac: string };
  assert.equal(mac.uid, result.create_hmac);
  assert.equal(Buffer.from(mac.mac, "hex").length, 32);
  assert.equal(result.destroy_symmetric, true);
});

test("PyKMIP: Get of an AES key created without Extractable is Permission Denied, with the reason", async () => {
  await assert.rejects(
    runPyKmip({ ...pykmipTarget(relay), version: "1.4", steps: ["create_aes", "get_aes"] }),
    (error: Error) => {
      assert.match(error.message, /"failed": "get_aes"/);
      assert.match(error.message, /PERMISSION_DENIED/);
      assert.match(error.message, /cannot leave the HSM: CKA_SENSITIVE is true and CKA_EXTRACTABLE is false/);
      return true;
    },
  );
});

test("PyKMIP: Register an AES key and a Secret Data (Password), Get both back as registered, Locate by Object Type and Name, Activate, Revoke, Destroy", async () => {
  const aesKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
  const result = await runPyKmip({
    ...pykmipTarget(relay),
    version: "1.2",
    name: "pykmip-reg",
    aes_key: aesKey,
    secret: "s3cret password",
    steps: ["register_aes", "register_secret", "get_registered_aes", "get_secret", "locate_registered", "registered_states", "activate_registered_secrets", "destroy_registered"],
  });
  assert.match(result.register_aes as string, /^[0-9A-F]{40}_sec$/);
  assert.deepEqual(result.get_registered_aes, { type: "SYMMETRIC_KEY", format: "RAW", value: aesKey, algorithm: "AES", length: 256 });
  assert.deepEqual(result.get_secret, { type: "SECRET_DATA", data_type: "PASSWORD", value: "s3cret password" });
  assert.deepEqual(result.locate_registered, { aes: [result.register_aes], secret: [result.register_secret], secret_as_key: [] });
  assert.deepEqual(result.registered_states, { register_aes: "PRE_ACTIVE", register_secret: "PRE_ACTIVE" });
  assert.equal(result.destroy_registered, true);
});
