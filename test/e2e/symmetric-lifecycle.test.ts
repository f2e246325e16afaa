// Symmetric keys, Secret Data and Opaque Objects as managed objects, against
// SoftHSM through the relay (doc/object-model.md): Pre-Active after Create,
// the token refusing what the state forbids (src/operations/secret-usage.ts),
// Activate, Revoke, Destroy, dates, Name, Object Group and x- attributes in
// Get Attributes, Locate by State, Name, Object Group and Object Type; and
// Register of each (src/operations/register-secret.ts), Get answering in the
// registered form.
import assert from "node:assert/strict";
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import type { Attribute } from "../../src/kmip/attributes.js";
import type { KeyObject as KmipKeyObject } from "../../src/kmip/objects.js";
import * as ttlv from "../../src/ttlv/build.js";
import {
  BlockCipherMode,
  CryptographicAlgorithm,
  CryptographicUsageMask as Usage,
  KeyFormatType,
  ObjectType,
  OpaqueDataType,
  PaddingMethod,
  ResultReason,
  RevocationReasonCode,
  SecretDataType,
  State,
} from "../../src/ttlv/enums.js";
import { ItemType, type StructureItem } from "../../src/ttlv/item.js";
import { Tag } from "../../src/ttlv/tags.js";
import { algorithm, length, name, rejectsWith, usage, relayAndClient } from "../helpers/relay-client.js";

const shared = relayAndClient();

const group = (value: string): Attribute => ({ name: "Object Group", value });
const AES_128 = [algorithm(CryptographicAlgorithm.AES), length(128), usage(Usage.Encrypt | Usage.Decrypt)];
const ECB = { blockCipherMode: BlockCipherMode.ECB };
const block = Buffer.alloc(16, 7);

async function create(attributes: Attribute[]): Promise<string> {
  return (await shared.client.create({ objectType: ObjectType.SymmetricKey, templateAttribute: { names: [], attributes } })).uniqueIdentifier;
}

async function attributesOf(id: string, names: string[] = []): Promise<Map<string, unknown[]>> {
  const { attributes } = await shared.client.getAttributes({ uniqueIdentifier: id, attributeNames: names });
  const out = new Map<string, unknown[]>();
  for (const attribute of attributes) out.set(attribute.name, [...(out.get(attribute.name) ?? []), attribute.value]);
  return out;
}

async function stateOf(id: string): Promise<number> {
  return (await attributesOf(id, ["State"])).get("State")![0] as number;
}

async function locate(attributes: Attribute[]): Promise<string[]> {
  return (await shared.client.locate({ attributes })).uniqueIdentifiers;
}

describe("a created symmetric key is a managed object", () => {
  test("Pre-Active after Create: the token refuses it; Activate makes it Active with an Activation Date; Revoke makes it Deactivated: Decrypt only", async () => {
    const id = await create([...AES_128, name("sklc-one"), group("sklc"), { name: "x-owner", value: ttlv.textString(Tag.AttributeValue, "db") } as Attribute]);
    const created = await attributesOf(id);
    assert.equal(created.get("State")![0], State.PreActive);
    assert.equal(created.get("Object Type")![0], ObjectType.SymmetricKey);
    assert.equal(created.get("Cryptographic Algorithm")![0], CryptographicAlgorithm.AES);
    assert.deepEqual(created.get("Object Group"), ["sklc"]);
    assert.ok(created.has("Initial Date") && created.has("Last Change Date") && created.has("x-owner"));
    assert.ok(!created.has("Activation Date"));
    await rejectsWith(shared.client.encrypt({ uniqueIdentifier: id, cryptographicParameters: ECB, data: block }), ResultReason.PermissionDenied, /is Pre-Active; activate it first/);

    await shared.client.activate({ uniqueIdentifier: id });
    const active = await attributesOf(id, ["State", "Activation Date"]);
    assert.equal(active.get("State")![0], State.Active);
    assert.ok(active.has("Activation Date"));
    const encrypted = await shared.client.encrypt({ uniqueIdentifier: id, cryptographicParameters: ECB, data: block });

    await shared.client.revoke({ uniqueIdentifier: id, revocationReason: { revocationReasonCode: RevocationReasonCode.CessationOfOperation } });
    assert.equal(await stateOf(id), State.Deactivated);
    await rejectsWith(shared.client.encrypt({ uniqueIdentifier: id, cryptographicParameters: ECB, data: block }), ResultReason.PermissionDenied, /is Deactivated/);
    const decrypted = await shared.client.decrypt({ uniqueIdentifier: id, cryptographicParameters: ECB, data: encrypted.data! });
    assert.deepEqual(Buffer.from(decrypted.data!), block);
    await rejectsWith(shared.client.activate({ uniqueIdentifier: id }), ResultReason.PermissionDenied, /only a Pre-Active object can be activated/);

    await shared.client.revoke({ uniqueIdentifier: id, revocationReason: { revocationReasonCode: RevocationReasonCode.KeyCompromise } });
    const compromised = await attributesOf(id, ["State", "Compromise Date", "Compromise Occurrence Date"]);
    assert.equal(compromised.get("State")![0], State.Compromised);
    assert.ok(compromised.has("Compromise Date") && compromised.has("Compromise Occurrence Date"));
    await shared.client.destroy({ uniqueIdentifier: id });
    await rejectsWith(shared.client.getAttributes({ uniqueIdentifier: id, attributeNames: [] }), ResultReason.ItemNotFound);
  });

  test("an Activation Date now makes it Active at Create; its Digest is the token's SHA-256 of the value; an HMAC key is Pre-Active for MAC until activated", async () => {
    const id = await create([...AES_128, { name: "Activation Date", value: BigInt(Math.floor(Date.now() / 1000)) }, { name: "Extractable", value: true }]);
    assert.equal(await stateOf(id), State.Active);
    const value = ((await shared.client.get({ uniqueIdentifier: id })).object as KmipKeyObject).keyBlock.keyValue as { keyMaterial: Uint8Array };
    const digest = (await attributesOf(id, ["Digest"])).get("Digest")![0] as { digestValue: Uint8Array; keyFormatType: number };
    assert.deepEqual(Buffer.from(digest.digestValue), createHash("sha256").update(value.keyMaterial).digest());
    assert.equal(digest.keyFormatType, KeyFormatType.Raw);
    await shared.client.encrypt({ uniqueIdentifier: id, cryptographicParameters: ECB, data: block });
    const hmac = await create([algorithm(CryptographicAlgorithm.HMACSHA256), usage(Usage.MacGenerate | Usage.MacVerify)]);
    await rejectsWith(shared.client.mac({ uniqueIdentifier: hmac, data: block }), ResultReason.PermissionDenied, /Pre-Active/);
    await shared.client.activate({ uniqueIdentifier: hmac });
    assert.equal((await shared.client.mac({ uniqueIdentifier: hmac, data: block })).macData?.length, 32);
  });

  test("Destroy of an Active key deactivates it first (the default); Add / Modify / Delete Attribute keep Object Group and x- attributes", async () => {
    const id = await create([...AES_128, name("doomed")]);
    await shared.client.activate({ uniqueIdentifier: id });
    await shared.client.addAttribute({ uniqueIdentifier: id, attribute: group("later") });
    await shared.client.modifyAttribute({ uniqueIdentifier: id, attribute: group("renamed") });
    assert.deepEqual((await attributesOf(id, ["Object Group"])).get("Object Group"), ["renamed"]);
    await shared.client.deleteAttribute({ uniqueIdentifier: id, attributeName: "Object Group" });
    assert.equal((await attributesOf(id, ["Object Group"])).get("Object Group"), undefined);
    await shared.client.destroy({ uniqueIdentifier: id });
    await rejectsWith(shared.client.encrypt({ uniqueIdentifier: id, cryptographicParameters: ECB, data: block }), ResultReason.ItemNotFound);
  });

  test("Locate by State, Name, Object Group and Object Type", async () => {
    const pre = await create([...AES_128, name("locate-me"), group("lc-group")]);
    const act = await create([...AES_128, group("lc-group")]);
    await shared.client.activate({ uniqueIdentifier: act });
    assert.deepEqual(new Set(await locate([group("lc-group")])), new Set([pre, act]));
    assert.deepEqual(await locate([group("lc-group"), { name: "State", value: State.PreActive }]), [pre]);
    assert.deepEqual(await locate([group("lc-group"), { name: "State", value: State.Active }]), [act]);
    assert.deepEqual(await locate([name("locate-me")]), [pre]);
    assert.deepEqual(new Set(await locate([{ name: "Object Type", value: ObjectType.SymmetricKey }, group("lc-group")])), new Set([pre, act]));
    assert.deepEqual(await locate([{ name: "Object Type", value: ObjectType.SecretData }, group("lc-group")]), []);
  });
});

describe("Register", () => {
  test("a Raw AES key: Pre-Active, Get returns it, it encrypts as node:crypto does once activated; its Digest is SHA-256 of the value", async () => {
    const value = randomBytes(32);
    const { uniqueIdentifier: id } = await shared.client.register({
      objectType: ObjectType.SymmetricKey,
      templateAttribute: { names: [], attributes: [usage(Usage.Encrypt | Usage.Decrypt), name("registered-aes"), group("reg")] },
      object: { keyBlock: { keyFormatType: KeyFormatType.Raw, keyValue: { keyMaterial: value, attributes: [] }, cryptographicAlgorithm: CryptographicAlgorithm.AES, cryptographicLength: 256 } },
    });
    assert.match(id, /^[0-9A-F]{40}_sec$/);
    const attributes = await attributesOf(id);
    assert.equal(attributes.get("State")![0], State.PreActive);
    assert.equal(attributes.get("Cryptographic Length")![0], 256);
    const digest = attributes.get("Digest")![0] as { digestValue: Uint8Array };
    assert.deepEqual(Buffer.from(digest.digestValue), createHash("sha256").update(value).digest());
    const got = await shared.client.get({ uniqueIdentifier: id });
    assert.equal(got.objectType, ObjectType.SymmetricKey);
    const keyBlock = (got.object as KmipKeyObject).keyBlock;
    assert.equal(keyBlock.keyFormatType, KeyFormatType.Raw);
    assert.deepEqual(Buffer.from((keyBlock.keyValue as { keyMaterial: Uint8Array }).keyMaterial), value);
    await shared.client.activate({ uniqueIdentifier: id });
    const encrypted = await shared.client.encrypt({ uniqueIdentifier: id, cryptographicParameters: ECB, data: block });
    assert.deepEqual(Buffer.from(encrypted.data!), createCipheriv("aes-256-ecb", value, null).setAutoPadding(false).update(block));
    assert.deepEqual(await locate([{ name: "Object Type", value: ObjectType.SymmetricKey }, group("reg")]), [id]);
  });

  test("a Transparent Symmetric Key comes back in that format; an HMAC key registered with Extractable false stays inside", async () => {
    const value = randomBytes(16);
    const material = ttlv.structure(Tag.KeyMaterial, [ttlv.byteString(Tag.Key, value)]);
    const { uniqueIdentifier: id } = await shared.client.register({
      objectType: ObjectType.SymmetricKey,
      templateAttribute: { names: [], attributes: [algorithm(CryptographicAlgorithm.AES), usage(Usage.Encrypt)] },
      object: { keyBlock: { keyFormatType: KeyFormatType.TransparentSymmetricKey, keyValue: { keyMaterial: material, attributes: [] } } },
    });
    const got = await shared.client.get({ uniqueIdentifier: id, keyFormatType: KeyFormatType.TransparentSymmetricKey });
    const returned = (got.object as KmipKeyObject).keyBlock.keyValue as { keyMaterial: StructureItem };
    const key = ttlv.child(returned.keyMaterial, Tag.Key);
    assert.equal(key?.type, ItemType.ByteString);
    assert.deepEqual(Buffer.from(key.value as Uint8Array), value);

    const hmac = await shared.client.register({
      objectType: ObjectType.SymmetricKey,
      templateAttribute: { names: [], attributes: [algorithm(CryptographicAlgorithm.HMACSHA256), { name: "Extractable", value: false }] },
      object: { keyBlock: { keyFormatType: KeyFormatType.Raw, keyValue: { keyMaterial: randomBytes(32), attributes: [] } } },
    });
    await rejectsWith(shared.client.get({ uniqueIdentifier: hmac.uniqueIdentifier }), ResultReason.PermissionDenied, /cannot leave the HSM/);
  });

  test("Secret Data (Password, Seed) and an Opaque Object: Get returns them as registered; Locate by Object Type tells them apart; the token will not use them", async () => {
    const password = Buffer.from("correct horse battery staple");
    const secret = (dataType: number, value: Uint8Array) =>
      ttlv.structure(Tag.SecretData, [
        ttlv.enumeration(Tag.SecretDataType, dataType),
        ttlv.structure(Tag.KeyBlock, [ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.Opaque), ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, value)])]),
      ]);
    const passwordId = (await shared.client.register({ objectType: ObjectType.SecretData, templateAttribute: { names: [], attributes: [name("db-password"), group("secrets")] }, object: secret(SecretDataType.Password, password) })).uniqueIdentifier;
    const seed = randomBytes(96);
    const seedId = (await shared.client.register({ objectType: ObjectType.SecretData, templateAttribute: { names: [], attributes: [group("secrets")] }, object: secret(SecretDataType.SEED, seed) })).uniqueIdentifier;
    const opaqueValue = randomBytes(40);
    const opaqueId = (
      await shared.client.register({
        objectType: ObjectType.OpaqueData,
        templateAttribute: { names: [], attributes: [name("opaque-blob"), group("secrets")] },
        object: ttlv.structure(Tag.OpaqueObject, [ttlv.enumeration(Tag.OpaqueDataType, OpaqueDataType.None), ttlv.byteString(Tag.OpaqueDataValue, opaqueValue)]),
      })
    ).uniqueIdentifier;

    const gotPassword = await shared.client.get({ uniqueIdentifier: passwordId });
    assert.equal(gotPassword.objectType, ObjectType.SecretData);
    const passwordObject = gotPassword.object as StructureItem;
    assert.equal(ttlv.child(passwordObject, Tag.SecretDataType)?.value, SecretDataType.Password);
    const keyValue = ttlv.child(ttlv.child(passwordObject, Tag.KeyBlock)!, Tag.KeyValue)!;
    assert.deepEqual(Buffer.from(ttlv.child(keyValue, Tag.KeyMaterial)!.value as Uint8Array), password);
    const gotSeed = (await shared.client.get({ uniqueIdentifier: seedId })).object as StructureItem;
    assert.equal(ttlv.child(gotSeed, Tag.SecretDataType)?.value, SecretDataType.SEED);
    const gotOpaque = await shared.client.get({ uniqueIdentifier: opaqueId });
    assert.equal(gotOpaque.objectType, ObjectType.OpaqueData);
    assert.deepEqual(Buffer.from(ttlv.child(gotOpaque.object as StructureItem, Tag.OpaqueDataValue)!.value as Uint8Array), opaqueValue);

    const attributes = await attributesOf(passwordId);
    assert.equal(attributes.get("Object Type")![0], ObjectType.SecretData);
    assert.equal(attributes.get("State")![0], State.PreActive);
    assert.ok(![...attributes.keys()].some((key) => key.startsWith("y-")), "the relay's bookkeeping is not reported");
    assert.deepEqual(new Set(await locate([{ name: "Object Type", value: ObjectType.SecretData }, group("secrets")])), new Set([passwordId, seedId]));
    assert.deepEqual(await locate([{ name: "Object Type", value: ObjectType.OpaqueData }, group("secrets")]), [opaqueId]);
    assert.deepEqual(await locate([{ name: "Object Type", value: ObjectType.SymmetricKey }, group("secrets")]), []);

    await shared.client.activate({ uniqueIdentifier: seedId });
    assert.equal(await stateOf(seedId), State.Active);
    await rejectsWith(shared.client.mac({ uniqueIdentifier: seedId, cryptographicParameters: { cryptographicAlgorithm: CryptographicAlgorithm.HMACSHA256 }, data: block }), ResultReason.PermissionDenied);
    await shared.client.revoke({ uniqueIdentifier: seedId, revocationReason: { revocationReasonCode: RevocationReasonCode.Unspecified } });
    await shared.client.destroy({ uniqueIdentifier: seedId });
    await rejectsWith(shared.client.get({ uniqueIdentifier: seedId }), ResultReason.ItemNotFound);
  });

  test("a key registered with CBC / PKCS#5: Encrypt without parameters or IV gets an IV from the token; ECB with PKCS#5 padding matches node:crypto", async () => {
    const value = randomBytes(16);
    const now = BigInt(Math.floor(Date.now() / 1000));
    const { uniqueIdentifier: id } = await shared.client.register({
      objectType: ObjectType.SymmetricKey,
      templateAttribute: {
        names: [],
        attributes: [usage(Usage.Encrypt | Usage.Decrypt), { name: "Activation Date", value: now }, { name: "Cryptographic Parameters", value: { blockCipherMode: BlockCipherMode.CBC, paddingMethod: PaddingMethod.Pkcs5 } }],
      },
      object: { keyBlock: { keyFormatType: KeyFormatType.Raw, keyValue: { keyMaterial: value, attributes: [] }, cryptographicAlgorithm: CryptographicAlgorithm.AES } },
    });
    const plain = Buffer.from("seventeen bytes!!");
    const encrypted = await shared.client.encrypt({ uniqueIdentifier: id, data: plain });
    assert.equal(encrypted.ivCounterNonce?.length, 16);
    const decipher = createDecipheriv("aes-128-cbc", value, encrypted.ivCounterNonce!);
    assert.deepEqual(Buffer.concat([decipher.update(encrypted.data!), decipher.final()]), plain);
    // The key allows CBC-PAD only (CKA_ALLOWED_MECHANISMS): ECB on a key of its own.
    const { uniqueIdentifier: free } = await shared.client.register({
      objectType: ObjectType.SymmetricKey,
      templateAttribute: { names: [], attributes: [usage(Usage.Encrypt | Usage.Decrypt), { name: "Activation Date", value: now }] },
      object: { keyBlock: { keyFormatType: KeyFormatType.Raw, keyValue: { keyMaterial: value, attributes: [] }, cryptographicAlgorithm: CryptographicAlgorithm.AES } },
    });
    const ecbPkcs5 = { blockCipherMode: BlockCipherMode.ECB, paddingMethod: PaddingMethod.Pkcs5 };
    const ecb = await shared.client.encrypt({ uniqueIdentifier: free, cryptographicParameters: ecbPkcs5, data: plain });
    const cipher = createCipheriv("aes-128-ecb", value, null);
    assert.deepEqual(Buffer.from(ecb.data!), Buffer.concat([cipher.update(plain), cipher.final()]));
    assert.deepEqual(Buffer.from((await shared.client.decrypt({ uniqueIdentifier: free, cryptographicParameters: ecbPkcs5, data: ecb.data! })).data!), plain);
  });

  test("refused with the reason: an AES key of 20 bytes, a length that does not match, an empty Opaque Object, a Secret Data Type the relay does not know", async () => {
    const register = (objectType: number, object: unknown, attributes: Attribute[] = []) =>
      shared.client.register({ objectType, templateAttribute: { names: [], attributes }, object: object as KmipKeyObject });
    await rejectsWith(
      register(ObjectType.SymmetricKey, { keyBlock: { keyFormatType: KeyFormatType.Raw, keyValue: { keyMaterial: randomBytes(20), attributes: [] }, cryptographicAlgorithm: CryptographicAlgorithm.AES } }),
      ResultReason.InvalidField,
      /AES Cryptographic Length 160 is not supported/,
    );
    await rejectsWith(
      register(ObjectType.SymmetricKey, { keyBlock: { keyFormatType: KeyFormatType.Raw, keyValue: { keyMaterial: randomBytes(16), attributes: [] }, cryptographicAlgorithm: CryptographicAlgorithm.AES, cryptographicLength: 256 } }),
      ResultReason.InvalidField,
      /does not match the Key Material, 16 bytes/,
    );
    await rejectsWith(
      register(ObjectType.OpaqueData, ttlv.structure(Tag.OpaqueObject, [ttlv.enumeration(Tag.OpaqueDataType, OpaqueDataType.None), ttlv.byteString(Tag.OpaqueDataValue, Buffer.alloc(0))])),
      ResultReason.InvalidField,
      /of 0 bytes/,
    );
    await rejectsWith(
      register(
        ObjectType.SecretData,
        ttlv.structure(Tag.SecretData, [
          ttlv.enumeration(Tag.SecretDataType, 9),
          ttlv.structure(Tag.KeyBlock, [ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.Opaque), ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, Buffer.from("x"))])]),
        ]),
      ),
      ResultReason.InvalidField,
      /Secret Data Type 9 is not supported/,
    );
  });
});
