// Secret stores' KMIP flows replayed message by message against SoftHSM
// through the relay, over TLS with a client certificate mapped in [clients]
// and no KMIP credential, as these clients connect.
//
// - OpenBao's KMIP seal: the wrapper of github.com/openbao/go-kms-wrapping,
//   tag wrappers/kmip/v2.2.0 (af8b1885827f2a0e7806f002236ffab381c62de3),
//   wrappers/kmip/kmip.go, on the Go KMIP library it requires,
//   github.com/ovh/kmip-go v0.3.3 (0a5893a6838858ed01392494702d611620204f72:
//   kmipclient/client.go, requests.go, payloads/encrypt_decrypt.go,
//   payloads/get_attributes.go, kmip.go CryptographicParameters). Its
//   messages, built field by field in that library's order:
//   - SetConfig: kmipclient.DialContext with WithKmipVersions(1.2, 1.3, 1.4)
//     sends Discover Versions in a KMIP 1.1 message listing 1.4, 1.3, 1.2
//     and takes the server's first version; verifyKey then sends, on that
//     connection, Get Attributes of the key (Object Type, Cryptographic
//     Algorithm, Cryptographic Usage Mask, Link) and, for an RSA private
//     key, of the public key its Public Key Link names.
//   - Encrypt and Decrypt: each on a new connection (CloneCtx: no Discover
//     Versions), in the negotiated version. AES_GCM: Cryptographic
//     Parameters Block Cipher Mode GCM, Cryptographic Algorithm AES, IV
//     Length 12, Tag Length 16, a 12-byte IV the wrapper makes; the tag is
//     appended to the ciphertext it keeps, and sent apart, as Authenticated
//     Encryption Tag, to Decrypt from 1.4. RSA_OAEP_SHA256: Padding Method
//     OAEP, Hashing Algorithm SHA-256, Cryptographic Algorithm RSA, Mask
//     Generator MGF1, Mask Generator Hashing Algorithm SHA-256; Encrypt with
//     the public key, Decrypt with the private key.
//   Every request header: Protocol Version, Time Stamp, Batch Count; one
//   batch item without a Unique Batch Item ID. That library decodes a
//   structure field by field in its Go struct's order (ttlv/decoder.go,
//   structDecodeFunc), so every answer here is also checked to carry only
//   the fields of ResponseHeader, ResponseBatchItem and the response payload
//   structs, in their order.
import assert from "node:assert/strict";
import { constants, publicEncrypt, randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import pkcs11js from "pkcs11js";
import type { KmipClient } from "../../src/client/kmip-client.js";
import * as ttlv from "../../src/ttlv/build.js";
import {
  BlockCipherMode,
  CryptographicAlgorithm,
  CryptographicUsageMask as Usage,
  HashingAlgorithm,
  LinkType,
  MaskGenerator,
  ObjectType,
  Operation,
  PaddingMethod,
  ResultReason,
} from "../../src/ttlv/enums.js";
import type { StructureItem, TtlvItem } from "../../src/ttlv/item.js";
import { Tag } from "../../src/ttlv/tags.js";
import { algorithm, length, publicKeyOf, rejectsWith, usage } from "../helpers/relay-client.js";
import { decodeResponseMessage, type ResponseMessage } from "../../src/kmip/message.js";
import { decodeTtlv } from "../../src/ttlv/decode.js";
import { attributeValues, failureOf, requestBytes, startReplayRelay, successOf, textOf, type ReplayRelay } from "../helpers/replay.js";
import { createSoftHsmToken, SOFTHSM_MODULE_PATH } from "../helpers/softhsm.js";

let mapped: ReplayRelay;
let aesKeyId: string;
let rsa: { privateKeyId: string; publicKeyId: string };

before(async () => {
  mapped = await startReplayRelay("openbao");
  // The operator makes the seal's keys beforehand (the seal only uses an existing key): an
  // active AES-256 key and an RSA-2048 pair whose private key decrypts and public key encrypts.
  const operator = await mapped.connect(4);
  try {
    aesKeyId = (
      await operator.create({
        objectType: ObjectType.SymmetricKey,
        templateAttribute: { names: [], attributes: [algorithm(CryptographicAlgorithm.AES), length(256), usage(Usage.Encrypt | Usage.Decrypt)] },
      })
    ).uniqueIdentifier;
    await operator.activate({ uniqueIdentifier: aesKeyId });
    const pair = await operator.createKeyPair({
      commonTemplateAttribute: { names: [], attributes: [algorithm(CryptographicAlgorithm.RSA), length(2048)] },
      privateKeyTemplateAttribute: { names: [], attributes: [usage(Usage.Decrypt)] },
      publicKeyTemplateAttribute: { names: [], attributes: [usage(Usage.Encrypt)] },
    });
    rsa = { privateKeyId: pair.privateKeyUniqueIdentifier, publicKeyId: pair.publicKeyUniqueIdentifier };
    await operator.activate({ uniqueIdentifier: rsa.privateKeyId });
    await operator.activate({ uniqueIdentifier: rsa.publicKeyId });
  } finally {
    await operator.close();
  }
});
after(async () => {
  await mapped?.cleanup();
});

const V1_4 = { major: 1, minor: 4 };

/** A field of an ovh/kmip-go struct: its tag, and whether it may repeat (a slice). */
type GoField = readonly [tag: number, repeated?: "slice"];

/**
 * Checks `item`'s children as ovh/kmip-go's structDecodeFunc reads them:
 * each field in the struct's order, optional ones skipped when the next tag
 * is another, a slice taking every consecutive item of its tag; nothing left
 * over. Every field is treated as optional: what a struct requires is checked
 * by the assertions on the values.
 */
function assertGoOrder(item: TtlvItem, fields: readonly GoField[], what: string): void {
  const children = (item as StructureItem).value;
  let next = 0;
  for (const [tag, repeated] of fields) {
    while (children[next]?.tag === tag) {
      next++;
      if (repeated !== "slice") break;
    }
  }
  assert.equal(next, children.length, `${what}: ${children.slice(next).map((child) => child.tag.toString(16)).join(", ")} where ovh/kmip-go expects none, or not in its order`);
}

/** ResponseHeader and ResponseBatchItem (responses.go), and the payload struct of `payloadFields`. */
const RESPONSE_HEADER: GoField[] = [[Tag.ProtocolVersion], [Tag.TimeStamp], [Tag.Nonce], [Tag.AttestationType, "slice"], [Tag.ClientCorrelationValue], [Tag.ServerCorrelationValue], [Tag.BatchCount]];
const RESPONSE_BATCH_ITEM: GoField[] = [[Tag.Operation], [Tag.UniqueBatchItemID], [Tag.ResultStatus], [Tag.ResultReason], [Tag.ResultMessage], [Tag.AsynchronousCorrelationValue], [Tag.ResponsePayload], [Tag.MessageExtension]];
const PAYLOAD_FIELDS: Readonly<Record<number, GoField[]>> = {
  [Operation.DiscoverVersions]: [[Tag.ProtocolVersion, "slice"]],
  [Operation.GetAttributes]: [[Tag.UniqueIdentifier], [Tag.Attribute, "slice"]],
  [Operation.Encrypt]: [[Tag.UniqueIdentifier], [Tag.Data], [Tag.IvCounterNonce], [Tag.CorrelationValue], [Tag.AuthenticatedEncryptionTag]],
  [Operation.Decrypt]: [[Tag.UniqueIdentifier], [Tag.Data], [Tag.CorrelationValue]],
};

/** Sends the request; the decoded answer, after checking it is laid out as ovh/kmip-go decodes it. */
async function exchange(client: KmipClient, bytes: Uint8Array): Promise<ResponseMessage> {
  const raw = decodeTtlv(await client.sendRaw(bytes));
  const header = ttlv.child(raw, Tag.ResponseHeader)!;
  assertGoOrder(raw, [[Tag.ResponseHeader], [Tag.BatchItem, "slice"]], "Response Message");
  assertGoOrder(header, RESPONSE_HEADER, "Response Header");
  for (const item of ttlv.children(raw, Tag.BatchItem)) {
    assertGoOrder(item, RESPONSE_BATCH_ITEM, "Batch Item");
    const payload = ttlv.child(item, Tag.ResponsePayload);
    const operation = ttlv.child(item, Tag.Operation)?.value as number;
    if (payload !== undefined) assertGoOrder(payload, PAYLOAD_FIELDS[operation]!, `${operation} Response Payload`);
    // kmip.Attribute: AttributeName, AttributeIndex, AttributeValue.
    for (const attribute of payload === undefined ? [] : ttlv.children(payload, Tag.Attribute)) assertGoOrder(attribute, [[Tag.AttributeName], [Tag.AttributeIndex], [Tag.AttributeValue]], "Attribute");
  }
  return decodeResponseMessage(raw);
}

/** kmip.NewRequestMessage: Protocol Version, Time Stamp (now, to the second), Batch Count; the batch item: Operation, Request Payload. */
const openbaoRequest = (protocolVersion: { major: number; minor: number }, operation: number, payload: TtlvItem[]) =>
  requestBytes({ protocolVersion, timeStamp: true }, [{ operation, payload }]);

const version = (major: number, minor: number) =>
  ttlv.structure(Tag.ProtocolVersion, [ttlv.integer(Tag.ProtocolVersionMajor, major), ttlv.integer(Tag.ProtocolVersionMinor, minor)]);

/** negotiateVersion: Discover Versions in a 1.1 message, the client's versions newest first; the server's first answer. */
async function negotiate(client: KmipClient): Promise<{ major: number; minor: number }> {
  const payload = successOf(await exchange(client, openbaoRequest({ major: 1, minor: 1 }, Operation.DiscoverVersions, [version(1, 4), version(1, 3), version(1, 2)])), Operation.DiscoverVersions);
  const first = ttlv.children(payload, Tag.ProtocolVersion)[0];
  assert.ok(first !== undefined, "the server names a common version");
  return { major: ttlv.child(first, Tag.ProtocolVersionMajor)!.value as number, minor: ttlv.child(first, Tag.ProtocolVersionMinor)!.value as number };
}

/**
 * verifyKeyAttributes: Get Attributes (Object Type, Cryptographic Algorithm,
 * Cryptographic Usage Mask, Link) and the wrapper's checks of the answer;
 * the public key's id when `id` is a private key.
 */
async function verifyKeyAttributes(client: KmipClient, id: string, alg: number, objectType: number): Promise<string | undefined> {
  const request = openbaoRequest(V1_4, Operation.GetAttributes, [
    ttlv.textString(Tag.UniqueIdentifier, id),
    ...["Object Type", "Cryptographic Algorithm", "Cryptographic Usage Mask", "Link"].map((name) => ttlv.textString(Tag.AttributeName, name)),
  ]);
  const values = attributeValues(successOf(await exchange(client, request), Operation.GetAttributes));
  assert.equal(values.get("Cryptographic Algorithm")?.[0]?.value, alg);
  assert.equal(values.get("Object Type")?.[0]?.value, objectType);
  const mask = values.get("Cryptographic Usage Mask")?.[0]?.value as number;
  if (objectType !== ObjectType.PublicKey) assert.ok((mask & Usage.Decrypt) !== 0, `${id} allows Decrypt`);
  if (objectType !== ObjectType.PrivateKey) assert.ok((mask & Usage.Encrypt) !== 0, `${id} allows Encrypt`);
  if (objectType !== ObjectType.PrivateKey) return undefined;
  const link = (values.get("Link") ?? []).find((value) => ttlv.child(value, Tag.LinkType)?.value === LinkType.PublicKeyLink);
  assert.ok(link !== undefined, `the private key ${id} has a Public Key Link`);
  return textOf(link, Tag.LinkedObjectIdentifier);
}

/** SetConfig: negotiate on a new connection, then verifyKey on it; the negotiated version and, for RSA, the public key's id. */
async function setConfig(keyId: string, alg: number): Promise<{ negotiated: { major: number; minor: number }; publicKeyId?: string }> {
  const client = await mapped.connect(1);
  try {
    const negotiated = await negotiate(client);
    if (alg === CryptographicAlgorithm.AES) {
      await verifyKeyAttributes(client, keyId, alg, ObjectType.SymmetricKey);
      return { negotiated };
    }
    const publicKeyId = await verifyKeyAttributes(client, keyId, alg, ObjectType.PrivateKey);
    await verifyKeyAttributes(client, publicKeyId!, alg, ObjectType.PublicKey);
    return { negotiated, publicKeyId };
  } finally {
    await client.close();
  }
}

/** cryptoParamsPreset["AES_GCM"], in kmip.CryptographicParameters' field order. */
const AES_GCM = ttlv.structure(Tag.CryptographicParameters, [
  ttlv.enumeration(Tag.BlockCipherMode, BlockCipherMode.GCM),
  ttlv.enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
  ttlv.integer(Tag.IvLength, 12),
  ttlv.integer(Tag.TagLength, 16),
]);
/** cryptoParamsPreset["RSA_OAEP_SHA256"]. */
const RSA_OAEP_SHA256 = ttlv.structure(Tag.CryptographicParameters, [
  ttlv.enumeration(Tag.PaddingMethod, PaddingMethod.OAEP),
  ttlv.enumeration(Tag.HashingAlgorithm, HashingAlgorithm.SHA256),
  ttlv.enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.RSA),
  ttlv.enumeration(Tag.MaskGenerator, MaskGenerator.MGF1),
  ttlv.enumeration(Tag.MaskGeneratorHashingAlgorithm, HashingAlgorithm.SHA256),
]);

/** What the wrapper does for each call: a new connection, one request of `operation` with `fields`, closed after the answer. */
async function onNewConnection(negotiated: { major: number; minor: number }, operation: number, fields: TtlvItem[]) {
  const client = await mapped.connect(negotiated.minor);
  try {
    return await exchange(client, openbaoRequest(negotiated, operation, fields));
  } finally {
    await client.close();
  }
}

/** encryptKMIP: Unique Identifier, Cryptographic Parameters, Data, IV/Counter/Nonce (when the preset has an IV Length). */
function encryptKmip(negotiated: { major: number; minor: number }, keyId: string, params: StructureItem, plaintext: Buffer, iv?: Buffer) {
  return onNewConnection(negotiated, Operation.Encrypt, [
    ttlv.textString(Tag.UniqueIdentifier, keyId),
    params,
    ttlv.byteString(Tag.Data, plaintext),
    ...(iv === undefined ? [] : [ttlv.byteString(Tag.IvCounterNonce, iv)]),
  ]);
}

/** The ciphertext the wrapper keeps: Data, then the Authenticated Encryption Tag if any. */
function ciphertextOf(payload: StructureItem): Buffer {
  const data = ttlv.child(payload, Tag.Data)?.value as Uint8Array;
  const tag = ttlv.child(payload, Tag.AuthenticatedEncryptionTag)?.value as Uint8Array | undefined;
  return Buffer.concat([data, ...(tag === undefined ? [] : [tag])]);
}

/** decryptKMIP: Unique Identifier, Cryptographic Parameters, Data, IV/Counter/Nonce, and from 1.4 the tag apart. */
function decryptKmip(negotiated: { major: number; minor: number }, keyId: string, params: StructureItem, tagLength: number, ciphertext: Buffer, iv?: Buffer) {
  const separateTag = tagLength > 0 && negotiated.minor >= 4;
  const data = separateTag ? ciphertext.subarray(0, ciphertext.length - tagLength) : ciphertext;
  return onNewConnection(negotiated, Operation.Decrypt, [
    ttlv.textString(Tag.UniqueIdentifier, keyId),
    params,
    ttlv.byteString(Tag.Data, data),
    ...(iv === undefined ? [] : [ttlv.byteString(Tag.IvCounterNonce, iv)]),
    ...(separateTag ? [ttlv.byteString(Tag.AuthenticatedEncryptionTag, ciphertext.subarray(ciphertext.length - tagLength))] : []),
  ]);
}

test("OpenBao KMIP seal, AES_GCM (wrappers/kmip/kmip.go v2.2.0, ovh/kmip-go v0.3.3): Discover Versions gives 1.4, the key passes verifyKey, Encrypt with a 12-byte IV and Decrypt with the 16-byte tag apart round-trip; a changed tag is refused", async () => {
  const { negotiated } = await setConfig(aesKeyId, CryptographicAlgorithm.AES);
  assert.deepEqual(negotiated, V1_4);
  // The seal wraps its root key: 32 bytes.
  const rootKey = randomBytes(32);
  const iv = randomBytes(12);
  const encrypted = successOf(await encryptKmip(negotiated, aesKeyId, AES_GCM, rootKey, iv), Operation.Encrypt);
  assert.equal(textOf(encrypted, Tag.UniqueIdentifier), aesKeyId);
  const ciphertext = ciphertextOf(encrypted);
  assert.equal(ciphertext.length, rootKey.length + 16, "Data and a 16-byte Authenticated Encryption Tag");
  const decrypted = successOf(await decryptKmip(negotiated, aesKeyId, AES_GCM, 16, ciphertext, iv), Operation.Decrypt);
  assert.deepEqual(Buffer.from(ttlv.child(decrypted, Tag.Data)!.value as Uint8Array), rootKey);

  const tampered = Buffer.from(ciphertext);
  tampered[tampered.length - 1]! ^= 1;
  const refused = failureOf(await decryptKmip(negotiated, aesKeyId, AES_GCM, 16, tampered, iv), Operation.Decrypt);
  assert.equal(refused.reason, ResultReason.CryptographicFailure);
  assert.match(refused.message, /the tag does not verify/);
});

test("OpenBao KMIP seal, RSA_OAEP_SHA256: verifyKey finds the public key by the private key's Public Key Link; SoftHSM 2.6 refuses OAEP with SHA-256, and the relay's answer says so", async () => {
  const { negotiated, publicKeyId } = await setConfig(rsa.privateKeyId, CryptographicAlgorithm.RSA);
  assert.equal(publicKeyId, rsa.publicKeyId);
  const rootKey = randomBytes(32);
  const encrypt = failureOf(await encryptKmip(negotiated, publicKeyId, RSA_OAEP_SHA256, rootKey), Operation.Encrypt);
  assert.equal(encrypt.reason, ResultReason.CryptographicFailure);
  assert.match(encrypt.message, /C_EncryptInit: CKR_ARGUMENTS_BAD: the token refuses these OAEP parameters/);
  // Decrypt of a blob sealed elsewhere (node:crypto stands in for a token with OAEP-SHA-256) is refused the same way.
  const decrypt = failureOf(await decryptKmip(negotiated, rsa.privateKeyId, RSA_OAEP_SHA256, 0, randomBytes(256)), Operation.Decrypt);
  assert.equal(decrypt.reason, ResultReason.CryptographicFailure);
  assert.match(decrypt.message, /C_DecryptInit: CKR_ARGUMENTS_BAD: the token refuses these OAEP parameters/);
});

test("RSA-OAEP through the relay on SoftHSM 2.6: SHA-1 round-trips; a ciphertext made with a label is Cryptographic Failure saying the OAEP block does not decode (SoftHSM's CKR_GENERAL_ERROR)", async () => {
  const client = await mapped.connect(4);
  try {
    const oaepSha1 = { cryptographicAlgorithm: CryptographicAlgorithm.RSA, paddingMethod: PaddingMethod.OAEP, hashingAlgorithm: HashingAlgorithm.SHA1 };
    const data = Buffer.from("a sealed root key");
    const encrypted = await client.encrypt({ uniqueIdentifier: rsa.publicKeyId, cryptographicParameters: oaepSha1, data });
    const decrypted = await client.decrypt({ uniqueIdentifier: rsa.privateKeyId, cryptographicParameters: oaepSha1, data: encrypted.data });
    assert.deepEqual(Buffer.from(decrypted.data!), data);
    const publicKey = publicKeyOf(await client.get({ uniqueIdentifier: rsa.publicKeyId }));
    const labeled = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha1", oaepLabel: Buffer.from("label") }, data);
    await rejectsWith(
      client.decrypt({ uniqueIdentifier: rsa.privateKeyId, cryptographicParameters: oaepSha1, data: labeled }),
      ResultReason.CryptographicFailure,
      /C_Decrypt: CKR_GENERAL_ERROR: the data does not decrypt with this key \(not this key.s ciphertext, or another OAEP hash or label/,
    );
  } finally {
    await client.close();
  }
});

test("SoftHSM 2.6 on this machine, probed with pkcs11js: CKM_RSA_PKCS_OAEP takes SHA-1 with MGF1-SHA-1 only (SHA-224/256/384/512 and mixed MGF1 hashes: CKR_ARGUMENTS_BAD); a label is refused by C_EncryptInit and ignored by C_DecryptInit", async () => {
  const token = await createSoftHsmToken({ label: "oaep-probe" });
  process.env.SOFTHSM2_CONF = token.conf;
  const p11 = new pkcs11js.PKCS11();
  p11.load(SOFTHSM_MODULE_PATH);
  p11.C_Initialize();
  try {
    const slot = p11.C_GetSlotList(true)[0]!;
    const open = () => p11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    const session = open();
    p11.C_Login(session, pkcs11js.CKU_USER, token.pin);
    const pair = p11.C_GenerateKeyPair(
      session,
      { mechanism: pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN },
      [
        { type: pkcs11js.CKA_MODULUS_BITS, value: 2048 },
        { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
        { type: pkcs11js.CKA_ENCRYPT, value: true },
      ],
      [
        { type: pkcs11js.CKA_DECRYPT, value: true },
        { type: pkcs11js.CKA_SENSITIVE, value: true },
      ],
    );
    const hashes = {
      "SHA-1": [pkcs11js.CKM_SHA_1, pkcs11js.CKG_MGF1_SHA1],
      "SHA-224": [pkcs11js.CKM_SHA224, pkcs11js.CKG_MGF1_SHA224],
      "SHA-256": [pkcs11js.CKM_SHA256, pkcs11js.CKG_MGF1_SHA256],
      "SHA-384": [pkcs11js.CKM_SHA384, pkcs11js.CKG_MGF1_SHA384],
      "SHA-512": [pkcs11js.CKM_SHA512, pkcs11js.CKG_MGF1_SHA512],
    } as const;
    const mechanism = (hash: keyof typeof hashes, mgf: keyof typeof hashes, label?: string): pkcs11js.Mechanism => {
      // source 1: CKZ_DATA_SPECIFIED, the label in pSourceData.
      const parameter: pkcs11js.RsaOAEP = { type: pkcs11js.CK_PARAMS_RSA_OAEP, hashAlg: hashes[hash][0], mgf: hashes[mgf][1], source: 1 };
      if (label !== undefined) parameter.sourceData = Buffer.from(label);
      return { mechanism: pkcs11js.CKM_RSA_PKCS_OAEP, parameter };
    };
    /** What C_EncryptInit and C_DecryptInit say, each in a session of its own. */
    const init = (m: pkcs11js.Mechanism): string[] =>
      (["C_EncryptInit", "C_DecryptInit"] as const).map((fn) => {
        const s = open();
        try {
          p11[fn](s, m, fn === "C_EncryptInit" ? pair.publicKey : pair.privateKey);
          return "ok";
        } catch (error) {
          return (error as Error).message;
        } finally {
          p11.C_CloseSession(s);
        }
      });
    const accepted: string[] = [];
    for (const hash of Object.keys(hashes) as (keyof typeof hashes)[]) {
      for (const mgf of Object.keys(hashes) as (keyof typeof hashes)[]) {
        const outcome = init(mechanism(hash, mgf));
        if (outcome.every((o) => o === "ok")) accepted.push(`${hash}/MGF1-${mgf}`);
        else assert.deepEqual(outcome, ["CKR_ARGUMENTS_BAD", "CKR_ARGUMENTS_BAD"], `${hash}/MGF1-${mgf}`);
      }
    }
    assert.deepEqual(accepted, ["SHA-1/MGF1-SHA-1"]);
    assert.deepEqual(init(mechanism("SHA-1", "SHA-1", "label")), ["CKR_ARGUMENTS_BAD", "ok"]);
    // A ciphertext made without a label decrypts under any label: the token ignores it.
    p11.C_EncryptInit(session, mechanism("SHA-1", "SHA-1"), pair.publicKey);
    const ciphertext = p11.C_Encrypt(session, Buffer.from("sealed"), Buffer.alloc(256));
    p11.C_DecryptInit(session, mechanism("SHA-1", "SHA-1", "another label"), pair.privateKey);
    assert.equal(p11.C_Decrypt(session, ciphertext, Buffer.alloc(256)).toString(), "sealed");
  } finally {
    p11.C_Finalize();
    await token.cleanup();
  }
});
