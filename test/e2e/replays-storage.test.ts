// Storage clients' KMIP flows replayed message by message against SoftHSM
// through the relay, each as its client sends it (the source each follows is
// named in its test), over TLS with a client certificate mapped in
// [clients] and no KMIP credential, as these clients connect.
//
// - VMware vSphere's standard key provider (vCenter Server; closed source):
//   KMIP 1.1; Create of an AES-256 Symmetric Key (Cryptographic Algorithm,
//   Length, Usage Mask Encrypt | Decrypt; from vSphere 8.0.1 custom
//   attributes the administrator gives, as x- attributes), Get of it (vCenter
//   hands the key to the ESXi hosts as their key encryption key), Activate,
//   Locate, Revoke, and Get again (hosts still unlock what the key
//   protects). Its Create sends no Extractable: the token needs
//   key-export = "by-default".
// - Ceph RGW (github.com/ceph/ceph, src/rgw/rgw_kmip_client_impl.cc, through
//   libkmip): KMIP 1.0, one batch item per message with Maximum Response
//   Size and Time Stamp in the header; Create of an AES-256 key (Algorithm,
//   Length, Usage Mask Encrypt | Decrypt, Name), Locate by Name alone, Get
//   (a Raw Symmetric Key, anything else is an error to it).
// - Rook's OSD encryption (github.com/rook/rook,
//   pkg/daemon/ceph/osd/kms/kmip.go, through gemalto/kmip-go): KMIP 1.4, a
//   new connection per operation, each opened by Discover Versions [1.4]
//   that must answer exactly [1.4]; a Unique Batch Item ID (a UUID) in
//   every item, which the response must echo; Register of a Raw AES
//   Symmetric Key with the Usage Mask Export alone, Get, Destroy.
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import type { KmipClient } from "../../src/client/kmip-client.js";
import type { Attribute } from "../../src/kmip/attributes.js";
import type { RequestHeader } from "../../src/kmip/message.js";
import {
  createPayloads,
  destroyPayloads,
  discoverVersionsPayloads,
  getPayloads,
  locatePayloads,
  registerPayloads,
  type PayloadCodecs,
} from "../../src/kmip/payloads/index.js";
import {
  CryptographicAlgorithm,
  CryptographicUsageMask as Usage,
  ObjectType,
  Operation,
  ResultReason,
  ResultStatus,
  RevocationReasonCode,
  State,
} from "../../src/ttlv/enums.js";
import { ItemType } from "../../src/ttlv/item.js";
import { Tag } from "../../src/ttlv/tags.js";
import { rawMaterial, startMappedRelay, type MappedRelay } from "../helpers/mapped-clients.js";
import { rawKey } from "../helpers/replay.js";
import { algorithm, length, name, objectType, rejectsWith, usage } from "../helpers/relay-client.js";
import { createSoftHsmToken, type SoftHsmToken } from "../helpers/softhsm.js";

const [STORAGE, PLAIN] = ["storage", "storage-plain"];
let token: SoftHsmToken;
let mapped: MappedRelay;

before(async () => {
  token = await createSoftHsmToken({ labels: [STORAGE, PLAIN] });
  mapped = await startMappedRelay(
    token,
    [
      { name: "vcenter", token: "storage" },
      { name: "vcenter-plain", token: `label:${PLAIN}` },
      { name: "ceph-rgw", token: "storage" },
      { name: "rook-osd", token: `label:${PLAIN}` },
    ],
    // What README "Key export" tells the operator of vSphere and Ceph RGW to write.
    ["[tokens.storage]", `label = "${STORAGE}"`, 'key-export = "by-default"'].join("\n"),
  );
});
after(async () => {
  await mapped?.cleanup();
  await token?.cleanup();
});

/**
 * One operation in one message, as libkmip and kmip-go send it: the item's
 * result must be Success and its Operation (and Unique Batch Item ID, when
 * one was sent) the request's, or the client gives up.
 */
async function oneItem<Request, Response>(
  client: KmipClient,
  operation: number,
  codecs: PayloadCodecs<Request, Response>,
  payload: Request,
  { header, uniqueBatchItemId }: { header?: Partial<RequestHeader>; uniqueBatchItemId?: Uint8Array } = {},
): Promise<Response> {
  const response = await client.batch([{ operation, requestPayload: codecs.encodeRequest(payload), ...(uniqueBatchItemId && { uniqueBatchItemId }) }], header);
  assert.equal(response.header.batchCount, 1);
  const [item] = response.batchItems;
  assert.equal(item?.resultStatus, ResultStatus.Success, `${item?.resultReason}: ${item?.resultMessage}`);
  assert.equal(item.operation, operation);
  if (uniqueBatchItemId !== undefined) assert.deepEqual(Buffer.from(item.uniqueBatchItemId ?? []), Buffer.from(uniqueBatchItemId));
  return codecs.decodeResponse(item.responsePayload!);
}

const AES_256_ENCRYPT: Attribute[] = [algorithm(CryptographicAlgorithm.AES), length(256), usage(Usage.Encrypt | Usage.Decrypt)];

describe("VMware vSphere standard key provider", () => {
  // Sources: VMware vSphere Security, "vSphere Virtual Machine Encryption
  // Process Flow" (docs.vmware.com/en/VMware-vSphere/7.0/com.vmware.vsphere.security.doc/GUID-4A8FA061-0F20-4338-914A-2B7A57051495.html):
  // vCenter Server requests a new key from the KMS, retrieves it and passes
  // it to the ESXi hosts as the KEK, keeping only its id; KMIP custom
  // attributes may be added; vSphere API 8.0.1 CryptoManagerKmipCustomAttributeSpec
  // (GenerateKey, SetKeyCustomAttributes: key/value strings). The message
  // sequence (Create, Get, Activate, Revoke, Locate; KMIP 1.1) is the
  // issue's table; the exact bytes of a closed-source client are not public.
  test("vCenter (KMIP 1.1): Create AES-256 with a custom attribute, Get, Activate, Locate, Revoke (Cessation Of Operation), Get again", async () => {
    const client = await mapped.connectAs("vcenter", 1);
    try {
      const { uniqueIdentifier: id } = await client.create({
        objectType: ObjectType.SymmetricKey,
        templateAttribute: { names: [], attributes: [...AES_256_ENCRYPT, { name: "x-vm-folder", value: { tag: Tag.AttributeValue, type: ItemType.TextString, value: "finance" } }] },
      });
      const key = rawMaterial((await client.get({ uniqueIdentifier: id })).object);
      assert.equal(key.length, 32);
      await client.activate({ uniqueIdentifier: id });
      const located = await client.locate({ attributes: [objectType(ObjectType.SymmetricKey), algorithm(CryptographicAlgorithm.AES), length(256), { name: "State", value: State.Active }] });
      assert.ok(located.uniqueIdentifiers.includes(id), `${id} among ${located.uniqueIdentifiers.join(", ")}`);
      const { attributes } = await client.getAttributes({ uniqueIdentifier: id, attributeNames: ["x-vm-folder"] });
      assert.deepEqual(attributes.map((a) => [a.name, (a.value as { value: unknown }).value]), [["x-vm-folder", "finance"]]);
      await client.revoke({ uniqueIdentifier: id, revocationReason: { revocationReasonCode: RevocationReasonCode.CessationOfOperation } });
      const { attributes: state } = await client.getAttributes({ uniqueIdentifier: id, attributeNames: ["State"] });
      assert.equal(state[0]?.value, State.Deactivated);
      assert.deepEqual(rawMaterial((await client.get({ uniqueIdentifier: id })).object), key);
    } finally {
      await client.close();
    }
  });

  test("vCenter on a token with the default key-export: its Create works, its Get is Permission Denied saying why", async () => {
    const client = await mapped.connectAs("vcenter-plain", 1);
    try {
      const { uniqueIdentifier: id } = await client.create({ objectType: ObjectType.SymmetricKey, templateAttribute: { names: [], attributes: AES_256_ENCRYPT } });
      await rejectsWith(client.get({ uniqueIdentifier: id }), ResultReason.PermissionDenied, /CKA_EXTRACTABLE is false/);
    } finally {
      await client.close();
    }
  });
});

test("Ceph RGW (src/rgw/rgw_kmip_client_impl.cc, libkmip), KMIP 1.0: Create AES-256 with a Name, Locate by Name, Get a Raw key", async () => {
  const client = await mapped.connectAs("ceph-rgw", 0);
  // kmip_init(): max_message_size 8192; the handle sets Time Stamp and Batch Count 1.
  const header = (): Partial<RequestHeader> => ({ maximumResponseSize: 8192, timeStamp: BigInt(Math.floor(Date.now() / 1000)) });
  try {
    const keyName = `rgw-${randomBytes(4).toString("hex")}`;
    const created = await oneItem(
      client,
      Operation.Create,
      createPayloads,
      { objectType: ObjectType.SymmetricKey, templateAttribute: { names: [], attributes: [...AES_256_ENCRYPT, name(keyName)] } },
      { header: header() },
    );
    assert.equal(created.objectType, ObjectType.SymmetricKey);
    // KmipGetTheKey::get_uniqueid_for_keyname (rgw_kms.cc): exactly one result, or RGW refuses.
    const located = await oneItem(client, Operation.Locate, locatePayloads, { attributes: [name(keyName)] }, { header: header() });
    assert.deepEqual(located.uniqueIdentifiers, [created.uniqueIdentifier]);
    const got = await oneItem(client, Operation.Get, getPayloads, { uniqueIdentifier: located.uniqueIdentifiers[0]! }, { header: header() });
    assert.equal(got.objectType, ObjectType.SymmetricKey);
    assert.equal(rawMaterial(got.object).length, 32);
  } finally {
    await client.close();
  }
});

test("Rook OSD encryption (pkg/daemon/ceph/osd/kms/kmip.go, kmip-go), KMIP 1.4: per connection Discover Versions [1.4]; Register a Raw AES key with Usage Mask Export, Get, Destroy; Unique Batch Item IDs echoed", async () => {
  /** kmipKMS.connect(): TLS, then discover(), which wants exactly [1.4] back; then one operation; then close. */
  async function rookOperation<Request, Response>(operation: number, codecs: PayloadCodecs<Request, Response>, payload: Request): Promise<Response> {
    const client = await mapped.connectAs("rook-osd", 4);
    try {
      const discovered = await oneItem(client, Operation.DiscoverVersions, discoverVersionsPayloads, { protocolVersions: [{ major: 1, minor: 4 }] }, { uniqueBatchItemId: uuid() });
      assert.deepEqual(discovered.protocolVersions, [{ major: 1, minor: 4 }]);
      return await oneItem(client, operation, codecs, payload, { uniqueBatchItemId: uuid() });
    } finally {
      await client.close();
    }
  }
  const uuid = () => Buffer.from(randomUUID().replaceAll("-", ""), "hex");

  // registerKey(): the OSD's dm-crypt passphrase, base64-decoded, as a Raw AES key.
  const value = randomBytes(32);
  const registered = await rookOperation(Operation.Register, registerPayloads, {
    objectType: ObjectType.SymmetricKey,
    templateAttribute: { names: [], attributes: [usage(Usage.Export)] },
    object: rawKey(value),
  });
  const got = await rookOperation(Operation.Get, getPayloads, { uniqueIdentifier: registered.uniqueIdentifier });
  assert.equal(got.objectType, ObjectType.SymmetricKey);
  assert.deepEqual(rawMaterial(got.object), value);
  const destroyed = await rookOperation(Operation.Destroy, destroyPayloads, { uniqueIdentifier: registered.uniqueIdentifier });
  assert.equal(destroyed.uniqueIdentifier, registered.uniqueIdentifier);
  const client = await mapped.connectAs("rook-osd", 4);
  try {
    await rejectsWith(client.get({ uniqueIdentifier: registered.uniqueIdentifier }), ResultReason.ItemNotFound);
  } finally {
    await client.close();
  }
});
