// Triple DES keys end to end on SoftHSM through the relay (module isolation
// on): Create of three-key (168) and two-key (112) keys, Register of a known
// key, Get Attributes reporting Triple DES and the key bits, Encrypt and
// Decrypt in ECB and CBC (with and without PKCS#5 padding) matching
// node:crypto, the mode named with or without the algorithm, and a
// Triple DES key refused a mode it lacks (GCM); Locate by Cryptographic
// Algorithm Triple DES and HMAC.
import assert from "node:assert/strict";
import { createCipheriv, randomBytes } from "node:crypto";
import { test } from "node:test";
import type { Attribute } from "../../src/kmip/attributes.js";
import type { KeyObject as KmipKeyObject } from "../../src/kmip/objects.js";
import { BlockCipherMode, CryptographicAlgorithm, CryptographicUsageMask as Usage, KeyFormatType, ObjectType, PaddingMethod, ResultReason } from "../../src/ttlv/enums.js";
import { algorithm, length, rejectsWith, usage, relayAndClient } from "../helpers/relay-client.js";

const shared = relayAndClient(4);

const extractable: Attribute = { name: "Extractable", value: true };
const DES3 = CryptographicAlgorithm.TripleDES;

async function attributeOf(id: string, attributeName: string): Promise<unknown> {
  const { attributes } = await shared.client.getAttributes({ uniqueIdentifier: id, attributeNames: [attributeName] });
  return attributes.find((a) => a.name === attributeName)?.value;
}

async function created(bits: number): Promise<{ id: string; key: Buffer }> {
  const { uniqueIdentifier: id } = await shared.client.create({
    objectType: ObjectType.SymmetricKey,
    templateAttribute: { names: [], attributes: [algorithm(DES3), length(bits), usage(Usage.Encrypt | Usage.Decrypt), extractable] },
  });
  await shared.client.activate({ uniqueIdentifier: id });
  const got = await shared.client.get({ uniqueIdentifier: id });
  const block = (got.object as KmipKeyObject).keyBlock;
  assert.ok(block.keyValue !== undefined && !(block.keyValue instanceof Uint8Array));
  return { id, key: Buffer.from(block.keyValue.keyMaterial as Uint8Array) };
}

/** node:crypto's Triple DES: des-ede3 for three keys (24 bytes), des-ede for two (16). */
function expected(key: Buffer, mode: "ecb" | "cbc", iv: Buffer | null, data: Buffer, pad: boolean): Buffer {
  const name = `${key.length === 24 ? "des-ede3" : "des-ede"}${mode === "cbc" ? "-cbc" : key.length === 24 ? "-ecb" : ""}`;
  const cipher = createCipheriv(name, key, iv).setAutoPadding(pad);
  return Buffer.concat([cipher.update(data), cipher.final()]);
}

test("three-key (168) and two-key (112) keys: Get Attributes says Triple DES and the key bits; CBC with padding, CBC and ECB match node:crypto and decrypt back", async () => {
  for (const [bits, bytes] of [
    [168, 24],
    [112, 16],
  ] as const) {
    const { id, key } = await created(bits);
    assert.equal(key.length, bytes);
    assert.equal(await attributeOf(id, "Cryptographic Algorithm"), DES3);
    assert.equal(await attributeOf(id, "Cryptographic Length"), bits);
    const iv = Buffer.alloc(8, 5);
    const message = Buffer.from("Triple DES, still in use");
    const padded = { cryptographicAlgorithm: DES3, blockCipherMode: BlockCipherMode.CBC, paddingMethod: PaddingMethod.Pkcs5 };
    const cbc = await shared.client.encrypt({ uniqueIdentifier: id, cryptographicParameters: padded, data: message, ivCounterNonce: iv });
    assert.deepEqual(Buffer.from(cbc.data!), expected(key, "cbc", iv, message, true), `${bits}: CBC-PAD`);
    const back = await shared.client.decrypt({ uniqueIdentifier: id, cryptographicParameters: padded, data: cbc.data, ivCounterNonce: iv });
    assert.deepEqual(Buffer.from(back.data!), message);
    // The mode alone: the key's type says Triple DES.
    const blocks = message.subarray(0, 16);
    const plainCbc = await shared.client.encrypt({ uniqueIdentifier: id, cryptographicParameters: { blockCipherMode: BlockCipherMode.CBC }, data: blocks, ivCounterNonce: iv });
    assert.deepEqual(Buffer.from(plainCbc.data!), expected(key, "cbc", iv, blocks, false), `${bits}: CBC`);
    const ecb = await shared.client.encrypt({ uniqueIdentifier: id, cryptographicParameters: { cryptographicAlgorithm: DES3, blockCipherMode: BlockCipherMode.ECB }, data: blocks });
    assert.deepEqual(Buffer.from(ecb.data!), expected(key, "ecb", null, blocks, false), `${bits}: ECB`);
    const random = await shared.client.encrypt({ uniqueIdentifier: id, cryptographicParameters: { blockCipherMode: BlockCipherMode.CBC, paddingMethod: PaddingMethod.Pkcs5, randomIv: true }, data: message });
    assert.equal(random.ivCounterNonce?.length, 8, "a random Triple DES IV is one 8-byte block");
  }
});

test("Register of a known three-key value with Cryptographic Length 168; refusals: GCM with Triple DES, a length of 64", async () => {
  const value = randomBytes(24);
  const { uniqueIdentifier: id } = await shared.client.register({
    objectType: ObjectType.SymmetricKey,
    templateAttribute: { names: [], attributes: [usage(Usage.Encrypt | Usage.Decrypt)] },
    object: { keyBlock: { keyFormatType: KeyFormatType.Raw, keyValue: { keyMaterial: value, attributes: [] }, cryptographicAlgorithm: DES3, cryptographicLength: 168 } },
  });
  await shared.client.activate({ uniqueIdentifier: id });
  assert.equal(await attributeOf(id, "Cryptographic Length"), 168);
  const iv = Buffer.alloc(8, 1);
  const data = Buffer.alloc(8, 0x42);
  const encrypted = await shared.client.encrypt({ uniqueIdentifier: id, cryptographicParameters: { cryptographicAlgorithm: DES3, blockCipherMode: BlockCipherMode.CBC }, data, ivCounterNonce: iv });
  assert.deepEqual(Buffer.from(encrypted.data!), expected(value, "cbc", iv, data, false));
  await rejectsWith(
    shared.client.encrypt({ uniqueIdentifier: id, cryptographicParameters: { cryptographicAlgorithm: DES3, blockCipherMode: BlockCipherMode.GCM }, data, ivCounterNonce: Buffer.alloc(12) }),
    ResultReason.InvalidField,
    /not supported with Triple DES/,
  );
  await rejectsWith(
    shared.client.create({ objectType: ObjectType.SymmetricKey, templateAttribute: { names: [], attributes: [algorithm(DES3), length(64), usage(Usage.Encrypt)] } }),
    ResultReason.InvalidField,
    /Triple DES Cryptographic Length 64/,
  );
});

test("Locate by Cryptographic Algorithm finds Triple DES keys of three and two keys, and HMAC keys by their HMAC, as Get Attributes reports them", async () => {
  const three = (await created(168)).id;
  const two = (await created(112)).id;
  const hmac = async (kmip: number) =>
    (await shared.client.create({ objectType: ObjectType.SymmetricKey, templateAttribute: { names: [], attributes: [algorithm(kmip), usage(Usage.MacGenerate | Usage.MacVerify)] } })).uniqueIdentifier;
  const sha256 = await hmac(CryptographicAlgorithm.HMACSHA256);
  const sha512 = await hmac(CryptographicAlgorithm.HMACSHA512);
  const aes = (await shared.client.create({ objectType: ObjectType.SymmetricKey, templateAttribute: { names: [], attributes: [algorithm(CryptographicAlgorithm.AES), length(128), usage(Usage.Encrypt)] } })).uniqueIdentifier;
  const located = async (kmip: number, ...more: Attribute[]) => (await shared.client.locate({ attributes: [algorithm(kmip), ...more] })).uniqueIdentifiers;

  const des = await located(DES3);
  assert.ok(des.includes(three) && des.includes(two), "both Triple DES keys");
  assert.ok(![sha256, sha512, aes].some((id) => des.includes(id)), "no HMAC or AES key");
  const short = await located(DES3, length(112));
  assert.ok(short.includes(two) && !short.includes(three), "Cryptographic Length 112: two-key keys only");
  assert.ok((await located(DES3, { name: "Object Type", value: ObjectType.SymmetricKey })).includes(three));
  assert.deepEqual(await located(DES3, { name: "Object Type", value: ObjectType.PublicKey }), []);
  const macs = await located(CryptographicAlgorithm.HMACSHA256);
  assert.ok(macs.includes(sha256) && !macs.includes(sha512) && !macs.includes(three), "HMAC-SHA256 keys only");
  assert.ok((await located(CryptographicAlgorithm.HMACSHA512)).includes(sha512));
  assert.ok((await located(CryptographicAlgorithm.AES)).includes(aes));
});
