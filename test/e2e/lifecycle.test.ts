// The KMIP object model kept in the token (README "Key lifecycle",
// doc/object-model.md), end to end with two relay processes serving one
// SoftHSM token, relay 1 with [lifecycle] strict-destroy: each key of a pair
// is its own object, Pre-Active until activated; Activate lets the private
// key sign through every relay; Revoke deactivates (or, for a compromise,
// compromises) one object and stops it signing everywhere, also after a
// restart; Destroy of an Active key deactivates it first on the default
// relay and is refused on the strict one; afterwards every relay answers
// Item Not Found.
import assert from "node:assert/strict";
import { verify } from "node:crypto";
import { after, before, describe, test } from "node:test";
import type { KmipClient } from "../../src/client/kmip-client.js";
import type { Attribute } from "../../src/kmip/attributes.js";
import {
  CryptographicAlgorithm,
  CryptographicUsageMask,
  HashingAlgorithm,
  LinkType,
  ResultReason,
  RevocationReasonCode,
  State,
} from "../../src/ttlv/enums.js";
import { startRelayProcess, type RunningRelay } from "../helpers/relay.js";
import { createSoftHsmToken, type SoftHsmToken } from "../helpers/softhsm.js";
import { algorithm, connect, createKeyPair, DATA, length, publicKeyOf, rejectsWith } from "../helpers/relay-client.js";

const EC_P256 = [algorithm(CryptographicAlgorithm.ECDSA), length(256)];
const ECDSA_SHA256 = { cryptographicAlgorithm: CryptographicAlgorithm.ECDSA, hashingAlgorithm: HashingAlgorithm.SHA256 };
const CESSATION = { revocationReasonCode: RevocationReasonCode.CessationOfOperation };

const nowDateTime = () => BigInt(Math.floor(Date.now() / 1000));

let token: SoftHsmToken;
/** Two relays on one token, each with a client. */
const relays: RunningRelay[] = [];
const clients: KmipClient[] = [];

async function startRelay(index: number): Promise<void> {
  relays[index] = await startRelayProcess({ token, ...(index === 1 ? { extra: "[lifecycle]\nstrict-destroy = true" } : {}) });
  clients[index] = await connect(relays[index]);
}

before(async () => {
  token = await createSoftHsmToken();
  await Promise.all([startRelay(0), startRelay(1)]);
});

after(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await Promise.all(relays.map((relay) => relay.cleanup()));
  await token?.cleanup();
});

/** The attributes of `id` by name, through `client`. */
async function attributesOf(client: KmipClient, id: string, names: string[] = []): Promise<Map<string, Attribute["value"]>> {
  const { attributes } = await client.getAttributes({ uniqueIdentifier: id, attributeNames: names });
  return new Map(attributes.map((attribute) => [attribute.name, attribute.value]));
}

const stateOn = async (client: KmipClient, id: string) => (await attributesOf(client, id, ["State"])).get("State");

describe("lifecycle across two relays on one token", () => {
  let pair: { priv: string; pub: string };
  let signature: Uint8Array;
  let created: bigint;

  before(async () => {
    created = nowDateTime();
    const made = await createKeyPair(clients[0]!, EC_P256, "lifecycle", { active: false });
    pair = { priv: made.privateKeyUniqueIdentifier, pub: made.publicKeyUniqueIdentifier };
  });

  test("a new key pair is two Pre-Active objects on both relays, with their dates and a Link each; the token refuses to sign", async () => {
    for (const client of clients) {
      for (const [id, other, linkType] of [
        [pair.priv, pair.pub, LinkType.PublicKeyLink],
        [pair.pub, pair.priv, LinkType.PrivateKeyLink],
      ] as const) {
        const attributes = await attributesOf(client, id);
        assert.equal(attributes.get("State"), State.PreActive, `${id} is Pre-Active`);
        assert.equal(attributes.has("Activation Date"), false);
        assert.ok((attributes.get("Initial Date") as bigint) >= created);
        assert.ok((attributes.get("Last Change Date") as bigint) >= created);
        assert.deepEqual(attributes.get("Link"), { linkType, linkedObjectIdentifier: other });
      }
      assert.equal((await attributesOf(client, pair.priv)).get("Cryptographic Usage Mask"), CryptographicUsageMask.Sign, "exactly as asked: no Unwrap Key");
      await rejectsWith(client.sign({ uniqueIdentifier: pair.priv, cryptographicParameters: ECDSA_SHA256, data: DATA }), ResultReason.PermissionDenied);
    }
    await clients[0]!.activate({ uniqueIdentifier: pair.priv });
    // Kept in the token, so the other relay sees it too; the public key is another object.
    const activated = await attributesOf(clients[1]!, pair.priv);
    assert.equal(activated.get("State"), State.Active);
    assert.ok((activated.get("Activation Date") as bigint) >= created);
    assert.equal(await stateOn(clients[1]!, pair.pub), State.PreActive);
    // Activating again keeps the date and succeeds (doc/compatibility.md#activate).
    await clients[1]!.activate({ uniqueIdentifier: pair.priv });
    assert.equal((await attributesOf(clients[0]!, pair.priv)).get("Activation Date"), activated.get("Activation Date"));
    await clients[1]!.activate({ uniqueIdentifier: pair.pub });
  });

  test("with strict-destroy, Destroy refuses an Active key: Permission Denied, revoke first", async () => {
    await rejectsWith(clients[1]!.destroy({ uniqueIdentifier: pair.priv }), ResultReason.PermissionDenied, /Active.*revoke it first/);
    await rejectsWith(clients[1]!.destroy({ uniqueIdentifier: pair.pub }), ResultReason.PermissionDenied, /revoke it first/);
  });

  test("Revoke through one relay: that key Deactivated on both, its reason kept; Sign refused everywhere; the public key still verifies", async () => {
    ({ signatureData: signature } = (await clients[1]!.sign({ uniqueIdentifier: pair.priv, cryptographicParameters: ECDSA_SHA256, data: DATA })) as {
      signatureData: Uint8Array;
    });
    await clients[1]!.revoke({ uniqueIdentifier: pair.priv, revocationReason: CESSATION });
    for (const client of clients) {
      const attributes = await attributesOf(client, pair.priv);
      assert.equal(attributes.get("State"), State.Deactivated);
      assert.ok((attributes.get("Deactivation Date") as bigint) >= created);
      assert.deepEqual(attributes.get("Revocation Reason"), CESSATION);
      assert.equal(await stateOn(client, pair.pub), State.Active, "the public key is another object");
      // KMIP 1.x has no Wrong Key Lifecycle State (2.0): the token's CKR_KEY_FUNCTION_NOT_PERMITTED is Permission Denied.
      await rejectsWith(
        client.sign({ uniqueIdentifier: pair.priv, cryptographicParameters: ECDSA_SHA256, data: DATA }),
        ResultReason.PermissionDenied,
        /may not sign: its CKA_SIGN is false.*CKR_KEY_FUNCTION_NOT_PERMITTED/,
      );
      await rejectsWith(client.check({ uniqueIdentifier: pair.priv, cryptographicUsageMask: CryptographicUsageMask.Sign }), ResultReason.PermissionDenied, /Sign/);
      await rejectsWith(client.activate({ uniqueIdentifier: pair.priv }), ResultReason.PermissionDenied, /Deactivated/);
      const verified = await client.signatureVerify({ uniqueIdentifier: pair.pub, cryptographicParameters: ECDSA_SHA256, data: DATA, signatureData: signature });
      assert.equal(verified.validityIndicator, 1, "a Deactivated key still verifies what it signed");
    }
    const got = await clients[0]!.get({ uniqueIdentifier: pair.pub });
    assert.equal(verify("sha256", DATA, publicKeyOf(got), signature), true);
  });

  test("revoking a Deactivated key again succeeds and keeps its date", async () => {
    const before = (await attributesOf(clients[0]!, pair.priv)).get("Deactivation Date");
    await clients[0]!.revoke({ uniqueIdentifier: pair.priv, revocationReason: CESSATION });
    assert.equal((await attributesOf(clients[0]!, pair.priv)).get("Deactivation Date"), before);
  });

  test("the revocation survives a restart of a relay", async () => {
    await clients[0]!.close();
    await relays[0]!.stop();
    await startRelay(0);
    assert.equal(await stateOn(clients[0]!, pair.priv), State.Deactivated);
    await rejectsWith(clients[0]!.sign({ uniqueIdentifier: pair.priv, cryptographicParameters: ECDSA_SHA256, data: DATA }), ResultReason.PermissionDenied);
  });

  test("Destroy: a Deactivated key on the strict relay, an Active one on the default relay; then Item Not Found on both relays", async () => {
    await clients[1]!.destroy({ uniqueIdentifier: pair.priv });
    await clients[0]!.destroy({ uniqueIdentifier: pair.pub });
    await relays[0]!.waitForOutput(new RegExp(`Active key ${pair.pub}: deactivating it first`));
    for (const client of clients) {
      await rejectsWith(client.get({ uniqueIdentifier: pair.pub }), ResultReason.ItemNotFound);
      await rejectsWith(client.sign({ uniqueIdentifier: pair.priv, data: DATA }), ResultReason.ItemNotFound);
      await rejectsWith(client.activate({ uniqueIdentifier: pair.priv }), ResultReason.ItemNotFound);
      await rejectsWith(client.getAttributes({ uniqueIdentifier: pair.pub, attributeNames: [] }), ResultReason.ItemNotFound);
      await rejectsWith(client.destroy({ uniqueIdentifier: pair.priv }), ResultReason.ItemNotFound);
      await rejectsWith(client.revoke({ uniqueIdentifier: pair.priv, revocationReason: CESSATION }), ResultReason.ItemNotFound);
    }
  });
});

test("a key signing through a relay that cached it stops signing when another relay revokes it, and is gone when destroyed", async () => {
  const made = await createKeyPair(clients[0]!, EC_P256, undefined, { active: false });
  const priv = made.privateKeyUniqueIdentifier;
  await clients[1]!.activate({ uniqueIdentifier: priv });
  // Without Cryptographic Parameters the relay reads the key type once and caches it.
  await clients[0]!.sign({ uniqueIdentifier: priv, data: DATA });
  await clients[1]!.revoke({ uniqueIdentifier: priv, revocationReason: CESSATION });
  await rejectsWith(clients[0]!.sign({ uniqueIdentifier: priv, data: DATA }), ResultReason.PermissionDenied);
  await clients[1]!.destroy({ uniqueIdentifier: priv });
  await rejectsWith(clients[0]!.sign({ uniqueIdentifier: priv, data: DATA }), ResultReason.ItemNotFound);
});

test("an Activation Date that comes: the key is Pre-Active before it and signs after it, on every relay", async () => {
  const activation = nowDateTime() + 2n;
  const made = await createKeyPair(clients[0]!, [...EC_P256, { name: "Activation Date", value: activation }], undefined, { active: false });
  const priv = made.privateKeyUniqueIdentifier;
  assert.equal(await stateOn(clients[1]!, priv), State.PreActive);
  while (nowDateTime() <= activation) await new Promise((resolve) => setTimeout(resolve, 250));
  // The token refuses first (CKA_SIGN false); the relay finds the date reached, sets CKA_SIGN and signs.
  await clients[1]!.sign({ uniqueIdentifier: priv, cryptographicParameters: ECDSA_SHA256, data: DATA });
  assert.equal(await stateOn(clients[0]!, priv), State.Active);
  assert.equal(await stateOn(clients[0]!, made.publicKeyUniqueIdentifier), State.Active);
});

test("two relays agree on the state of every key on the token", async () => {
  // One after the other: SoftHSM 2.6 counts changes to a token in a file that
  // two processes writing at the same moment can both set to the same value,
  // after which neither rescans for the other's new object.
  const made = [];
  for (const i of [0, 1, 2, 3]) made.push(await createKeyPair(clients[i % 2]!, EC_P256, `agree-${i}`, { active: false }));
  await clients[0]!.activate({ uniqueIdentifier: made[1]!.privateKeyUniqueIdentifier });
  await clients[0]!.revoke({ uniqueIdentifier: made[1]!.privateKeyUniqueIdentifier, revocationReason: CESSATION });
  await clients[1]!.revoke({
    uniqueIdentifier: made[2]!.publicKeyUniqueIdentifier,
    revocationReason: { revocationReasonCode: RevocationReasonCode.KeyCompromise },
    compromiseOccurrenceDate: nowDateTime(),
  });
  const [idsA, idsB] = await Promise.all(clients.map(async (client) => (await client.locate({ attributes: [] })).uniqueIdentifiers.sort()));
  assert.deepEqual(idsA, idsB);
  for (const made1 of made) assert.ok(idsA!.includes(made1.privateKeyUniqueIdentifier));
  for (const id of idsA!) assert.equal(await stateOn(clients[0]!, id), await stateOn(clients[1]!, id), `both relays agree on ${id}`);
  const located = async (state: number) =>
    Promise.all(clients.map(async (client) => (await client.locate({ attributes: [{ name: "State", value: state }] })).uniqueIdentifiers.sort()));
  const deactivated = await located(State.Deactivated);
  assert.deepEqual(deactivated[0], deactivated[1]);
  assert.ok(deactivated[0]!.includes(made[1]!.privateKeyUniqueIdentifier));
  assert.equal(deactivated[0]!.includes(made[1]!.publicKeyUniqueIdentifier), false);
  const compromised = await located(State.Compromised);
  assert.deepEqual(compromised[0], [made[2]!.publicKeyUniqueIdentifier]);
  assert.deepEqual(compromised[1], compromised[0]);
  const preActive = await located(State.PreActive);
  assert.ok(preActive[0]!.includes(made[0]!.privateKeyUniqueIdentifier) && preActive[1]!.includes(made[3]!.publicKeyUniqueIdentifier));
});

test("Revoke checks its Revocation Reason: unknown codes and a misplaced Compromise Occurrence Date are Invalid Field", async () => {
  const made = await createKeyPair(clients[0]!, EC_P256, undefined, { active: false });
  const id = made.privateKeyUniqueIdentifier;
  await rejectsWith(clients[0]!.revoke({ uniqueIdentifier: id, revocationReason: { revocationReasonCode: 0x99 } }), ResultReason.InvalidField, /0x99|153/);
  await rejectsWith(
    clients[0]!.revoke({ uniqueIdentifier: id, revocationReason: CESSATION, compromiseOccurrenceDate: nowDateTime() }),
    ResultReason.InvalidField,
    /Compromise Occurrence Date/,
  );
  assert.equal(await stateOn(clients[0]!, id), State.PreActive, "a refused Revoke changes nothing");
  await rejectsWith(clients[0]!.revoke({ uniqueIdentifier: `${"00".repeat(20)}_priv`, revocationReason: CESSATION }), ResultReason.ItemNotFound);
  await rejectsWith(clients[0]!.destroy({ uniqueIdentifier: "not-a-key-id" }), ResultReason.ItemNotFound);
});
