// Key pairs on SoftHSM: generation templates as doc/compatibility.md#create-key-pair states them,
// describeKey, sign + verify (checked with node:crypto as well), updateKey,
// destroyKey and findKeys.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, createPublicKey, verify as cryptoVerify, type KeyObject } from "node:crypto";
import pkcs11js from "pkcs11js";
import { HsmError } from "../../src/hsm/hsm-error.js";
import type { KeyDescription, KeyPairSpec } from "../../src/hsm/key-types.js";
import { parseKeyId } from "../../src/hsm/key-id.js";
import {
  CKG_MGF1_SHA256,
  CKK_EC,
  CKK_EC_EDWARDS,
  CKK_RSA,
  CKM_ECDSA,
  CKM_EDDSA,
  CKM_RSA_PKCS,
  CKM_RSA_PKCS_PSS,
  CKM_SHA256,
} from "../../src/hsm/mechanisms.js";
import { openSoftHsmBackend, type SoftHsmBackend } from "../helpers/softhsm.js";

const code = (expected: string) => (err: unknown) => err instanceof HsmError && err.code === expected;

/** DER SEQUENCE / BIT STRING with short or long-form lengths (X.690 section 8.1.3). */
function der(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  const length = body.length < 0x80 ? Buffer.from([body.length]) : Buffer.from([0x81, body.length]);
  return Buffer.concat([Buffer.from([tag]), length, body]);
}
const OID_EC_PUBLIC_KEY = Buffer.from("06072a8648ce3d0201", "hex"); // RFC 5480 id-ecPublicKey

/** node:crypto's view of a public key, from the material describeKey returns. */
function nodePublicKey(d: KeyDescription): KeyObject {
  if (d.keyType === "RSA") {
    const b64 = (b: Uint8Array | undefined): string => Buffer.from(b!).toString("base64url");
    return createPublicKey({ key: { kty: "RSA", n: b64(d.modulus), e: b64(d.publicExponent) }, format: "jwk" });
  }
  const algorithm = d.keyType === "EC" ? der(0x30, OID_EC_PUBLIC_KEY, Buffer.from(d.ecParams!)) : der(0x30, Buffer.from(d.ecParams!));
  const spki = der(0x30, algorithm, der(0x03, Buffer.from([0]), Buffer.from(d.ecPoint!)));
  return createPublicKey({ key: spki, format: "der", type: "spki" });
}

/** DigestInfo for SHA-256 (RFC 8017 section 9.2, note 1). */
function digestInfoSha256(data: Buffer): Buffer {
  return Buffer.concat([Buffer.from("3031300d060960864801650304020105000420", "hex"), createHash("sha256").update(data).digest()]);
}

/** The token's attributes of an object, read through a second pkcs11js instance in this process. */
function rawAttributes(slotId: string, keyId: string, types: number[]): Map<number, Buffer> {
  const p = new pkcs11js.PKCS11();
  p.load("/usr/lib/softhsm/libsofthsm2.so");
  try {
    p.C_Initialize();
  } catch {
    // CKR_CRYPTOKI_ALREADY_INITIALIZED: the backend initialised it; login state is shared.
  }
  const slot = p.C_GetSlotList(true).find((s) => s.readBigUInt64LE(0).toString() === slotId)!;
  const session = p.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
  try {
    const { ckaId, objectClass } = parseKeyId(keyId)!;
    const cko = objectClass === "public" ? pkcs11js.CKO_PUBLIC_KEY : pkcs11js.CKO_PRIVATE_KEY;
    p.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_CLASS, value: cko }, { type: pkcs11js.CKA_ID, value: ckaId }]);
    const handles = p.C_FindObjects(session, 10);
    p.C_FindObjectsFinal(session);
    assert.equal(handles.length, 1);
    const values = new Map<number, Buffer>();
    for (const type of types) values.set(type, p.C_GetAttributeValue(session, handles[0]!, [{ type }])[0]!.value);
    return values;
  } finally {
    p.C_CloseSession(session);
  }
}

const TRUE = Buffer.from([1]);
const FALSE = Buffer.from([0]);

describe("key pairs", () => {
  let hsm: SoftHsmBackend;
  before(async () => {
    hsm = await openSoftHsmBackend();
  });
  after(() => hsm.close());

  const cases: Array<{ name: string; spec: KeyPairSpec; ckk: number; bits: number; hash: string | null }> = [
    { name: "RSA-1024", spec: { keyType: "RSA", modulusBits: 1024 }, ckk: CKK_RSA, bits: 1024, hash: "sha256" },
    { name: "RSA-2048", spec: { keyType: "RSA", modulusBits: 2048 }, ckk: CKK_RSA, bits: 2048, hash: "sha256" },
    { name: "P-256", spec: { keyType: "EC", curve: "P-256" }, ckk: CKK_EC, bits: 256, hash: "sha256" },
    { name: "P-384", spec: { keyType: "EC", curve: "P-384" }, ckk: CKK_EC, bits: 384, hash: "sha384" },
    { name: "P-521", spec: { keyType: "EC", curve: "P-521" }, ckk: CKK_EC, bits: 521, hash: "sha512" },
    { name: "Ed25519", spec: { keyType: "EdDSA", curve: "Ed25519" }, ckk: CKK_EC_EDWARDS, bits: 255, hash: null },
  ];

  for (const c of cases) {
    test(`${c.name}: generated with the templates of doc/compatibility.md#create-key-pair, described, signs and verifies`, async () => {
      const { backend, slotId } = hsm;
      const ids = await backend.generateKeyPair(slotId, { spec: c.spec, privateLabel: `${c.name} private`, publicLabel: `${c.name} public` });
      assert.match(ids.privateKeyId, /^[0-9A-F]{40}_priv$/);
      assert.equal(ids.publicKeyId, ids.privateKeyId.replace(/_priv$/, "_pub"));

      const A = pkcs11js;
      const pub = rawAttributes(slotId, ids.publicKeyId, [A.CKA_TOKEN, A.CKA_VERIFY, A.CKA_ENCRYPT, A.CKA_WRAP, A.CKA_LABEL, A.CKA_KEY_TYPE]);
      assert.deepEqual([pub.get(A.CKA_TOKEN), pub.get(A.CKA_VERIFY), pub.get(A.CKA_ENCRYPT), pub.get(A.CKA_WRAP)], [TRUE, TRUE, FALSE, FALSE]);
      assert.equal(pub.get(A.CKA_LABEL)!.toString(), `${c.name} public`);
      assert.equal(pub.get(A.CKA_KEY_TYPE)!.readUInt32LE(0), c.ckk);
      const priv = rawAttributes(slotId, ids.privateKeyId, [A.CKA_TOKEN, A.CKA_SIGN, A.CKA_DECRYPT, A.CKA_PRIVATE, A.CKA_SENSITIVE, A.CKA_LABEL, A.CKA_EXTRACTABLE, A.CKA_UNWRAP, A.CKA_DERIVE]);
      // CKA_EXTRACTABLE, CKA_UNWRAP and CKA_DERIVE are said outright, not left to the module's defaults.
      assert.deepEqual(
        [A.CKA_TOKEN, A.CKA_SIGN, A.CKA_DECRYPT, A.CKA_PRIVATE, A.CKA_SENSITIVE, A.CKA_EXTRACTABLE, A.CKA_UNWRAP, A.CKA_DERIVE].map((type) => priv.get(type)),
        [TRUE, TRUE, FALSE, TRUE, TRUE, FALSE, FALSE, FALSE],
      );
      assert.equal(priv.get(A.CKA_LABEL)!.toString(), `${c.name} private`);
      if (c.spec.keyType === "RSA") {
        const rsa = rawAttributes(slotId, ids.publicKeyId, [A.CKA_MODULUS_BITS, A.CKA_PUBLIC_EXPONENT]);
        assert.equal(rsa.get(A.CKA_MODULUS_BITS)!.readUInt32LE(0), c.bits);
        assert.deepEqual(rsa.get(A.CKA_PUBLIC_EXPONENT), Buffer.from([1, 0, 1]));
      }

      const described = await backend.describeKey(slotId, ids.publicKeyId);
      assert.equal(described.id, ids.publicKeyId);
      assert.equal(described.objectClass, "public");
      assert.equal(described.keyType, c.spec.keyType);
      assert.equal(described.bits, c.bits);
      assert.equal(described.label, `${c.name} public`);
      assert.deepEqual(described.usage, { sign: false, verify: true, encrypt: false, decrypt: false, wrap: false, unwrap: false, derive: false });
      assert.equal(described.startDate, null);
      const described2 = await backend.describeKey(slotId, ids.privateKeyId.toLowerCase().replace("_PRIV", "_priv"));
      assert.equal(described2.id, ids.privateKeyId, "lower-case ids resolve and are answered in upper case");
      assert.equal(described2.objectClass, "private");
      assert.equal(described2.bits, c.bits);
      assert.equal(described2.usage.sign, true);
      assert.equal(described2.usage.decrypt, false);
      assert.equal(described2.modulus, undefined);
      assert.equal(described2.ecPoint, undefined);
      if (c.spec.keyType !== "RSA") {
        assert.equal(described.curve, c.spec.curve);
        assert.equal(described2.curve, c.spec.curve);
      }

      const data = Buffer.from(`data signed by ${c.name}`);
      const key = nodePublicKey(described);
      if (c.spec.keyType === "RSA") {
        const { signature: pkcs1 } = await backend.sign(slotId, ids.privateKeyId, { family: "RSA-PKCS1", data });
        assert.equal(pkcs1.length, c.bits / 8);
        assert.ok(cryptoVerify("sha256", data, key, pkcs1));
        assert.ok(await backend.verify(slotId, ids.publicKeyId, { mechanism: CKM_RSA_PKCS }, digestInfoSha256(data), pkcs1));
        const pss = { mechanism: CKM_RSA_PKCS_PSS, pss: { hashAlg: CKM_SHA256, mgf: CKG_MGF1_SHA256, saltLength: 32 } };
        const digest = createHash("sha256").update(data).digest();
        const { signature: pssSig } = await backend.sign(slotId, ids.privateKeyId, { family: "RSA-PSS", digest, saltLength: 32 });
        assert.ok(cryptoVerify("sha256", data, { key, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: 32 }, pssSig));
        assert.ok(await backend.verify(slotId, ids.publicKeyId, pss, digest, pssSig));
        assert.equal(await backend.verify(slotId, ids.publicKeyId, pss, createHash("sha256").update("other").digest(), pssSig), false);
      } else if (c.spec.keyType === "EC") {
        const digest = createHash(c.hash!).update(data).digest();
        const { signature: sig } = await backend.sign(slotId, ids.privateKeyId, { family: "ECDSA", digest });
        assert.equal(sig.length, 2 * Math.ceil(c.bits / 8));
        assert.ok(cryptoVerify(c.hash!, data, { key, dsaEncoding: "ieee-p1363" }, sig));
        assert.ok(await backend.verify(slotId, ids.publicKeyId, { mechanism: CKM_ECDSA }, digest, sig));
        const bad = Buffer.from(sig);
        bad[5]! ^= 1;
        assert.equal(await backend.verify(slotId, ids.publicKeyId, { mechanism: CKM_ECDSA }, digest, bad), false);
        assert.equal(await backend.verify(slotId, ids.publicKeyId, { mechanism: CKM_ECDSA }, digest, sig.subarray(1)), false, "CKR_SIGNATURE_LEN_RANGE is false");
      } else {
        const { signature: sig } = await backend.sign(slotId, ids.privateKeyId, { family: "EdDSA", data });
        assert.equal(sig.length, 64);
        assert.ok(cryptoVerify(null, data, key, sig));
        assert.ok(await backend.verify(slotId, ids.publicKeyId, { mechanism: CKM_EDDSA }, data, sig));
      }
    });
  }

  test("sign refuses a public key, a signature of another algorithm, and unknown ids", async () => {
    const { backend, slotId } = hsm;
    const ids = await backend.generateKeyPair(slotId, { spec: { keyType: "EC", curve: "P-256" } });
    const digest = Buffer.alloc(32);
    await assert.rejects(backend.sign(slotId, ids.publicKeyId, { family: "ECDSA", digest }), code("PERMISSION_DENIED"));
    // Refused before the module sees it (SoftHSM would accept the mechanism in C_SignInit and fail C_Sign).
    await assert.rejects(backend.sign(slotId, ids.privateKeyId, { family: "RSA-PKCS1", digest }), (err: unknown) => {
      return err instanceof HsmError && err.code === "INVALID_ARGUMENT" && err.message === "a RSA signature was asked for, but the key is an EC key";
    });
    await assert.rejects(backend.sign(slotId, "00112233_priv", { family: "ECDSA", digest }), code("ITEM_NOT_FOUND"));
    await assert.rejects(backend.sign(slotId, "not-an-id", { family: "ECDSA", digest }), code("ITEM_NOT_FOUND"));
    await assert.rejects(backend.describeKey(slotId, "00112233_pub"), code("ITEM_NOT_FOUND"));
    // The key is still usable after the refusals (no operation was left active on a session).
    assert.equal((await backend.sign(slotId, ids.privateKeyId, { family: "ECDSA", digest })).signature.length, 64);
  });

  test("generation refuses sizes and curves the token does not offer", async () => {
    const { backend, slotId } = hsm;
    await assert.rejects(backend.generateKeyPair(slotId, { spec: { keyType: "RSA", modulusBits: 100 } }), (err: unknown) => {
      return err instanceof HsmError && err.code === "UNSUPPORTED" && err.message === "C_GetMechanismInfo: the token generates RSA moduli of 512 to 16384 bits, not 100";
    });
    await assert.rejects(backend.generateKeyPair(slotId, { spec: { keyType: "RSA", modulusBits: 2048.5 } }), code("INVALID_ARGUMENT"));
    await assert.rejects(
      backend.generateKeyPair(slotId, { spec: { keyType: "EC", curve: "P-192" } as unknown as KeyPairSpec }),
      code("UNSUPPORTED"),
    );
  });

  test("updateKey sets and clears label and dates, and usage flags", async () => {
    const { backend, slotId } = hsm;
    const ids = await backend.generateKeyPair(slotId, { spec: { keyType: "EC", curve: "P-256" }, publicLabel: "before" });
    await backend.updateKey(slotId, ids.publicKeyId, { label: "after", startDate: "20250101", endDate: "20351231" });
    let d = await backend.describeKey(slotId, ids.publicKeyId);
    assert.deepEqual([d.label, d.startDate, d.endDate], ["after", "20250101", "20351231"]);
    await backend.updateKey(slotId, ids.publicKeyId, { label: null, startDate: null, endDate: null, verify: false });
    d = await backend.describeKey(slotId, ids.publicKeyId);
    assert.deepEqual([d.label, d.startDate, d.endDate, d.usage.verify], [null, null, null, false]);
    await backend.updateKey(slotId, ids.privateKeyId, { label: "ü-label" });
    assert.equal((await backend.describeKey(slotId, ids.privateKeyId)).label, "ü-label");
    await assert.rejects(backend.updateKey(slotId, ids.publicKeyId, { startDate: "2025-01-01" }), code("INVALID_ARGUMENT"));
    await assert.rejects(backend.updateKey(slotId, ids.publicKeyId, { sign: true }), code("INVALID_ARGUMENT"));
    await assert.rejects(backend.updateKey(slotId, "AB_pub", { label: "x" }), code("ITEM_NOT_FOUND"));
  });

  test("destroyKey removes one object; its id is then not found", async () => {
    const { backend, slotId } = hsm;
    const ids = await backend.generateKeyPair(slotId, { spec: { keyType: "EC", curve: "P-256" } });
    await backend.destroyKey(slotId, ids.privateKeyId);
    await assert.rejects(backend.describeKey(slotId, ids.privateKeyId), code("ITEM_NOT_FOUND"));
    await assert.rejects(backend.destroyKey(slotId, ids.privateKeyId), code("ITEM_NOT_FOUND"));
    assert.equal((await backend.describeKey(slotId, ids.publicKeyId)).objectClass, "public");
  });

  test("findKeys filters by class, key type, label and size", async () => {
    const { backend, slotId } = hsm;
    const rsa = await backend.generateKeyPair(slotId, { spec: { keyType: "RSA", modulusBits: 1024 }, privateLabel: "find-me", publicLabel: "find-me" });
    const ec = await backend.generateKeyPair(slotId, { spec: { keyType: "EC", curve: "P-384" }, privateLabel: "find-me" });
    const all = await backend.findKeys(slotId, {});
    for (const id of [rsa.publicKeyId, rsa.privateKeyId, ec.publicKeyId, ec.privateKeyId]) assert.ok(all.includes(id), id);
    assert.deepEqual(await backend.findKeys(slotId, { label: "find-me" }), [rsa.publicKeyId, rsa.privateKeyId, ec.privateKeyId]);
    assert.deepEqual(await backend.findKeys(slotId, { label: "find-me", objectClass: "private" }), [rsa.privateKeyId, ec.privateKeyId]);
    assert.deepEqual(await backend.findKeys(slotId, { label: "find-me", keyType: "EC" }), [ec.privateKeyId]);
    assert.deepEqual(await backend.findKeys(slotId, { label: "find-me", bits: 1024 }), [rsa.publicKeyId, rsa.privateKeyId]);
    assert.deepEqual(await backend.findKeys(slotId, { label: "find-me", keyType: "other" }), []);
    assert.deepEqual(await backend.findKeys(slotId, { label: "nothing has this label" }), []);
    const publicOnly = await backend.findKeys(slotId, { objectClass: "public" });
    assert.ok(publicOnly.length > 0 && publicOnly.every((id) => id.endsWith("_pub")));
  });

  test("generateRandom returns the bytes asked for, within bounds", async () => {
    const { backend, slotId } = hsm;
    const a = await backend.generateRandom(slotId, 32);
    const b = await backend.generateRandom(slotId, 32);
    assert.equal(a.length, 32);
    assert.notDeepEqual(a, b);
    assert.equal((await backend.generateRandom(slotId, 65_536)).length, 65_536);
    for (const length of [0, -1, 1.5, 65_537]) await assert.rejects(backend.generateRandom(slotId, length), code("INVALID_ARGUMENT"));
  });
});
