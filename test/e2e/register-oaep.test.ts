// RSA keys registered with OAEP Cryptographic Parameters, end to end on
// SoftHSM: Encrypt and Decrypt that name no parameters take the key's own
// (KMIP 1.x 4.29, 4.30), which the relay keeps in the key's metadata
// (doc/object-model.md#attributes), never a silent OAEP SHA-1. SoftHSM 2.6
// does OAEP with SHA-1 without a label only: a key registered with SHA-256
// (or a label) is refused with the token's reason; a key registered with
// SHA-1, or with no parameters, round-trips and matches node:crypto. Get
// Attributes reports the parameters kept.
import assert from "node:assert/strict";
import { constants, generateKeyPairSync, type KeyPairKeyObjectResult, privateDecrypt, publicEncrypt } from "node:crypto";
import { test } from "node:test";
import type { Attribute, CryptographicParameters } from "../../src/kmip/attributes.js";
import { CryptographicAlgorithm, CryptographicUsageMask as Usage, HashingAlgorithm, KeyFormatType, MaskGenerator, ObjectType, PaddingMethod, ResultReason } from "../../src/ttlv/enums.js";
import { rejectsWith, usage, relayAndClient } from "../helpers/relay-client.js";

const shared = relayAndClient(4);

const DATA = Buffer.from("a data key, wrapped");
const REFUSED = /CKR_ARGUMENTS_BAD: the token refuses these OAEP parameters/;

const oaep = (hash: number, more: Partial<CryptographicParameters> = {}): CryptographicParameters => ({
  cryptographicAlgorithm: CryptographicAlgorithm.RSA,
  paddingMethod: PaddingMethod.OAEP,
  hashingAlgorithm: hash,
  maskGenerator: MaskGenerator.MGF1,
  maskGeneratorHashingAlgorithm: hash,
  ...more,
});

/** Registers a new pair (public: Encrypt, private: Decrypt), with these parameters if any, and activates both. */
async function registered(params: CryptographicParameters | undefined): Promise<{ pub: string; priv: string; keys: KeyPairKeyObjectResult }> {
  const keys = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const template = (mask: number): Attribute[] => [usage(mask), ...(params === undefined ? [] : [{ name: "Cryptographic Parameters", value: params } as Attribute])];
  const { uniqueIdentifier: priv } = await shared.client.register({
    objectType: ObjectType.PrivateKey,
    templateAttribute: { names: [], attributes: template(Usage.Decrypt) },
    object: { keyBlock: { keyFormatType: KeyFormatType.PKCS1, keyValue: { keyMaterial: keys.privateKey.export({ format: "der", type: "pkcs1" }), attributes: [] } } },
  });
  const { uniqueIdentifier: pub } = await shared.client.register({
    objectType: ObjectType.PublicKey,
    templateAttribute: { names: [], attributes: template(Usage.Encrypt) },
    object: { keyBlock: { keyFormatType: KeyFormatType.X509, keyValue: { keyMaterial: keys.publicKey.export({ format: "der", type: "spki" }), attributes: [] } } },
  });
  for (const id of [priv, pub]) await shared.client.activate({ uniqueIdentifier: id });
  return { pub, priv, keys };
}

async function parametersOf(id: string): Promise<unknown> {
  const { attributes } = await shared.client.getAttributes({ uniqueIdentifier: id, attributeNames: ["Cryptographic Parameters"] });
  return attributes.find((a) => a.name === "Cryptographic Parameters")?.value;
}

test("registered with OAEP SHA-256: Encrypt and Decrypt without parameters use SHA-256, which SoftHSM 2.6 refuses with its reason, never SHA-1", async () => {
  const { pub, priv, keys } = await registered(oaep(HashingAlgorithm.SHA256));
  assert.deepEqual(await parametersOf(pub), oaep(HashingAlgorithm.SHA256), "Get Attributes reports the parameters kept");
  assert.deepEqual(await parametersOf(priv), oaep(HashingAlgorithm.SHA256));
  await rejectsWith(shared.client.encrypt({ uniqueIdentifier: pub, data: DATA }), ResultReason.CryptographicFailure, /C_EncryptInit: CKR_ARGUMENTS_BAD: the token refuses these OAEP parameters/);
  const sha256 = publicEncrypt({ key: keys.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, DATA);
  await rejectsWith(shared.client.decrypt({ uniqueIdentifier: priv, data: sha256 }), ResultReason.CryptographicFailure, /C_DecryptInit: CKR_ARGUMENTS_BAD: the token refuses these OAEP parameters/);
  // A request that names its parameters gets them, not the key's.
  const sha1 = await shared.client.encrypt({ uniqueIdentifier: pub, cryptographicParameters: oaep(HashingAlgorithm.SHA1), data: DATA });
  assert.deepEqual(privateDecrypt({ key: keys.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha1" }, sha1.data!), DATA);
});

test("registered with OAEP SHA-1, or with no parameters: Encrypt and Decrypt without parameters round-trip and match node:crypto", async () => {
  for (const params of [oaep(HashingAlgorithm.SHA1), undefined]) {
    const { pub, priv, keys } = await registered(params);
    assert.deepEqual(await parametersOf(pub), params);
    const encrypted = await shared.client.encrypt({ uniqueIdentifier: pub, data: DATA });
    assert.deepEqual(privateDecrypt({ key: keys.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha1" }, encrypted.data!), DATA);
    const decrypted = await shared.client.decrypt({ uniqueIdentifier: priv, data: encrypted.data });
    assert.deepEqual(Buffer.from(decrypted.data!), DATA);
  }
});

test("registered with OAEP SHA-1 and a label (P Source): Encrypt without parameters asks for the label, which SoftHSM 2.6 refuses", async () => {
  const { pub } = await registered(oaep(HashingAlgorithm.SHA1, { pSource: Buffer.from("a label") }));
  await rejectsWith(shared.client.encrypt({ uniqueIdentifier: pub, data: DATA }), ResultReason.CryptographicFailure, REFUSED);
});

test("a key registered with OAEP parameters and no Cryptographic Usage Mask is registered; the parameters are its own, not signature defaults", async () => {
  const keys = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const { uniqueIdentifier: priv } = await shared.client.register({
    objectType: ObjectType.PrivateKey,
    templateAttribute: { names: [], attributes: [{ name: "Cryptographic Parameters", value: oaep(HashingAlgorithm.SHA512) }] },
    object: { keyBlock: { keyFormatType: KeyFormatType.PKCS1, keyValue: { keyMaterial: keys.privateKey.export({ format: "der", type: "pkcs1" }), attributes: [] } } },
  });
  assert.deepEqual(await parametersOf(priv), oaep(HashingAlgorithm.SHA512));
});
