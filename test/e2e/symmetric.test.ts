// Symmetric keys end to end on SoftHSM, through the relay in its own
// process (module isolation on): Create of AES and HMAC keys, Encrypt and
// Decrypt in every mode the relay offers (ECB, CBC with and without
// padding, CTR, GCM with additional data and a tag), RSA-OAEP on a key
// pair, MAC and MAC Verify (HMAC, CMAC), Get of an exportable key, Locate by
// Object Type, and the failures a client can cause: a wrong key type, a
// missing IV, bad lengths, a usage the key lacks, a tag that does not verify.
// Every ciphertext is checked against node:crypto with the key Get returns.
import assert from "node:assert/strict";
import { constants, createCipheriv, createHmac, publicEncrypt } from "node:crypto";
import { execFile } from "node:child_process";
import { before, describe, test } from "node:test";
import { promisify } from "node:util";
import type { Attribute, CryptographicParameters } from "../../src/kmip/attributes.js";
import type { KeyObject as KmipKeyObject } from "../../src/kmip/objects.js";
import {
  BlockCipherMode,
  CryptographicAlgorithm,
  CryptographicUsageMask as Usage,
  HashingAlgorithm,
  KeyFormatType,
  ObjectType,
  PaddingMethod,
  ResultReason,
  ValidityIndicator,
} from "../../src/ttlv/enums.js";
import { algorithm, createKeyPair, length, name, publicKeyOf, rejectsWith, usage, relayAndClient } from "../helpers/relay-client.js";

const shared = relayAndClient();

const extractable: Attribute = { name: "Extractable", value: true };
const params = (value: CryptographicParameters): Attribute => ({ name: "Cryptographic Parameters", value });

/** Creates a key and activates it (a new key is Pre-Active: test/e2e/symmetric-lifecycle.test.ts). */
async function createKey(attributes: Attribute[]): Promise<string> {
  const created = await shared.client.create({ objectType: ObjectType.SymmetricKey, templateAttribute: { names: [], attributes } });
  assert.equal(created.objectType, ObjectType.SymmetricKey);
  assert.match(created.uniqueIdentifier, /^[0-9A-F]{40}_sec$/);
  await shared.client.activate({ uniqueIdentifier: created.uniqueIdentifier });
  return created.uniqueIdentifier;
}

async function keyValue(id: string): Promise<Buffer> {
  const got = await shared.client.get({ uniqueIdentifier: id });
  const block = (got.object as KmipKeyObject).keyBlock;
  assert.ok(block.keyValue !== undefined && !(block.keyValue instanceof Uint8Array));
  return Buffer.from(block.keyValue.keyMaterial as Uint8Array);
}

/** AES-CMAC (RFC 4493 section 2.4), which node:crypto lacks, from AES-ECB. */
function aesCmac(key: Buffer, message: Buffer): Buffer {
  const block = (input: Buffer) => createCipheriv(`aes-${key.length * 8}-ecb`, key, null).setAutoPadding(false).update(input);
  const double = (input: Buffer) => {
    const out = Buffer.alloc(16);
    for (let i = 0; i < 16; i++) out[i] = ((input[i]! << 1) | (i < 15 ? input[i + 1]! >> 7 : 0)) & 0xff;
    if (input[0]! & 0x80) out[15]! ^= 0x87;
    return out;
  };
  const k1 = double(block(Buffer.alloc(16)));
  const k2 = double(k1);
  const complete = message.length > 0 && message.length % 16 === 0;
  const padded = complete ? Buffer.from(message) : Buffer.concat([message, Buffer.from([0x80]), Buffer.alloc(15 - (message.length % 16))]);
  const last = padded.subarray(padded.length - 16);
  const subkey = complete ? k1 : k2;
  for (let i = 0; i < 16; i++) last[i]! ^= subkey[i]!;
  let x = Buffer.alloc(16);
  for (let offset = 0; offset < padded.length; offset += 16) {
    const y = Buffer.alloc(16);
    for (let i = 0; i < 16; i++) y[i] = x[i]! ^ padded[offset + i]!;
    x = block(y);
  }
  return x;
}

const AES: CryptographicParameters = { cryptographicAlgorithm: CryptographicAlgorithm.AES };
const message = Buffer.from("sixteen byte blk".repeat(2) + "and a tail");

describe("AES keys", () => {
  let id: string;
  let key: Buffer;
  before(async () => {
    id = await createKey([algorithm(CryptographicAlgorithm.AES), length(256), usage(Usage.Encrypt | Usage.Decrypt), name("aes"), extractable]);
    key = await keyValue(id);
    assert.equal(key.length, 32);
  });

  test("CBC with PKCS#5 padding and a random IV: the token makes the IV, node:crypto agrees, Decrypt gives the data back", async () => {
    const cbc = { ...AES, blockCipherMode: BlockCipherMode.CBC, paddingMethod: PaddingMethod.Pkcs5 };
    const encrypted = await shared.client.encrypt({ uniqueIdentifier: id, cryptographicParameters: { ...cbc, randomIv: true }, data: message });
    assert.equal(encrypted.ivCounterNonce?.length, 16);
    const expected = createCipheriv("aes-256-cbc", key, encrypted.ivCounterNonce!);
    assert.deepEqual(Buffer.from(encrypted.data!), Buffer.concat([expected.update(message), expected.final()]));
    const decrypted = await shared.client.decrypt({ uniqueIdentifier: id, cryptographicParameters: cbc, data: encrypted.data, ivCounterNonce: encrypted.ivCounterNonce });
    assert.deepEqual(Buffer.from(decrypted.data!), message);
  });

  test("CBC without padding, ECB and CTR match node:crypto", async () => {
    const iv = Buffer.alloc(16, 7);
    const blocks = message.subarray(0, 32);
    const cases: [CryptographicParameters, string, Buffer | null, Buffer][] = [
      [{ ...AES, blockCipherMode: BlockCipherMode.CBC, paddingMethod: PaddingMethod.None }, "aes-256-cbc", iv, blocks],
      [{ ...AES, blockCipherMode: BlockCipherMode.ECB }, "aes-256-ecb", null, blocks],
      [{ ...AES, blockCipherMode: BlockCipherMode.CTR }, "aes-256-ctr", iv, message],
    ];
    for (const [cryptographicParameters, cipher, nonce, data] of cases) {
      const encrypted = await shared.client.encrypt({ uniqueIdentifier: id, cryptographicParameters, data, ...(nonce !== null && { ivCounterNonce: nonce }) });
      const expected = createCipheriv(cipher, key, nonce).setAutoPadding(false);
      assert.deepEqual(Buffer.from(encrypted.data!), Buffer.concat([expected.update(data), expected.final()]), cipher);
      const decrypted = await shared.client.decrypt({ uniqueIdentifier: id, cryptographicParameters, data: encrypted.data, ...(nonce !== null && { ivCounterNonce: nonce }) });
      assert.deepEqual(Buffer.from(decrypted.data!), data, cipher);
    }
  });

  test("GCM with a 12-byte IV, additional data and a 16-byte tag (as OpenBao sends it); a changed tag does not decrypt", async () => {
    const gcm = { ...AES, blockCipherMode: BlockCipherMode.GCM, tagLength: 16 };
    const aad = Buffer.from("header");
    const iv = Buffer.alloc(12, 3);
    const encrypted = await shared.client.encrypt({ uniqueIdentifier: id, cryptographicParameters: gcm, data: message, ivCounterNonce: iv, authenticatedEncryptionAdditionalData: aad });
    const expected = createCipheriv("aes-256-gcm", key, iv).setAAD(aad);
    assert.deepEqual(Buffer.from(encrypted.data!), Buffer.concat([expected.update(message), expected.final()]));
    assert.deepEqual(Buffer.from(encrypted.authenticatedEncryptionTag!), expected.getAuthTag());
    const decrypted = await shared.client.decrypt({
      uniqueIdentifier: id,
      cryptographicParameters: gcm,
      data: encrypted.data,
      ivCounterNonce: iv,
      authenticatedEncryptionAdditionalData: aad,
      authenticatedEncryptionTag: encrypted.authenticatedEncryptionTag,
    });
    assert.deepEqual(Buffer.from(decrypted.data!), message);
    const badTag = Buffer.from(encrypted.authenticatedEncryptionTag!);
    badTag[0]! ^= 1;
    await rejectsWith(
      shared.client.decrypt({ uniqueIdentifier: id, cryptographicParameters: gcm, data: encrypted.data, ivCounterNonce: iv, authenticatedEncryptionAdditionalData: aad, authenticatedEncryptionTag: badTag }),
      ResultReason.CryptographicFailure,
      /the tag does not verify/,
    );
    const random = await shared.client.encrypt({ uniqueIdentifier: id, cryptographicParameters: { ...gcm, randomIv: true }, data: message });
    assert.equal(random.ivCounterNonce?.length, 12, "a random GCM IV is 96 bits");
  });

  test("a missing IV, a wrong IV length, unpadded data of the wrong length and no mode at all are refused with the reason", async () => {
    const cbc = { ...AES, blockCipherMode: BlockCipherMode.CBC };
    await rejectsWith(shared.client.encrypt({ uniqueIdentifier: id, cryptographicParameters: cbc, data: message }), ResultReason.MissingData, /needs an IV\/Counter\/Nonce/);
    await rejectsWith(shared.client.encrypt({ uniqueIdentifier: id, cryptographicParameters: cbc, data: message, ivCounterNonce: Buffer.alloc(8) }), ResultReason.InvalidField, /16-byte IV/);
    await rejectsWith(
      shared.client.encrypt({ uniqueIdentifier: id, cryptographicParameters: cbc, data: message, ivCounterNonce: Buffer.alloc(16) }),
      ResultReason.InvalidField,
      /CKR_DATA_LEN_RANGE: without padding the data must be a multiple of 16 bytes/,
    );
    await rejectsWith(shared.client.encrypt({ uniqueIdentifier: id, data: message }), ResultReason.MissingData, /names no Block Cipher Mode/);
  });

  test("a key's usage refuses what it lacks: Permission Denied naming the flag", async () => {
    const encryptOnly = await createKey([algorithm(CryptographicAlgorithm.AES), length(128), usage(Usage.Encrypt)]);
    const ecb = { ...AES, blockCipherMode: BlockCipherMode.ECB };
    const encrypted = await shared.client.encrypt({ uniqueIdentifier: encryptOnly, cryptographicParameters: ecb, data: Buffer.alloc(16) });
    await rejectsWith(
      shared.client.decrypt({ uniqueIdentifier: encryptOnly, cryptographicParameters: ecb, data: encrypted.data }),
      ResultReason.PermissionDenied,
      /may not decrypt: its CKA_DECRYPT is false \(the Cryptographic Usage Mask lacks Decrypt\)/,
    );
    await rejectsWith(shared.client.get({ uniqueIdentifier: encryptOnly }), ResultReason.PermissionDenied, /cannot leave the HSM: CKA_SENSITIVE is true and CKA_EXTRACTABLE is false/);
  });

  test("Cryptographic Parameters given at Create are the key's mode: Encrypt without parameters uses it, and the token refuses another", async () => {
    const ecbKey = await createKey([algorithm(CryptographicAlgorithm.AES), length(128), usage(Usage.Encrypt | Usage.Decrypt), params({ blockCipherMode: BlockCipherMode.ECB }), extractable]);
    const encrypted = await shared.client.encrypt({ uniqueIdentifier: ecbKey, data: Buffer.alloc(16, 1) });
    const expected = createCipheriv("aes-128-ecb", await keyValue(ecbKey), null).setAutoPadding(false);
    assert.deepEqual(Buffer.from(encrypted.data!), expected.update(Buffer.alloc(16, 1)));
    await rejectsWith(
      shared.client.encrypt({ uniqueIdentifier: ecbKey, cryptographicParameters: { blockCipherMode: BlockCipherMode.CBC }, data: Buffer.alloc(16), ivCounterNonce: Buffer.alloc(16) }),
      ResultReason.PermissionDenied,
      /allows only AES-ECB/,
    );
  });

  test("Get answers Raw and Transparent Symmetric Key; Locate finds symmetric keys by Object Type and algorithm", async () => {
    const transparent = await shared.client.get({ uniqueIdentifier: id, keyFormatType: KeyFormatType.TransparentSymmetricKey });
    const block = (transparent.object as KmipKeyObject).keyBlock;
    assert.equal(block.keyFormatType, KeyFormatType.TransparentSymmetricKey);
    assert.equal(block.cryptographicAlgorithm, CryptographicAlgorithm.AES);
    assert.equal(block.cryptographicLength, 256);
    const located = await shared.client.locate({ attributes: [{ name: "Object Type", value: ObjectType.SymmetricKey }, algorithm(CryptographicAlgorithm.AES), length(256)] });
    assert.ok(located.uniqueIdentifiers.includes(id), `${id} is among ${located.uniqueIdentifiers.join(", ")}`);
    assert.ok(located.uniqueIdentifiers.every((found) => found.endsWith("_sec")));
  });

  test("Create refuses what it cannot keep: an unknown attribute, a usage without a PKCS#11 flag, an AES length", async () => {
    const base = [algorithm(CryptographicAlgorithm.AES), usage(Usage.Encrypt)];
    await rejectsWith(shared.client.create({ objectType: ObjectType.SymmetricKey, templateAttribute: { names: [], attributes: [...base, length(100)] } }), ResultReason.InvalidField, /128, 192 or 256/);
    await rejectsWith(
      shared.client.create({ objectType: ObjectType.SymmetricKey, templateAttribute: { names: [], attributes: [...base, length(128), { name: "Operation Policy Name", value: "default" }] } }),
      ResultReason.InvalidField,
      /"Operation Policy Name" cannot be kept on a secret key/,
    );
    await rejectsWith(
      shared.client.create({ objectType: ObjectType.SymmetricKey, templateAttribute: { names: [], attributes: [algorithm(CryptographicAlgorithm.AES), length(128), usage(Usage.Encrypt | Usage.TranslateEncrypt)] } }),
      ResultReason.InvalidField,
      /TranslateEncrypt has no PKCS#11 counterpart/,
    );
  });

  test("Destroy removes a secret key; afterwards it is Item Not Found", async () => {
    const doomed = await createKey([algorithm(CryptographicAlgorithm.AES), length(192), usage(Usage.Encrypt)]);
    await shared.client.destroy({ uniqueIdentifier: doomed });
    await rejectsWith(shared.client.encrypt({ uniqueIdentifier: doomed, cryptographicParameters: { blockCipherMode: BlockCipherMode.ECB }, data: Buffer.alloc(16) }), ResultReason.ItemNotFound);
  });
});

describe("MAC keys", () => {
  test("HMAC-SHA256/384/512: MAC matches node:crypto, MAC Verify says Valid and Invalid; the algorithm is the key's own", async () => {
    for (const [kmip, hash, bits] of [
      [CryptographicAlgorithm.HMACSHA256, "sha256", 256],
      [CryptographicAlgorithm.HMACSHA384, "sha384", 384],
      [CryptographicAlgorithm.HMACSHA512, "sha512", 512],
    ] as const) {
      const id = await createKey([algorithm(kmip), usage(Usage.MacGenerate | Usage.MacVerify), extractable]);
      const key = await keyValue(id);
      assert.equal(key.length * 8, bits);
      const data = Buffer.from(`data for ${hash}`);
      const { macData } = await shared.client.mac({ uniqueIdentifier: id, data });
      assert.deepEqual(Buffer.from(macData!), createHmac(hash, key).update(data).digest(), hash);
      const valid = await shared.client.macVerify({ uniqueIdentifier: id, cryptographicParameters: { cryptographicAlgorithm: kmip }, data, macData });
      assert.equal(valid.validityIndicator, ValidityIndicator.Valid);
      const invalid = await shared.client.macVerify({ uniqueIdentifier: id, data: Buffer.from("other data"), macData });
      assert.equal(invalid.validityIndicator, ValidityIndicator.Invalid);
    }
  });

  test("CMAC with an AES key; an HMAC key with another hash and an AES key for HMAC are refused", async () => {
    const aes = await createKey([algorithm(CryptographicAlgorithm.AES), length(128), usage(Usage.MacGenerate | Usage.MacVerify), extractable]);
    const data = Buffer.from("cmac me");
    const { macData } = await shared.client.mac({ uniqueIdentifier: aes, cryptographicParameters: { cryptographicAlgorithm: CryptographicAlgorithm.AES, blockCipherMode: BlockCipherMode.Cmac }, data });
    assert.deepEqual(Buffer.from(macData!), aesCmac(await keyValue(aes), data));
    await rejectsWith(
      shared.client.mac({ uniqueIdentifier: aes, cryptographicParameters: { cryptographicAlgorithm: CryptographicAlgorithm.HMACSHA256 }, data }),
      ResultReason.InvalidField,
      /HMAC-SHA256 needs an HMAC \(generic secret\) key; .* is an AES key/,
    );
    const hmac = await createKey([algorithm(CryptographicAlgorithm.HMACSHA256), usage(Usage.MacGenerate)]);
    await rejectsWith(
      shared.client.mac({ uniqueIdentifier: hmac, cryptographicParameters: { cryptographicAlgorithm: CryptographicAlgorithm.HMACSHA512 }, data }),
      ResultReason.PermissionDenied,
      /allows only HMAC-SHA256/,
    );
    await rejectsWith(
      shared.client.encrypt({ uniqueIdentifier: hmac, cryptographicParameters: { blockCipherMode: BlockCipherMode.ECB }, data: Buffer.alloc(16) }),
      ResultReason.InvalidField,
      /AES-ECB needs an AES key; .* is an HMAC \(generic secret\) key/,
    );
  });
});

describe("RSA-OAEP on a key pair", () => {
  test("a pair made by Create Key Pair may not encrypt (its templates set CKA_ENCRYPT and CKA_DECRYPT false)", async () => {
    const pair = await createKeyPair(shared.client, [algorithm(CryptographicAlgorithm.RSA), length(2048)]);
    await rejectsWith(
      shared.client.encrypt({ uniqueIdentifier: pair.publicKeyUniqueIdentifier, cryptographicParameters: { paddingMethod: PaddingMethod.OAEP }, data: Buffer.from("x") }),
      ResultReason.PermissionDenied,
      /may not encrypt: its CKA_ENCRYPT is false/,
    );
  });

  test("SHA-1 on a pair made for decryption by pkcs11-tool: Encrypt with the public key, Decrypt with the private key, node:crypto on either side; SHA-256 refused by SoftHSM with the reason", async () => {
    // As OpenBao's KMIP seal uses it: an RSA key pair that exists on the token, made by another tool.
    await promisify(execFile)(
      "pkcs11-tool",
      ["--module", shared.relay.token.modulePath, "--login", "--pin", shared.relay.token.pin, "--token-label", shared.relay.token.label, "--keypairgen", "--key-type", "rsa:2048", "--id", "0a0b0c", "--usage-decrypt"],
      { env: shared.relay.token.env },
    );
    const pair = { publicKeyUniqueIdentifier: "0A0B0C_pub", privateKeyUniqueIdentifier: "0A0B0C_priv" };
    await rejectsWith(
      shared.client.encrypt({ uniqueIdentifier: pair.privateKeyUniqueIdentifier, cryptographicParameters: { paddingMethod: PaddingMethod.OAEP }, data: Buffer.from("x") }),
      ResultReason.InvalidField,
      /is a private key; RSA-OAEP encrypts with the public key/,
    );
    const publicKey = publicKeyOf(await shared.client.get({ uniqueIdentifier: pair.publicKeyUniqueIdentifier }));
    const oaep = { cryptographicAlgorithm: CryptographicAlgorithm.RSA, paddingMethod: PaddingMethod.OAEP, hashingAlgorithm: HashingAlgorithm.SHA1 };
    const data = Buffer.from("a wrapped key");
    const encrypted = await shared.client.encrypt({ uniqueIdentifier: pair.publicKeyUniqueIdentifier, cryptographicParameters: oaep, data });
    assert.equal(encrypted.data!.length, 256);
    const decrypted = await shared.client.decrypt({ uniqueIdentifier: pair.privateKeyUniqueIdentifier, cryptographicParameters: oaep, data: encrypted.data });
    assert.deepEqual(Buffer.from(decrypted.data!), data);
    const ours = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha1" }, data);
    const theirs = await shared.client.decrypt({ uniqueIdentifier: pair.privateKeyUniqueIdentifier, cryptographicParameters: oaep, data: ours });
    assert.deepEqual(Buffer.from(theirs.data!), data, "node:crypto's ciphertext decrypts in the token");
    // SoftHSM 2.6 implements OAEP with SHA-1 only; the relay passes SHA-256 on (CK_RSA_PKCS_OAEP_PARAMS) and says why the token refused it.
    await rejectsWith(
      shared.client.encrypt({ uniqueIdentifier: pair.publicKeyUniqueIdentifier, cryptographicParameters: { ...oaep, hashingAlgorithm: HashingAlgorithm.SHA256 }, data }),
      ResultReason.CryptographicFailure,
      /CKR_ARGUMENTS_BAD: the token refuses these OAEP parameters/,
    );
  });
});
