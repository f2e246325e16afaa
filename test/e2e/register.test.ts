// Register end to end on SoftHSM: RSA and EC key pairs brought in every Key
// Format Type the relay accepts, the private key signing through the relay
// and the signature checked by node:crypto with the original public key,
// the public key verifying through the relay; the two halves pair by
// CKA_ID; the private key stays sensitive (Get refuses its material); bad
// material is refused with its reason.
import assert from "node:assert/strict";
import { generateKeyPairSync, type KeyObject, verify } from "node:crypto";
import { describe, test } from "node:test";
import type { KeyBlock } from "../../src/kmip/objects.js";
import * as ttlv from "../../src/ttlv/build.js";
import {
  CryptographicAlgorithm,
  CryptographicUsageMask,
  HashingAlgorithm,
  KeyFormatType,
  ObjectType,
  PaddingMethod,
  RecommendedCurve,
  ResultReason,
  ValidityIndicator,
} from "../../src/ttlv/enums.js";
import { Tag } from "../../src/ttlv/tags.js";
import { DATA, rejectsWith, relayAndClient } from "../helpers/relay-client.js";
import { ecdsaDerToRaw } from "../../src/operations/signing.js";

const shared = relayAndClient(4);

const big = (b64url: string | undefined) => BigInt(`0x${Buffer.from(b64url!, "base64url").toString("hex")}`);
const usage = (value: number) => ({ name: "Cryptographic Usage Mask", value }) as const;
const keyBlock = (keyFormatType: number, keyMaterial: NonNullable<Exclude<KeyBlock["keyValue"], Uint8Array>>["keyMaterial"]): KeyBlock => ({
  keyFormatType,
  keyValue: { keyMaterial, attributes: [] },
});

function privateBlock(key: KeyObject, format: number): KeyBlock {
  const j = key.export({ format: "jwk" });
  switch (format) {
    case KeyFormatType.TransparentRSAPrivateKey:
      return keyBlock(
        format,
        ttlv.structure(Tag.KeyMaterial, [
          ttlv.bigInteger(Tag.Modulus, big(j.n)),
          ttlv.bigInteger(Tag.PrivateExponent, big(j.d)),
          ttlv.bigInteger(Tag.PublicExponent, big(j.e)),
          ttlv.bigInteger(Tag.P, big(j.p)),
          ttlv.bigInteger(Tag.Q, big(j.q)),
          ttlv.bigInteger(Tag.PrimeExponentP, big(j.dp)),
          ttlv.bigInteger(Tag.PrimeExponentQ, big(j.dq)),
          ttlv.bigInteger(Tag.CrtCoefficient, big(j.qi)),
        ]),
      );
    case KeyFormatType.TransparentECPrivateKey:
      return keyBlock(format, ttlv.structure(Tag.KeyMaterial, [ttlv.enumeration(Tag.RecommendedCurve, curveOf(j.crv)), ttlv.bigInteger(Tag.D, big(j.d))]));
    case KeyFormatType.PKCS1:
      return keyBlock(format, key.export({ format: "der", type: "pkcs1" }));
    case KeyFormatType.ECPrivateKey:
      return keyBlock(format, key.export({ format: "der", type: "sec1" }));
    default:
      return keyBlock(format, key.export({ format: "der", type: "pkcs8" }));
  }
}

function publicBlock(key: KeyObject, format: number): KeyBlock {
  const j = key.export({ format: "jwk" });
  switch (format) {
    case KeyFormatType.TransparentRSAPublicKey:
      return keyBlock(format, { modulus: big(j.n), publicExponent: big(j.e) });
    case KeyFormatType.TransparentECPublicKey:
      return keyBlock(format, {
        recommendedCurve: curveOf(j.crv),
        qString: Buffer.concat([Buffer.from([4]), Buffer.from(j.x!, "base64url"), Buffer.from(j.y!, "base64url")]),
      });
    case KeyFormatType.PKCS1:
      return keyBlock(format, key.export({ format: "der", type: "pkcs1" }));
    default:
      return keyBlock(format, key.export({ format: "der", type: "spki" }));
  }
}

function curveOf(crv: string | undefined): number {
  return { "P-256": RecommendedCurve.P256, "P-384": RecommendedCurve.P384, "P-521": RecommendedCurve.P521 }[crv!]!;
}

interface PairCase {
  title: string;
  keys: { privateKey: KeyObject; publicKey: KeyObject };
  privateFormat: number;
  publicFormat: number;
}

const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const p256 = generateKeyPairSync("ec", { namedCurve: "P-256" });
const p384 = generateKeyPairSync("ec", { namedCurve: "P-384" });
const p521 = generateKeyPairSync("ec", { namedCurve: "P-521" });

const cases: PairCase[] = [
  { title: "RSA: PKCS#1 private, PKCS#1 public", keys: rsa, privateFormat: KeyFormatType.PKCS1, publicFormat: KeyFormatType.PKCS1 },
  { title: "RSA: PKCS#8 private, X.509 public", keys: generateKeyPairSync("rsa", { modulusLength: 2048 }), privateFormat: KeyFormatType.PKCS8, publicFormat: KeyFormatType.X509 },
  {
    title: "RSA: Transparent private, Transparent public",
    keys: generateKeyPairSync("rsa", { modulusLength: 1024 }),
    privateFormat: KeyFormatType.TransparentRSAPrivateKey,
    publicFormat: KeyFormatType.TransparentRSAPublicKey,
  },
  { title: "EC P-256: PKCS#8 private, X.509 public", keys: p256, privateFormat: KeyFormatType.PKCS8, publicFormat: KeyFormatType.X509 },
  { title: "EC P-384: SEC 1 private, Transparent EC public", keys: p384, privateFormat: KeyFormatType.ECPrivateKey, publicFormat: KeyFormatType.TransparentECPublicKey },
  { title: "EC P-521: Transparent private, X.509 public", keys: p521, privateFormat: KeyFormatType.TransparentECPrivateKey, publicFormat: KeyFormatType.X509 },
];

describe("Register key pairs into SoftHSM", () => {
  for (const c of cases) {
    test(c.title, async () => {
      const isRsa = c.keys.privateKey.asymmetricKeyType === "rsa";
      const priv = await shared.client.register({
        objectType: ObjectType.PrivateKey,
        templateAttribute: { names: [], attributes: [usage(CryptographicUsageMask.Sign), { name: "Name", value: { nameValue: c.title, nameType: 1 } }] },
        object: { keyBlock: privateBlock(c.keys.privateKey, c.privateFormat) },
      });
      const pub = await shared.client.register({
        objectType: ObjectType.PublicKey,
        templateAttribute: { names: [], attributes: [usage(CryptographicUsageMask.Verify)] },
        object: { keyBlock: publicBlock(c.keys.publicKey, c.publicFormat) },
      });
      assert.match(priv.uniqueIdentifier, /^[0-9A-F]+_priv$/);
      assert.equal(pub.uniqueIdentifier, priv.uniqueIdentifier.replace(/_priv$/, "_pub"), "the two halves share a CKA_ID");

      // Pre-Active until activated (KMIP 1.x 3.22): the token refuses it a signature.
      await rejectsWith(shared.client.sign({ uniqueIdentifier: priv.uniqueIdentifier, data: DATA }), ResultReason.PermissionDenied);
      await shared.client.activate({ uniqueIdentifier: priv.uniqueIdentifier });
      const { signatureData } = await shared.client.sign({ uniqueIdentifier: priv.uniqueIdentifier, data: DATA });
      const hash = isRsa ? "sha256" : { 256: "sha256", 384: "sha384", 521: "sha512" }[c.keys.publicKey.asymmetricKeyDetails!.namedCurve === "prime256v1" ? 256 : c.keys.publicKey.asymmetricKeyDetails!.namedCurve === "secp384r1" ? 384 : 521]!;
      assert.ok(verify(hash, DATA, c.keys.publicKey, signatureData!), "node:crypto verifies the token's signature with the original public key");
      const verified = await shared.client.signatureVerify({ uniqueIdentifier: pub.uniqueIdentifier, data: DATA, signatureData: signatureData! });
      assert.equal(verified.validityIndicator, ValidityIndicator.Valid);

      // Sensitive and not extractable: the private key's material never leaves the token.
      await rejectsWith(shared.client.get({ uniqueIdentifier: priv.uniqueIdentifier }), ResultReason.PermissionDenied);
      // A public key the relay made itself answers Get, as any.
      await shared.client.get({ uniqueIdentifier: pub.uniqueIdentifier });
    });
  }

  test("Cryptographic Parameters kept with the key: Sign without them is RSA-PSS SHA-256; SHA-1 verifies", async () => {
    const keys = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const params = { paddingMethod: PaddingMethod.PSS, hashingAlgorithm: HashingAlgorithm.SHA256, cryptographicAlgorithm: CryptographicAlgorithm.RSA };
    const priv = await shared.client.register({
      objectType: ObjectType.PrivateKey,
      templateAttribute: { names: [], attributes: [usage(CryptographicUsageMask.Sign), { name: "Cryptographic Parameters", value: params }] },
      object: { keyBlock: privateBlock(keys.privateKey, KeyFormatType.PKCS8) },
    });
    await shared.client.activate({ uniqueIdentifier: priv.uniqueIdentifier });
    const { signatureData } = await shared.client.sign({ uniqueIdentifier: priv.uniqueIdentifier, data: DATA });
    assert.ok(verify("sha256", DATA, { key: keys.publicKey, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: 32 }, signatureData!));
    // The token keeps the key to PSS (CKA_ALLOWED_MECHANISMS).
    await rejectsWith(shared.client.sign({ uniqueIdentifier: priv.uniqueIdentifier, data: DATA, cryptographicParameters: { paddingMethod: PaddingMethod.Pkcs1v15, cryptographicAlgorithm: CryptographicAlgorithm.RSA } }), ResultReason.CryptographicFailure);

    const pub = await shared.client.register({
      objectType: ObjectType.PublicKey,
      templateAttribute: { names: [], attributes: [usage(CryptographicUsageMask.Verify)] },
      object: { keyBlock: publicBlock(keys.publicKey, KeyFormatType.X509) },
    });
    const sha1 = await shared.client.signatureVerify({
      uniqueIdentifier: pub.uniqueIdentifier,
      cryptographicParameters: { cryptographicAlgorithm: CryptographicAlgorithm.RSA, hashingAlgorithm: HashingAlgorithm.SHA1 },
      data: DATA,
      signatureData: (await import("node:crypto")).sign("sha1", DATA, keys.privateKey),
    });
    assert.equal(sha1.validityIndicator, ValidityIndicator.Valid);
  });

  test("ECDSA with SHA-1, as the OASIS cases ask, through the relay", async () => {
    // An Activation Date in the past: Active at once.
    const activation = { name: "Activation Date", value: BigInt(Math.floor(Date.now() / 1000) - 60) } as const;
    const priv = await shared.client.register({ objectType: ObjectType.PrivateKey, templateAttribute: { names: [], attributes: [activation] }, object: { keyBlock: privateBlock(p256.privateKey, KeyFormatType.PKCS8) } });
    const { signatureData } = await shared.client.sign({ uniqueIdentifier: priv.uniqueIdentifier, data: DATA, cryptographicParameters: { cryptographicAlgorithm: CryptographicAlgorithm.ECDSA, hashingAlgorithm: HashingAlgorithm.SHA1 } });
    assert.ok(verify("sha1", DATA, p256.publicKey, signatureData!));
    assert.equal(ecdsaDerToRaw(signatureData!, 256).length, 64);
  });

  test("bad material is refused with its reason, and nothing is left on the token", async () => {
    const reg = (objectType: number, block: KeyBlock, attributes: { name: string; value: unknown }[] = []) =>
      shared.client.register({ objectType, templateAttribute: { names: [], attributes: attributes as never }, object: { keyBlock: block } });
    await rejectsWith(reg(ObjectType.PrivateKey, keyBlock(KeyFormatType.PKCS8, Buffer.from("not DER at all"))), ResultReason.InvalidField, /not a DER PKCS#8 PrivateKeyInfo/);
    await rejectsWith(
      reg(ObjectType.PrivateKey, privateBlock(p256.privateKey, KeyFormatType.PKCS8), [{ name: "Cryptographic Algorithm", value: CryptographicAlgorithm.RSA }]),
      ResultReason.InvalidField,
      /Cryptographic Algorithm 4 does not match the Key Material, an EC key on P-256/,
    );
    const k1 = generateKeyPairSync("ec", { namedCurve: "secp256k1" });
    await rejectsWith(reg(ObjectType.PublicKey, keyBlock(KeyFormatType.X509, k1.publicKey.export({ format: "der", type: "spki" }))), ResultReason.InvalidField, /curve secp256k1, which is not supported/);
  });
});
