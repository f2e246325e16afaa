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
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { KmipClient } from "../../src/client/kmip-client.js";
import type { Attribute } from "../../src/kmip/attributes.js";
import type { KeyObject as KmipKeyObject } from "../../src/kmip/objects.js";
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
import { startRelayProcess, type RunningRelay } from "../helpers/relay.js";
import { algorithm, connect, length, name, objectType, rejectsWith, usage } from "../helpers/relay-client.js";
import { createSoftHsmToken, type SoftHsmToken } from "../helpers/softhsm.js";
import { createCertificateAuthority, issueClientCertificate, type CertificateAuthority, type CertificateFiles } from "../helpers/tls-certs.js";

let relay: RunningRelay;
let token: SoftHsmToken;
let ca: CertificateAuthority;
let pins: string;
let database: CertificateFiles;

before(async () => {
  [ca, token, pins] = await Promise.all([createCertificateAuthority("kmip2pkcs11 database clients"), createSoftHsmToken(), mkdtemp(join(tmpdir(), "kmip2pkcs11-pins-"))]);
  database = await issueClientCertificate(ca, "database");
  await writeFile(join(pins, "db.pin"), token.pin, { mode: 0o600 });
  relay = await startRelayProcess({
    token,
    server: [`client-ca-path = "${ca.certPath}"`],
    extra: ["[clients.database]", 'subject = "CN=database"', `token = "${token.label}"`, `pin-file = "${join(pins, "db.pin")}"`].join("\n"),
  });
});
after(async () => {
  await relay?.cleanup();
  await token?.cleanup();
  await ca?.cleanup();
  if (pins !== undefined) await rm(pins, { recursive: true, force: true });
});

/** A connection as the database connects: its certificate, no KMIP credential. */
async function asDatabase(minor: number): Promise<KmipClient> {
  return connect(relay, {
    cert: await readFile(database.certPath),
    key: await readFile(database.keyPath),
    username: undefined,
    password: undefined,
    protocolVersion: { major: 1, minor },
  });
}

const group = (value: string): Attribute => ({ name: "Object Group", value });

function rawKey(value: Uint8Array) {
  return { keyBlock: { keyFormatType: KeyFormatType.Raw, keyValue: { keyMaterial: value, attributes: [] }, cryptographicAlgorithm: CryptographicAlgorithm.AES, cryptographicLength: value.length * 8 } };
}

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
