// Registered keys are managed objects like the keys the relay makes
// (doc/object-model.md#register), on a real SoftHSM token: Pre-Active until
// activated or until the Activation Date given has come, their own dates and
// client attributes, Links between the two halves whether they paired by Link
// or by material, each half its own state machine through Activate, Revoke
// and Destroy; a Register cut off between its writes leaves the other half as
// it was.
import assert from "node:assert/strict";
import { createHash, generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import { after, before, describe, test } from "node:test";
import type { KmipClient } from "../../src/client/kmip-client.js";
import { formatKeyId, parseKeyId } from "../../src/hsm/key-id.js";
import type { Attribute } from "../../src/kmip/attributes.js";
import type { KeyBlock } from "../../src/kmip/objects.js";
import { encodeRecord } from "../../src/operations/metadata-record.js";
import { CryptographicUsageMask, HashingAlgorithm, KeyFormatType, LinkType, ObjectType, ResultReason, RevocationReasonCode, State, ValidityIndicator } from "../../src/ttlv/enums.js";
import { startRelayProcess, type RunningRelay } from "../helpers/relay.js";
import { connect, DATA, name, rejectsWith, usage } from "../helpers/relay-client.js";
import { ItemType } from "../../src/ttlv/item.js";
import { Tag } from "../../src/ttlv/tags.js";
import { openSoftHsmBackend, type SoftHsmBackend } from "../helpers/softhsm.js";

let hsm: SoftHsmBackend;
let relay: RunningRelay;
let client: KmipClient;

before(async () => {
  hsm = await openSoftHsmBackend();
  relay = await startRelayProcess({ token: hsm.token });
  client = await connect(relay, { protocolVersion: { major: 1, minor: 4 } });
});
after(async () => {
  await client?.close();
  await relay?.cleanup();
  await hsm?.close();
});

const nowSeconds = () => BigInt(Math.floor(Date.now() / 1000));
const block = (keyFormatType: number, der: Buffer): KeyBlock => ({ keyFormatType, keyValue: { keyMaterial: der, attributes: [] } });
const privateBlock = (key: KeyObject) => block(KeyFormatType.PKCS8, key.export({ format: "der", type: "pkcs8" }));
const publicBlock = (key: KeyObject) => block(KeyFormatType.X509, key.export({ format: "der", type: "spki" }));

async function registerPrivate(key: KeyObject, attributes: Attribute[] = []): Promise<string> {
  const { uniqueIdentifier } = await client.register({ objectType: ObjectType.PrivateKey, templateAttribute: { names: [], attributes: [usage(CryptographicUsageMask.Sign), ...attributes] }, object: { keyBlock: privateBlock(key) } });
  return uniqueIdentifier;
}
async function registerPublic(key: KeyObject, attributes: Attribute[] = []): Promise<string> {
  const { uniqueIdentifier } = await client.register({ objectType: ObjectType.PublicKey, templateAttribute: { names: [], attributes: [usage(CryptographicUsageMask.Verify), ...attributes] }, object: { keyBlock: publicBlock(key) } });
  return uniqueIdentifier;
}

async function attributesOf(id: string): Promise<Map<string, Attribute["value"]>> {
  const { attributes } = await client.getAttributes({ uniqueIdentifier: id, attributeNames: [] });
  return new Map(attributes.map((attribute) => [attribute.name, attribute.value]));
}
const linkOf = async (id: string) => (await client.getAttributes({ uniqueIdentifier: id, attributeNames: ["Link"] })).attributes.map((a) => a.value);

describe("Register: registered keys are managed objects", () => {
  test("Pre-Active with Initial and Last Change Date, Name and client attributes; paired by material, both halves linked; each half its own state through Activate, Revoke, Destroy", async () => {
    const keys = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const start = nowSeconds();
    const priv = await registerPrivate(keys.privateKey, [
      name("registered-ksk"),
      { name: "Object Group", value: "zone-example" },
      { name: "x-purpose", value: { tag: Tag.AttributeValue, type: ItemType.TextString, value: "ksk" } },
    ]);
    let p = await attributesOf(priv);
    assert.equal(p.get("State"), State.PreActive, "Pre-Active until activated (3.22)");
    assert.equal(p.get("Activation Date"), undefined);
    const initial = p.get("Initial Date") as bigint;
    assert.ok(initial >= start && initial <= nowSeconds());
    assert.ok((p.get("Last Change Date") as bigint) >= initial);
    assert.deepEqual(p.get("Name"), { nameValue: "registered-ksk", nameType: 1 });
    assert.equal(p.get("Object Group"), "zone-example");
    assert.equal((p.get("x-purpose") as { value: string }).value, "ksk");
    assert.equal(p.get("Cryptographic Usage Mask"), CryptographicUsageMask.Sign);
    // The Digest of the material as registered: the only time the relay sees it (3.17).
    const pkcs8 = keys.privateKey.export({ format: "der", type: "pkcs8" });
    assert.deepEqual(p.get("Digest"), { hashingAlgorithm: HashingAlgorithm.SHA256, digestValue: createHash("sha256").update(pkcs8).digest(), keyFormatType: KeyFormatType.PKCS8 });
    assert.deepEqual(await linkOf(priv), [], "no Link while it is alone");
    await rejectsWith(client.sign({ uniqueIdentifier: priv, data: DATA }), ResultReason.PermissionDenied);

    // The public key pairs by its material, and both get their Link (4.2).
    const pub = await registerPublic(keys.publicKey);
    assert.equal(pub, priv.replace(/_priv$/, "_pub"));
    assert.deepEqual(await linkOf(priv), [{ linkType: LinkType.PublicKeyLink, linkedObjectIdentifier: pub }]);
    assert.deepEqual(await linkOf(pub), [{ linkType: LinkType.PrivateKeyLink, linkedObjectIdentifier: priv }]);
    p = await attributesOf(priv);
    assert.equal(p.get("State"), State.PreActive, "the private key's model is kept when its public key joins");
    assert.equal(p.get("Initial Date"), initial);
    assert.equal(p.get("Object Group"), "zone-example");
    assert.equal((await attributesOf(pub)).get("State"), State.PreActive);

    await client.activate({ uniqueIdentifier: priv });
    p = await attributesOf(priv);
    assert.equal(p.get("State"), State.Active);
    assert.ok((p.get("Activation Date") as bigint) >= initial);
    const q = await attributesOf(pub);
    assert.equal(q.get("State"), State.PreActive, "activating one half leaves the other as it is");
    assert.equal(q.get("Activation Date"), undefined);
    await client.sign({ uniqueIdentifier: priv, data: DATA });

    const occurred = nowSeconds() - 86_400n;
    await client.revoke({ uniqueIdentifier: priv, revocationReason: { revocationReasonCode: RevocationReasonCode.KeyCompromise }, compromiseOccurrenceDate: occurred });
    p = await attributesOf(priv);
    assert.equal(p.get("State"), State.Compromised);
    assert.equal(p.get("Compromise Occurrence Date"), occurred);
    assert.ok((p.get("Compromise Date") as bigint) >= initial);
    assert.equal((await attributesOf(pub)).get("State"), State.PreActive);
    await rejectsWith(client.sign({ uniqueIdentifier: priv, data: DATA }), ResultReason.PermissionDenied);

    await client.destroy({ uniqueIdentifier: priv });
    await rejectsWith(client.getAttributes({ uniqueIdentifier: priv, attributeNames: [] }), ResultReason.ItemNotFound);
    assert.equal((await attributesOf(pub)).get("State"), State.PreActive, "the public key outlives its private key");
    await client.destroy({ uniqueIdentifier: pub });
    const label = parseKeyId(pub)!.ckaId.toString("hex").toUpperCase();
    assert.deepEqual(await hsm.backend.readMetadata(hsm.slotId, label), [], "the record goes with its last object");
  });

  test("an Activation Date now or past makes it Active at once; one to come keeps it Pre-Active, with that date", async () => {
    const past = nowSeconds() - 3600n;
    const active = await registerPrivate(generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey, [{ name: "Activation Date", value: past }]);
    const a = await attributesOf(active);
    assert.equal(a.get("State"), State.Active);
    assert.equal(a.get("Activation Date"), past);
    await client.sign({ uniqueIdentifier: active, data: DATA });

    const future = nowSeconds() + 86_400n;
    const later = await registerPrivate(generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey, [{ name: "Activation Date", value: future }]);
    const l = await attributesOf(later);
    assert.equal(l.get("State"), State.PreActive);
    assert.equal(l.get("Activation Date"), future);
    await rejectsWith(client.sign({ uniqueIdentifier: later, data: DATA }), ResultReason.PermissionDenied);
  });

  test("Protect Stop Date passed: the private key does not sign; Process Start Date to come: the public key does not verify (KMIP 1.x 3.25, 3.26)", async () => {
    const keys = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const now = nowSeconds();
    const dates: Attribute[] = [
      { name: "Activation Date", value: now - 3600n },
      { name: "Process Start Date", value: now + 3600n },
      { name: "Protect Stop Date", value: now - 3600n },
    ];
    const priv = await registerPrivate(keys.privateKey, dates);
    const pub = await registerPublic(keys.publicKey, dates);
    const p = await attributesOf(priv);
    assert.equal(p.get("State"), State.Active);
    assert.equal(p.get("Protect Stop Date"), now - 3600n);
    assert.equal((await attributesOf(pub)).get("Process Start Date"), now + 3600n);
    await rejectsWith(client.sign({ uniqueIdentifier: priv, data: DATA }), ResultReason.PermissionDenied);
    const signature = sign("sha256", DATA, keys.privateKey);
    await rejectsWith(client.signatureVerify({ uniqueIdentifier: pub, data: DATA, signatureData: signature }), ResultReason.PermissionDenied);
    // Without those dates, the same kind of pair signs and verifies.
    const other = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const priv2 = await registerPrivate(other.privateKey, [dates[0]!]);
    const pub2 = await registerPublic(other.publicKey, [dates[0]!]);
    const { signatureData } = await client.sign({ uniqueIdentifier: priv2, data: DATA });
    assert.equal((await client.signatureVerify({ uniqueIdentifier: pub2, data: DATA, signatureData: signatureData! })).validityIndicator, ValidityIndicator.Valid);
  });

  test("paired by Link: the public key first, the private key naming it; both linked", async () => {
    const keys = generateKeyPairSync("rsa", { modulusLength: 1024 });
    const pub = await registerPublic(keys.publicKey);
    const priv = await registerPrivate(keys.privateKey, [{ name: "Link", value: { linkType: LinkType.PublicKeyLink, linkedObjectIdentifier: pub } }]);
    assert.equal(priv, pub.replace(/_pub$/, "_priv"));
    assert.deepEqual(await linkOf(priv), [{ linkType: LinkType.PublicKeyLink, linkedObjectIdentifier: pub }]);
    assert.deepEqual(await linkOf(pub), [{ linkType: LinkType.PrivateKeyLink, linkedObjectIdentifier: priv }]);
    assert.equal((await attributesOf(priv)).get("State"), State.PreActive);
  });

  test("a Register cut off between its writes: the new key is never reported and is removed; the other half keeps its model, without the Link", async () => {
    const keys = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const pub = await registerPublic(keys.publicKey, [{ name: "Object Group", value: "kept" }]);
    const { ckaId } = parseKeyId(pub)!;
    const label = ckaId.toString("hex").toUpperCase();
    const priv = formatKeyId(ckaId, "private");
    // What a relay killed after C_CreateObject and before its last write leaves.
    const [record] = await hsm.backend.readMetadata(hsm.slotId, label);
    assert.ok(record !== undefined);
    const publicModel = (await client.getAttributes({ uniqueIdentifier: pub, attributeNames: ["State", "Initial Date", "Object Group"] })).attributes;
    await hsm.backend.importKey(hsm.slotId, {
      material: { objectClass: "private", keyType: "EC", curve: "P-256", ...ecMaterial(keys.privateKey) },
      usage: { sign: false },
      ckaId,
    });
    const link: Attribute = { name: "Link", value: { linkType: LinkType.PrivateKeyLink, linkedObjectIdentifier: priv } };
    await hsm.backend.writeMetadata(
      hsm.slotId,
      label,
      encodeRecord({
        generation: 10,
        pendingSince: nowSeconds() - 3600n,
        pendingObjects: ["private"],
        objects: { public: [...publicModel, link], private: [{ name: "State", value: State.PreActive }] },
      }),
    );
    assert.equal((await attributesOf(pub)).get("State"), State.PreActive, "the other half is read while its partner is pending");
    await rejectsWith(client.getAttributes({ uniqueIdentifier: priv, attributeNames: [] }), ResultReason.ItemNotFound);
    assert.equal((await hsm.backend.findKeys(hsm.slotId, {})).includes(priv), false, "the leftover key is removed");
    const after = await attributesOf(pub);
    assert.equal(after.get("Object Group"), "kept");
    assert.deepEqual(await linkOf(pub), [], "no Link to the key that was never made");
    await relay.waitForOutput(/removed the leftovers of a key creation that did not finish/);
  });
});

/** The EC private key's scalar and public point, as the import request takes them. */
function ecMaterial(key: KeyObject): { value: Buffer; ecPoint: Buffer } {
  const j = key.export({ format: "jwk" });
  const b = (s: string | undefined) => Buffer.from(s!, "base64url");
  return { value: b(j.d), ecPoint: Buffer.concat([Buffer.from([4]), b(j.x), b(j.y)]) };
}
