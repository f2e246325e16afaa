// The relay's original seven operations end to end (issue #3), as a user runs
// it: its own process on a real SoftHSM token, spoken to over TLS. Each
// operation's success path and its error paths; the attributes doc/compatibility.md#create-key-pair
// promises, read back from the token with pkcs11js; signatures checked with
// node:crypto against the public key Get returns; keys found again after a
// restart. Authentication and the server's protocol behaviour are in
// relay-protocol.test.ts.
import assert from "node:assert/strict";
import { verify } from "node:crypto";
import { after, before, describe, test } from "node:test";
import pkcs11js from "pkcs11js";
import type { KmipClient } from "../../src/client/kmip-client.js";
import type { Attribute, CryptographicParameters } from "../../src/kmip/attributes.js";
import type { KeyObject as KmipKeyObject } from "../../src/kmip/objects.js";
import type { CreateKeyPairResponsePayload } from "../../src/kmip/payloads/index.js";
import * as ttlv from "../../src/ttlv/build.js";
import {
  CryptographicAlgorithm,
  HashingAlgorithm,
  KeyFormatType,
  NameType,
  ObjectType,
  Operation,
  PaddingMethod,
  QueryFunction,
  ResultReason,
  ResultStatus,
} from "../../src/ttlv/enums.js";
import { enumerationName } from "../../src/ttlv/names.js";
import { Tag } from "../../src/ttlv/tags.js";
import { startRelayProcess, type RunningRelay } from "../helpers/relay.js";
import { createSoftHsmToken, type SoftHsmToken } from "../helpers/softhsm.js";
import { algorithm, connect, createKeyPair, DATA, length, name, publicKeyOf, rejectsWith } from "../helpers/relay-client.js";

/** Cascade's Sign parameters (doc/compatibility.md#what-cascade-sends). */
const RSA_PKCS1_SHA256: CryptographicParameters = {
  hashingAlgorithm: HashingAlgorithm.SHA256,
  cryptographicAlgorithm: CryptographicAlgorithm.RSA,
  paddingMethod: PaddingMethod.Pkcs1v15,
};
const ECDSA_SHA256: CryptographicParameters = {
  hashingAlgorithm: HashingAlgorithm.SHA256,
  cryptographicAlgorithm: CryptographicAlgorithm.ECDSA,
};

/** DER of the P-256 curve OID (1.2.840.10045.3.1.7), the CKA_EC_PARAMS of a P-256 key. */
const P256_PARAMS = Buffer.from("06082a8648ce3d030107", "hex");

/** A well-formed id no key has. */
const UNKNOWN_ID = `${"00".repeat(20)}_pub`;

/**
 * Reads key objects straight from the token, beside the relay (PKCS#11 lets
 * several applications share a token). SoftHSM re-reads its object store
 * when another process changed it, so objects the relay made are seen.
 */
class TokenReader {
  private readonly p = new pkcs11js.PKCS11();
  private readonly session: pkcs11js.Handle;

  constructor(token: SoftHsmToken) {
    // SoftHSM reads SOFTHSM2_CONF in C_Initialize; this test process loads it once.
    process.env.SOFTHSM2_CONF = token.conf;
    this.p.load(token.modulePath);
    this.p.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
    const slot = this.p.C_GetSlotList(true).find((s) => this.p.C_GetTokenInfo(s).label.trimEnd() === token.label);
    assert.ok(slot !== undefined, `token ${token.label} is present`);
    this.session = this.p.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
    this.p.C_Login(this.session, pkcs11js.CKU_USER, token.pin);
  }

  /** The handles of the objects matching `template`. */
  find(template: pkcs11js.Template): pkcs11js.Handle[] {
    this.p.C_FindObjectsInit(this.session, template);
    try {
      return this.p.C_FindObjects(this.session, 10_000);
    } finally {
      this.p.C_FindObjectsFinal(this.session);
    }
  }

  /** The attributes of the one key object a KMIP id names (upper-case hex CKA_ID plus _pub or _priv, doc/compatibility.md#key-identifiers). */
  key(id: string, types: number[]): Map<number, Buffer> {
    const match = /^([0-9A-F]+)_(pub|priv)$/.exec(id);
    assert.ok(match, `${id} is a relay key id`);
    const objectClass = match[2] === "pub" ? pkcs11js.CKO_PUBLIC_KEY : pkcs11js.CKO_PRIVATE_KEY;
    const handles = this.find([
      { type: pkcs11js.CKA_ID, value: Buffer.from(match[1]!, "hex") },
      { type: pkcs11js.CKA_CLASS, value: objectClass },
    ]);
    assert.equal(handles.length, 1, `exactly one object on the token has the id ${id}`);
    const values = this.p.C_GetAttributeValue(this.session, handles[0]!, types.map((type) => ({ type })));
    return new Map(values.map((a) => [a.type, a.value as Buffer]));
  }

  close(): void {
    this.p.C_CloseSession(this.session);
    this.p.C_Finalize();
    this.p.close();
  }
}

const flag = (attributes: Map<number, Buffer>, type: number): boolean => attributes.get(type)![0] === 1;
const ulong = (attributes: Map<number, Buffer>, type: number): number => Number(attributes.get(type)!.readBigUInt64LE(0));

let token: SoftHsmToken;
let relay: RunningRelay;
let client: KmipClient;
let reader: TokenReader;
/** Made in before(), as Cascade makes its keys. */
let rsa: CreateKeyPairResponsePayload;
let ec: CreateKeyPairResponsePayload;

before(async () => {
  token = await createSoftHsmToken();
  relay = await startRelayProcess({ token });
  client = await connect(relay);
  rsa = await createKeyPair(client, [algorithm(CryptographicAlgorithm.RSA), length(2048)], "rsa");
  ec = await createKeyPair(client, [algorithm(CryptographicAlgorithm.ECDSA), length(256)], "ec");
  reader = new TokenReader(token);
});

after(async () => {
  reader?.close();
  await client?.close();
  await relay?.cleanup();
  await token?.cleanup();
});

describe("Discover Versions", () => {
  test("an empty list gets every supported version, newest first", async () => {
    const { protocolVersions } = await client.discoverVersions();
    assert.deepEqual(protocolVersions, [
      { major: 1, minor: 4 },
      { major: 1, minor: 3 },
      { major: 1, minor: 2 },
      { major: 1, minor: 1 },
      { major: 1, minor: 0 },
    ]);
  });

  test("the client's list is intersected with the supported versions, in the server's order", async () => {
    const offered = [{ major: 1, minor: 0 }, { major: 2, minor: 0 }, { major: 1, minor: 2 }];
    assert.deepEqual((await client.discoverVersions({ protocolVersions: offered })).protocolVersions, [
      { major: 1, minor: 2 },
      { major: 1, minor: 0 },
    ]);
    assert.deepEqual((await client.discoverVersions({ protocolVersions: [{ major: 3, minor: 0 }] })).protocolVersions, []);
  });

  test("a Protocol Version without its minor number is refused", async () => {
    const payload = ttlv.structure(Tag.RequestPayload, [ttlv.structure(Tag.ProtocolVersion, [ttlv.integer(Tag.ProtocolVersionMajor, 1)])]);
    const item = await client.call(Operation.DiscoverVersions, payload);
    assert.equal(item.operation, Operation.DiscoverVersions);
    assert.equal(item.resultStatus, ResultStatus.OperationFailed);
    assert.equal(item.resultReason, ResultReason.InvalidMessage);
    assert.match(item.resultMessage ?? "", /missing Protocol Version Minor/);
  });
});

describe("Query", () => {
  test("operations, object types and server information", async () => {
    const answer = await client.query({
      queryFunctions: [QueryFunction.QueryOperations, QueryFunction.QueryObjects, QueryFunction.QueryServerInformation],
    });
    const seven = [Operation.DiscoverVersions, Operation.Query, Operation.CreateKeyPair, Operation.Get, Operation.Activate, Operation.ModifyAttribute, Operation.Sign];
    for (const operation of seven) assert.ok(answer.operations.includes(operation), `Query lists ${enumerationName(Tag.Operation, operation)}`);
    assert.deepEqual(answer.objectTypes, [ObjectType.SymmetricKey, ObjectType.PublicKey, ObjectType.PrivateKey, ObjectType.SecretData, ObjectType.OpaqueData]);
    // doc/compatibility.md#query: the relay and its version, the token label, the slot description, the module file name.
    assert.match(answer.vendorIdentification ?? "", /^kmip2pkcs11 \d+\.\d+\.\d+\S*; /);
    assert.match(answer.vendorIdentification ?? "", new RegExp(`token "${token.label}"`));
    assert.match(answer.vendorIdentification ?? "", /slot "SoftHSM slot ID 0x[0-9a-f]+"/);
    assert.match(answer.vendorIdentification ?? "", /module libsofthsm2\.so /);
  });

  test("only what is asked for is answered", async () => {
    const answer = await client.query({ queryFunctions: [QueryFunction.QueryObjects] });
    assert.deepEqual(answer.operations, []);
    assert.deepEqual(answer.objectTypes, [ObjectType.SymmetricKey, ObjectType.PublicKey, ObjectType.PrivateKey, ObjectType.SecretData, ObjectType.OpaqueData]);
    assert.equal(answer.vendorIdentification, undefined);
  });

  test("a Query Function that is not an enumeration is refused", async () => {
    const payload = ttlv.structure(Tag.RequestPayload, [ttlv.textString(Tag.QueryFunction, "Query Operations")]);
    const item = await client.call(Operation.Query, payload);
    assert.equal(item.operation, Operation.Query);
    assert.equal(item.resultStatus, ResultStatus.OperationFailed);
    assert.equal(item.resultReason, ResultReason.InvalidMessage);
    assert.match(item.resultMessage ?? "", /Query Function .* must be an Enumeration/);
  });
});

describe("Create Key Pair", () => {
  test("the ids are the upper-case hex CKA_ID with _pub and _priv", () => {
    for (const pair of [rsa, ec]) {
      assert.match(pair.publicKeyUniqueIdentifier, /^[0-9A-F]{40}_pub$/);
      assert.equal(pair.privateKeyUniqueIdentifier, pair.publicKeyUniqueIdentifier.replace(/_pub$/, "_priv"));
    }
    assert.notEqual(rsa.publicKeyUniqueIdentifier, ec.publicKeyUniqueIdentifier);
  });

  test("RSA at the smallest size, 1024 bits", async () => {
    const pair = await createKeyPair(client, [algorithm(CryptographicAlgorithm.RSA), length(1024)]);
    const got = await client.get({ uniqueIdentifier: pair.publicKeyUniqueIdentifier });
    assert.equal((got.object as KmipKeyObject).keyBlock.cryptographicLength, 1024);
    // RSA-4096, the largest size, is made in relay-protocol.test.ts (it is the slow request there).
  });

  test("the RSA key pair carries the attributes of doc/compatibility.md#create-key-pair on the token", () => {
    const pub = reader.key(rsa.publicKeyUniqueIdentifier, [
      pkcs11js.CKA_TOKEN, pkcs11js.CKA_ID, pkcs11js.CKA_LABEL, pkcs11js.CKA_KEY_TYPE, pkcs11js.CKA_VERIFY, pkcs11js.CKA_ENCRYPT,
      pkcs11js.CKA_WRAP, pkcs11js.CKA_MODULUS_BITS, pkcs11js.CKA_PUBLIC_EXPONENT,
    ]);
    const priv = reader.key(rsa.privateKeyUniqueIdentifier, [
      pkcs11js.CKA_TOKEN, pkcs11js.CKA_ID, pkcs11js.CKA_LABEL, pkcs11js.CKA_KEY_TYPE, pkcs11js.CKA_SIGN, pkcs11js.CKA_DECRYPT,
      pkcs11js.CKA_PRIVATE, pkcs11js.CKA_SENSITIVE,
    ]);
    assert.equal(pub.get(pkcs11js.CKA_ID)!.toString("hex").toUpperCase(), rsa.publicKeyUniqueIdentifier.replace(/_pub$/, ""));
    assert.deepEqual(priv.get(pkcs11js.CKA_ID), pub.get(pkcs11js.CKA_ID));
    assert.equal(pub.get(pkcs11js.CKA_LABEL)!.toString(), "rsa-pub");
    assert.equal(priv.get(pkcs11js.CKA_LABEL)!.toString(), "rsa-priv");
    assert.equal(ulong(pub, pkcs11js.CKA_KEY_TYPE), pkcs11js.CKK_RSA);
    assert.equal(ulong(priv, pkcs11js.CKA_KEY_TYPE), pkcs11js.CKK_RSA);
    assert.equal(ulong(pub, pkcs11js.CKA_MODULUS_BITS), 2048);
    assert.equal(pub.get(pkcs11js.CKA_PUBLIC_EXPONENT)!.toString("hex").replace(/^(00)+/, ""), "010001");
    assert.deepEqual(
      { token: flag(pub, pkcs11js.CKA_TOKEN), verify: flag(pub, pkcs11js.CKA_VERIFY), encrypt: flag(pub, pkcs11js.CKA_ENCRYPT), wrap: flag(pub, pkcs11js.CKA_WRAP) },
      { token: true, verify: true, encrypt: false, wrap: false },
    );
    assert.deepEqual(
      {
        token: flag(priv, pkcs11js.CKA_TOKEN),
        sign: flag(priv, pkcs11js.CKA_SIGN),
        decrypt: flag(priv, pkcs11js.CKA_DECRYPT),
        private: flag(priv, pkcs11js.CKA_PRIVATE),
        sensitive: flag(priv, pkcs11js.CKA_SENSITIVE),
      },
      { token: true, sign: true, decrypt: false, private: true, sensitive: true },
    );
  });

  test("the ECDSA key pair is a P-256 pair with the attributes of doc/compatibility.md#create-key-pair on the token", () => {
    const pub = reader.key(ec.publicKeyUniqueIdentifier, [
      pkcs11js.CKA_TOKEN, pkcs11js.CKA_ID, pkcs11js.CKA_LABEL, pkcs11js.CKA_KEY_TYPE, pkcs11js.CKA_EC_PARAMS, pkcs11js.CKA_VERIFY,
      pkcs11js.CKA_ENCRYPT, pkcs11js.CKA_WRAP,
    ]);
    const priv = reader.key(ec.privateKeyUniqueIdentifier, [
      pkcs11js.CKA_TOKEN, pkcs11js.CKA_ID, pkcs11js.CKA_LABEL, pkcs11js.CKA_KEY_TYPE, pkcs11js.CKA_SIGN, pkcs11js.CKA_DECRYPT,
      pkcs11js.CKA_PRIVATE, pkcs11js.CKA_SENSITIVE,
    ]);
    assert.deepEqual(priv.get(pkcs11js.CKA_ID), pub.get(pkcs11js.CKA_ID));
    assert.equal(pub.get(pkcs11js.CKA_LABEL)!.toString(), "ec-pub");
    assert.equal(priv.get(pkcs11js.CKA_LABEL)!.toString(), "ec-priv");
    assert.equal(ulong(pub, pkcs11js.CKA_KEY_TYPE), pkcs11js.CKK_EC);
    assert.equal(ulong(priv, pkcs11js.CKA_KEY_TYPE), pkcs11js.CKK_EC);
    assert.deepEqual(pub.get(pkcs11js.CKA_EC_PARAMS), P256_PARAMS);
    assert.deepEqual(
      [flag(pub, pkcs11js.CKA_TOKEN), flag(pub, pkcs11js.CKA_VERIFY), flag(pub, pkcs11js.CKA_ENCRYPT), flag(pub, pkcs11js.CKA_WRAP)],
      [true, true, false, false],
    );
    assert.deepEqual(
      [flag(priv, pkcs11js.CKA_TOKEN), flag(priv, pkcs11js.CKA_SIGN), flag(priv, pkcs11js.CKA_DECRYPT), flag(priv, pkcs11js.CKA_PRIVATE), flag(priv, pkcs11js.CKA_SENSITIVE)],
      [true, true, false, true, true],
    );
  });

  test("requests it cannot serve are refused and leave nothing on the token", async () => {
    const before = reader.find([]).length;
    const cases: [Attribute[], number, RegExp][] = [
      [[length(2048)], ResultReason.MissingData, /Cryptographic Algorithm/],
      [[algorithm(CryptographicAlgorithm.RSA)], ResultReason.MissingData, /Cryptographic Length/],
      [[algorithm(CryptographicAlgorithm.RSA), length(512)], ResultReason.InvalidField, /512/],
      [[algorithm(CryptographicAlgorithm.RSA), length(8192)], ResultReason.InvalidField, /8192/],
      [[algorithm(CryptographicAlgorithm.RSA), length(2047)], ResultReason.InvalidField, /2047/],
      [[algorithm(CryptographicAlgorithm.ECDSA), length(255)], ResultReason.InvalidField, /255/],
      [[algorithm(CryptographicAlgorithm.AES), length(256)], ResultReason.InvalidField, /Cryptographic Algorithm/],
      [
        [algorithm(CryptographicAlgorithm.ECDSA), length(256), { name: "Name", value: { nameValue: "https://example.com/k", nameType: NameType.URI } }],
        ResultReason.InvalidField,
        /Uninterpreted Text String/,
      ],
    ];
    for (const [common, reason, message] of cases) {
      await rejectsWith(client.createKeyPair({ commonTemplateAttribute: { names: [], attributes: common } }), reason, message);
    }
    assert.equal(reader.find([]).length, before, "no object was made on the token");
  });
});

describe("Get", () => {
  test("an RSA public key without a Key Format Type comes as PKCS#1, with algorithm and length", async () => {
    const got = await client.get({ uniqueIdentifier: rsa.publicKeyUniqueIdentifier });
    assert.equal(got.objectType, ObjectType.PublicKey);
    assert.equal(got.uniqueIdentifier, rsa.publicKeyUniqueIdentifier);
    const { keyBlock } = got.object as KmipKeyObject;
    assert.equal(keyBlock.keyFormatType, KeyFormatType.PKCS1);
    assert.equal(keyBlock.cryptographicAlgorithm, CryptographicAlgorithm.RSA);
    assert.equal(keyBlock.cryptographicLength, 2048);
    const modulus = reader.key(rsa.publicKeyUniqueIdentifier, [pkcs11js.CKA_MODULUS]).get(pkcs11js.CKA_MODULUS)!;
    assert.equal(publicKeyOf(got).export({ format: "jwk" }).n, modulus.toString("base64url"), "it is the token's key");
  });

  test("an RSA public key as Transparent RSA Public Key when asked for", async () => {
    const transparent = await client.get({ uniqueIdentifier: rsa.publicKeyUniqueIdentifier, keyFormatType: KeyFormatType.TransparentRSAPublicKey });
    assert.equal((transparent.object as KmipKeyObject).keyBlock.keyFormatType, KeyFormatType.TransparentRSAPublicKey);
    const pkcs1 = await client.get({ uniqueIdentifier: rsa.publicKeyUniqueIdentifier });
    assert.deepEqual(publicKeyOf(transparent).export({ format: "jwk" }), publicKeyOf(pkcs1).export({ format: "jwk" }));
  });

  test("an EC public key comes as Raw holding the DER SubjectPublicKeyInfo", async () => {
    const got = await client.get({ uniqueIdentifier: ec.publicKeyUniqueIdentifier });
    const { keyBlock } = got.object as KmipKeyObject;
    assert.equal(keyBlock.keyFormatType, KeyFormatType.Raw);
    assert.equal(keyBlock.cryptographicAlgorithm, CryptographicAlgorithm.ECDSA);
    assert.equal(keyBlock.cryptographicLength, 256);
    const key = publicKeyOf(got);
    assert.equal(key.asymmetricKeyDetails?.namedCurve, "prime256v1");
    // SoftHSM wraps CKA_EC_POINT in a DER OCTET STRING (04 41 04 x y); the key's point is its content.
    const point = reader.key(ec.publicKeyUniqueIdentifier, [pkcs11js.CKA_EC_POINT]).get(pkcs11js.CKA_EC_POINT)!;
    const jwk = key.export({ format: "jwk" });
    assert.equal(Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, "base64url"), Buffer.from(jwk.y!, "base64url")]).toString("hex"), point.subarray(2).toString("hex"));
  });

  test("a private key, an unknown id, a missing id and an unsupported format are refused", async () => {
    await rejectsWith(client.get({ uniqueIdentifier: rsa.privateKeyUniqueIdentifier }), ResultReason.PermissionDenied, /private key/);
    await rejectsWith(client.get({ uniqueIdentifier: UNKNOWN_ID }), ResultReason.ItemNotFound);
    await rejectsWith(client.get({ uniqueIdentifier: "no-such-key" }), ResultReason.ItemNotFound);
    await rejectsWith(client.get({}), ResultReason.MissingData, /Unique Identifier/);
    await rejectsWith(client.get({ uniqueIdentifier: rsa.publicKeyUniqueIdentifier, keyFormatType: KeyFormatType.PKCS8 }), ResultReason.KeyFormatTypeNotSupported);
  });
});

describe("Activate", () => {
  test("succeeds for both keys of a pair and echoes the id", async () => {
    for (const id of [rsa.privateKeyUniqueIdentifier, rsa.publicKeyUniqueIdentifier, ec.privateKeyUniqueIdentifier]) {
      assert.deepEqual(await client.activate({ uniqueIdentifier: id }), { uniqueIdentifier: id });
    }
  });

  test("an activated private key activates again, and signs without parameters (Cascade's order)", async () => {
    // Regression: an activation date written to a SoftHSM 2.6.1 private key
    // makes every later C_GetAttributeValue on it fail (SoftHSMv2 #655, #804).
    const pair = await createKeyPair(client, [algorithm(CryptographicAlgorithm.ECDSA), length(256)]);
    await client.activate({ uniqueIdentifier: pair.privateKeyUniqueIdentifier });
    await client.activate({ uniqueIdentifier: pair.privateKeyUniqueIdentifier });
    const key = publicKeyOf(await client.get({ uniqueIdentifier: pair.publicKeyUniqueIdentifier }));
    const signed = await client.sign({ uniqueIdentifier: pair.privateKeyUniqueIdentifier, data: DATA });
    assert.ok(verify("sha256", DATA, key, signed.signatureData!));
  });

  test("an unknown key is Item Not Found", async () => {
    await rejectsWith(client.activate({ uniqueIdentifier: UNKNOWN_ID }), ResultReason.ItemNotFound);
    await rejectsWith(client.activate({ uniqueIdentifier: `${"AB".repeat(20)}_priv` }), ResultReason.ItemNotFound);
  });
});

describe("Modify Attribute", () => {
  test("Name becomes the key's CKA_LABEL, of that key only", async () => {
    const pair = await createKeyPair(client, [algorithm(CryptographicAlgorithm.ECDSA), length(256)], "old");
    const answer = await client.modifyAttribute({ uniqueIdentifier: pair.privateKeyUniqueIdentifier, attribute: name("example.com ZSK") });
    assert.equal(answer.uniqueIdentifier, pair.privateKeyUniqueIdentifier);
    assert.deepEqual(answer.attribute.value, { nameValue: "example.com ZSK", nameType: NameType.UninterpretedTextString });
    const label = (id: string) => reader.key(id, [pkcs11js.CKA_LABEL]).get(pkcs11js.CKA_LABEL)!.toString();
    assert.equal(label(pair.privateKeyUniqueIdentifier), "example.com ZSK");
    assert.equal(label(pair.publicKeyUniqueIdentifier), "old-pub");
  });

  test("other attributes, other Name types or indexes and unknown keys are refused", async () => {
    const id = ec.privateKeyUniqueIdentifier;
    await rejectsWith(client.modifyAttribute({ uniqueIdentifier: id, attribute: length(512) }), ResultReason.PermissionDenied, /only Name/);
    await rejectsWith(
      client.modifyAttribute({ uniqueIdentifier: id, attribute: { name: "Name", value: { nameValue: "https://example.com/", nameType: NameType.URI } } }),
      ResultReason.InvalidField,
    );
    await rejectsWith(client.modifyAttribute({ uniqueIdentifier: id, attribute: { ...name("second"), index: 1 } }), ResultReason.ItemNotFound);
    await rejectsWith(client.modifyAttribute({ uniqueIdentifier: UNKNOWN_ID, attribute: name("x") }), ResultReason.ItemNotFound);
    assert.equal(reader.key(id, [pkcs11js.CKA_LABEL]).get(pkcs11js.CKA_LABEL)!.toString(), "ec-priv", "the label is unchanged");
  });
});

describe("Sign", () => {
  test("RSA PKCS#1 v1.5 with SHA-256 verifies against the key Get returns", async () => {
    const key = publicKeyOf(await client.get({ uniqueIdentifier: rsa.publicKeyUniqueIdentifier }));
    const signed = await client.sign({ uniqueIdentifier: rsa.privateKeyUniqueIdentifier, cryptographicParameters: RSA_PKCS1_SHA256, data: DATA });
    assert.equal(signed.uniqueIdentifier, rsa.privateKeyUniqueIdentifier);
    assert.equal(signed.signatureData?.length, 256);
    assert.ok(verify("sha256", DATA, key, signed.signatureData!), "the signature verifies");
    // Without Cryptographic Parameters the mechanism follows the key; PKCS#1 v1.5 is deterministic.
    const plain = await client.sign({ uniqueIdentifier: rsa.privateKeyUniqueIdentifier, data: DATA });
    assert.deepEqual(plain.signatureData, signed.signatureData);
  });

  test("ECDSA P-256 with SHA-256 is DER-encoded and verifies against the key Get returns", async () => {
    const key = publicKeyOf(await client.get({ uniqueIdentifier: ec.publicKeyUniqueIdentifier }));
    for (const cryptographicParameters of [ECDSA_SHA256, undefined]) {
      const signed = await client.sign({ uniqueIdentifier: ec.privateKeyUniqueIdentifier, cryptographicParameters, data: DATA });
      assert.equal(signed.signatureData![0], 0x30, "a DER SEQUENCE");
      assert.ok(verify("sha256", DATA, { key, dsaEncoding: "der" }, signed.signatureData!), "the signature verifies");
      assert.ok(!verify("sha256", Buffer.from("other data"), { key, dsaEncoding: "der" }, signed.signatureData!));
    }
  });

  test("unknown keys, mismatched parameters and missing data are refused", async () => {
    await rejectsWith(client.sign({ uniqueIdentifier: `${"00".repeat(20)}_priv`, cryptographicParameters: RSA_PKCS1_SHA256, data: DATA }), ResultReason.ItemNotFound);
    await rejectsWith(client.sign({ uniqueIdentifier: `${"00".repeat(20)}_priv`, data: DATA }), ResultReason.ItemNotFound);
    await rejectsWith(client.sign({ uniqueIdentifier: rsa.privateKeyUniqueIdentifier, cryptographicParameters: RSA_PKCS1_SHA256 }), ResultReason.InvalidField, /Data/);
    await rejectsWith(
      client.sign({ uniqueIdentifier: rsa.privateKeyUniqueIdentifier, cryptographicParameters: { ...RSA_PKCS1_SHA256, hashingAlgorithm: HashingAlgorithm.MD5 }, data: DATA }),
      ResultReason.InvalidField,
      /Hashing Algorithm/,
    );
  });

  test(
    "ECDSA parameters with an RSA key are refused as Invalid Field",
    async () => {
      await rejectsWith(client.sign({ uniqueIdentifier: rsa.privateKeyUniqueIdentifier, cryptographicParameters: ECDSA_SHA256, data: DATA }), ResultReason.InvalidField, /RSA key/);
    },
  );

  test("a public key cannot sign", async () => {
    for (const cryptographicParameters of [RSA_PKCS1_SHA256, undefined]) {
      await rejectsWith(client.sign({ uniqueIdentifier: rsa.publicKeyUniqueIdentifier, cryptographicParameters, data: DATA }), ResultReason.PermissionDenied, /public key/);
    }
  });
});

test("after a restart of the relay, keys made before are found by the same ids", async () => {
  const first = await startRelayProcess({ token });
  let pair: CreateKeyPairResponsePayload;
  let publicDer: Buffer;
  try {
    const c = await connect(first);
    pair = await createKeyPair(c, [algorithm(CryptographicAlgorithm.ECDSA), length(256)], "restart");
    publicDer = publicKeyOf(await c.get({ uniqueIdentifier: pair.publicKeyUniqueIdentifier })).export({ format: "der", type: "spki" });
    await c.close();
  } finally {
    assert.equal(await first.stop(), 0, "the relay exits cleanly on SIGTERM");
    await first.cleanup();
  }

  const second = await startRelayProcess({ token });
  try {
    const c = await connect(second);
    const key = publicKeyOf(await c.get({ uniqueIdentifier: pair.publicKeyUniqueIdentifier }));
    assert.deepEqual(key.export({ format: "der", type: "spki" }), publicDer, "Get returns the same public key");
    assert.deepEqual(await c.activate({ uniqueIdentifier: pair.privateKeyUniqueIdentifier }), { uniqueIdentifier: pair.privateKeyUniqueIdentifier });
    const signed = await c.sign({ uniqueIdentifier: pair.privateKeyUniqueIdentifier, cryptographicParameters: ECDSA_SHA256, data: DATA });
    assert.ok(verify("sha256", DATA, key, signed.signatureData!), "a key made before the restart signs");
    // The keys the file's long-running relay made are found too.
    await c.get({ uniqueIdentifier: rsa.publicKeyUniqueIdentifier });
    await c.close();
  } finally {
    await second.cleanup();
  }
});
