// The discovery and attribute operations end to end on one relay: Locate
// (Name, Object Type, Cryptographic Algorithm and Length, State, Maximum and
// Offset Items), Get Attributes and Get Attribute List, Add / Modify /
// Delete Attribute for Name, Check, RNG Retrieve, Signature Verify's
// failures, Query's operation list, and keys made by pkcs11-tool (as
// OpenDNSSEC makes them) found and used under ids of the relay's scheme.
import assert from "node:assert/strict";
import { createHash, verify } from "node:crypto";
import { after, before, describe, test } from "node:test";
import type { KmipClient } from "../../src/client/kmip-client.js";
import type { Attribute, Digest, Name } from "../../src/kmip/attributes.js";
import type { KeyObject as KmipKeyObject } from "../../src/kmip/objects.js";
import { structure } from "../../src/ttlv/build.js";
import {
  BatchErrorContinuationOption,
  CryptographicAlgorithm,
  CryptographicUsageMask,
  HashingAlgorithm,
  KeyFormatType,
  LinkType,
  NameType,
  ObjectType,
  Operation,
  QueryFunction,
  RecommendedCurve,
  ResultReason,
  State,
  StorageStatusMask,
} from "../../src/ttlv/enums.js";
import { Tag } from "../../src/ttlv/tags.js";
import { startRelayProcess, type RunningRelay } from "../helpers/relay.js";
import { pkcs11Tool } from "../helpers/softhsm.js";
import { algorithm, connect, createKeyPair, DATA, length, name, objectType, publicKeyOf, rejectsWith } from "../helpers/relay-client.js";

let relay: RunningRelay;
let client: KmipClient;
/** A 1.0 and a 1.3 client, for what differs by version. */
let v10: KmipClient;
let v13: KmipClient;
/** Three key pairs: RSA-2048, EC P-256, EC P-384, labelled `ops-<kind>-priv` / `-pub`. */
const keys: Record<"rsa" | "p256" | "p384", { priv: string; pub: string }> = {} as never;

before(async () => {
  relay = await startRelayProcess();
  client = await connect(relay);
  v10 = await connect(relay, { protocolVersion: { major: 1, minor: 0 } });
  v13 = await connect(relay, { protocolVersion: { major: 1, minor: 3 } });
  const kinds: [keyof typeof keys, Attribute[]][] = [
    ["rsa", [algorithm(CryptographicAlgorithm.RSA), length(2048)]],
    ["p256", [algorithm(CryptographicAlgorithm.ECDSA), length(256)]],
    ["p384", [algorithm(CryptographicAlgorithm.ECDSA), length(384)]],
  ];
  for (const [kind, common] of kinds) {
    const created = await createKeyPair(client, common, `ops-${kind}`, { active: false });
    keys[kind] = { priv: created.privateKeyUniqueIdentifier, pub: created.publicKeyUniqueIdentifier };
    // As Cascade does: the private key is activated to sign; the public key stays Pre-Active.
    await client.activate({ uniqueIdentifier: created.privateKeyUniqueIdentifier });
  }
});
after(async () => {
  await Promise.all([client, v10, v13].map((c) => c?.close()));
  await relay?.cleanup();
});

const located = async (attributes: Attribute[], extra: { maximumItems?: number; offsetItems?: number } = {}, via = client) =>
  (await via.locate({ attributes, ...extra })).uniqueIdentifiers;

describe("Locate", () => {
  test("by Name: the key with that CKA_LABEL", async () => {
    assert.deepEqual(await located([name("ops-p256-priv")]), [keys.p256.priv]);
    assert.deepEqual(await located([name("no such label")]), []);
  });

  test("by Object Type, Cryptographic Algorithm and Cryptographic Length", async () => {
    const privateEc = await located([objectType(ObjectType.PrivateKey), algorithm(CryptographicAlgorithm.ECDSA)]);
    assert.deepEqual(new Set(privateEc), new Set([keys.p256.priv, keys.p384.priv]));
    // EC and ECDSA name the same keys; Get reports them as ECDSA.
    assert.deepEqual(await located([algorithm(CryptographicAlgorithm.EC), length(384), objectType(ObjectType.PublicKey)]), [keys.p384.pub]);
    assert.deepEqual(new Set(await located([algorithm(CryptographicAlgorithm.RSA), length(2048)])), new Set([keys.rsa.priv, keys.rsa.pub]));
    assert.deepEqual(await located([length(2048), objectType(ObjectType.PrivateKey)]), [keys.rsa.priv]);
  });

  test("criteria no key can meet match nothing: other object types and algorithms, two different Names, a URI Name, archived storage", async () => {
    assert.deepEqual(await located([objectType(ObjectType.SymmetricKey)]), []);
    assert.deepEqual(await located([algorithm(CryptographicAlgorithm.AES)]), []);
    assert.deepEqual(await located([name("ops-rsa-priv"), name("ops-rsa-pub")]), []);
    assert.deepEqual(await located([{ name: "Name", value: { nameValue: "ops-rsa-priv", nameType: NameType.URI } }]), []);
    assert.deepEqual((await v13.locate({ attributes: [name("ops-rsa-priv")], storageStatusMask: StorageStatusMask.ArchivalStorage })).uniqueIdentifiers, []);
  });

  test("by State", async () => {
    const active = await located([{ name: "State", value: State.Active }, objectType(ObjectType.PrivateKey)]);
    for (const pair of Object.values(keys)) assert.ok(active.includes(pair.priv));
    const preActive = await located([{ name: "State", value: State.PreActive }]);
    for (const pair of Object.values(keys)) assert.ok(preActive.includes(pair.pub) && !preActive.includes(pair.priv));
  });

  test("Maximum Items caps the answer; Offset Items (1.3) pages through it and Located Items counts every match", async () => {
    const all = await located([objectType(ObjectType.PrivateKey)]);
    assert.ok(all.length >= 3);
    assert.deepEqual(await located([objectType(ObjectType.PrivateKey)], { maximumItems: 2 }), all.slice(0, 2));
    const page = await v13.locate({ attributes: [objectType(ObjectType.PrivateKey)], maximumItems: 2, offsetItems: 1 });
    assert.deepEqual(page.uniqueIdentifiers, all.slice(1, 3));
    assert.equal(page.locatedItems, all.length);
    assert.equal((await client.locate({ attributes: [] })).locatedItems, undefined, "Located Items is a 1.3 field: not in 1.2 answers");
  });

  test("refusals: Offset Items before 1.3, negative counts, attributes Locate cannot match", async () => {
    await rejectsWith(client.locate({ attributes: [], offsetItems: 1 }), ResultReason.InvalidField, /Offset Items is a KMIP 1\.3 field; this request is KMIP 1\.2/);
    await rejectsWith(client.locate({ attributes: [], maximumItems: -1 }), ResultReason.InvalidField, /Maximum Items is -1/);
    await rejectsWith(
      client.locate({ attributes: [{ name: "Contact Information", value: "ops" }] }),
      ResultReason.FeatureNotSupported,
      /cannot match the attribute "Contact Information".*Name, Object Type/,
    );
    await rejectsWith(v13.locate({ attributes: [], objectGroupMember: 1 }), ResultReason.FeatureNotSupported, /Object Group Member/);
  });
});

describe("Get Attributes and Get Attribute List", () => {
  test("every attribute of a public key, read from the token", async () => {
    const { uniqueIdentifier, attributes } = await client.getAttributes({ uniqueIdentifier: keys.p256.pub, attributeNames: [] });
    assert.equal(uniqueIdentifier, keys.p256.pub);
    const byName = new Map(attributes.map((a) => [a.name, a.value]));
    assert.deepEqual(
      [...byName.keys()],
      [
        "Unique Identifier",
        "Object Type",
        "Cryptographic Algorithm",
        "Cryptographic Length",
        "Cryptographic Domain Parameters",
        "Name",
        "Cryptographic Usage Mask",
        "State",
        "Initial Date",
        "Link",
        "Last Change Date",
        "Digest",
      ],
    );
    assert.equal(byName.get("Unique Identifier"), keys.p256.pub);
    assert.equal(byName.get("Object Type"), ObjectType.PublicKey);
    assert.equal(byName.get("Cryptographic Algorithm"), CryptographicAlgorithm.ECDSA);
    assert.equal(byName.get("Cryptographic Length"), 256);
    assert.deepEqual(byName.get("Cryptographic Domain Parameters"), { recommendedCurve: RecommendedCurve.P256 });
    assert.deepEqual(byName.get("Name"), { nameValue: "ops-p256-pub", nameType: NameType.UninterpretedTextString });
    assert.equal(byName.get("Cryptographic Usage Mask"), CryptographicUsageMask.Verify, "CKA_VERIFY only (doc/compatibility.md#create-key-pair)");
    assert.equal(byName.get("State"), State.PreActive);
    assert.deepEqual(byName.get("Link"), { linkType: LinkType.PrivateKeyLink, linkedObjectIdentifier: keys.p256.priv });
    // Digest: SHA-256 of the Key Material that Get answers by default.
    const got = await client.get({ uniqueIdentifier: keys.p256.pub });
    const material = ((got.object as KmipKeyObject).keyBlock.keyValue as { keyMaterial: Uint8Array }).keyMaterial;
    assert.deepEqual(byName.get("Digest"), {
      hashingAlgorithm: HashingAlgorithm.SHA256,
      digestValue: createHash("sha256").update(material).digest(),
      keyFormatType: KeyFormatType.Raw,
    });
  });

  test("a private key: its usage from CKA_SIGN and friends, no Digest; named attributes only, unknown names left out", async () => {
    const { attributes } = await client.getAttributes({
      uniqueIdentifier: keys.rsa.priv,
      attributeNames: ["Object Type", "Cryptographic Usage Mask", "Digest", "Contact Information", "x-no-such-attribute"],
    });
    const byName = new Map(attributes.map((a) => [a.name, a.value]));
    assert.deepEqual([...byName.keys()], ["Object Type", "Cryptographic Usage Mask"]);
    assert.equal(byName.get("Object Type"), ObjectType.PrivateKey);
    assert.equal((byName.get("Cryptographic Usage Mask") as number) & CryptographicUsageMask.Sign, CryptographicUsageMask.Sign);
    assert.equal((byName.get("Cryptographic Usage Mask") as number) & CryptographicUsageMask.Decrypt, 0, "CKA_DECRYPT false (doc/compatibility.md#create-key-pair)");
  });

  test("KMIP 1.4 adds Sensitive, Always Sensitive, Extractable and Never Extractable from the token; 1.2 does not know them", async () => {
    const v14 = await connect(relay, { protocolVersion: { major: 1, minor: 4 } });
    try {
      const { attributes } = await v14.getAttributes({ uniqueIdentifier: keys.rsa.priv, attributeNames: [] });
      const byName = new Map(attributes.map((a) => [a.name, a.value]));
      assert.deepEqual(
        ["Sensitive", "Always Sensitive", "Extractable", "Never Extractable"].map((n) => byName.get(n)),
        [true, true, false, true],
      );
      assert.equal(typeof byName.get("Original Creation Date"), "bigint", "a 1.3 attribute");
    } finally {
      await v14.close();
    }
    const { attributeNames } = await client.getAttributeList({ uniqueIdentifier: keys.rsa.priv });
    assert.equal(attributeNames.includes("Sensitive") || attributeNames.includes("Original Creation Date"), false);
  });

  test("a KMIP 1.0 request gets the Digest without its 1.1 Key Format Type field", async () => {
    const { attributes } = await v10.getAttributes({ uniqueIdentifier: keys.rsa.pub, attributeNames: ["Digest"] });
    const digest = attributes[0]!.value as Digest;
    assert.equal(digest.keyFormatType, undefined);
    assert.equal(digest.digestValue?.length, 32);
  });

  test("Get Attribute List names what Get Attributes returns", async () => {
    for (const id of [keys.p384.pub, keys.p384.priv]) {
      const { attributeNames } = await client.getAttributeList({ uniqueIdentifier: id });
      const { attributes } = await client.getAttributes({ uniqueIdentifier: id, attributeNames: [] });
      assert.deepEqual(attributeNames, attributes.map((a) => a.name));
    }
    await rejectsWith(client.getAttributeList({ uniqueIdentifier: `${"00".repeat(20)}_pub` }), ResultReason.ItemNotFound);
  });
});

describe("Add, Modify and Delete Attribute: Name, the key's CKA_LABEL", () => {
  let id: string;
  before(async () => {
    id = (await createKeyPair(client, [algorithm(CryptographicAlgorithm.ECDSA), length(256)])).privateKeyUniqueIdentifier;
  });
  const nameOf = async (key: string) =>
    (await client.getAttributes({ uniqueIdentifier: key, attributeNames: ["Name"] })).attributes.map((a) => (a.value as Name).nameValue);

  test("Add Attribute gives an unnamed key its Name; a second Name does not fit one CKA_LABEL", async () => {
    assert.deepEqual(await nameOf(id), []);
    const added = await client.addAttribute({ uniqueIdentifier: id, attribute: name("zsk-2024") });
    assert.deepEqual(added.attribute, { name: "Name", value: { nameValue: "zsk-2024", nameType: NameType.UninterpretedTextString } });
    assert.deepEqual(await nameOf(id), ["zsk-2024"]);
    assert.deepEqual(await located([name("zsk-2024")]), [id]);
    await rejectsWith(client.addAttribute({ uniqueIdentifier: id, attribute: name("another") }), ResultReason.IndexOutOfBounds, /already has the Name "zsk-2024".*Modify Attribute/);
  });

  test("Add Attribute refuses an Attribute Index, other attributes and URI Names", async () => {
    await rejectsWith(client.addAttribute({ uniqueIdentifier: id, attribute: { ...name("x"), index: 0 } }), ResultReason.InvalidField, /no Attribute Index/);
    await rejectsWith(
      client.addAttribute({ uniqueIdentifier: id, attribute: { name: "Cryptographic Length", value: 384 } }),
      ResultReason.PermissionDenied,
      /"Cryptographic Length" cannot be added here; only Name/,
    );
    await rejectsWith(
      client.addAttribute({ uniqueIdentifier: id, attribute: { name: "Name", value: { nameValue: "urn:x", nameType: NameType.URI } } }),
      ResultReason.InvalidField,
      /Uninterpreted Text String/,
    );
  });

  test("Object Group, Contact Information and x- attributes are kept in the token's metadata", async () => {
    await client.addAttribute({ uniqueIdentifier: id, attribute: { name: "Contact Information", value: "hostmaster@example.org" } });
    await client.addAttribute({ uniqueIdentifier: id, attribute: { name: "Object Group", value: "example.org" } });
    await client.modifyAttribute({ uniqueIdentifier: id, attribute: { name: "Contact Information", value: "dnsops@example.org" } });
    const { attributes } = await v13.getAttributes({ uniqueIdentifier: id, attributeNames: ["Contact Information", "Object Group"] });
    assert.deepEqual(
      attributes.map((a) => [a.name, a.value]),
      [
        ["Object Group", "example.org"],
        ["Contact Information", "dnsops@example.org"],
      ],
    );
    await client.deleteAttribute({ uniqueIdentifier: id, attributeName: "Contact Information" });
    await client.deleteAttribute({ uniqueIdentifier: id, attributeName: "Object Group" });
  });

  test("Modify Attribute renames; Delete Attribute removes the Name and answers it", async () => {
    await client.modifyAttribute({ uniqueIdentifier: id, attribute: name("zsk-2025") });
    assert.deepEqual(await nameOf(id), ["zsk-2025"]);
    const deleted = await client.deleteAttribute({ uniqueIdentifier: id, attributeName: "Name" });
    assert.deepEqual(deleted.attribute, { name: "Name", value: { nameValue: "zsk-2025", nameType: NameType.UninterpretedTextString } });
    assert.deepEqual(await nameOf(id), []);
    await rejectsWith(client.deleteAttribute({ uniqueIdentifier: id, attributeName: "Name" }), ResultReason.ItemNotFound, /has no Name/);
  });

  test("Delete Attribute: attributes read from the token are Permission Denied, absent ones Item Not Found", async () => {
    await rejectsWith(client.deleteAttribute({ uniqueIdentifier: id, attributeName: "State" }), ResultReason.PermissionDenied, /"State" is read from the token/);
    await rejectsWith(client.deleteAttribute({ uniqueIdentifier: id, attributeName: "Contact Information" }), ResultReason.ItemNotFound);
    await rejectsWith(client.deleteAttribute({ uniqueIdentifier: id, attributeName: "Lease Time" }), ResultReason.ItemNotFound);
    await client.addAttribute({ uniqueIdentifier: id, attribute: name("back") });
    await rejectsWith(client.deleteAttribute({ uniqueIdentifier: id, attributeName: "Name", attributeIndex: 1 }), ResultReason.ItemNotFound, /index 1/);
  });
});

test("Check: the key exists and allows the usage asked for", async () => {
  assert.deepEqual(await client.check({ uniqueIdentifier: keys.rsa.priv, cryptographicUsageMask: CryptographicUsageMask.Sign }), { uniqueIdentifier: keys.rsa.priv });
  await client.check({ uniqueIdentifier: keys.rsa.pub, cryptographicUsageMask: CryptographicUsageMask.Verify, usageLimitsCount: 10n, leaseTime: 3600 });
  await rejectsWith(
    client.check({ uniqueIdentifier: keys.rsa.pub, cryptographicUsageMask: CryptographicUsageMask.Verify | CryptographicUsageMask.Encrypt }),
    ResultReason.PermissionDenied,
    /does not allow Encrypt; it allows Verify/,
  );
  await rejectsWith(client.check({ uniqueIdentifier: `${"00".repeat(20)}_priv` }), ResultReason.ItemNotFound);
});

test("RNG Retrieve: Data Length bytes from C_GenerateRandom, bounded", async () => {
  const [a, b] = await Promise.all([client.rngRetrieve({ dataLength: 32 }), client.rngRetrieve({ dataLength: 32 })]);
  assert.equal(a.data.length, 32);
  assert.notDeepEqual(a.data, b.data);
  assert.equal((await client.rngRetrieve({ dataLength: 1 })).data.length, 1);
  await rejectsWith(client.rngRetrieve({ dataLength: 0 }), ResultReason.InvalidField, /C_GenerateRandom: length 0 is outside 1\.\.65536/);
  await rejectsWith(client.rngRetrieve({ dataLength: 65_537 }), ResultReason.InvalidField, /outside 1\.\.65536/);
});

test("Signature Verify refuses a private key, a missing signature and streaming", async () => {
  await rejectsWith(
    client.signatureVerify({ uniqueIdentifier: keys.p256.priv, data: DATA, signatureData: Buffer.alloc(64) }),
    ResultReason.PermissionDenied,
    new RegExp(`verify with the public key, ${keys.p256.pub}`),
  );
  await rejectsWith(client.signatureVerify({ uniqueIdentifier: keys.p256.pub, data: DATA }), ResultReason.MissingData, /Signature Data/);
  await rejectsWith(
    v13.signatureVerify({ uniqueIdentifier: keys.p256.pub, data: DATA, signatureData: Buffer.alloc(64), initIndicator: true }),
    ResultReason.FeatureNotSupported,
    /streaming Signature Verify/,
  );
});

test("Query lists exactly the operations the relay serves", async () => {
  const { operations } = await client.query({ queryFunctions: [QueryFunction.QueryOperations] });
  const expected = [
    Operation.Create,
    Operation.CreateKeyPair,
    Operation.Register,
    Operation.Locate,
    Operation.Check,
    Operation.Get,
    Operation.GetAttributes,
    Operation.GetAttributeList,
    Operation.AddAttribute,
    Operation.ModifyAttribute,
    Operation.DeleteAttribute,
    Operation.Activate,
    Operation.Revoke,
    Operation.Destroy,
    Operation.Query,
    Operation.DiscoverVersions,
    Operation.Encrypt,
    Operation.Decrypt,
    Operation.Sign,
    Operation.SignatureVerify,
    Operation.Mac,
    Operation.MacVerify,
    Operation.RNGRetrieve,
    Operation.RNGSeed,
    Operation.Hash,
  ];
  assert.deepEqual(operations, expected);
  // And every operation listed is served: none answers Operation Not Supported.
  const empty = structure(Tag.RequestPayload, []);
  const response = await client.batch(
    operations.map((operation) => ({ operation, requestPayload: empty })),
    { batchErrorContinuationOption: BatchErrorContinuationOption.Continue },
  );
  for (const item of response.batchItems) assert.notEqual(item.resultReason, ResultReason.OperationNotSupported, `operation ${item.operation}`);
  const unsupported = await client.call(Operation.Certify, empty);
  assert.equal(unsupported.resultReason, ResultReason.OperationNotSupported);
});

describe("keys made by pkcs11-tool, as OpenDNSSEC makes them", () => {
  test("a key pair with a CKA_ID is found by Locate, under ids of the relay's scheme, and signs", async () => {
    const tool = (args: string[]) => pkcs11Tool(relay.token, ["--login", "--pin", relay.token.pin, "--token-label", relay.token.label, ...args]);
    await tool(["--keypairgen", "--key-type", "EC:prime256v1", "--id", "0a1b2c3d", "--label", "odnssec-zsk"]);
    await tool(["--keypairgen", "--key-type", "rsa:2048", "--id", "4b534b", "--label", "odnssec-ksk"]);
    assert.deepEqual(new Set(await located([name("odnssec-zsk")])), new Set(["0A1B2C3D_priv", "0A1B2C3D_pub"]));
    assert.deepEqual(await located([name("odnssec-ksk"), objectType(ObjectType.PrivateKey)]), ["4B534B_priv"]);

    // Without Cryptographic Parameters: ECDSA or PKCS#1 v1.5 from the key type, SHA-256.
    for (const id of ["0A1B2C3D", "4B534B"]) {
      const key = publicKeyOf(await client.get({ uniqueIdentifier: `${id}_pub` }));
      const { signatureData } = await client.sign({ uniqueIdentifier: `${id}_priv`, data: DATA });
      assert.equal(verify("sha256", DATA, key, signatureData!), true, `${id}: the signature verifies with the key Get returns`);
      const { attributes } = await client.getAttributes({ uniqueIdentifier: `${id}_priv`, attributeNames: ["State"] });
      assert.deepEqual(attributes, [{ name: "State", value: State.Active }], "keys made by other tools count as Active");
    }
  });

  test("a key pair without a CKA_ID has no id and is not found; pkcs11-tool --set-id gives it one", async () => {
    const tool = (args: string[]) => pkcs11Tool(relay.token, ["--login", "--pin", relay.token.pin, "--token-label", relay.token.label, ...args]);
    await tool(["--keypairgen", "--key-type", "EC:prime256v1", "--label", "no-id"]);
    assert.deepEqual(await located([name("no-id")]), []);
    for (const type of ["privkey", "pubkey"]) await tool(["--set-id", "1d", "--label", "no-id", "--type", type]);
    assert.deepEqual(new Set(await located([name("no-id")])), new Set(["1D_priv", "1D_pub"]));
  });
});
