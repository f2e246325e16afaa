// Objects created or destroyed by another process (pkcs11-tool): the handle
// cache heals, and keys made by other tools are found and usable.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, createPublicKey, verify as cryptoVerify } from "node:crypto";
import { HsmError } from "../../src/hsm/hsm-error.js";
import { parseKeyId } from "../../src/hsm/key-id.js";
import { CKM_ECDSA } from "../../src/hsm/mechanisms.js";
import { openSoftHsmBackend, pkcs11Tool, spyOnPkcs11, type Pkcs11Spy, type SoftHsmBackend } from "../helpers/softhsm.js";

const code = (expected: string) => (err: unknown) => err instanceof HsmError && err.code === expected;
const data = Buffer.from("data");
const digest = createHash("sha256").update(data).digest();

describe("objects made and destroyed by other processes", () => {
  let hsm: SoftHsmBackend;
  let spy: Pkcs11Spy;
  before(async () => {
    // Installed before the backend is opened (see spyOnPkcs11).
    spy = spyOnPkcs11(["C_FindObjectsInit"]);
    hsm = await openSoftHsmBackend();
  });
  after(async () => {
    spy.restore();
    await hsm.close();
  });
  const searches = (): number => spy.counts.get("C_FindObjectsInit")!;

  const tool = (...args: string[]): Promise<string> => pkcs11Tool(hsm.token, ["--login", "--pin", hsm.token.pin, ...args]);
  const hexOf = (id: string): string => parseKeyId(id)!.ckaId.toString("hex");

  /** Whether the signature verifies with the public key the token now holds under that id. */
  async function verifiesWithToken(publicKeyId: string, signature: Uint8Array): Promise<boolean> {
    const d = await hsm.backend.describeKey(hsm.slotId, publicKeyId);
    const spki = Buffer.concat([
      Buffer.from("3059301306072a8648ce3d020106082a8648ce3d030107034200", "hex"), // SPKI header for a P-256 point
      Buffer.from(d.ecPoint!),
    ]);
    const key = createPublicKey({ key: spki, format: "der", type: "spki" });
    return cryptoVerify("sha256", data, { key, dsaEncoding: "ieee-p1363" }, signature);
  }

  test("a key destroyed elsewhere is ITEM_NOT_FOUND, and one re-created with the same id is used", async () => {
    const { backend, slotId } = hsm;
    const ids = await backend.generateKeyPair(slotId, { spec: { keyType: "EC", curve: "P-256" } });
    await backend.sign(slotId, ids.privateKeyId, { family: "ECDSA", digest }); // the handle is cached now

    await tool("--delete-object", "--type", "privkey", "--id", hexOf(ids.privateKeyId));
    await assert.rejects(backend.sign(slotId, ids.privateKeyId, { family: "ECDSA", digest }), code("ITEM_NOT_FOUND"));

    await tool("--delete-object", "--type", "pubkey", "--id", hexOf(ids.publicKeyId));
    await tool("--keypairgen", "--key-type", "EC:prime256v1", "--id", hexOf(ids.privateKeyId));
    const { signature } = await backend.sign(slotId, ids.privateKeyId, { family: "ECDSA", digest });
    assert.ok(await verifiesWithToken(ids.publicKeyId, signature));
  });

  test("a cached handle whose object was replaced heals on the next call", async () => {
    const { backend, slotId } = hsm;
    const ids = await backend.generateKeyPair(slotId, { spec: { keyType: "EC", curve: "P-256" } });
    await backend.sign(slotId, ids.privateKeyId, { family: "ECDSA", digest });
    await backend.describeKey(slotId, ids.publicKeyId);

    for (const type of ["privkey", "pubkey"]) await tool("--delete-object", "--type", type, "--id", hexOf(ids.privateKeyId));
    await tool("--keypairgen", "--key-type", "EC:prime256v1", "--id", hexOf(ids.privateKeyId));

    const { signature } = await backend.sign(slotId, ids.privateKeyId, { family: "ECDSA", digest });
    assert.ok(await verifiesWithToken(ids.publicKeyId, signature), "signed by the new key, checked against the new public key");
  });

  test("a lower-case id is the same key: it uses the cached handle, and heals like the upper-case one", async () => {
    const { backend, slotId } = hsm;
    const ids = await backend.generateKeyPair(slotId, { spec: { keyType: "EC", curve: "P-256" } });
    const lower = `${hexOf(ids.privateKeyId)}_priv`;
    assert.notEqual(lower, ids.privateKeyId);
    const before = searches();
    await backend.sign(slotId, ids.privateKeyId, { family: "ECDSA", digest });
    await backend.sign(slotId, lower, { family: "ECDSA", digest });
    assert.equal(searches(), before, "both spellings use the handle cached when the pair was made");

    for (const type of ["privkey", "pubkey"]) await tool("--delete-object", "--type", type, "--id", hexOf(ids.privateKeyId));
    await tool("--keypairgen", "--key-type", "EC:prime256v1", "--id", hexOf(ids.privateKeyId));
    const { signature } = await backend.sign(slotId, lower, { family: "ECDSA", digest });
    assert.ok(await verifiesWithToken(ids.publicKeyId, signature), "signed by the new key");
    assert.equal(searches(), before + 2, "the stale handle was looked up again once (and the public key once by describeKey)");
    await backend.sign(slotId, ids.privateKeyId, { family: "ECDSA", digest });
    assert.equal(searches(), before + 2, "the new handle is cached under the upper-case id");
  });

  test("an id outside the scheme is ITEM_NOT_FOUND, saying what an id looks like", async () => {
    for (const id of ["", "ABC_priv", "0102_secret", "zz_pub", "0102"]) {
      await assert.rejects(hsm.backend.describeKey(hsm.slotId, id), (err: unknown) => code("ITEM_NOT_FOUND")(err) && /hex CKA_ID followed by _pub, _priv or _sec/.test((err as Error).message), id);
    }
  });

  test("a key pair made by pkcs11-tool is found by label, described and signs", async () => {
    const { backend, slotId } = hsm;
    const hex = "0102030405060708090a0b0c0d0e0f1011121314";
    await tool("--keypairgen", "--key-type", "EC:prime256v1", "--id", hex, "--label", "made-by-pkcs11-tool");
    const ids = await backend.findKeys(slotId, { label: "made-by-pkcs11-tool" });
    assert.deepEqual(ids, [`${hex.toUpperCase()}_pub`, `${hex.toUpperCase()}_priv`]);
    const d = await backend.describeKey(slotId, ids[0]!);
    assert.deepEqual([d.keyType, d.curve, d.bits, d.label], ["EC", "P-256", 256, "made-by-pkcs11-tool"]);
    const { signature } = await backend.sign(slotId, ids[1]!, { family: "ECDSA", digest });
    assert.ok(await verifiesWithToken(ids[0]!, signature));
    assert.ok(await backend.verify(slotId, ids[0]!, { mechanism: CKM_ECDSA }, digest, signature));
  });

  test("objects without a CKA_ID are not listed; ids two objects share are not either", async () => {
    const { backend, slotId } = hsm;
    await tool("--keypairgen", "--key-type", "EC:prime256v1", "--label", "no-id");
    assert.deepEqual(await backend.findKeys(slotId, { label: "no-id" }), []);
    // pkcs11-tool refuses nothing: two pairs with one CKA_ID.
    await tool("--keypairgen", "--key-type", "EC:prime256v1", "--id", "abcd", "--label", "twice");
    await tool("--keypairgen", "--key-type", "EC:prime256v1", "--id", "abcd", "--label", "twice");
    assert.deepEqual(await backend.findKeys(slotId, { label: "twice" }), []);
    await assert.rejects(backend.describeKey(slotId, "ABCD_pub"), /ambiguous/);
  });
});
