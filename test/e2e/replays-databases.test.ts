// Database clients' KMIP flows replayed message by message against SoftHSM
// through the relay, each as its client sends it (the source file each
// follows is named in its test), over TLS with a client certificate mapped
// in [clients] and no KMIP credential, as these clients connect.
//
// - Percona Server for MySQL keyring_kmip, through Percona's kmippp
//   (github.com/Percona-Lab/libkmip, kmippp/kmippp.cpp): KMIP 1.4; Register
//   of an AES key (Cryptographic Algorithm, Length, Usage Mask Encrypt |
//   Decrypt, Name, Object Group) and of a Password Secret Data (Usage Mask
//   Encrypt | Decrypt | Export, Name, Object Group), Activate of each,
//   Locate by Object Type and Name, by Object Type and Object Group (pages
//   of 16 with Offset Items, until Located Items are read), Get, Revoke,
//   Destroy.
// - Percona pg_tde (github.com/postgres/postgres,
//   contrib/pg_tde/src/keyring/keyring_kmip_impl.c): KMIP 1.0; Register of
//   an AES key (Algorithm, Length, Usage Mask, Name), Locate by Object Type
//   and Name (Maximum Items 16), Get.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import type { KmipClient } from "../../src/client/kmip-client.js";
import type { Attribute } from "../../src/kmip/attributes.js";
import * as ttlv from "../../src/ttlv/build.js";
import {
  CryptographicAlgorithm,
  CryptographicUsageMask as Usage,
  KeyFormatType,
  ObjectType,
  ResultReason,
  RevocationReasonCode,
  SecretDataType,
  State,
} from "../../src/ttlv/enums.js";
import type { StructureItem } from "../../src/ttlv/item.js";
import { Tag } from "../../src/ttlv/tags.js";
import { rawAesKey, rawMaterial, startMappedRelay, type MappedRelay } from "../helpers/mapped-clients.js";
import { algorithm, length, name, objectType, rejectsWith, usage } from "../helpers/relay-client.js";
import { createSoftHsmToken, type SoftHsmToken } from "../helpers/softhsm.js";

let token: SoftHsmToken;
let mapped: MappedRelay;

before(async () => {
  token = await createSoftHsmToken();
  mapped = await startMappedRelay(token, [{ name: "database", token: token.label }]);
});
after(async () => {
  await mapped?.cleanup();
  await token?.cleanup();
});

/** A connection as the database connects: its certificate, no KMIP credential. */
const asDatabase = (minor: number): Promise<KmipClient> => mapped.connectAs("database", minor);

const group = (value: string): Attribute => ({ name: "Object Group", value });

function password(value: string): StructureItem {
  return ttlv.structure(Tag.SecretData, [
    ttlv.enumeration(Tag.SecretDataType, SecretDataType.Password),
    ttlv.structure(Tag.KeyBlock, [ttlv.enumeration(Tag.KeyFormatType, KeyFormatType.Opaque), ttlv.structure(Tag.KeyValue, [ttlv.byteString(Tag.KeyMaterial, Buffer.from(value))])]),
  ]);
}

/** kmippp's paging: Maximum Items 16, Offset Items advancing until Located Items are read. */
async function locateAll(client: KmipClient, attributes: Attribute[]): Promise<string[]> {
  const found: string[] = [];
  let all = 1;
  while (found.length < all) {
    const page = await client.locate({ attributes, maximumItems: 16, offsetItems: found.length });
    found.push(...page.uniqueIdentifiers);
    all = page.locatedItems ?? found.length;
    if (page.uniqueIdentifiers.length === 0) break;
  }
  return found;
}

test("Percona keyring_kmip (kmippp/kmippp.cpp), KMIP 1.4: Register key and secret with Name and Object Group, Activate, Locate by type, name and group, Get, Revoke, Destroy", async () => {
  const client = await asDatabase(4);
  try {
    const keyring = `mysql-${randomBytes(4).toString("hex")}`;
    const keyValue = randomBytes(32);
    const keyId = (
      await client.register({
        objectType: ObjectType.SymmetricKey,
        templateAttribute: { names: [], attributes: [algorithm(CryptographicAlgorithm.AES), length(256), usage(Usage.Encrypt | Usage.Decrypt), name(`${keyring}-key1`), group(keyring)] },
        object: rawAesKey(keyValue),
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
        object: rawAesKey(randomBytes(16)),
      });
      more.push(uniqueIdentifier);
    }

    assert.deepEqual(await locateAll(client, [objectType(ObjectType.SymmetricKey), name(`${keyring}-key1`)]), [keyId]);
    assert.deepEqual(new Set(await locateAll(client, [objectType(ObjectType.SymmetricKey), group(keyring)])), new Set([keyId, ...more]));
    assert.deepEqual(await locateAll(client, [objectType(ObjectType.SecretData), group(keyring)]), [secretId]);

    const gotKey = await client.get({ uniqueIdentifier: keyId });
    assert.equal(gotKey.objectType, ObjectType.SymmetricKey);
    assert.deepEqual(rawMaterial(gotKey.object), keyValue);
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
      object: rawAesKey(value),
    });
    const located = await client.locate({ attributes: [objectType(ObjectType.SymmetricKey), name(keyName)], maximumItems: 16 });
    assert.deepEqual(located.uniqueIdentifiers, [id]);
    const got = await client.get({ uniqueIdentifier: located.uniqueIdentifiers[0]! });
    assert.deepEqual(rawMaterial(got.object), value);
  } finally {
    await client.close();
  }
});
