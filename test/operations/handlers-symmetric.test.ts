// Create, Encrypt, Decrypt, MAC, MAC Verify, and Get / Locate / Destroy of
// symmetric keys, in process on an in-memory token
// (test/helpers/memory-backend.ts, node:crypto underneath): what the relay
// asks the token for (the C_GenerateKey template, the mechanism and its
// parameters), what it answers, and the Result Reason of each failure.
// The same against SoftHSM: test/e2e/symmetric.test.ts.
import assert from "node:assert/strict";
import { createCipheriv } from "node:crypto";
import { describe, test } from "node:test";
import type { Attribute } from "../../src/kmip/attributes.js";
import type { KeyObject as KmipKeyObject } from "../../src/kmip/objects.js";
import {
  createKeyPairPayloads,
  createPayloads,
  decryptPayloads,
  destroyPayloads,
  encryptPayloads,
  getPayloads,
  locatePayloads,
  macPayloads,
  macVerifyPayloads,
} from "../../src/kmip/payloads/index.js";
import {
  BlockCipherMode,
  CryptographicAlgorithm,
  CryptographicUsageMask as Usage,
  HashingAlgorithm,
  KeyFormatType,
  NameType,
  ObjectType,
  Operation,
  PaddingMethod,
  ResultReason,
  ValidityIndicator,
} from "../../src/ttlv/enums.js";
import { OperationBench } from "../helpers/operation-context.js";

const algorithm = (value: number): Attribute => ({ name: "Cryptographic Algorithm", value });
const length = (value: number): Attribute => ({ name: "Cryptographic Length", value });
const usage = (value: number): Attribute => ({ name: "Cryptographic Usage Mask", value });
const EXTRACTABLE: Attribute = { name: "Extractable", value: true };
const AES_256 = [algorithm(CryptographicAlgorithm.AES), length(256), usage(Usage.Encrypt | Usage.Decrypt)];

/** Creates an Active key (an Activation Date now): a key is Pre-Active otherwise, its usage flags false (secret-usage.ts). */
async function create(bench: OperationBench, attributes: Attribute[], context = bench.context()): Promise<string> {
  const activation: Attribute = { name: "Activation Date", value: BigInt(Math.floor(Date.now() / 1000)) };
  const template = attributes.some((attribute) => attribute.name === "Activation Date") ? attributes : [...attributes, activation];
  const response = await bench.run(Operation.Create, createPayloads, { objectType: ObjectType.SymmetricKey, templateAttribute: { names: [], attributes: template } }, context);
  assert.equal(response.objectType, ObjectType.SymmetricKey);
  return response.uniqueIdentifier;
}

const createFails = (bench: OperationBench, attributes: Attribute[], reason: number, message: RegExp, objectType: number = ObjectType.SymmetricKey) =>
  bench.fails(Operation.Create, createPayloads, { objectType, templateAttribute: { names: [], attributes } }, reason, message);

describe("Create", () => {
  test("AES-256: exactly the usage flags granted, sensitive and not extractable, the Name as label; the id is <hex>_sec and the ID Placeholder", async () => {
    const bench = new OperationBench();
    const context = bench.context();
    const name: Attribute = { name: "Name", value: { nameValue: "db-key", nameType: NameType.UninterpretedTextString } };
    const id = await create(bench, [...AES_256, name], context);
    assert.match(id, /^[0-9A-F]{40}_sec$/);
    assert.equal(context.idPlaceholder, id);
    const { ckaId, ...asked } = bench.backend.calls.find((c) => c.fn === "generateSecretKey")!.secretKey!;
    assert.equal(`${Buffer.from(ckaId!).toString("hex").toUpperCase()}_sec`, id);
    assert.deepEqual(asked, {
      keyType: "AES",
      bits: 256,
      usage: { sign: false, verify: false, encrypt: true, decrypt: true, wrap: false, unwrap: false, derive: false },
      extractable: false,
      label: "db-key",
    });
  });

  test("HMAC-SHA384: a generic secret of the hash's length by default, MAC Generate / MAC Verify as CKA_SIGN / CKA_VERIFY, the algorithm kept as CKA_ALLOWED_MECHANISMS", async () => {
    const bench = new OperationBench();
    await create(bench, [algorithm(CryptographicAlgorithm.HMACSHA384), usage(Usage.MacGenerate | Usage.MacVerify)]);
    const asked = bench.backend.calls.find((c) => c.fn === "generateSecretKey")!.secretKey!;
    assert.equal(asked.keyType, "GenericSecret");
    assert.equal(asked.bits, 384);
    assert.deepEqual([asked.usage.sign, asked.usage.verify, asked.usage.encrypt], [true, true, false]);
    assert.deepEqual(asked.allowedMechanisms, ["HMAC-SHA384"]);
  });

  test("Cryptographic Parameters become the key's mechanism; Extractable true makes it exportable", async () => {
    const bench = new OperationBench();
    const cbc: Attribute = { name: "Cryptographic Parameters", value: { blockCipherMode: BlockCipherMode.CBC, paddingMethod: PaddingMethod.Pkcs5 } };
    await create(bench, [...AES_256, cbc, EXTRACTABLE]);
    const asked = bench.backend.calls.find((c) => c.fn === "generateSecretKey")!.secretKey!;
    assert.deepEqual(asked.allowedMechanisms, ["AES-CBC-PAD"]);
    assert.equal(asked.extractable, true);
  });

  test("refused with the reason: another Object Type, no usage mask, a bad AES length, a short HMAC key, an attribute it cannot keep, a usage bit without a flag", async () => {
    // Object Group, Contact Information, dates and x- attributes go to the model (test/e2e/symmetric.test.ts).
    const bench = new OperationBench();
    await createFails(bench, AES_256, ResultReason.InvalidField, /Symmetric Keys only/, ObjectType.SecretData);
    await createFails(bench, [algorithm(CryptographicAlgorithm.AES), length(256)], ResultReason.MissingData, /needs a Cryptographic Usage Mask/);
    await createFails(bench, [algorithm(CryptographicAlgorithm.AES), length(64), usage(Usage.Encrypt)], ResultReason.InvalidField, /128, 192 or 256/);
    await createFails(bench, [algorithm(CryptographicAlgorithm.HMACSHA512), length(256), usage(Usage.MacGenerate)], ResultReason.InvalidField, /from 512 to 4096/);
    await createFails(bench, [...AES_256, { name: "Operation Policy Name", value: "default" }], ResultReason.InvalidField, /"Operation Policy Name" cannot be kept/);
    await createFails(bench, [algorithm(CryptographicAlgorithm.AES), length(128), usage(Usage.Encrypt | Usage.CertificateSign)], ResultReason.InvalidField, /CertificateSign has no PKCS#11 counterpart/);
    await createFails(bench, [algorithm(CryptographicAlgorithm.RSA), length(2048), usage(Usage.Encrypt)], ResultReason.InvalidField, /cannot make a symmetric key/);
    assert.equal(bench.backend.calls.filter((c) => c.fn === "generateSecretKey").length, 0, "nothing reached the token");
  });
});

describe("Encrypt and Decrypt", () => {
  test("CBC with PKCS#5 and Random IV: the backend is asked for a 16-byte IV, which the response returns; Decrypt gives the data back", async () => {
    const bench = new OperationBench();
    const id = await create(bench, [...AES_256, EXTRACTABLE]);
    const cbc = { cryptographicAlgorithm: CryptographicAlgorithm.AES, blockCipherMode: BlockCipherMode.CBC, paddingMethod: PaddingMethod.Pkcs5 };
    const data = Buffer.from("a secret of no particular length");
    const encrypted = await bench.run(Operation.Encrypt, encryptPayloads, { uniqueIdentifier: id, cryptographicParameters: { ...cbc, randomIv: true }, data });
    const asked = bench.backend.calls.find((c) => c.fn === "encrypt")!.cipher!;
    assert.deepEqual([asked.mechanism, asked.randomIvLength, asked.iv], ["AES-CBC-PAD", 16, undefined]);
    assert.equal(encrypted.ivCounterNonce!.length, 16);
    const key = bench.backend.object(id)!.privateKey!;
    const expected = createCipheriv("aes-256-cbc", key, encrypted.ivCounterNonce!);
    assert.deepEqual(Buffer.from(encrypted.data!), Buffer.concat([expected.update(data), expected.final()]));
    const decrypted = await bench.run(Operation.Decrypt, decryptPayloads, { uniqueIdentifier: id, cryptographicParameters: cbc, data: encrypted.data, ivCounterNonce: encrypted.ivCounterNonce });
    assert.deepEqual(Buffer.from(decrypted.data!), data);
  });

  test("GCM: IV, additional data and tag length go to the token; the tag comes back apart and Decrypt checks it", async () => {
    const bench = new OperationBench();
    const id = await create(bench, AES_256);
    const gcm = { blockCipherMode: BlockCipherMode.GCM, tagLength: 12 };
    const iv = Buffer.alloc(12, 9);
    const aad = Buffer.from("aad");
    const data = Buffer.from("gcm data");
    const encrypted = await bench.run(Operation.Encrypt, encryptPayloads, { uniqueIdentifier: id, cryptographicParameters: gcm, data, ivCounterNonce: iv, authenticatedEncryptionAdditionalData: aad });
    const asked = bench.backend.calls.find((c) => c.fn === "encrypt")!.cipher!;
    assert.deepEqual([asked.mechanism, Buffer.from(asked.iv!), Buffer.from(asked.aad!), asked.tagLength], ["AES-GCM", iv, aad, 12]);
    assert.equal(encrypted.authenticatedEncryptionTag!.length, 12);
    assert.equal(encrypted.ivCounterNonce, undefined, "an IV the client sent is not sent back");
    const decrypt = (tag: Uint8Array) =>
      bench.run(Operation.Decrypt, decryptPayloads, { uniqueIdentifier: id, cryptographicParameters: gcm, data: encrypted.data, ivCounterNonce: iv, authenticatedEncryptionAdditionalData: aad, authenticatedEncryptionTag: tag });
    assert.deepEqual(Buffer.from((await decrypt(encrypted.authenticatedEncryptionTag!)).data!), data);
    const bad = Buffer.from(encrypted.authenticatedEncryptionTag!);
    bad[0]! ^= 0xff;
    await assert.rejects(decrypt(bad));
  });

  test("without Cryptographic Parameters the key's own mechanism applies; a key without one is Missing Data", async () => {
    const bench = new OperationBench();
    const ecb = await create(bench, [...AES_256, { name: "Cryptographic Parameters", value: { blockCipherMode: BlockCipherMode.ECB } }]);
    await bench.run(Operation.Encrypt, encryptPayloads, { uniqueIdentifier: ecb, data: Buffer.alloc(16) });
    assert.equal(bench.backend.calls.find((c) => c.fn === "encrypt")!.cipher!.mechanism, "AES-ECB");
    const plain = await create(bench, AES_256);
    await bench.fails(Operation.Encrypt, encryptPayloads, { uniqueIdentifier: plain, data: Buffer.alloc(16) }, ResultReason.MissingData, /names no Block Cipher Mode/);
  });

  test("refused before the token: no Data, no IV, Random IV with an IV, streaming, a padding ECB cannot do, AAD outside GCM, an unknown mode", async () => {
    const bench = new OperationBench();
    const id = await create(bench, AES_256);
    const cbc = { blockCipherMode: BlockCipherMode.CBC };
    const fails = (request: Parameters<typeof encryptPayloads.encodeRequest>[0], reason: number, message: RegExp) => bench.fails(Operation.Encrypt, encryptPayloads, { uniqueIdentifier: id, ...request }, reason, message);
    await fails({ cryptographicParameters: cbc }, ResultReason.MissingData, /needs Data/);
    await fails({ cryptographicParameters: cbc, data: Buffer.alloc(16) }, ResultReason.MissingData, /needs an IV\/Counter\/Nonce, or Random IV/);
    // Decrypt without its IV: Invalid Message, as the OASIS CS-BC-M-11/12-14 cases answer it.
    await bench.fails(Operation.Decrypt, decryptPayloads, { uniqueIdentifier: id, cryptographicParameters: cbc, data: Buffer.alloc(16) }, ResultReason.InvalidMessage, /needs the IV\/Counter\/Nonce the data was encrypted with/);
    await fails({ cryptographicParameters: { ...cbc, randomIv: true }, data: Buffer.alloc(16), ivCounterNonce: Buffer.alloc(16) }, ResultReason.InvalidField, /both Random IV/);
    // Streaming (cipher-streams.ts): a Correlation Value no stream has is Invalid Field; a backend without multi-part operations does not stream.
    await fails({ cryptographicParameters: cbc, data: Buffer.alloc(16), correlationValue: Buffer.from("c") }, ResultReason.InvalidField, /names no stream of this connection/);
    await fails({ cryptographicParameters: cbc, data: Buffer.alloc(16), ivCounterNonce: Buffer.alloc(16), initIndicator: true }, ResultReason.FeatureNotSupported, /does not stream/);
    await fails({ cryptographicParameters: { blockCipherMode: BlockCipherMode.ECB, paddingMethod: PaddingMethod.ANSIX923 }, data: Buffer.alloc(16) }, ResultReason.InvalidField, /not supported with ECB \(PKCS5 or None\)/);
    await fails({ cryptographicParameters: cbc, data: Buffer.alloc(16), ivCounterNonce: Buffer.alloc(16), authenticatedEncryptionAdditionalData: Buffer.from("x") }, ResultReason.InvalidField, /belong to GCM/);
    await fails({ cryptographicParameters: { blockCipherMode: BlockCipherMode.XTS }, data: Buffer.alloc(16) }, ResultReason.InvalidField, /Block Cipher Mode 11 is not supported/);
    assert.equal(bench.backend.calls.filter((c) => c.fn === "encrypt").length, 0);
  });

  test("a key that may not decrypt: Permission Denied from the token", async () => {
    const bench = new OperationBench();
    const id = await create(bench, [algorithm(CryptographicAlgorithm.AES), length(128), usage(Usage.Encrypt)]);
    const ecb = { blockCipherMode: BlockCipherMode.ECB };
    await bench.fails(Operation.Decrypt, decryptPayloads, { uniqueIdentifier: id, cryptographicParameters: ecb, data: Buffer.alloc(16) }, ResultReason.PermissionDenied, /may not decrypt/);
  });

  test("RSA-OAEP: the hash and label go to the token; Encrypt with the public key, Decrypt with the private key", async () => {
    const bench = new OperationBench();
    const ids = await bench.run(Operation.CreateKeyPair, createKeyPairPayloads, { commonTemplateAttribute: { names: [], attributes: [algorithm(CryptographicAlgorithm.RSA), length(1024)] } });
    const oaep = { cryptographicAlgorithm: CryptographicAlgorithm.RSA, paddingMethod: PaddingMethod.OAEP, hashingAlgorithm: HashingAlgorithm.SHA256, pSource: Buffer.from("label") };
    const data = Buffer.from("wrapped");
    const encrypted = await bench.run(Operation.Encrypt, encryptPayloads, { uniqueIdentifier: ids.publicKeyUniqueIdentifier, cryptographicParameters: oaep, data });
    const asked = bench.backend.calls.find((c) => c.fn === "encrypt")!.cipher!;
    assert.deepEqual([asked.mechanism, asked.oaepHash, Buffer.from(asked.oaepLabel!).toString()], ["RSA-OAEP", "sha256", "label"]);
    const decrypted = await bench.run(Operation.Decrypt, decryptPayloads, { uniqueIdentifier: ids.privateKeyUniqueIdentifier, cryptographicParameters: oaep, data: encrypted.data });
    assert.deepEqual(Buffer.from(decrypted.data!), data);
    await bench.fails(
      Operation.Encrypt,
      encryptPayloads,
      { uniqueIdentifier: ids.publicKeyUniqueIdentifier, cryptographicParameters: { ...oaep, hashingAlgorithm: HashingAlgorithm.MD5 }, data },
      ResultReason.InvalidField,
      /not supported for OAEP/,
    );
  });
});

describe("MAC and MAC Verify", () => {
  test("the algorithm from the request or from the key; Valid and Invalid", async () => {
    const bench = new OperationBench();
    const id = await create(bench, [algorithm(CryptographicAlgorithm.HMACSHA256), usage(Usage.MacGenerate | Usage.MacVerify)]);
    const data = Buffer.from("mac me");
    const { macData } = await bench.run(Operation.Mac, macPayloads, { uniqueIdentifier: id, data });
    assert.equal(bench.backend.calls.find((c) => c.fn === "mac")!.macAlgorithm, "HMAC-SHA256");
    assert.equal(macData!.length, 32);
    const verify = (request: { data: Buffer; macData: Uint8Array }) =>
      bench.run(Operation.MacVerify, macVerifyPayloads, { uniqueIdentifier: id, cryptographicParameters: { cryptographicAlgorithm: CryptographicAlgorithm.HMACSHA256 }, ...request });
    assert.equal((await verify({ data, macData: macData! })).validityIndicator, ValidityIndicator.Valid);
    assert.equal((await verify({ data: Buffer.from("other"), macData: macData! })).validityIndicator, ValidityIndicator.Invalid);
    await bench.fails(Operation.MacVerify, macVerifyPayloads, { uniqueIdentifier: id, data }, ResultReason.MissingData, /needs MAC Data/);
    await bench.fails(Operation.Mac, macPayloads, { uniqueIdentifier: id, cryptographicParameters: { cryptographicAlgorithm: CryptographicAlgorithm.RSA }, data }, ResultReason.InvalidField, /not a MAC here/);
  });
});

describe("Get, Locate and Destroy of symmetric keys", () => {
  test("Get: Raw and Transparent Symmetric Key of an exportable key; Permission Denied with the reason otherwise; no other formats", async () => {
    const bench = new OperationBench();
    const id = await create(bench, [...AES_256, EXTRACTABLE]);
    const raw = await bench.run(Operation.Get, getPayloads, { uniqueIdentifier: id });
    const block = (raw.object as KmipKeyObject).keyBlock;
    assert.deepEqual([raw.objectType, block.keyFormatType, block.cryptographicAlgorithm, block.cryptographicLength], [ObjectType.SymmetricKey, KeyFormatType.Raw, CryptographicAlgorithm.AES, 256]);
    const value = (block.keyValue as { keyMaterial: Uint8Array }).keyMaterial;
    assert.deepEqual(Buffer.from(value), bench.backend.object(id)!.privateKey!.export());
    const transparent = await bench.run(Operation.Get, getPayloads, { uniqueIdentifier: id, keyFormatType: KeyFormatType.TransparentSymmetricKey });
    assert.equal((transparent.object as KmipKeyObject).keyBlock.keyFormatType, KeyFormatType.TransparentSymmetricKey);
    await bench.fails(Operation.Get, getPayloads, { uniqueIdentifier: id, keyFormatType: KeyFormatType.PKCS1 }, ResultReason.KeyFormatTypeNotSupported, /Raw, Transparent Symmetric Key/);
    const sealed = await create(bench, AES_256);
    await bench.fails(Operation.Get, getPayloads, { uniqueIdentifier: sealed }, ResultReason.PermissionDenied, /cannot leave the HSM/);
  });

  test("Locate by Object Type Symmetric Key finds the secret keys only; Destroy removes one", async () => {
    const bench = new OperationBench();
    const id = await create(bench, AES_256);
    await bench.run(Operation.CreateKeyPair, createKeyPairPayloads, { commonTemplateAttribute: { names: [], attributes: [algorithm(CryptographicAlgorithm.ECDSA), length(256)] } });
    const located = await bench.run(Operation.Locate, locatePayloads, { attributes: [{ name: "Object Type", value: ObjectType.SymmetricKey }] });
    assert.deepEqual(located.uniqueIdentifiers, [id]);
    await bench.run(Operation.Destroy, destroyPayloads, { uniqueIdentifier: id });
    assert.equal(bench.backend.object(id), undefined);
  });
});
