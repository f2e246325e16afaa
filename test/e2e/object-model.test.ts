// The object model's metadata on a real SoftHSM token, read and written both
// by a relay process and, directly, by the backend in this process (as
// another relay, or one killed between its writes, would leave the token):
// leftovers of a creation cut off between its writes are never reported and
// are cleaned up on sight, whichever relay made them; keys made by pkcs11-tool
// (OpenDNSSEC's 16-byte CKA_ID with the hex as label) and by earlier versions
// of the relay (dates on the public key) keep working, and get a record on
// their first change.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { KmipClient } from "../../src/client/kmip-client.js";
import { formatKeyId } from "../../src/hsm/key-id.js";
import type { Attribute } from "../../src/kmip/attributes.js";
import { encodeRecord } from "../../src/operations/metadata-record.js";
import { CryptographicAlgorithm, LinkType, ResultReason, RevocationReasonCode, State } from "../../src/ttlv/enums.js";
import { startRelayProcess, type RunningRelay } from "../helpers/relay.js";
import { algorithm, connect, DATA, length, name, rejectsWith } from "../helpers/relay-client.js";
import { openSoftHsmBackend, pkcs11Tool, type SoftHsmBackend } from "../helpers/softhsm.js";

let hsm: SoftHsmBackend;
let relay: RunningRelay;
let client: KmipClient;

before(async () => {
  hsm = await openSoftHsmBackend();
  relay = await startRelayProcess({ token: hsm.token });
  client = await connect(relay);
});
after(async () => {
  await client?.close();
  await relay?.cleanup();
  await hsm?.close();
});

const nowSeconds = () => BigInt(Math.floor(Date.now() / 1000));
const located = async () => (await client.locate({ attributes: [] })).uniqueIdentifiers;
const stateOf = async (id: string) => (await client.getAttributes({ uniqueIdentifier: id, attributeNames: ["State"] })).attributes[0]?.value;
async function attributesOf(id: string): Promise<Map<string, Attribute["value"]>> {
  const { attributes } = await client.getAttributes({ uniqueIdentifier: id, attributeNames: [] });
  return new Map(attributes.map((attribute) => [attribute.name, attribute.value]));
}

/** What a relay killed after C_GenerateKeyPair and before its last write leaves: the pair, and a record marked pending since `since`. */
async function leftover(hexId: string, since: bigint, withKeys = true): Promise<{ priv: string; pub: string }> {
  const ckaId = Buffer.from(hexId, "hex");
  if (withKeys) await hsm.backend.generateKeyPair(hsm.slotId, { spec: { keyType: "EC", curve: "P-256" }, ckaId, privateUsage: { sign: false } });
  const pending = [{ name: "State", value: State.PreActive }] as Attribute[];
  await hsm.backend.writeMetadata(hsm.slotId, hexId.toUpperCase(), encodeRecord({ generation: 1, pendingSince: since, objects: { private: pending, public: pending } }));
  return { priv: formatKeyId(ckaId, "private"), pub: formatKeyId(ckaId, "public") };
}

describe("a creation cut off between its writes", () => {
  test("is never reported; an old one is removed, keys and record, by the relay that comes across it; a recent one is left to finish", async () => {
    const old = await leftover("01".repeat(20), nowSeconds() - 3600n);
    const recent = await leftover("02".repeat(20), nowSeconds());
    await leftover("03".repeat(20), nowSeconds() - 3600n, false);
    for (const id of [old.priv, old.pub, recent.priv, recent.pub]) {
      await rejectsWith(client.getAttributes({ uniqueIdentifier: id, attributeNames: [] }), ResultReason.ItemNotFound);
    }
    const found = await located();
    for (const id of [old.priv, old.pub, recent.priv, recent.pub]) assert.equal(found.includes(id), false, `${id} is not reported`);
    const labels = (await hsm.backend.readMetadata(hsm.slotId)).map((object) => object.label);
    assert.deepEqual(labels, ["02".repeat(20)], "the old records are gone, the recent one stays");
    const keys = await hsm.backend.findKeys(hsm.slotId, {});
    assert.equal(keys.includes(old.priv) || keys.includes(old.pub), false, "the old leftover's keys are gone");
    assert.ok(keys.includes(recent.priv) && keys.includes(recent.pub), "the recent one's keys stay");
    await relay.waitForOutput(/removed the leftovers of a key creation that did not finish/);
  });
});

describe("keys made without metadata", () => {
  const tool = (args: string[]) => pkcs11Tool(hsm.token, ["--login", "--pin", hsm.token.pin, "--token-label", hsm.token.label, ...args]);

  test("pkcs11-tool and OpenDNSSEC keys: found, Active, linked by CKA_ID, sign without Activate; a Revoke gives the pair a record", async () => {
    const odsId = "6f1ba2e1c3d4e5f60718293a4b5c6d7e";
    await tool(["--keypairgen", "--key-type", "EC:prime256v1", "--id", odsId, "--label", odsId]);
    const priv = `${odsId.toUpperCase()}_priv`;
    const pub = `${odsId.toUpperCase()}_pub`;
    assert.ok((await located()).includes(priv));
    const attributes = await attributesOf(priv);
    assert.equal(attributes.get("State"), State.Active);
    assert.deepEqual(attributes.get("Link"), { linkType: LinkType.PublicKeyLink, linkedObjectIdentifier: pub });
    assert.deepEqual((await attributesOf(pub)).get("Link"), { linkType: LinkType.PrivateKeyLink, linkedObjectIdentifier: priv });
    await client.sign({ uniqueIdentifier: priv, data: DATA });
    assert.equal((await hsm.backend.readMetadata(hsm.slotId, odsId.toUpperCase())).length, 0, "reading writes nothing");
    await client.revoke({ uniqueIdentifier: priv, revocationReason: { revocationReasonCode: RevocationReasonCode.Superseded } });
    assert.equal((await hsm.backend.readMetadata(hsm.slotId, odsId.toUpperCase())).length, 1, "migrated on the first change");
    assert.equal(await stateOf(priv), State.Deactivated);
    assert.equal(await stateOf(pub), State.Active);
    await rejectsWith(client.sign({ uniqueIdentifier: priv, data: DATA }), ResultReason.PermissionDenied);
    await client.destroy({ uniqueIdentifier: priv });
    await client.destroy({ uniqueIdentifier: pub });
    assert.equal((await hsm.backend.readMetadata(hsm.slotId, odsId.toUpperCase())).length, 0);
  });

  test("keys of earlier versions of the relay: dated by the public key's CKA_START_DATE and CKA_END_DATE", async () => {
    const ckaId = Buffer.from("0e1d".repeat(10), "hex");
    const ids = await hsm.backend.generateKeyPair(hsm.slotId, { spec: { keyType: "EC", curve: "P-256" }, ckaId });
    await hsm.backend.updateKey(hsm.slotId, ids.publicKeyId, { startDate: "20240101", endDate: "20240301" });
    for (const id of [ids.privateKeyId, ids.publicKeyId]) {
      const attributes = await attributesOf(id);
      assert.equal(attributes.get("State"), State.Deactivated);
      assert.equal(attributes.get("Activation Date"), BigInt(Date.UTC(2024, 0, 1) / 1000));
      assert.equal(attributes.get("Deactivation Date"), BigInt(Date.UTC(2024, 2, 1) / 1000));
    }
    // A Deactivated key may be destroyed on any setting.
    await client.destroy({ uniqueIdentifier: ids.privateKeyId });
    await client.destroy({ uniqueIdentifier: ids.publicKeyId });
  });

  test("a pair the relay makes now next to them gets its record; Locate by State reads the records in one search", async () => {
    const made = await client.createKeyPair({
      commonTemplateAttribute: { names: [], attributes: [algorithm(CryptographicAlgorithm.ECDSA), length(256)] },
      privateKeyTemplateAttribute: { names: [], attributes: [name("model-priv")] },
      publicKeyTemplateAttribute: { names: [], attributes: [name("model-pub")] },
    });
    const preActive = (await client.locate({ attributes: [{ name: "State", value: State.PreActive }] })).uniqueIdentifiers;
    assert.deepEqual(new Set(preActive), new Set([made.privateKeyUniqueIdentifier, made.publicKeyUniqueIdentifier]));
  });
});
