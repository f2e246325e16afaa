// The pure side of signing: which scheme and PKCS#11 mechanism a request's
// Cryptographic Parameters (src/operations/signing.ts) and the key's facts
// (src/hsm/signature.ts) select, the exact bytes the mechanism signs (checked
// against what node:crypto's own RSA signatures contain), and the ECDSA DER
// <-> r||s conversions (checked against node:crypto's two encodings of the
// same signature).
import assert from "node:assert/strict";
import { constants, createHash, generateKeyPairSync, publicDecrypt, sign, verify } from "node:crypto";
import { describe, test } from "node:test";
import fc from "fast-check";
import type { KeyFacts } from "../../src/hsm/key-types.js";
import { CKM_ECDSA, CKM_EDDSA, CKM_RSA_PKCS, CKM_RSA_PKCS_PSS, CKM_SHA384, CKG_MGF1_SHA256, CKG_MGF1_SHA384 } from "../../src/hsm/mechanisms.js";
import { resolveSignature } from "../../src/hsm/signature.js";
import type { CryptographicParameters } from "../../src/kmip/attributes.js";
import { checkSigningFields, ecdsaDerToRaw, ecdsaRawToDer, signatureRequest } from "../../src/operations/signing.js";
import { describeFailure } from "../../src/server/result.js";
import {
  CryptographicAlgorithm,
  DigitalSignatureAlgorithm,
  HashingAlgorithm,
  MaskGenerator,
  PaddingMethod,
  ResultReason,
} from "../../src/ttlv/enums.js";

const RSA: KeyFacts = { objectClass: "private", keyType: "RSA", bits: 2048 };
const P256: KeyFacts = { objectClass: "private", keyType: "EC", bits: 256, curve: "P-256" };
const P384: KeyFacts = { objectClass: "private", keyType: "EC", bits: 384, curve: "P-384" };
const P521: KeyFacts = { objectClass: "private", keyType: "EC", bits: 521, curve: "P-521" };
const ED25519: KeyFacts = { objectClass: "private", keyType: "EdDSA", bits: 255, curve: "Ed25519" };
const MESSAGE = Buffer.from("example.com. 3600 IN A 192.0.2.1");

/** What a Sign request with `params` and its Data or Digested Data (default: Data MESSAGE) asks of `key`. */
function resolve(params: CryptographicParameters | undefined, key: KeyFacts, { data, digested }: { data?: Uint8Array; digested?: Uint8Array } = { data: MESSAGE }) {
  return resolveSignature(key, "AB_priv", signatureRequest(params, data, digested), "sign");
}

/** The scheme alone, without the bytes signed. */
function scheme(params: CryptographicParameters | undefined, key: KeyFacts) {
  const { family, hash, mechanism } = resolve(params, key);
  return hash === undefined ? { family, mechanism } : { family, hash, mechanism };
}

/** Throws what the client sees as `reason` with a message matching `message` (server/result.ts). */
function throwsReason(run: () => unknown, reason: number, message: RegExp): void {
  assert.throws(run, (error: unknown) => {
    const failure = describeFailure(error);
    return failure.resultReason === reason && !failure.internal && message.test(failure.resultMessage);
  });
}

describe("choosing the scheme", () => {
  test("without parameters the key decides: PKCS#1 v1.5, ECDSA with the curve's hash, EdDSA", () => {
    assert.deepEqual(scheme(undefined, RSA), { family: "RSA-PKCS1", hash: "sha256", mechanism: { mechanism: CKM_RSA_PKCS } });
    assert.equal(scheme(undefined, P256).hash, "sha256");
    assert.equal(scheme(undefined, P384).hash, "sha384");
    assert.deepEqual(scheme(undefined, P521), { family: "ECDSA", hash: "sha512", mechanism: { mechanism: CKM_ECDSA } });
    assert.deepEqual(scheme(undefined, ED25519), { family: "EdDSA", mechanism: { mechanism: CKM_EDDSA } });
  });

  test("Cascade's parameters: RSA, PKCS1 v1.5, SHA-256", () => {
    const params = { cryptographicAlgorithm: CryptographicAlgorithm.RSA, paddingMethod: PaddingMethod.Pkcs1v15, hashingAlgorithm: HashingAlgorithm.SHA256 };
    assert.deepEqual(scheme(params, RSA), { family: "RSA-PKCS1", hash: "sha256", mechanism: { mechanism: CKM_RSA_PKCS } });
  });

  test("PSS: the hash names the MGF1 hash and the salt length unless given", () => {
    const params = { paddingMethod: PaddingMethod.PSS, hashingAlgorithm: HashingAlgorithm.SHA384 };
    assert.deepEqual(scheme(params, RSA).mechanism, { mechanism: CKM_RSA_PKCS_PSS, pss: { hashAlg: CKM_SHA384, mgf: CKG_MGF1_SHA384, saltLength: 48 } });
    const explicit = { ...params, maskGenerator: MaskGenerator.MGF1, maskGeneratorHashingAlgorithm: HashingAlgorithm.SHA256, saltLength: 0 };
    assert.deepEqual(scheme(explicit, RSA).mechanism.pss, { hashAlg: CKM_SHA384, mgf: CKG_MGF1_SHA256, saltLength: 0 });
    assert.equal(scheme({ digitalSignatureAlgorithm: DigitalSignatureAlgorithm.RsassaPSS }, RSA).hash, "sha256");
  });

  test("Digital Signature Algorithm names family and hash", () => {
    assert.deepEqual(scheme({ digitalSignatureAlgorithm: DigitalSignatureAlgorithm.SHA512WithRSAEncryption }, RSA).hash, "sha512");
    assert.deepEqual(scheme({ digitalSignatureAlgorithm: DigitalSignatureAlgorithm.ECDSAWithSHA384 }, P256), {
      family: "ECDSA",
      hash: "sha384",
      mechanism: { mechanism: CKM_ECDSA },
    });
  });

  test("every scheme is checked against the key, whatever the parameters say", () => {
    const cases: [CryptographicParameters, KeyFacts, RegExp][] = [
      [{ cryptographicAlgorithm: CryptographicAlgorithm.RSA, paddingMethod: PaddingMethod.PSS }, P256, /RSA-PSS signature .* EC key/],
      [{ digitalSignatureAlgorithm: DigitalSignatureAlgorithm.SHA256WithRSAEncryption }, ED25519, /RSA signature .* EdDSA key/],
      [{ cryptographicAlgorithm: CryptographicAlgorithm.ECDSA }, RSA, /ECDSA signature .* RSA key/],
      [{ cryptographicAlgorithm: CryptographicAlgorithm.Ed25519 }, P384, /Ed25519 signature .* EC key/],
    ];
    for (const [params, key, message] of cases) throwsReason(() => resolve(params, key), ResultReason.InvalidField, message);
    throwsReason(() => resolve(undefined, { objectClass: "private", keyType: "other", bits: 0 }), ResultReason.CryptographicFailure, /cannot sign with/);
  });

  test("a public key cannot sign, a private key cannot verify", () => {
    const publicKey: KeyFacts = { ...P256, objectClass: "public" };
    throwsReason(
      () => resolveSignature(publicKey, "AB_pub", signatureRequest(undefined, MESSAGE, undefined), "sign"),
      ResultReason.PermissionDenied,
      /^C_SignInit: AB_pub is a public key, which cannot sign$/,
    );
    throwsReason(
      () => resolveSignature(P256, "AB_priv", signatureRequest(undefined, MESSAGE, undefined), "verify"),
      ResultReason.PermissionDenied,
      /^AB_priv is a private key, which cannot verify; verify with the public key, AB_pub$/,
    );
    assert.equal(resolveSignature(publicKey, "AB_pub", signatureRequest(undefined, MESSAGE, undefined), "verify").family, "ECDSA");
  });

  test("unsupported values are Invalid Field and say what is supported", () => {
    const cases: [CryptographicParameters, KeyFacts, RegExp][] = [
      [{ hashingAlgorithm: HashingAlgorithm.MD5 }, RSA, /Hashing Algorithm 3 .*SHA-1, SHA-256, SHA-384 or SHA-512/],
      [{ paddingMethod: PaddingMethod.OAEP }, RSA, /Padding Method 2 .*PKCS1 v1\.5 or PSS/],
      [{ digitalSignatureAlgorithm: DigitalSignatureAlgorithm.DSAWithSHA256 }, RSA, /Digital Signature Algorithm 11/],
      [{ cryptographicAlgorithm: CryptographicAlgorithm.AES }, RSA, /Cryptographic Algorithm 3 cannot sign/],
      [{ digitalSignatureAlgorithm: DigitalSignatureAlgorithm.ECDSAWithSHA256, hashingAlgorithm: HashingAlgorithm.SHA384 }, P256, /contradicts/],
      [{ hashingAlgorithm: HashingAlgorithm.SHA256 }, ED25519, /must not name a Hashing Algorithm/],
      [{ paddingMethod: PaddingMethod.PSS, maskGenerator: 2 }, RSA, /MGF1/],
      [{ paddingMethod: PaddingMethod.PSS, maskGeneratorHashingAlgorithm: HashingAlgorithm.MD5 }, RSA, /Mask Generator Hashing Algorithm 3/],
    ];
    for (const [params, key, message] of cases) throwsReason(() => resolve(params, key), ResultReason.InvalidField, message);
  });

  test("a value the key makes irrelevant is not refused: a Padding Method for an ECDSA key", () => {
    assert.equal(scheme({ paddingMethod: PaddingMethod.OAEP }, P256).family, "ECDSA");
  });
});

describe("the bytes signed", () => {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 1024 });
  const data = MESSAGE;
  const kmipHash = { sha256: HashingAlgorithm.SHA256, sha384: HashingAlgorithm.SHA384, sha512: HashingAlgorithm.SHA512 };

  test("PKCS#1 v1.5 signs the DigestInfo node:crypto's RSA signature carries, for each hash", () => {
    for (const hash of ["sha256", "sha384", "sha512"] as const) {
      const signature = sign(hash, data, privateKey);
      const digestInfo = publicDecrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, signature);
      const params = { hashingAlgorithm: kmipHash[hash] };
      assert.deepEqual(Buffer.from(resolve(params, RSA, { data }).input), digestInfo, hash);
      // Digested Data gives the same bytes.
      assert.deepEqual(Buffer.from(resolve(params, RSA, { digested: createHash(hash).update(data).digest() }).input), digestInfo);
    }
  });

  test("ECDSA and PSS sign the digest; EdDSA the message", () => {
    assert.deepEqual(Buffer.from(resolve(undefined, P384, { data }).input), createHash("sha384").update(data).digest());
    assert.deepEqual(Buffer.from(resolve({ paddingMethod: PaddingMethod.PSS }, RSA, { data }).input), createHash("sha256").update(data).digest());
    assert.equal(resolve(undefined, ED25519, { data }).input, data);
  });

  test("Data and Digested Data: exactly one, of the hash's length; none for EdDSA", () => {
    throwsReason(() => resolve(undefined, P256, {}), ResultReason.InvalidField, /neither Data nor Digested Data/);
    throwsReason(() => resolve(undefined, P256, { data, digested: Buffer.alloc(32) }), ResultReason.InvalidField, /both Data and Digested Data/);
    throwsReason(() => resolve(undefined, P256, { digested: Buffer.alloc(48) }), ResultReason.InvalidField, /48 bytes; a SHA256 digest is 32/);
    throwsReason(() => resolve(undefined, ED25519, { digested: Buffer.alloc(64) }), ResultReason.InvalidField, /send Data, not Digested Data/);
  });
});

describe("checkSigningFields", () => {
  const v = (minor: number) => ({ major: 1, minor });
  test("streaming is Feature Not Supported; Digested Data only from 1.4", () => {
    throwsReason(() => checkSigningFields({ initIndicator: true }, v(4), "Sign"), ResultReason.FeatureNotSupported, /streaming Sign/);
    throwsReason(() => checkSigningFields({ correlationValue: Buffer.alloc(1) }, v(3), "Signature Verify"), ResultReason.FeatureNotSupported, /streaming Signature Verify/);
    throwsReason(() => checkSigningFields({ digestedData: Buffer.alloc(32) }, v(3), "Sign"), ResultReason.InvalidField, /KMIP 1\.4 field; this request is KMIP 1\.3/);
    checkSigningFields({ digestedData: Buffer.alloc(32) }, v(4), "Sign");
    checkSigningFields({}, v(0), "Sign");
  });
});

describe("ECDSA signature encodings", () => {
  const curves = [
    { name: "prime256v1", bits: 256 },
    { name: "secp384r1", bits: 384 },
    { name: "secp521r1", bits: 521 },
  ] as const;

  test("r||s and DER agree with node:crypto's ieee-p1363 and der encodings of the same signature", () => {
    for (const curve of curves) {
      const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: curve.name });
      for (let i = 0; i < 20; i++) {
        const data = Buffer.from(`message ${i}`);
        // ECDSA signatures are randomised: encode one signature both ways.
        const raw = sign("sha256", data, { key: privateKey, dsaEncoding: "ieee-p1363" });
        const der = ecdsaRawToDer(raw);
        // OpenSSL parses the DER strictly (P-521's SEQUENCE needs the long length form).
        assert.ok(verify("sha256", data, { key: publicKey, dsaEncoding: "der" }, der), `${curve.name}: OpenSSL accepts the DER`);
        assert.deepEqual(ecdsaDerToRaw(der, curve.bits), raw, `${curve.name} round trip`);
        const nodeDer = sign("sha256", data, { key: privateKey, dsaEncoding: "der" });
        assert.equal(ecdsaDerToRaw(nodeDer, curve.bits).length, raw.length);
      }
    }
  });

  test("any r||s of a curve's size round-trips through DER, including leading zeros and high bits", () => {
    fc.assert(
      fc.property(fc.constantFrom(32, 48, 66), fc.uint8Array({ minLength: 132, maxLength: 132 }), (size, bytes) => {
        const raw = Buffer.from(bytes.subarray(0, size * 2));
        assert.deepEqual(ecdsaDerToRaw(ecdsaRawToDer(raw), size === 66 ? 521 : size * 8), raw);
      }),
    );
    assert.deepEqual(ecdsaRawToDer(Buffer.alloc(64)), Buffer.from("3006020100020100", "hex"), "zeros are INTEGER 0");
  });

  test("malformed DER is Invalid Field", () => {
    for (const hex of ["", "31060201010201 01", "3006020101020102ff", "300602010102", "30070201010201010a", "3006030101020101", "3084000000060201010201 01"]) {
      throwsReason(() => ecdsaDerToRaw(Buffer.from(hex.replace(/ /g, ""), "hex"), 256), ResultReason.InvalidField, /not a DER SEQUENCE of two INTEGERs/);
    }
    // An INTEGER longer than the curve's size.
    throwsReason(() => ecdsaDerToRaw(ecdsaRawToDer(Buffer.alloc(96, 0x7f)), 256), ResultReason.InvalidField, /not a DER SEQUENCE/);
  });
});
