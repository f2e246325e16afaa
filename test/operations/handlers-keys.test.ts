// The key operations (Create Key Pair, Get, Locate, Check, Get Attributes,
// Get Attribute List, Add / Modify / Delete Attribute, Activate, Revoke,
// Destroy) run in process on an in-memory token (test/helpers/memory-backend.ts):
// each one's success and its main failures, with the Result Reason a client
// gets. The same operations against SoftHSM over TLS: test/e2e/.
import assert from "node:assert/strict";
import { createPublicKey } from "node:crypto";
import { describe, test } from "node:test";
import { HsmError } from "../../src/hsm/hsm-error.js";
import type { Attribute } from "../../src/kmip/attributes.js";
import {
  activatePayloads,
  addAttributePayloads,
  checkPayloads,
  createKeyPairPayloads,
  deleteAttributePayloads,
  destroyPayloads,
  getAttributeListPayloads,
  getAttributesPayloads,
  getPayloads,
  locatePayloads,
  modifyAttributePayloads,
  revokePayloads,
} from "../../src/kmip/payloads/index.js";
import { CryptographicAlgorithm, CryptographicUsageMask, KeyFormatType, LinkType, NameType, ObjectType, Operation, ResultReason, RevocationReasonCode, State } from "../../src/ttlv/enums.js";
import { ItemType } from "../../src/ttlv/item.js";
import { Tag } from "../../src/ttlv/tags.js";
import { OperationBench } from "../helpers/operation-context.js";

const name = (nameValue: string, nameType: number = NameType.UninterpretedTextString): Attribute => ({ name: "Name", value: { nameValue, nameType } });
const algorithm = (value: number): Attribute => ({ name: "Cryptographic Algorithm", value });
const length = (value: number): Attribute => ({ name: "Cryptographic Length", value });
const template = (attributes: Attribute[]) => ({ names: [], attributes });

/** Create Key Pair as Cascade sends it (doc/compatibility.md#what-cascade-sends). */
async function createPair(bench: OperationBench, common: Attribute[] = [algorithm(CryptographicAlgorithm.ECDSA), length(256)], label = "zone-1") {
  return bench.run(Operation.CreateKeyPair, createKeyPairPayloads, {
    commonTemplateAttribute: template(common),
    privateKeyTemplateAttribute: template([name(`${label}-pri`), { name: "Cryptographic Usage Mask", value: CryptographicUsageMask.Sign }]),
    publicKeyTemplateAttribute: template([name(`${label}-pub`), { name: "Cryptographic Usage Mask", value: CryptographicUsageMask.Verify }]),
  });
}

async function attributesOf(bench: OperationBench, id: string): Promise<Map<string, unknown>> {
  const { attributes } = await bench.run(Operation.GetAttributes, getAttributesPayloads, { uniqueIdentifier: id, attributeNames: [] });
  return new Map(attributes.map((a) => [a.name, a.value]));
}

describe("Create Key Pair", () => {
  test("makes a pair with one CKA_ID, the ids of the scheme, the templates and a label per key; sets the ID Placeholder", async () => {
    const bench = new OperationBench();
    const context = bench.context();
    const ids = await bench.run(Operation.CreateKeyPair, createKeyPairPayloads, {
      commonTemplateAttribute: template([algorithm(CryptographicAlgorithm.ECDSA), length(256)]),
      privateKeyTemplateAttribute: template([name("k-pri")]),
      publicKeyTemplateAttribute: template([name("k-pub")]),
    }, context);
    assert.match(ids.privateKeyUniqueIdentifier, /^[0-9A-F]{40}_priv$/);
    assert.equal(ids.publicKeyUniqueIdentifier, ids.privateKeyUniqueIdentifier.replace(/_priv$/, "_pub"));
    assert.equal(context.idPlaceholder, ids.privateKeyUniqueIdentifier);
    const priv = bench.backend.object(ids.privateKeyUniqueIdentifier)!;
    const pub = bench.backend.object(ids.publicKeyUniqueIdentifier)!;
    // Pre-Active (KMIP 1.x 3.22): the token refuses to sign until Activate.
    assert.deepEqual([priv.label, priv.keyType, priv.curve, priv.usage.sign, priv.usage.decrypt, priv.usage.unwrap], ["k-pri", "EC", "P-256", false, false, false]);
    assert.deepEqual([pub.label, pub.usage.verify, pub.usage.encrypt, pub.usage.wrap], ["k-pub", true, false, false]);
    assert.equal(bench.backend.metadataCount, 1, "one metadata object for the pair");
  });

  test("each key is its own object: Pre-Active, its own usage mask exactly, dates, and a Link to the other (4.2)", async () => {
    const bench = new OperationBench();
    const before = BigInt(Math.floor(Date.now() / 1000));
    const ids = await createPair(bench);
    const priv = await attributesOf(bench, ids.privateKeyUniqueIdentifier);
    const pub = await attributesOf(bench, ids.publicKeyUniqueIdentifier);
    assert.equal(priv.get("State"), State.PreActive);
    assert.equal(pub.get("State"), State.PreActive);
    assert.equal(priv.get("Cryptographic Usage Mask"), CryptographicUsageMask.Sign);
    assert.equal(pub.get("Cryptographic Usage Mask"), CryptographicUsageMask.Verify);
    assert.ok((priv.get("Initial Date") as bigint) >= before);
    assert.ok((pub.get("Last Change Date") as bigint) >= before);
    assert.equal(priv.get("Activation Date"), undefined);
    assert.deepEqual(priv.get("Link"), { linkType: LinkType.PublicKeyLink, linkedObjectIdentifier: ids.publicKeyUniqueIdentifier });
    assert.deepEqual(pub.get("Link"), { linkType: LinkType.PrivateKeyLink, linkedObjectIdentifier: ids.privateKeyUniqueIdentifier });
  });

  test("an Activation Date now or past makes the keys Active at once; one to come leaves them Pre-Active until it comes", async () => {
    const bench = new OperationBench();
    const now = BigInt(Math.floor(Date.now() / 1000));
    const active = await createPair(bench, [algorithm(CryptographicAlgorithm.ECDSA), length(256), { name: "Activation Date", value: now - 10n }]);
    assert.equal((await attributesOf(bench, active.privateKeyUniqueIdentifier)).get("State"), State.Active);
    assert.equal(bench.backend.object(active.privateKeyUniqueIdentifier)!.usage.sign, true);
    const later = await createPair(bench, [algorithm(CryptographicAlgorithm.ECDSA), length(256), { name: "Activation Date", value: now + 3600n }], "later");
    assert.equal((await attributesOf(bench, later.privateKeyUniqueIdentifier)).get("State"), State.PreActive);
    assert.equal(bench.backend.object(later.privateKeyUniqueIdentifier)!.usage.sign, false);
  });

  test("a Name in the common template labels both keys", async () => {
    const bench = new OperationBench();
    const ids = await bench.run(Operation.CreateKeyPair, createKeyPairPayloads, {
      commonTemplateAttribute: template([algorithm(CryptographicAlgorithm.RSA), length(1024), name("both")]),
    });
    assert.equal(bench.backend.object(ids.privateKeyUniqueIdentifier)!.label, "both");
    assert.equal(bench.backend.object(ids.publicKeyUniqueIdentifier)!.label, "both");
  });

  test("refuses what it cannot make, with the reason", async () => {
    const bench = new OperationBench();
    const cases: [Attribute[], number, RegExp][] = [
      [[length(2048)], ResultReason.MissingData, /Cryptographic Algorithm/],
      [[algorithm(CryptographicAlgorithm.RSA)], ResultReason.MissingData, /Cryptographic Length/],
      [[algorithm(CryptographicAlgorithm.RSA), length(512)], ResultReason.InvalidField, /1024 to 4096/],
      [[algorithm(CryptographicAlgorithm.ECDSA), length(255)], ResultReason.InvalidField, /256, 384 or 521/],
      [[algorithm(CryptographicAlgorithm.AES), length(256)], ResultReason.InvalidField, /cannot make a key pair/],
      [[algorithm(CryptographicAlgorithm.ECDSA), length(256), name("x", NameType.URI)], ResultReason.InvalidField, /Uninterpreted Text String/],
    ];
    for (const [common, reason, message] of cases) {
      await bench.fails(Operation.CreateKeyPair, createKeyPairPayloads, { commonTemplateAttribute: template(common) }, reason, message);
    }
    assert.equal((await bench.backend.findKeys("1", {})).length, 0, "nothing was made");
  });
});

describe("Get", () => {
  test("a public key: PKCS#1 for RSA by default, Transparent RSA when asked; the material is the token's key", async () => {
    const bench = new OperationBench();
    const ids = await createPair(bench, [algorithm(CryptographicAlgorithm.RSA), length(1024)]);
    const id = ids.publicKeyUniqueIdentifier;
    const plain = await bench.run(Operation.Get, getPayloads, { uniqueIdentifier: id });
    assert.equal(plain.objectType, ObjectType.PublicKey);
    const block = (plain.object as { keyBlock: { keyFormatType: number; cryptographicLength: number; keyValue: { keyMaterial: Uint8Array } } }).keyBlock;
    assert.equal(block.keyFormatType, KeyFormatType.PKCS1);
    assert.equal(block.cryptographicLength, 1024);
    const der = createPublicKey({ key: Buffer.from(block.keyValue.keyMaterial), format: "der", type: "pkcs1" });
    assert.ok(der.equals(bench.backend.object(id)!.publicKey));
    const transparent = await bench.run(Operation.Get, getPayloads, { uniqueIdentifier: id, keyFormatType: KeyFormatType.TransparentRSAPublicKey });
    const material = (transparent.object as { keyBlock: { keyValue: { keyMaterial: { publicExponent: bigint } } } }).keyBlock.keyValue.keyMaterial;
    assert.equal(material.publicExponent, 65537n);
  });

  test("a private key is Permission Denied, an unknown id Item Not Found, an unsupported format Key Format Type Not Supported", async () => {
    const bench = new OperationBench();
    const ids = await createPair(bench);
    await bench.fails(Operation.Get, getPayloads, { uniqueIdentifier: ids.privateKeyUniqueIdentifier }, ResultReason.PermissionDenied, /never leave/);
    await bench.fails(Operation.Get, getPayloads, { uniqueIdentifier: "00_pub" }, ResultReason.ItemNotFound);
    await bench.fails(Operation.Get, getPayloads, { uniqueIdentifier: ids.publicKeyUniqueIdentifier, keyFormatType: KeyFormatType.PKCS8 }, ResultReason.KeyFormatTypeNotSupported);
  });

  test("without an id and without an ID Placeholder: Missing Data", async () => {
    await new OperationBench().fails(Operation.Get, getPayloads, {}, ResultReason.MissingData, /ID Placeholder/);
  });
});

describe("Locate", () => {
  test("finds by Name, Object Type and State; one hit becomes the ID Placeholder", async () => {
    const bench = new OperationBench();
    const a = await createPair(bench, undefined, "a");
    await createPair(bench, undefined, "b");
    const context = bench.context();
    const byName = await bench.run(Operation.Locate, locatePayloads, { attributes: [name("a-pub")] }, context);
    assert.deepEqual(byName.uniqueIdentifiers, [a.publicKeyUniqueIdentifier]);
    assert.equal(context.idPlaceholder, a.publicKeyUniqueIdentifier);
    const privates = await bench.run(Operation.Locate, locatePayloads, { attributes: [{ name: "Object Type", value: ObjectType.PrivateKey }] });
    assert.equal(privates.uniqueIdentifiers.length, 2);
    const deactivated = await bench.run(Operation.Locate, locatePayloads, { attributes: [{ name: "State", value: State.Deactivated }] });
    assert.deepEqual(deactivated.uniqueIdentifiers, []);
  });

  test("an attribute it cannot match is Feature Not Supported", async () => {
    await new OperationBench().fails(Operation.Locate, locatePayloads, { attributes: [{ name: "Contact Information", value: "ops" }] }, ResultReason.FeatureNotSupported);
  });
});

describe("Check", () => {
  test("a usage the key allows passes; one it lacks is Permission Denied naming it", async () => {
    const bench = new OperationBench();
    const ids = await createPair(bench);
    await bench.run(Operation.Activate, activatePayloads, { uniqueIdentifier: ids.privateKeyUniqueIdentifier });
    const ok = await bench.run(Operation.Check, checkPayloads, { uniqueIdentifier: ids.privateKeyUniqueIdentifier, cryptographicUsageMask: CryptographicUsageMask.Sign });
    assert.equal(ok.uniqueIdentifier, ids.privateKeyUniqueIdentifier);
    await bench.fails(Operation.Check, checkPayloads, { uniqueIdentifier: ids.publicKeyUniqueIdentifier, cryptographicUsageMask: CryptographicUsageMask.Sign }, ResultReason.PermissionDenied, /does not allow Sign/);
  });
});

describe("Get Attributes and Get Attribute List", () => {
  test("report the key as the token describes it", async () => {
    const bench = new OperationBench();
    const ids = await createPair(bench);
    const attributes = await attributesOf(bench, ids.publicKeyUniqueIdentifier);
    assert.equal(attributes.get("Object Type"), ObjectType.PublicKey);
    assert.equal(attributes.get("Cryptographic Algorithm"), CryptographicAlgorithm.ECDSA);
    assert.equal(attributes.get("Cryptographic Length"), 256);
    assert.deepEqual(attributes.get("Name"), { nameValue: "zone-1-pub", nameType: NameType.UninterpretedTextString });
    assert.equal(attributes.get("Cryptographic Usage Mask"), CryptographicUsageMask.Verify);
    assert.equal(attributes.get("State"), State.PreActive);
    const list = await bench.run(Operation.GetAttributeList, getAttributeListPayloads, { uniqueIdentifier: ids.publicKeyUniqueIdentifier });
    assert.deepEqual(list.attributeNames, [...attributes.keys()]);
  });

  test("an unknown key is Item Not Found", async () => {
    const bench = new OperationBench();
    await bench.fails(Operation.GetAttributes, getAttributesPayloads, { uniqueIdentifier: "AB_priv", attributeNames: [] }, ResultReason.ItemNotFound);
    await bench.fails(Operation.GetAttributeList, getAttributeListPayloads, { uniqueIdentifier: "AB_priv" }, ResultReason.ItemNotFound);
  });
});

describe("Add, Modify and Delete Attribute", () => {
  test("Name is the CKA_LABEL: renamed, deleted, added again", async () => {
    const bench = new OperationBench();
    const id = (await createPair(bench)).publicKeyUniqueIdentifier;
    await bench.run(Operation.ModifyAttribute, modifyAttributePayloads, { uniqueIdentifier: id, attribute: name("example.org-12345-ksk-pub") });
    assert.equal(bench.backend.object(id)!.label, "example.org-12345-ksk-pub");
    await bench.fails(Operation.AddAttribute, addAttributePayloads, { uniqueIdentifier: id, attribute: name("second") }, ResultReason.IndexOutOfBounds);
    await bench.run(Operation.DeleteAttribute, deleteAttributePayloads, { uniqueIdentifier: id, attributeName: "Name" });
    assert.equal(bench.backend.object(id)!.label, null);
    await bench.fails(Operation.DeleteAttribute, deleteAttributePayloads, { uniqueIdentifier: id, attributeName: "Name" }, ResultReason.ItemNotFound);
    await bench.run(Operation.AddAttribute, addAttributePayloads, { uniqueIdentifier: id, attribute: name("again") });
    assert.equal(bench.backend.object(id)!.label, "again");
  });

  test("Object Group, Contact Information and x- attributes live in the metadata: added, modified, deleted, reported", async () => {
    const bench = new OperationBench();
    const id = (await createPair(bench)).privateKeyUniqueIdentifier;
    const custom: Attribute = { name: "x-zone", value: { tag: Tag.AttributeValue, type: ItemType.TextString, value: "example.org" } };
    await bench.run(Operation.AddAttribute, addAttributePayloads, { uniqueIdentifier: id, attribute: { name: "Object Group", value: "dnssec" } });
    const second = await bench.run(Operation.AddAttribute, addAttributePayloads, { uniqueIdentifier: id, attribute: { name: "Object Group", value: "ksk" } });
    assert.equal(second.attribute.index, 1);
    await bench.run(Operation.AddAttribute, addAttributePayloads, { uniqueIdentifier: id, attribute: { name: "Contact Information", value: "ops@example.org" } });
    await bench.fails(Operation.AddAttribute, addAttributePayloads, { uniqueIdentifier: id, attribute: { name: "Contact Information", value: "x" } }, ResultReason.IndexOutOfBounds);
    await bench.run(Operation.AddAttribute, addAttributePayloads, { uniqueIdentifier: id, attribute: custom });
    await bench.run(Operation.ModifyAttribute, modifyAttributePayloads, { uniqueIdentifier: id, attribute: { name: "Object Group", index: 1, value: "zsk" } });
    const { attributes } = await bench.run(Operation.GetAttributes, getAttributesPayloads, { uniqueIdentifier: id, attributeNames: ["Object Group", "Contact Information", "x-zone"] });
    assert.deepEqual(
      attributes.map((a) => [a.name, a.index, a.name === "x-zone" ? (a.value as { value: string }).value : a.value]),
      [
        ["Object Group", undefined, "dnssec"],
        ["Object Group", 1, "zsk"],
        ["Contact Information", undefined, "ops@example.org"],
        ["x-zone", undefined, "example.org"],
      ],
    );
    await bench.run(Operation.DeleteAttribute, deleteAttributePayloads, { uniqueIdentifier: id, attributeName: "Object Group", attributeIndex: 0 });
    const after = await attributesOf(bench, id);
    assert.equal(after.get("Object Group"), "zsk");
    await bench.fails(Operation.DeleteAttribute, deleteAttributePayloads, { uniqueIdentifier: id, attributeName: "Object Group", attributeIndex: 3 }, ResultReason.ItemNotFound);
  });

  test("other attributes are refused: Permission Denied for those read from the token", async () => {
    const bench = new OperationBench();
    const id = (await createPair(bench)).publicKeyUniqueIdentifier;
    await bench.fails(Operation.ModifyAttribute, modifyAttributePayloads, { uniqueIdentifier: id, attribute: { name: "Cryptographic Length", value: 384 } }, ResultReason.PermissionDenied, /only Name/);
    await bench.fails(Operation.ModifyAttribute, modifyAttributePayloads, { uniqueIdentifier: id, attribute: { name: "Contact Information", value: "x" } }, ResultReason.ItemNotFound);
    await bench.fails(Operation.DeleteAttribute, deleteAttributePayloads, { uniqueIdentifier: id, attributeName: "State" }, ResultReason.PermissionDenied);
    await bench.fails(Operation.ModifyAttribute, modifyAttributePayloads, { uniqueIdentifier: "CD_pub", attribute: name("x") }, ResultReason.ItemNotFound);
  });
});

describe("Activate, Revoke and Destroy", () => {
  test("each key changes alone: Activate sets its Activation Date and CKA_SIGN; Revoke deactivates it and stops signing; Destroy removes it", async () => {
    const bench = new OperationBench();
    const ids = await createPair(bench);
    const priv = ids.privateKeyUniqueIdentifier;
    const pub = ids.publicKeyUniqueIdentifier;
    await bench.run(Operation.Activate, activatePayloads, { uniqueIdentifier: priv });
    assert.equal(bench.backend.object(priv)!.usage.sign, true);
    const activated = await attributesOf(bench, priv);
    assert.equal(activated.get("State"), State.Active);
    assert.equal(typeof activated.get("Activation Date"), "bigint");
    assert.equal((await attributesOf(bench, pub)).get("State"), State.PreActive, "the public key is another object");
    await bench.run(Operation.Revoke, revokePayloads, { uniqueIdentifier: priv, revocationReason: { revocationReasonCode: RevocationReasonCode.CessationOfOperation, revocationMessage: "retired" } });
    assert.equal(bench.backend.object(priv)!.usage.sign, false);
    const revoked = await attributesOf(bench, priv);
    assert.equal(revoked.get("State"), State.Deactivated);
    assert.deepEqual(revoked.get("Revocation Reason"), { revocationReasonCode: RevocationReasonCode.CessationOfOperation, revocationMessage: "retired" });
    assert.equal(typeof revoked.get("Deactivation Date"), "bigint");
    await bench.fails(Operation.Activate, activatePayloads, { uniqueIdentifier: priv }, ResultReason.PermissionDenied, /only a Pre-Active/);
    await bench.run(Operation.Destroy, destroyPayloads, { uniqueIdentifier: priv });
    assert.equal(bench.backend.metadataCount, 1, "the public key's model stays");
    await bench.run(Operation.Destroy, destroyPayloads, { uniqueIdentifier: pub });
    assert.equal(bench.backend.object(priv), undefined);
    assert.equal(bench.backend.metadataCount, 0, "the record goes with its last object");
    await bench.fails(Operation.Destroy, destroyPayloads, { uniqueIdentifier: pub }, ResultReason.ItemNotFound);
  });

  test("Revoke for Key Compromise: Compromised, with Compromise Date and the Compromise Occurrence Date given", async () => {
    const bench = new OperationBench();
    const ids = await createPair(bench);
    const occurred = 1_700_000_000n;
    await bench.run(Operation.Activate, activatePayloads, { uniqueIdentifier: ids.privateKeyUniqueIdentifier });
    await bench.run(Operation.Revoke, revokePayloads, {
      uniqueIdentifier: ids.privateKeyUniqueIdentifier,
      revocationReason: { revocationReasonCode: RevocationReasonCode.KeyCompromise },
      compromiseOccurrenceDate: occurred,
    });
    const attributes = await attributesOf(bench, ids.privateKeyUniqueIdentifier);
    assert.equal(attributes.get("State"), State.Compromised);
    assert.equal(attributes.get("Compromise Occurrence Date"), occurred);
    assert.equal(typeof attributes.get("Compromise Date"), "bigint");
    assert.equal(bench.backend.object(ids.privateKeyUniqueIdentifier)!.usage.sign, false);
    await bench.run(Operation.Destroy, destroyPayloads, { uniqueIdentifier: ids.privateKeyUniqueIdentifier });
  });

  test("Destroy of an Active key: deactivated first by default; Permission Denied with strict-destroy", async () => {
    const bench = new OperationBench();
    const ids = await createPair(bench);
    await bench.run(Operation.Activate, activatePayloads, { uniqueIdentifier: ids.privateKeyUniqueIdentifier });
    const strict = { ...bench.context(), lifecycle: { strictDestroy: true, pendingTimeoutMs: 600_000 } };
    await bench.fails(Operation.Destroy, destroyPayloads, { uniqueIdentifier: ids.privateKeyUniqueIdentifier }, ResultReason.PermissionDenied, /revoke it first/, strict);
    assert.notEqual(bench.backend.object(ids.privateKeyUniqueIdentifier), undefined);
    await bench.run(Operation.Destroy, destroyPayloads, { uniqueIdentifier: ids.privateKeyUniqueIdentifier });
    assert.equal(bench.backend.object(ids.privateKeyUniqueIdentifier), undefined);
  });

  test("Revoke with an undefined reason is Invalid Field; a module failure is General Failure", async () => {
    const bench = new OperationBench();
    const ids = await createPair(bench);
    await bench.fails(Operation.Revoke, revokePayloads, { uniqueIdentifier: ids.privateKeyUniqueIdentifier, revocationReason: { revocationReasonCode: 0x77 } }, ResultReason.InvalidField);
    bench.backend.failNext("describeKey", new HsmError("MODULE_FAILED", "the HSM module failed: the module process exited"));
    await bench.fails(Operation.Activate, activatePayloads, { uniqueIdentifier: ids.privateKeyUniqueIdentifier }, ResultReason.GeneralFailure, /module failed/);
  });
});

describe("crash-safe creation (doc/object-model.md#crash-safe-creation)", () => {
  test("a pair whose record was never marked complete is never reported, and is removed once older than the write timeout", async () => {
    const bench = new OperationBench();
    const backend = bench.backend;
    // The second metadata write (the one that marks the pair complete) fails, as a relay killed between the writes would leave it.
    const write = backend.writeMetadata.bind(backend);
    let writes = 0;
    backend.writeMetadata = async (slotId, label, value) => {
      if (++writes === 2) throw new HsmError("MODULE_FAILED", "the HSM module failed: killed");
      return write(slotId, label, value);
    };
    await bench.fails(Operation.CreateKeyPair, createKeyPairPayloads, { commonTemplateAttribute: template([algorithm(CryptographicAlgorithm.ECDSA), length(256)]) }, ResultReason.GeneralFailure);
    const leftovers = await backend.findKeys("1", {});
    assert.equal(leftovers.length, 2, "the pair exists on the token");
    assert.equal(backend.metadataCount, 1, "with its pending record");
    // Not reported: neither found nor readable, on this relay or any other.
    assert.deepEqual((await bench.run(Operation.Locate, locatePayloads, { attributes: [] })).uniqueIdentifiers, []);
    for (const id of leftovers) await bench.fails(Operation.GetAttributes, getAttributesPayloads, { uniqueIdentifier: id, attributeNames: [] }, ResultReason.ItemNotFound, /being created/);
    assert.equal((await backend.findKeys("1", {})).length, 2, "a recent one may still be being made: left alone");
    // Once older than the write timeout, whichever relay comes across it removes keys and record.
    const later = { ...bench.context(), lifecycle: { strictDestroy: false, pendingTimeoutMs: -1 } };
    assert.deepEqual((await bench.run(Operation.Locate, locatePayloads, { attributes: [] }, later)).uniqueIdentifiers, []);
    assert.deepEqual(await backend.findKeys("1", {}), []);
    assert.equal(backend.metadataCount, 0);
  });

  test("a refused generation leaves no record", async () => {
    const bench = new OperationBench();
    bench.backend.failNext("generateKeyPair", new HsmError("UNSUPPORTED", "C_GenerateKeyPair: CKR_MECHANISM_INVALID", "C_GenerateKeyPair", "CKR_MECHANISM_INVALID"));
    await bench.fails(Operation.CreateKeyPair, createKeyPairPayloads, { commonTemplateAttribute: template([algorithm(CryptographicAlgorithm.ECDSA), length(256)]) }, ResultReason.CryptographicFailure);
    assert.equal(bench.backend.metadataCount, 0);
  });
});

describe("keys without metadata (other tools, earlier versions of the relay)", () => {
  test("read as they are: Active, linked by CKA_ID, dated by the public key's CK_DATEs; a first change gives the pair a record", async () => {
    const bench = new OperationBench();
    const tool = bench.backend.addKeyPair({ keyType: "EC", curve: "P-256" }, Buffer.from("0a1b2c3d4e5f60718293a4b5c6d7e8f9", "hex"), { label: "0a1b2c3d4e5f60718293a4b5c6d7e8f9" });
    const old = bench.backend.addKeyPair({ keyType: "EC", curve: "P-256" }, Buffer.from("beef", "hex"), { startDate: "20240101", endDate: "20240301" });
    const attributes = await attributesOf(bench, tool.privateKeyId);
    assert.equal(attributes.get("State"), State.Active);
    assert.deepEqual(attributes.get("Link"), { linkType: LinkType.PublicKeyLink, linkedObjectIdentifier: tool.publicKeyId });
    for (const id of [old.privateKeyId, old.publicKeyId]) assert.equal((await attributesOf(bench, id)).get("State"), State.Deactivated);
    assert.equal(bench.backend.metadataCount, 0, "reading writes nothing");
    await bench.run(Operation.Revoke, revokePayloads, { uniqueIdentifier: tool.privateKeyId, revocationReason: { revocationReasonCode: RevocationReasonCode.Superseded } });
    assert.equal(bench.backend.metadataCount, 1, "migrated on the first change");
    assert.equal((await attributesOf(bench, tool.privateKeyId)).get("State"), State.Deactivated);
    assert.equal((await attributesOf(bench, tool.publicKeyId)).get("State"), State.Active, "the other key keeps its state");
    assert.equal(bench.backend.object(tool.privateKeyId)!.usage.sign, false);
  });
});
