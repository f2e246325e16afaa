// Every algorithm the relay makes keys for and signs with, end to end on one
// relay: RSA PKCS#1 v1.5 and PSS with SHA-256/384/512, ECDSA on P-256, P-384
// and P-521, Ed25519 (the KMIP 2.0 enumeration value, in 1.x messages).
// Each key is fetched with Get in every Key Format Type it answers, and each
// signature is verified with node:crypto against that key and with
// Signature Verify through the relay. Unsupported combinations fail with
// Invalid Field or Key Format Type Not Supported and a precise message.
import assert from "node:assert/strict";
import { constants, createHash, type KeyObject, verify } from "node:crypto";
import { after, before, describe, test } from "node:test";
import type { KmipClient } from "../../src/client/kmip-client.js";
import type { Attribute, CryptographicParameters } from "../../src/kmip/attributes.js";
import type { KeyObject as KmipKeyObject } from "../../src/kmip/objects.js";
import {
  CryptographicAlgorithm,
  DigitalSignatureAlgorithm,
  HashingAlgorithm,
  KeyFormatType,
  PaddingMethod,
  RecommendedCurve,
  ResultReason,
  ValidityIndicator,
} from "../../src/ttlv/enums.js";
import { startRelayProcess, type RunningRelay } from "../helpers/relay.js";
import { algorithm, connect, createKeyPair, DATA, length, publicKeyOf, rejectsWith } from "../helpers/relay-client.js";

let relay: RunningRelay;
/** A 1.2 client (what Cascade speaks) and a 1.4 client (Digested Data). */
let v12: KmipClient;
let v14: KmipClient;

before(async () => {
  relay = await startRelayProcess();
  v12 = await connect(relay);
  v14 = await connect(relay, { protocolVersion: { major: 1, minor: 4 } });
});
after(async () => {
  await v12?.close();
  await v14?.close();
  await relay?.cleanup();
});

type Hash = "sha256" | "sha384" | "sha512";
const HASHES: Record<Hash, { kmip: number; bytes: number }> = {
  sha256: { kmip: HashingAlgorithm.SHA256, bytes: 32 },
  sha384: { kmip: HashingAlgorithm.SHA384, bytes: 48 },
  sha512: { kmip: HashingAlgorithm.SHA512, bytes: 64 },
};
const curveParameters = (recommendedCurve: number): Attribute => ({ name: "Cryptographic Domain Parameters", value: { recommendedCurve } });

/** A signing case: the request's parameters and how node:crypto checks the result. */
interface SignCase {
  title: string;
  params?: CryptographicParameters;
  /** The hash node:crypto verifies with; null for Ed25519. */
  hash: Hash | null;
  pss?: boolean;
  /** Send the digest as 1.4 Digested Data instead of Data. */
  digested?: boolean;
}

function nodeVerifies(key: KeyObject, c: SignCase, signature: Uint8Array): boolean {
  const options = c.pss ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: HASHES[c.hash!].bytes } : key;
  return verify(c.hash, DATA, options, signature);
}

/** Signs DATA as `c` says, checks the signature with node:crypto and Signature Verify, and that a changed message fails. */
async function signAndVerify(pair: { priv: string; pub: string }, key: KeyObject, c: SignCase): Promise<void> {
  const client = c.digested ? v14 : v12;
  const input = c.digested ? { digestedData: createHash(c.hash!).update(DATA).digest() } : { data: DATA };
  const { signatureData } = await client.sign({ uniqueIdentifier: pair.priv, cryptographicParameters: c.params, ...input });
  assert.ok(signatureData !== undefined);
  assert.equal(nodeVerifies(key, c, signatureData), true, `${c.title}: node:crypto verifies the signature`);
  const verified = await client.signatureVerify({ uniqueIdentifier: pair.pub, cryptographicParameters: c.params, ...input, signatureData });
  assert.equal(verified.validityIndicator, ValidityIndicator.Valid, `${c.title}: Signature Verify says Valid`);
  const tampered = await v12.signatureVerify({
    uniqueIdentifier: pair.pub,
    cryptographicParameters: c.params,
    data: Buffer.concat([DATA, Buffer.from("!")]),
    signatureData,
  });
  assert.equal(tampered.validityIndicator, ValidityIndicator.Invalid, `${c.title}: another message is Invalid`);
}

/** Get in `format` (default when undefined): the answered format and the node:crypto key. */
async function getKey(id: string, format: number | undefined, raw: "spki" | "ed25519" = "spki") {
  const got = await v12.get({ uniqueIdentifier: id, ...(format === undefined ? {} : { keyFormatType: format }) });
  const { keyBlock } = got.object as KmipKeyObject;
  return { format: keyBlock.keyFormatType, algorithm: keyBlock.cryptographicAlgorithm, length: keyBlock.cryptographicLength, key: publicKeyOf(got, raw) };
}

describe("RSA-2048", () => {
  let pair: { priv: string; pub: string };
  let key: KeyObject;
  before(async () => {
    const created = await createKeyPair(v12, [algorithm(CryptographicAlgorithm.RSA), length(2048)]);
    pair = { priv: created.privateKeyUniqueIdentifier, pub: created.publicKeyUniqueIdentifier };
  });

  test("Get answers PKCS#1 by default, and PKCS#1, X.509 and Transparent RSA Public Key on request; the same key each time", async () => {
    const byDefault = await getKey(pair.pub, undefined);
    assert.deepEqual([byDefault.format, byDefault.algorithm, byDefault.length], [KeyFormatType.PKCS1, CryptographicAlgorithm.RSA, 2048]);
    key = byDefault.key;
    const spki = key.export({ type: "spki", format: "der" });
    for (const format of [KeyFormatType.PKCS1, KeyFormatType.X509, KeyFormatType.TransparentRSAPublicKey]) {
      const got = await getKey(pair.pub, format);
      assert.equal(got.format, format);
      assert.deepEqual(got.key.export({ type: "spki", format: "der" }), spki, `format ${format} holds the same key`);
    }
    for (const format of [KeyFormatType.Raw, KeyFormatType.PKCS8, KeyFormatType.TransparentECPublicKey]) {
      await rejectsWith(v12.get({ uniqueIdentifier: pair.pub, keyFormatType: format }), ResultReason.KeyFormatTypeNotSupported, /RSA: PKCS#1, X\.509/);
    }
  });

  const cases: SignCase[] = [
    { title: "no Cryptographic Parameters (PKCS#1 v1.5, SHA-256)", hash: "sha256" },
    ...(["sha256", "sha384", "sha512"] as const).flatMap((hash): SignCase[] => [
      {
        title: `PKCS#1 v1.5 ${hash}`,
        params: { cryptographicAlgorithm: CryptographicAlgorithm.RSA, paddingMethod: PaddingMethod.Pkcs1v15, hashingAlgorithm: HASHES[hash].kmip },
        hash,
      },
      {
        title: `PSS ${hash}`,
        params: { cryptographicAlgorithm: CryptographicAlgorithm.RSA, paddingMethod: PaddingMethod.PSS, hashingAlgorithm: HASHES[hash].kmip },
        hash,
        pss: true,
      },
    ]),
    { title: "Digital Signature Algorithm SHA384WithRSAEncryption", params: { digitalSignatureAlgorithm: DigitalSignatureAlgorithm.SHA384WithRSAEncryption }, hash: "sha384" },
    {
      title: "Digital Signature Algorithm RSASSA-PSS with SHA-512",
      params: { digitalSignatureAlgorithm: DigitalSignatureAlgorithm.RsassaPSS, hashingAlgorithm: HashingAlgorithm.SHA512 },
      hash: "sha512",
      pss: true,
    },
    { title: "Digested Data, PKCS#1 v1.5 SHA-384", params: { paddingMethod: PaddingMethod.Pkcs1v15, hashingAlgorithm: HashingAlgorithm.SHA384 }, hash: "sha384", digested: true },
    {
      title: "Digested Data, PSS SHA-256",
      params: { cryptographicAlgorithm: CryptographicAlgorithm.RSA, paddingMethod: PaddingMethod.PSS, hashingAlgorithm: HashingAlgorithm.SHA256 },
      hash: "sha256",
      pss: true,
      digested: true,
    },
  ];
  for (const c of cases) test(`Sign and Signature Verify: ${c.title}`, () => signAndVerify(pair, key, c));

  test("unsupported parameters are Invalid Field with a precise message", async () => {
    const sign = (params: CryptographicParameters, extra: { digestedData?: Buffer } = {}) =>
      (extra.digestedData ? v14 : v12).sign({ uniqueIdentifier: pair.priv, cryptographicParameters: params, ...(extra.digestedData ? extra : { data: DATA }) });
    await rejectsWith(sign({ hashingAlgorithm: HashingAlgorithm.MD5 }), ResultReason.InvalidField, /Hashing Algorithm 3 .*SHA-1, SHA-256, SHA-384 or SHA-512/);
    await rejectsWith(sign({ paddingMethod: PaddingMethod.OAEP }), ResultReason.InvalidField, /Padding Method 2 .*PKCS1 v1\.5 or PSS/);
    await rejectsWith(sign({ cryptographicAlgorithm: CryptographicAlgorithm.ECDSA }), ResultReason.InvalidField, /ECDSA signature .* RSA key/);
    await rejectsWith(sign({ digitalSignatureAlgorithm: DigitalSignatureAlgorithm.MD5WithRSAEncryption }), ResultReason.InvalidField, /Digital Signature Algorithm 2/);
    await rejectsWith(
      sign({ digitalSignatureAlgorithm: DigitalSignatureAlgorithm.SHA256WithRSAEncryption, hashingAlgorithm: HashingAlgorithm.SHA512 }),
      ResultReason.InvalidField,
      /contradicts/,
    );
    await rejectsWith(sign({ hashingAlgorithm: HashingAlgorithm.SHA256 }, { digestedData: Buffer.alloc(20) }), ResultReason.InvalidField, /20 bytes; a SHA256 digest is 32/);
    await rejectsWith(
      v12.sign({ uniqueIdentifier: pair.priv, digestedData: Buffer.alloc(32) }),
      ResultReason.InvalidField,
      /Digested Data is a KMIP 1\.4 field; this request is KMIP 1\.2/,
    );
    await rejectsWith(v12.sign({ uniqueIdentifier: pair.priv }), ResultReason.InvalidField, /neither Data nor Digested Data/);
    await rejectsWith(v12.sign({ uniqueIdentifier: pair.pub, data: DATA }), ResultReason.PermissionDenied, /public key/);
  });
});

const EC_CURVES = [
  { name: "P-256", bits: 256, curve: RecommendedCurve.P256, hash: "sha256" },
  { name: "P-384", bits: 384, curve: RecommendedCurve.P384, hash: "sha384" },
  { name: "P-521", bits: 521, curve: RecommendedCurve.P521, hash: "sha512" },
] as const;

for (const ec of EC_CURVES) {
  describe(`ECDSA ${ec.name}`, () => {
    let pair: { priv: string; pub: string };
    let key: KeyObject;
    before(async () => {
      // P-256 by length and the ECDSA algorithm (Cascade), P-384 by Recommended Curve, P-521 with the EC algorithm and both.
      const common =
        ec.bits === 256
          ? [algorithm(CryptographicAlgorithm.ECDSA), length(256)]
          : ec.bits === 384
            ? [algorithm(CryptographicAlgorithm.ECDSA), curveParameters(ec.curve)]
            : [algorithm(CryptographicAlgorithm.EC), length(521), curveParameters(ec.curve)];
      const created = await createKeyPair(v12, common);
      pair = { priv: created.privateKeyUniqueIdentifier, pub: created.publicKeyUniqueIdentifier };
    });

    test("Get answers Raw SubjectPublicKeyInfo by default, and X.509 and Transparent EC Public Key on request", async () => {
      const byDefault = await getKey(pair.pub, undefined);
      assert.deepEqual([byDefault.format, byDefault.algorithm, byDefault.length], [KeyFormatType.Raw, CryptographicAlgorithm.ECDSA, ec.bits]);
      key = byDefault.key;
      assert.equal(key.asymmetricKeyDetails?.namedCurve, { 256: "prime256v1", 384: "secp384r1", 521: "secp521r1" }[ec.bits]);
      const spki = key.export({ type: "spki", format: "der" });
      for (const format of [KeyFormatType.X509, KeyFormatType.TransparentECPublicKey, KeyFormatType.TransparentECDSAPublicKey]) {
        const got = await getKey(pair.pub, format);
        assert.equal(got.format, format);
        assert.deepEqual(got.key.export({ type: "spki", format: "der" }), spki, `format ${format} holds the same key`);
      }
      await rejectsWith(v12.get({ uniqueIdentifier: pair.pub, keyFormatType: KeyFormatType.PKCS1 }), ResultReason.KeyFormatTypeNotSupported);
    });

    const cases: SignCase[] = [
      { title: `no Cryptographic Parameters (the curve's own hash, ${ec.hash})`, hash: ec.hash },
      ...(["sha256", "sha384", "sha512"] as const).map(
        (hash): SignCase => ({ title: `ECDSA ${hash}`, params: { cryptographicAlgorithm: CryptographicAlgorithm.ECDSA, hashingAlgorithm: HASHES[hash].kmip }, hash }),
      ),
      {
        title: "Digital Signature Algorithm ECDSAWithSHA384",
        params: { digitalSignatureAlgorithm: DigitalSignatureAlgorithm.ECDSAWithSHA384 },
        hash: "sha384",
      },
      { title: `Digested Data ${ec.hash}`, params: { cryptographicAlgorithm: CryptographicAlgorithm.EC, hashingAlgorithm: HASHES[ec.hash].kmip }, hash: ec.hash, digested: true },
    ];
    for (const c of cases) test(`Sign and Signature Verify: ${c.title}`, () => signAndVerify(pair, key, c));

    test("an RSA or Ed25519 signature on an EC key is Invalid Field; a malformed DER signature verifies as Invalid", async () => {
      const sign = (params: CryptographicParameters) => v12.sign({ uniqueIdentifier: pair.priv, cryptographicParameters: params, data: DATA });
      await rejectsWith(sign({ paddingMethod: PaddingMethod.PSS, cryptographicAlgorithm: CryptographicAlgorithm.RSA }), ResultReason.InvalidField, /RSA-PSS signature .* EC key/);
      await rejectsWith(sign({ cryptographicAlgorithm: CryptographicAlgorithm.Ed25519 }), ResultReason.InvalidField, /Ed25519 signature .* EC key/);
      const malformed = await v12.signatureVerify({ uniqueIdentifier: pair.pub, data: DATA, signatureData: Buffer.from("3006020101020102ff", "hex") });
      assert.equal(malformed.validityIndicator, ValidityIndicator.Invalid);
    });
  });
}

describe("Ed25519 (Cryptographic Algorithm 0x37 of KMIP 2.0, accepted in 1.x messages)", () => {
  let pair: { priv: string; pub: string };
  let key: KeyObject;
  before(async () => {
    const created = await createKeyPair(v12, [algorithm(CryptographicAlgorithm.Ed25519)]);
    pair = { priv: created.privateKeyUniqueIdentifier, pub: created.publicKeyUniqueIdentifier };
  });

  test("Get answers Raw (the 32-byte key) by default and X.509 on request", async () => {
    const got = await v12.get({ uniqueIdentifier: pair.pub });
    const { keyBlock } = got.object as KmipKeyObject;
    assert.deepEqual([keyBlock.keyFormatType, keyBlock.cryptographicAlgorithm, keyBlock.cryptographicLength], [KeyFormatType.Raw, CryptographicAlgorithm.Ed25519, 255]);
    const material = (keyBlock.keyValue as { keyMaterial: Uint8Array }).keyMaterial;
    assert.equal(material.length, 32);
    key = publicKeyOf(got, "ed25519");
    const x509 = await getKey(pair.pub, KeyFormatType.X509);
    assert.deepEqual(x509.key.export({ type: "spki", format: "der" }), key.export({ type: "spki", format: "der" }));
    await rejectsWith(v12.get({ uniqueIdentifier: pair.pub, keyFormatType: KeyFormatType.TransparentECPublicKey }), ResultReason.KeyFormatTypeNotSupported, /Ed25519: Raw, X\.509/);
  });

  for (const c of [
    { title: "no Cryptographic Parameters", hash: null },
    { title: "Cryptographic Algorithm Ed25519", params: { cryptographicAlgorithm: CryptographicAlgorithm.Ed25519 }, hash: null },
  ] satisfies SignCase[]) {
    test(`Sign and Signature Verify: ${c.title}`, () => signAndVerify(pair, key, c));
  }

  test("a Hashing Algorithm or Digested Data is Invalid Field: Ed25519 signs the message itself", async () => {
    await rejectsWith(
      v12.sign({ uniqueIdentifier: pair.priv, cryptographicParameters: { hashingAlgorithm: HashingAlgorithm.SHA512 }, data: DATA }),
      ResultReason.InvalidField,
      /must not name a Hashing Algorithm/,
    );
    await rejectsWith(v14.sign({ uniqueIdentifier: pair.priv, digestedData: Buffer.alloc(64) }), ResultReason.InvalidField, /send Data, not Digested Data/);
  });
});

test("Create Key Pair refuses what it cannot make, with Invalid Field or Missing Data and a precise message", async () => {
  const fails = (common: Attribute[], reason: number, message: RegExp) => rejectsWith(createKeyPair(v12, common), reason, message);
  await fails([algorithm(CryptographicAlgorithm.RSA), length(1000)], ResultReason.InvalidField, /RSA Cryptographic Length 1000 is not supported/);
  await fails([algorithm(CryptographicAlgorithm.RSA)], ResultReason.MissingData, /needs a Cryptographic Length/);
  await fails([algorithm(CryptographicAlgorithm.ECDSA), length(300)], ResultReason.InvalidField, /EC Cryptographic Length 300/);
  await fails([algorithm(CryptographicAlgorithm.ECDSA), length(256), curveParameters(RecommendedCurve.P384)], ResultReason.InvalidField, /does not match/);
  await fails([algorithm(CryptographicAlgorithm.ECDSA), curveParameters(RecommendedCurve.Brainpoolp512r1)], ResultReason.InvalidField, /Recommended Curve .* not supported/);
  await fails([algorithm(CryptographicAlgorithm.DSA), length(2048)], ResultReason.InvalidField, /cannot make a key pair here/);
  await fails([algorithm(CryptographicAlgorithm.Ed25519), length(448)], ResultReason.InvalidField, /Ed25519 Cryptographic Length 448/);
  await fails([], ResultReason.MissingData, /needs a Cryptographic Algorithm/);
});
