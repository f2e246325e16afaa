// The key lifecycle kept in the token (README "Key lifecycle"), end to end
// with two relay processes serving one SoftHSM token: Activate records
// CKA_START_DATE; Revoke deactivates both halves of a pair and stops the
// private key signing through every relay, also after a restart; Destroy
// refuses Active keys and afterwards every relay answers Item Not Found.
import assert from "node:assert/strict";
import { verify } from "node:crypto";
import { after, before, describe, test } from "node:test";
import type { KmipClient } from "../../src/client/kmip-client.js";
import type { Attribute } from "../../src/kmip/attributes.js";
import {
  CryptographicAlgorithm,
  CryptographicUsageMask,
  HashingAlgorithm,
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

/** Midnight UTC today as a KMIP Date-Time, the date the relay records. */
const todayDateTime = () => BigInt(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate()) / 1000);

let token: SoftHsmToken;
/** Two relays on one token, each with a client. */
const relays: RunningRelay[] = [];
const clients: KmipClient[] = [];

async function startRelay(index: number): Promise<void> {
  relays[index] = await startRelayProcess({ token });
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

  before(async () => {
    const created = await createKeyPair(clients[0]!, EC_P256, "lifecycle");
    pair = { priv: created.privateKeyUniqueIdentifier, pub: created.publicKeyUniqueIdentifier };
  });

  test("a new key pair is Active on both relays, without an Activation Date until Activate records it", async () => {
    for (const client of clients) {
      for (const id of [pair.priv, pair.pub]) {
        const attributes = await attributesOf(client, id);
        assert.equal(attributes.get("State"), State.Active, `${id} is Active`);
        assert.equal(attributes.has("Activation Date"), false);
      }
    }
    await clients[0]!.activate({ uniqueIdentifier: pair.priv });
    // Recorded in the token, so the other relay sees it too.
    assert.equal((await attributesOf(clients[1]!, pair.priv)).get("Activation Date"), todayDateTime());
    // Activating again keeps the date and succeeds (doc/compatibility.md#activate).
    await clients[1]!.activate({ uniqueIdentifier: pair.priv });
  });

  test("Destroy refuses an Active key: Permission Denied, revoke first", async () => {
    await rejectsWith(clients[0]!.destroy({ uniqueIdentifier: pair.priv }), ResultReason.PermissionDenied, /Active.*revoke it first/);
    await rejectsWith(clients[1]!.destroy({ uniqueIdentifier: pair.pub }), ResultReason.PermissionDenied, /revoke it first/);
  });

  test("Revoke through one relay: both halves Deactivated on both; Sign refused everywhere; the public key still verifies", async () => {
    ({ signatureData: signature } = (await clients[1]!.sign({ uniqueIdentifier: pair.priv, cryptographicParameters: ECDSA_SHA256, data: DATA })) as {
      signatureData: Uint8Array;
    });
    await clients[1]!.revoke({ uniqueIdentifier: pair.priv, revocationReason: CESSATION });
    for (const client of clients) {
      for (const id of [pair.priv, pair.pub]) {
        const attributes = await attributesOf(client, id);
        assert.equal(attributes.get("State"), State.Deactivated, `${id} is Deactivated`);
        assert.equal(attributes.get("Deactivation Date"), todayDateTime());
      }
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

  test("revoking the other half (as PyKMIP does) succeeds and keeps the date", async () => {
    await clients[0]!.revoke({ uniqueIdentifier: pair.pub, revocationReason: CESSATION });
    assert.equal((await attributesOf(clients[0]!, pair.pub)).get("Deactivation Date"), todayDateTime());
  });

  test("the revocation survives a restart of a relay", async () => {
    await clients[0]!.close();
    await relays[0]!.stop();
    await startRelay(0);
    assert.equal(await stateOn(clients[0]!, pair.priv), State.Deactivated);
    await rejectsWith(clients[0]!.sign({ uniqueIdentifier: pair.priv, cryptographicParameters: ECDSA_SHA256, data: DATA }), ResultReason.PermissionDenied);
  });

  test("Destroy after Revoke; then Get, Sign, Activate and Get Attributes answer Item Not Found on both relays", async () => {
    await clients[0]!.destroy({ uniqueIdentifier: pair.priv });
    await clients[1]!.destroy({ uniqueIdentifier: pair.pub });
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
  const created = await createKeyPair(clients[0]!, EC_P256);
  const priv = created.privateKeyUniqueIdentifier;
  // Without Cryptographic Parameters the relay reads the key type once and caches it.
  await clients[0]!.sign({ uniqueIdentifier: priv, data: DATA });
  await clients[1]!.revoke({ uniqueIdentifier: created.publicKeyUniqueIdentifier, revocationReason: CESSATION });
  await rejectsWith(clients[0]!.sign({ uniqueIdentifier: priv, data: DATA }), ResultReason.PermissionDenied);
  await clients[1]!.destroy({ uniqueIdentifier: priv });
  await rejectsWith(clients[0]!.sign({ uniqueIdentifier: priv, data: DATA }), ResultReason.ItemNotFound);
});

test("two relays agree on the state of every key on the token", async () => {
  // One after the other: SoftHSM 2.6 counts changes to a token in a file that
  // two processes writing at the same moment can both set to the same value,
  // after which neither rescans for the other's new object.
  const made = [];
  for (const i of [0, 1, 2, 3]) made.push(await createKeyPair(clients[i % 2]!, EC_P256, `agree-${i}`));
  await clients[0]!.revoke({ uniqueIdentifier: made[1]!.privateKeyUniqueIdentifier, revocationReason: CESSATION });
  await clients[1]!.revoke({
    uniqueIdentifier: made[2]!.publicKeyUniqueIdentifier,
    revocationReason: { revocationReasonCode: RevocationReasonCode.KeyCompromise },
    compromiseOccurrenceDate: todayDateTime(),
  });
  const [idsA, idsB] = await Promise.all(clients.map(async (client) => (await client.locate({ attributes: [] })).uniqueIdentifiers.sort()));
  assert.deepEqual(idsA, idsB);
  for (const made1 of made) assert.ok(idsA!.includes(made1.privateKeyUniqueIdentifier));
  for (const id of idsA!) assert.equal(await stateOn(clients[0]!, id), await stateOn(clients[1]!, id), `both relays agree on ${id}`);
  const deactivated = await Promise.all(
    clients.map(async (client) => (await client.locate({ attributes: [{ name: "State", value: State.Deactivated }] })).uniqueIdentifiers.sort()),
  );
  assert.deepEqual(deactivated[0], deactivated[1]);
  for (const pair of [made[1]!, made[2]!]) {
    assert.ok(deactivated[0]!.includes(pair.privateKeyUniqueIdentifier) && deactivated[0]!.includes(pair.publicKeyUniqueIdentifier));
  }
  assert.equal(deactivated[0]!.includes(made[0]!.privateKeyUniqueIdentifier), false);
});

test("Revoke checks its Revocation Reason: unknown codes and a misplaced Compromise Occurrence Date are Invalid Field", async () => {
  const created = await createKeyPair(clients[0]!, EC_P256);
  const id = created.privateKeyUniqueIdentifier;
  await rejectsWith(clients[0]!.revoke({ uniqueIdentifier: id, revocationReason: { revocationReasonCode: 0x99 } }), ResultReason.InvalidField, /0x99|153/);
  await rejectsWith(
    clients[0]!.revoke({ uniqueIdentifier: id, revocationReason: CESSATION, compromiseOccurrenceDate: todayDateTime() }),
    ResultReason.InvalidField,
    /Compromise Occurrence Date/,
  );
  assert.equal(await stateOn(clients[0]!, id), State.Active, "a refused Revoke changes nothing");
  await rejectsWith(clients[0]!.revoke({ uniqueIdentifier: `${"00".repeat(20)}_priv`, revocationReason: CESSATION }), ResultReason.ItemNotFound);
  await rejectsWith(clients[0]!.destroy({ uniqueIdentifier: "not-a-key-id" }), ResultReason.ItemNotFound);
});
