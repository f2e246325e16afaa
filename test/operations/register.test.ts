// Register (and Hash) on an in-memory token (test/helpers/memory-backend.ts): each Key
// Format Type parsed into what the token imports, the template checked
// against the material, pairing by Link and by material, the usage flags,
// the Cryptographic Parameters kept as the key's signature defaults, and a
// precise refusal for bad material. Real keys on SoftHSM: test/e2e/register.test.ts.
import assert from "node:assert/strict";
import { createHash, generateKeyPairSync, type KeyObject } from "node:crypto";
import { describe, test } from "node:test";
import { CKM_ECDSA, CKM_RSA_PKCS_PSS, CKM_SHA256_RSA_PKCS_PSS } from "../../src/hsm/mechanisms.js";
import type { Attribute } from "../../src/kmip/attributes.js";
import type { KeyBlock } from "../../src/kmip/objects.js";
import { activatePayloads, hashPayloads, queryPayloads, registerPayloads, signPayloads, type RegisterRequestPayload } from "../../src/kmip/payloads/index.js";
import { parseKeyBlock } from "../../src/operations/key-material.js";
import * as ttlv from "../../src/ttlv/build.js";
import {
  CryptographicAlgorithm,
  CryptographicUsageMask,
  HashingAlgorithm,
  KeyFormatType,
  LinkType,
  ObjectType,
  Operation,
  PaddingMethod,
  QueryFunction,
  RecommendedCurve,
  ResultReason,
} from "../../src/ttlv/enums.js";
import { Tag } from "../../src/ttlv/tags.js";
import { OperationBench } from "../helpers/operation-context.js";

const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 });
const p256 = generateKeyPairSync("ec", { namedCurve: "P-256" });
const p384 = generateKeyPairSync("ec", { namedCurve: "P-384" });

const der = (key: KeyObject, type: "pkcs1" | "pkcs8" | "spki" | "sec1") =>
  key.type === "private" ? key.export({ format: "der", type: type as "pkcs1" | "pkcs8" | "sec1" }) : key.export({ format: "der", type: type as "pkcs1" | "spki" });
const big = (b64url: string | undefined) => BigInt(`0x${Buffer.from(b64url!, "base64url").toString("hex")}`);

function block(keyFormatType: number, keyMaterial: KeyBlock["keyValue"] extends infer V ? (V extends { keyMaterial: infer M } ? M : never) : never, extra: Partial<KeyBlock> = {}): KeyBlock {
  return { keyFormatType, keyValue: { keyMaterial, attributes: [] }, ...extra };
}

function transparentRsaPrivate(key: KeyObject) {
  const j = key.export({ format: "jwk" });
  return ttlv.structure(Tag.KeyMaterial, [
    ttlv.bigInteger(Tag.Modulus, big(j.n)),
    ttlv.bigInteger(Tag.PrivateExponent, big(j.d)),
    ttlv.bigInteger(Tag.PublicExponent, big(j.e)),
    ttlv.bigInteger(Tag.P, big(j.p)),
    ttlv.bigInteger(Tag.Q, big(j.q)),
    ttlv.bigInteger(Tag.PrimeExponentP, big(j.dp)),
    ttlv.bigInteger(Tag.PrimeExponentQ, big(j.dq)),
    ttlv.bigInteger(Tag.CrtCoefficient, big(j.qi)),
  ]);
}

function pointOf(key: KeyObject): Buffer {
  const j = key.export({ format: "jwk" });
  return Buffer.concat([Buffer.from([4]), Buffer.from(j.x!, "base64url"), Buffer.from(j.y!, "base64url")]);
}

describe("key material", () => {
  const rsaModulus = Buffer.from(rsa.publicKey.export({ format: "jwk" }).n!, "base64url");
  const cases: [string, KeyBlock, "public" | "private", string, number][] = [
    ["PKCS#1 RSA private key", block(KeyFormatType.PKCS1, der(rsa.privateKey, "pkcs1")), "private", "RSA", 1024],
    ["PKCS#8 RSA private key", block(KeyFormatType.PKCS8, der(rsa.privateKey, "pkcs8")), "private", "RSA", 1024],
    ["PKCS#8 EC private key", block(KeyFormatType.PKCS8, der(p256.privateKey, "pkcs8")), "private", "EC", 256],
    ["SEC 1 EC private key", block(KeyFormatType.ECPrivateKey, der(p384.privateKey, "sec1")), "private", "EC", 384],
    ["Transparent RSA private key", block(KeyFormatType.TransparentRSAPrivateKey, transparentRsaPrivate(rsa.privateKey)), "private", "RSA", 1024],
    [
      "Transparent EC private key",
      block(
        KeyFormatType.TransparentECPrivateKey,
        ttlv.structure(Tag.KeyMaterial, [ttlv.enumeration(Tag.RecommendedCurve, RecommendedCurve.P256), ttlv.bigInteger(Tag.D, big(p256.privateKey.export({ format: "jwk" }).d))]),
      ),
      "private",
      "EC",
      256,
    ],
    ["PKCS#1 RSA public key", block(KeyFormatType.PKCS1, der(rsa.publicKey, "pkcs1")), "public", "RSA", 1024],
    ["X.509 RSA public key", block(KeyFormatType.X509, der(rsa.publicKey, "spki")), "public", "RSA", 1024],
    ["X.509 EC public key", block(KeyFormatType.X509, der(p256.publicKey, "spki")), "public", "EC", 256],
    ["Transparent RSA public key", block(KeyFormatType.TransparentRSAPublicKey, { modulus: big(rsa.publicKey.export({ format: "jwk" }).n), publicExponent: 65537n }), "public", "RSA", 1024],
    ["Transparent ECDSA public key", block(KeyFormatType.TransparentECDSAPublicKey, { recommendedCurve: RecommendedCurve.P384, qString: pointOf(p384.publicKey) }), "public", "EC", 384],
    [
      "Transparent EC public key, compressed point",
      block(KeyFormatType.TransparentECPublicKey, {
        recommendedCurve: RecommendedCurve.P256,
        qString: compress(pointOf(p256.publicKey)),
      }),
      "public",
      "EC",
      256,
    ],
  ];
  for (const [title, keyBlock, objectClass, keyType, bits] of cases) {
    test(title, () => {
      const parsed = parseKeyBlock(keyBlock, objectClass);
      assert.equal(parsed.material.keyType, keyType);
      assert.equal(parsed.material.objectClass, objectClass);
      assert.equal(parsed.bits, bits);
      if (parsed.material.keyType === "RSA") assert.deepEqual(Buffer.from(parsed.material.modulus), rsaModulus);
      if (parsed.material.keyType === "EC") {
        const expected = bits === 256 ? p256 : p384;
        assert.deepEqual(Buffer.from(parsed.material.ecPoint), pointOf(expected.publicKey));
        if (parsed.material.objectClass === "private") assert.equal(parsed.material.value.length, bits / 8);
      }
    });
  }

  test("bad material is Invalid Field with the reason", () => {
    const fails = (keyBlock: KeyBlock, objectClass: "public" | "private", reason: number, message: RegExp) =>
      assert.throws(
        () => parseKeyBlock(keyBlock, objectClass),
        (error: { reason?: number; message: string }) => {
          assert.equal(error.reason, reason, error.message);
          assert.match(error.message, message);
          return true;
        },
      );
    fails(block(KeyFormatType.PKCS1, Buffer.from("3003020101", "hex")), "private", ResultReason.InvalidField, /not a DER PKCS#1 RSAPrivateKey/);
    fails(block(KeyFormatType.X509, Buffer.from("garbage")), "public", ResultReason.InvalidField, /not a DER X\.509 SubjectPublicKeyInfo/);
    const k1 = generateKeyPairSync("ec", { namedCurve: "secp256k1" });
    fails(block(KeyFormatType.PKCS8, der(k1.privateKey, "pkcs8")), "private", ResultReason.InvalidField, /curve secp256k1, which is not supported/);
    const ed = generateKeyPairSync("ed25519");
    fails(block(KeyFormatType.X509, der(ed.publicKey, "spki")), "public", ResultReason.InvalidField, /holds a ed25519 key; only RSA and EC/);
    fails(block(KeyFormatType.X509, der(rsa.publicKey, "spki")), "private", ResultReason.KeyFormatTypeNotSupported, /X509 is not accepted for a private key/);
    fails({ keyFormatType: KeyFormatType.PKCS1, keyValue: Buffer.from("00", "hex") }, "private", ResultReason.InvalidField, /wrapped key material/);
    fails(
      block(KeyFormatType.TransparentECPublicKey, { recommendedCurve: RecommendedCurve.P256, qString: Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 1)]) }),
      "public",
      ResultReason.InvalidField,
      /not a point on P-256/,
    );
    // Components off by two: OpenSSL parses them, the key does not sign right
    // (a wrong CRT result alone is redone with the private exponent, so both are changed).
    const broken = transparentRsaPrivate(rsa.privateKey);
    for (const tag of [Tag.CrtCoefficient, Tag.PrivateExponent]) (broken.value.find((item) => item.tag === tag) as { value: bigint }).value += 2n;
    fails(block(KeyFormatType.TransparentRSAPrivateKey, broken), "private", ResultReason.InvalidField, /inconsistent/);
  });
});

/** SEC 1 2.3.3 compressed form of an uncompressed point. */
function compress(point: Buffer): Buffer {
  const size = (point.length - 1) / 2;
  const y = point.subarray(1 + size);
  return Buffer.concat([Buffer.from([(y[y.length - 1]! & 1) === 0 ? 2 : 3]), point.subarray(1, 1 + size)]);
}

const usage = (value: number): Attribute => ({ name: "Cryptographic Usage Mask", value });

function registerRequest(objectType: number, keyBlock: KeyBlock, attributes: Attribute[] = []): RegisterRequestPayload {
  return { objectType, templateAttribute: { names: [], attributes }, object: { keyBlock } };
}

describe("Register", () => {
  test("a private key and then its public key share a CKA_ID; usage flags exactly as the masks grant; the ID Placeholder is set", async () => {
    const bench = new OperationBench();
    const context = bench.context();
    const priv = await bench.run(
      Operation.Register,
      registerPayloads,
      registerRequest(ObjectType.PrivateKey, block(KeyFormatType.PKCS8, der(p256.privateKey, "pkcs8")), [
        usage(CryptographicUsageMask.Sign | CryptographicUsageMask.Export),
        { name: "Name", value: { nameValue: "zone-ksk", nameType: 1 } },
      ]),
      context,
    );
    assert.match(priv.uniqueIdentifier, /^[0-9A-F]{40}_priv$/);
    assert.equal(context.idPlaceholder, priv.uniqueIdentifier);
    const pub = await bench.run(Operation.Register, registerPayloads, registerRequest(ObjectType.PublicKey, block(KeyFormatType.X509, der(p256.publicKey, "spki")), [usage(CryptographicUsageMask.Verify)]));
    assert.equal(pub.uniqueIdentifier, priv.uniqueIdentifier.replace(/_priv$/, "_pub"));
    const privateObject = bench.backend.object(priv.uniqueIdentifier)!;
    assert.equal(privateObject.label, "zone-ksk");
    // Pre-Active (KMIP 1.x 3.22): CKA_SIGN false until Activate.
    assert.deepEqual(privateObject.usage, { sign: false, verify: false, encrypt: false, decrypt: false, wrap: false, unwrap: false, derive: false });
    await bench.run(Operation.Activate, activatePayloads, { uniqueIdentifier: priv.uniqueIdentifier });
    assert.equal(bench.backend.object(priv.uniqueIdentifier)!.usage.sign, true);
    assert.deepEqual(bench.backend.object(pub.uniqueIdentifier)!.usage, { sign: false, verify: true, encrypt: false, decrypt: false, wrap: false, unwrap: false, derive: false });
    // A second copy of the same public key has no private key left to join.
    const again = await bench.run(Operation.Register, registerPayloads, registerRequest(ObjectType.PublicKey, block(KeyFormatType.X509, der(p256.publicKey, "spki"))));
    assert.notEqual(again.uniqueIdentifier, pub.uniqueIdentifier);
  });

  test("a Link names the other half; a Link to another key is refused", async () => {
    const bench = new OperationBench();
    const pub = await bench.run(Operation.Register, registerPayloads, registerRequest(ObjectType.PublicKey, block(KeyFormatType.PKCS1, der(rsa.publicKey, "pkcs1"))));
    const link = (id: string): Attribute => ({ name: "Link", value: { linkType: LinkType.PublicKeyLink, linkedObjectIdentifier: id } });
    const other = generateKeyPairSync("rsa", { modulusLength: 1024 });
    await bench.fails(
      Operation.Register,
      registerPayloads,
      registerRequest(ObjectType.PrivateKey, block(KeyFormatType.PKCS1, der(other.privateKey, "pkcs1")), [link(pub.uniqueIdentifier)]),
      ResultReason.InvalidField,
      /not the other half/,
    );
    const priv = await bench.run(Operation.Register, registerPayloads, registerRequest(ObjectType.PrivateKey, block(KeyFormatType.PKCS1, der(rsa.privateKey, "pkcs1")), [link(pub.uniqueIdentifier)]));
    assert.equal(priv.uniqueIdentifier, pub.uniqueIdentifier.replace(/_pub$/, "_priv"));
  });

  test("the template must describe the material", async () => {
    const bench = new OperationBench();
    const request = (attributes: Attribute[]) => registerRequest(ObjectType.PrivateKey, block(KeyFormatType.PKCS8, der(p256.privateKey, "pkcs8")), attributes);
    await bench.fails(Operation.Register, registerPayloads, request([{ name: "Cryptographic Algorithm", value: CryptographicAlgorithm.RSA }]), ResultReason.InvalidField, /Cryptographic Algorithm 4 does not match the Key Material, an EC key on P-256/);
    await bench.fails(Operation.Register, registerPayloads, request([{ name: "Cryptographic Length", value: 384 }]), ResultReason.InvalidField, /Cryptographic Length 384 does not match/);
    await bench.fails(
      Operation.Register,
      registerPayloads,
      request([{ name: "Cryptographic Domain Parameters", value: { recommendedCurve: RecommendedCurve.P384 } }]),
      ResultReason.InvalidField,
      /Recommended Curve .* does not match/,
    );
    await bench.fails(
      Operation.Register,
      registerPayloads,
      request([{ name: "Cryptographic Parameters", value: { paddingMethod: PaddingMethod.PSS, cryptographicAlgorithm: CryptographicAlgorithm.RSA } }]),
      ResultReason.InvalidField,
      /name a RSA-PSS signature, but the Key Material is an EC key/,
    );
    assert.equal(bench.backend.calls.filter((c) => c.fn === "importKey").length, 0, "nothing reached the token");
  });

  test("Cryptographic Parameters become the key's signature defaults: a Sign without them signs RSA-PSS with SHA-256", async () => {
    const bench = new OperationBench();
    const { uniqueIdentifier } = await bench.run(
      Operation.Register,
      registerPayloads,
      registerRequest(ObjectType.PrivateKey, block(KeyFormatType.PKCS1, der(rsa.privateKey, "pkcs1")), [
        usage(CryptographicUsageMask.Sign),
        { name: "Cryptographic Parameters", value: { paddingMethod: PaddingMethod.PSS, hashingAlgorithm: HashingAlgorithm.SHA256, cryptographicAlgorithm: CryptographicAlgorithm.RSA } },
      ]),
    );
    assert.deepEqual(bench.backend.object(uniqueIdentifier)!.allowedMechanisms, [CKM_RSA_PKCS_PSS, CKM_SHA256_RSA_PKCS_PSS]);
    await bench.run(Operation.Activate, activatePayloads, { uniqueIdentifier });
    await bench.run(Operation.Sign, signPayloads, { uniqueIdentifier, data: Buffer.from("data") });
    const call = bench.backend.calls.find((c) => c.fn === "sign")!;
    assert.equal(call.mechanism!.mechanism, CKM_RSA_PKCS_PSS);
    assert.equal(call.mechanism!.pss!.saltLength, 32);
  });

  test("a key registered without Cryptographic Parameters signs with the relay's defaults", async () => {
    const bench = new OperationBench();
    const { uniqueIdentifier } = await bench.run(Operation.Register, registerPayloads, registerRequest(ObjectType.PrivateKey, block(KeyFormatType.ECPrivateKey, der(p256.privateKey, "sec1"))));
    assert.equal(bench.backend.object(uniqueIdentifier)!.allowedMechanisms, undefined);
    await bench.run(Operation.Activate, activatePayloads, { uniqueIdentifier });
    await bench.run(Operation.Sign, signPayloads, { uniqueIdentifier, data: Buffer.from("data") });
    assert.equal(bench.backend.calls.find((c) => c.fn === "sign")!.mechanism!.mechanism, CKM_ECDSA);
  });

  test("object types the relay does not register say why; Secret Data and an Opaque Object without their fields are Missing Data", async () => {
    const bench = new OperationBench();
    const raw = (objectType: number, tag: number, reason: number, message: RegExp) =>
      bench.fails(
        Operation.Register,
        { ...registerPayloads, encodeRequest: () => ttlv.structure(Tag.RequestPayload, [ttlv.enumeration(Tag.ObjectType, objectType), ttlv.structure(tag, [])]) },
        undefined as never,
        reason,
        message,
      );
    await raw(ObjectType.OpaqueData, Tag.OpaqueObject, ResultReason.MissingData, /missing Opaque Data Type/);
    await raw(ObjectType.SecretData, Tag.SecretData, ResultReason.MissingData, /missing Secret Data Type/);
    await raw(ObjectType.Certificate, Tag.Certificate, ResultReason.InvalidField, /Register of Certificates is not supported: a PKCS#11 token is not a certificate store/);
    // Symmetric Keys, Secret Data and Opaque Objects are registered: test/e2e/symmetric-lifecycle.test.ts.
  });
});

describe("Query", () => {
  test("lists Register, and answers Server Information (1.1+) with the product, module and token", async () => {
    const bench = new OperationBench();
    const answer = await bench.run(Operation.Query, queryPayloads, { queryFunctions: [QueryFunction.QueryOperations, QueryFunction.QueryServerInformation] });
    assert.ok(answer.operations.includes(Operation.Register));
    const texts = answer.serverInformation!.value.map((item) => item.value);
    assert.deepEqual(texts, ["kmip2pkcs11", "9.9.9", "test", "in-memory token 1.0", "/usr/lib/memory/libmemory.so", "token", "0123456789abcdef", "1"]);
    const v10 = await bench.run(Operation.Query, queryPayloads, { queryFunctions: [QueryFunction.QueryServerInformation] }, bench.context({ major: 1, minor: 0 }));
    assert.equal(v10.serverInformation, undefined, "KMIP 1.0 has no Server Information");
  });
});

describe("Hash", () => {
  test("the digest of Data; an unsupported hash and streaming are refused by name", async () => {
    const bench = new OperationBench();
    const data = Buffer.from("0102030405060708", "hex");
    const { data: digest } = await bench.run(Operation.Hash, hashPayloads, { cryptographicParameters: { hashingAlgorithm: HashingAlgorithm.SHA512 }, data });
    assert.deepEqual(Buffer.from(digest!), createHash("sha512").update(data).digest());
    await bench.fails(Operation.Hash, hashPayloads, { cryptographicParameters: { hashingAlgorithm: HashingAlgorithm.MD5 }, data }, ResultReason.InvalidField, /Hashing Algorithm 3 is not supported/);
    await bench.fails(Operation.Hash, hashPayloads, { cryptographicParameters: {}, data }, ResultReason.MissingData, /Hashing Algorithm/);
    await bench.fails(Operation.Hash, hashPayloads, { cryptographicParameters: { hashingAlgorithm: HashingAlgorithm.SHA256 }, data, initIndicator: true }, ResultReason.FeatureNotSupported, /streaming Hash/);
  });
});
