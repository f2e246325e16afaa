// Database clients' KMIP flows replayed message by message against SoftHSM
// through the relay, each as its client sends it (the source file and commit
// each follows is named here and in its test), over TLS with a client
// certificate mapped in [clients] and no KMIP credential, as these clients
// connect.
//
// - Percona Server for MySQL keyring_kmip, through Percona's kmippp
//   (github.com/Percona-Lab/libkmip at 82988b2de6a0687791a3ae549fc2bd5cbeb457ab,
//   kmippp/kmippp.cpp): KMIP 1.4; Register of an AES key (Cryptographic
//   Algorithm, Length, Usage Mask Encrypt | Decrypt, Name, Object Group) and
//   of a Password Secret Data (Usage Mask Encrypt | Decrypt | Export, Name,
//   Object Group), Activate of each, Locate by Object Type and Name, by
//   Object Type and Object Group (pages of 16, Offset Items from the second
//   page, until Located Items are read), Get, Revoke, Destroy.
// - Percona pg_tde (github.com/percona/postgres at
//   38fd9caddd6f64cb15b7fab30daf47174f12f4fe,
//   contrib/pg_tde/src/keyring/keyring_kmip_impl.c): KMIP 1.0; Register of
//   an AES key (Algorithm, Length, Usage Mask, Name), Locate by Object Type
//   and Name (Maximum Items 16), Get.
// - Percona Server for MongoDB's encryption at rest
//   (github.com/percona/percona-server-mongodb,
//   src/mongo/db/encryption/kmip_exchange.cpp at
//   6a47106b2697d746fed9c3f3c713158777b3a262 and kmip_session.h at
//   8258462f579c336312ef1eea7cf3e6ad548011d1, encoded by libkmip's
//   libkmip/src/kmip.c at 82988b2 above): KMIP 1.0 messages built byte for
//   byte as libkmip encodes them; one TLS connection per session: Register +
//   Activate; Get Attributes (State) then, if Active, Get; Get Attributes
//   (State) alone (the key state polling). Checked once by hand (not in CI:
//   libkmip is not packaged): these requests are byte-identical to what
//   libkmip's kmip_encode_request_message makes of PSMDB's structures (same
//   Time Stamp), and the relay's answers decode with its
//   kmip_decode_response_message.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import type { KmipClient } from "../../src/client/kmip-client.js";
import type { KeyObject as KmipKeyObject } from "../../src/kmip/objects.js";
import * as ttlv from "../../src/ttlv/build.js";
import {
  CryptographicAlgorithm,
  CryptographicUsageMask as Usage,
  KeyFormatType,
  ObjectType,
  Operation,
  ResultReason,
  RevocationReasonCode,
  State,
} from "../../src/ttlv/enums.js";
import type { StructureItem } from "../../src/ttlv/item.js";
import { Tag } from "../../src/ttlv/tags.js";
import { algorithm, length, name, objectType, rejectsWith, usage } from "../helpers/relay-client.js";
import { exchange, failureOf, group, locateAll, password, rawKey, requestBytes, startReplayRelay, successOf, textOf, wireAttribute, type ReplayRelay, type WireBatchItem } from "../helpers/replay.js";

let mapped: ReplayRelay;

before(async () => {
  mapped = await startReplayRelay("database");
});
after(async () => {
  await mapped?.cleanup();
});

/** A connection as the database connects: its certificate, no KMIP credential. */
const asDatabase = (minor: number): Promise<KmipClient> => mapped.connect(minor);

test("Percona keyring_kmip (kmippp/kmippp.cpp), KMIP 1.4: Register key and secret with Name and Object Group, Activate, Locate by type, name and group, Get, Revoke, Destroy", async () => {
  const client = await asDatabase(4);
  try {
    const keyring = `mysql-${randomBytes(4).toString("hex")}`;
    const keyValue = randomBytes(32);
    const keyId = (
      await client.register({
        objectType: ObjectType.SymmetricKey,
        templateAttribute: { names: [], attributes: [algorithm(CryptographicAlgorithm.AES), length(256), usage(Usage.Encrypt | Usage.Decrypt), name(`${keyring}-key1`), group(keyring)] },
        object: rawKey(keyValue),
      })
    ).uniqueIdentifier;
    await client.activate({ uniqueIdentifier: keyId });
    const secretId = (
      await client.register({
        objectType: ObjectType.SecretData,
        templateAttribute: { names: [], attributes: [usage(Usage.Encrypt | Usage.Decrypt | Usage.Export), name(`${keyring}-secret1`), group(keyring)] },
        object: password("keyring password"),
      })
    ).uniqueIdentifier;
    await client.activate({ uniqueIdentifier: secretId });
    // 20 more keys in the group: Locate by group needs two pages of 16.
    const more: string[] = [];
    for (let i = 0; i < 20; i++) {
      const { uniqueIdentifier } = await client.register({
        objectType: ObjectType.SymmetricKey,
        templateAttribute: { names: [], attributes: [algorithm(CryptographicAlgorithm.AES), length(128), usage(Usage.Encrypt | Usage.Decrypt), name(`${keyring}-more${i}`), group(keyring)] },
        object: rawKey(randomBytes(16)),
      });
      more.push(uniqueIdentifier);
    }

    assert.deepEqual(await locateAll(client, [objectType(ObjectType.SymmetricKey), name(`${keyring}-key1`)]), [keyId]);
    assert.deepEqual(new Set(await locateAll(client, [objectType(ObjectType.SymmetricKey), group(keyring)])), new Set([keyId, ...more]));
    assert.deepEqual(await locateAll(client, [objectType(ObjectType.SecretData), group(keyring)]), [secretId]);

    const gotKey = await client.get({ uniqueIdentifier: keyId });
    assert.equal(gotKey.objectType, ObjectType.SymmetricKey);
    assert.deepEqual(Buffer.from(((gotKey.object as KmipKeyObject).keyBlock.keyValue as { keyMaterial: Uint8Array }).keyMaterial), keyValue);
    const gotSecret = await client.get({ uniqueIdentifier: secretId });
    assert.equal(gotSecret.objectType, ObjectType.SecretData);
    const keyValueItem = ttlv.child(ttlv.child(gotSecret.object as StructureItem, Tag.KeyBlock)!, Tag.KeyValue)!;
    assert.equal(Buffer.from(ttlv.child(keyValueItem, Tag.KeyMaterial)!.value as Uint8Array).toString(), "keyring password");

    for (const id of [keyId, secretId, ...more]) {
      await client.revoke({ uniqueIdentifier: id, revocationReason: { revocationReasonCode: RevocationReasonCode.KeyCompromise, revocationMessage: "keyring cleanup" } });
      const { attributes } = await client.getAttributes({ uniqueIdentifier: id, attributeNames: ["State"] });
      assert.equal(attributes[0]?.value, State.Compromised);
      await client.destroy({ uniqueIdentifier: id });
    }
    await rejectsWith(client.get({ uniqueIdentifier: keyId }), ResultReason.ItemNotFound);
    assert.deepEqual(await locateAll(client, [objectType(ObjectType.SymmetricKey), group(keyring)]), []);
  } finally {
    await client.close();
  }
});

test("Percona pg_tde (contrib/pg_tde/src/keyring/keyring_kmip_impl.c), KMIP 1.0: Register an AES key with a Name, Locate by Object Type and Name, Get", async () => {
  const client = await asDatabase(0);
  try {
    const keyName = `pg_tde_principal_${randomBytes(4).toString("hex")}`;
    const value = randomBytes(16);
    const { uniqueIdentifier: id } = await client.register({
      objectType: ObjectType.SymmetricKey,
      templateAttribute: { names: [], attributes: [algorithm(CryptographicAlgorithm.AES), length(128), usage(Usage.Encrypt | Usage.Decrypt), name(keyName)] },
      object: rawKey(value),
    });
    const located = await client.locate({ attributes: [objectType(ObjectType.SymmetricKey), name(keyName)], maximumItems: 16 });
    assert.deepEqual(located.uniqueIdentifiers, [id]);
    const got = await client.get({ uniqueIdentifier: located.uniqueIdentifiers[0]! });
    const block = (got.object as KmipKeyObject).keyBlock;
    assert.equal(block.keyFormatType, KeyFormatType.Raw);
    assert.deepEqual(Buffer.from((block.keyValue as { keyMaterial: Uint8Array }).keyMaterial), value);
  } finally {
    await client.close();
  }
});

/** libkmip's KMIP 1.0 request as Percona Server for MongoDB sends it: Protocol Version, Maximum Response Size 8192 (kmip_init), Time Stamp, Batch Count. */
function psmdbRequest(item: WireBatchItem): Buffer {
  return requestBytes({ protocolVersion: { major: 1, minor: 0 }, maximumResponseSize: 8192, timeStamp: true }, [item]);
}

/** KmipExchangeRegisterSymmetricKey::encodeRequest: Object Type, Template Attribute (Algorithm, Length, Usage Mask), Symmetric Key. */
function psmdbRegister(key: Uint8Array): Buffer {
  return psmdbRequest({
    operation: Operation.Register,
    payload: [
      ttlv.enumeration(Tag.ObjectType, ObjectType.SymmetricKey),
      ttlv.structure(Tag.TemplateAttribute, [
        wireAttribute("Cryptographic Algorithm", ttlv.enumeration(Tag.AttributeValue, CryptographicAlgorithm.AES)),
        wireAttribute("Cryptographic Length", ttlv.integer(Tag.AttributeValue, key.length * 8)),
        wireAttribute("Cryptographic Usage Mask", ttlv.integer(Tag.AttributeValue, Usage.Encrypt | Usage.Decrypt)),
      ]),
      ttlv.structure(Tag.SymmetricKey, [
        ttlv.structure(Tag.KeyBlock, [
          ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.Raw),
          ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, key)]),
          ttlv.enumeration(Tag.CryptographicAlgorithm, CryptographicAlgorithm.AES),
          ttlv.integer(Tag.CryptographicLength, key.length * 8),
        ]),
      ]),
    ],
  });
}

const psmdbActivate = (id: string) => psmdbRequest({ operation: Operation.Activate, payload: [ttlv.textString(Tag.UniqueIdentifier, id)] });
/** KmipExchangeGetSymmetricKey: a GetRequestPayload with the Unique Identifier only (no Key Format Type). */
const psmdbGet = (id: string) => psmdbRequest({ operation: Operation.Get, payload: [ttlv.textString(Tag.UniqueIdentifier, id)] });
/** KmipExchangeGetKeyState: Get Attributes with one Attribute Name, "State". */
const psmdbGetState = (id: string) =>
  psmdbRequest({ operation: Operation.GetAttributes, payload: [ttlv.textString(Tag.UniqueIdentifier, id), ttlv.textString(Tag.AttributeName, "State")] });

/** KmipSessionRegisterSymmetricKey: Register, then (kmipActivateKeys) Activate, on one connection; the key id. */
async function psmdbRegisterSession(key: Uint8Array, activate: boolean): Promise<string> {
  const client = await asDatabase(0);
  try {
    const id = textOf(successOf(await exchange(client, psmdbRegister(key)), Operation.Register), Tag.UniqueIdentifier);
    if (activate) {
      // verifyResponse: the Activate answer names the same key.
      assert.equal(textOf(successOf(await exchange(client, psmdbActivate(id)), Operation.Activate), Tag.UniqueIdentifier), id);
    }
    return id;
  } finally {
    await client.close();
  }
}

/** decodeKeyState: Item Not Found is "no such key"; otherwise the one attribute must be State, of this key. */
async function psmdbKeyState(client: KmipClient, id: string): Promise<number | undefined> {
  const response = await exchange(client, psmdbGetState(id));
  if (response.batchItems[0]?.resultReason === ResultReason.ItemNotFound) return undefined;
  const payload = successOf(response, Operation.GetAttributes);
  assert.equal(textOf(payload, Tag.UniqueIdentifier), id);
  // libkmip decodes exactly one Attribute after the Unique Identifier.
  assert.deepEqual(
    payload.value.map((item) => item.tag),
    [Tag.UniqueIdentifier, Tag.Attribute],
  );
  const attribute = ttlv.child(payload, Tag.Attribute)!;
  assert.equal(ttlv.child(attribute, Tag.AttributeName)?.value, "State");
  return ttlv.child(attribute, Tag.AttributeValue)?.value as number;
}

/** decodeKey: Object Type Symmetric Key, Key Format Type Raw, no Key Wrapping Data; the Key Material. Item Not Found is "no such key". */
async function psmdbGetKey(client: KmipClient, id: string): Promise<Buffer | undefined> {
  const response = await exchange(client, psmdbGet(id));
  if (response.batchItems[0]?.resultReason === ResultReason.ItemNotFound) return undefined;
  const payload = successOf(response, Operation.Get);
  assert.equal(ttlv.child(payload, Tag.ObjectType)?.value, ObjectType.SymmetricKey);
  const block = ttlv.child(ttlv.child(payload, Tag.SymmetricKey)!, Tag.KeyBlock)!;
  assert.equal(ttlv.child(block, Tag.KeyFormatType)?.value, KeyFormatType.Raw);
  assert.equal(ttlv.child(block, Tag.KeyWrappingData), undefined);
  return Buffer.from(ttlv.child(ttlv.child(block, Tag.KeyValue)!, Tag.KeyMaterial)!.value as Uint8Array);
}

/** KmipSessionGetSymmetricKey with verifyState: Get Attributes (State), and Get only when the key is Active, on one connection. */
async function psmdbGetSession(id: string, verifyState: boolean): Promise<{ state?: number; key?: Buffer }> {
  const client = await asDatabase(0);
  try {
    if (!verifyState) return { key: await psmdbGetKey(client, id) };
    const state = await psmdbKeyState(client, id);
    return state === State.Active ? { state, key: await psmdbGetKey(client, id) } : { state };
  } finally {
    await client.close();
  }
}

test("Percona Server for MongoDB (src/mongo/db/encryption/kmip_exchange.cpp, kmip_session.h), KMIP 1.0 as libkmip encodes it: Register + Activate; Get Attributes (State) then Get of the Active key; the state polling", async () => {
  const masterKey = randomBytes(32);
  const id = await psmdbRegisterSession(masterKey, true);
  // Start-up with the key's id in the encryption options: its state, then the key.
  assert.deepEqual(await psmdbGetSession(id, true), { state: State.Active, key: masterKey });
  // kmipKeyStatePollingSeconds: Get Attributes (State) on its own connection.
  const poll = await asDatabase(0);
  try {
    assert.equal(await psmdbKeyState(poll, id), State.Active);
  } finally {
    await poll.close();
  }
  // The operator deactivates the key: the polling sees it, and a start-up does not Get it.
  const operator = await asDatabase(4);
  try {
    await operator.revoke({ uniqueIdentifier: id, revocationReason: { revocationReasonCode: RevocationReasonCode.CessationOfOperation } });
  } finally {
    await operator.close();
  }
  assert.deepEqual(await psmdbGetSession(id, true), { state: State.Deactivated });
});

test("Percona Server for MongoDB without kmipActivateKeys (kmip_session.h): Register alone, Get without a state check; a key id the token does not hold is Item Not Found to both requests", async () => {
  const masterKey = randomBytes(32);
  const id = await psmdbRegisterSession(masterKey, false);
  assert.deepEqual(await psmdbGetSession(id, false), { key: masterKey });
  const client = await asDatabase(0);
  try {
    assert.equal(await psmdbKeyState(client, id), State.PreActive);
    const unknown = `${randomBytes(20).toString("hex").toUpperCase()}_sec`;
    assert.equal(failureOf(await exchange(client, psmdbGetState(unknown)), Operation.GetAttributes).reason, ResultReason.ItemNotFound);
    assert.equal(failureOf(await exchange(client, psmdbGet(unknown)), Operation.Get).reason, ResultReason.ItemNotFound);
  } finally {
    await client.close();
  }
});
