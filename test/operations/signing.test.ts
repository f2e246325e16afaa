// The pure side of signing (src/operations/signing.ts): which scheme and
// PKCS#11 mechanism a request's Cryptographic Parameters and the key select,
// the exact bytes the mechanism signs (checked against what node:crypto's own
// RSA signatures contain), and the ECDSA DER <-> r||s conversions (checked
// against node:crypto's two encodings of the same signature).
import assert from "node:assert/strict";
import { constants, createHash, generateKeyPairSync, publicDecrypt, sign, verify } from "node:crypto";
import { describe, test } from "node:test";
import fc from "fast-check";
import { CKM_ECDSA, CKM_EDDSA, CKM_RSA_PKCS, CKM_RSA_PKCS_PSS, CKM_SHA384, CKG_MGF1_SHA256, CKG_MGF1_SHA384 } from "../../src/hsm/mechanisms.js";
import type { CryptographicParameters } from "../../src/kmip/attributes.js";
import { KmipError } from "../../src/kmip/errors.js";
import { checkSigningFields, chooseScheme, ecdsaDerToRaw, ecdsaRawToDer, type SigningKey, toBeSigned } from "../../src/operations/signing.js";
import {
  CryptographicAlgorithm,
  DigitalSignatureAlgorithm,
  HashingAlgorithm,
  MaskGenerator,
  PaddingMethod,
  ResultReason,
} from "../../src/ttlv/enums.js";

const RSA: SigningKey = { keyType: "RSA", bits: 2048 };
const P256: SigningKey = { keyType: "EC", bits: 256 };
const P384: SigningKey = { keyType: "EC", bits: 384 };
const P521: SigningKey = { keyType: "EC", bits: 521 };
const ED25519: SigningKey = { keyType: "EdDSA", bits: 255 };

function throwsKmip(run: () => unknown, reason: number, message: RegExp): void {
  assert.throws(run, (error: unknown) => error instanceof KmipError && error.reason === reason && message.test(error.message));
}

describe("chooseScheme", () => {
  test("without parameters the key decides: PKCS#1 v1.5, ECDSA with the curve's hash, EdDSA", () => {
    assert.deepEqual(chooseScheme(undefined, RSA), { family: "RSA-PKCS1", hash: "sha256", mechanism: { mechanism: CKM_RSA_PKCS } });
    assert.equal(chooseScheme(undefined, P256).hash, "sha256");
    assert.equal(chooseScheme(undefined, P384).hash, "sha384");
    assert.deepEqual(chooseScheme(undefined, P521), { family: "ECDSA", hash: "sha512", mechanism: { mechanism: CKM_ECDSA } });
    assert.deepEqual(chooseScheme(undefined, ED25519), { family: "EdDSA", mechanism: { mechanism: CKM_EDDSA } });
  });

  test("Cascade's parameters: RSA, PKCS1 v1.5, SHA-256", () => {
    const params = { cryptographicAlgorithm: CryptographicAlgorithm.RSA, paddingMethod: PaddingMethod.Pkcs1v15, hashingAlgorithm: HashingAlgorithm.SHA256 };
    assert.deepEqual(chooseScheme(params, RSA), { family: "RSA-PKCS1", hash: "sha256", mechanism: { mechanism: CKM_RSA_PKCS } });
  });

  test("PSS: the hash names the MGF1 hash and the salt length unless given", () => {
    const params = { paddingMethod: PaddingMethod.PSS, hashingAlgorithm: HashingAlgorithm.SHA384 };
    assert.deepEqual(chooseScheme(params, RSA).mechanism, { mechanism: CKM_RSA_PKCS_PSS, pss: { hashAlg: CKM_SHA384, mgf: CKG_MGF1_SHA384, saltLength: 48 } });
    const explicit = { ...params, maskGenerator: MaskGenerator.MGF1, maskGeneratorHashingAlgorithm: HashingAlgorithm.SHA256, saltLength: 0 };
    assert.deepEqual(chooseScheme(explicit, RSA).mechanism.pss, { hashAlg: CKM_SHA384, mgf: CKG_MGF1_SHA256, saltLength: 0 });
    assert.equal(chooseScheme({ digitalSignatureAlgorithm: DigitalSignatureAlgorithm.RsassaPSS }, RSA).hash, "sha256");
  });

  test("Digital Signature Algorithm names family and hash", () => {
    assert.deepEqual(chooseScheme({ digitalSignatureAlgorithm: DigitalSignatureAlgorithm.SHA512WithRSAEncryption }, RSA).hash, "sha512");
    assert.deepEqual(chooseScheme({ digitalSignatureAlgorithm: DigitalSignatureAlgorithm.ECDSAWithSHA384 }, P256), {
      family: "ECDSA",
      hash: "sha384",
      mechanism: { mechanism: CKM_ECDSA },
    });
  });

  test("every scheme is checked against the key, whatever the parameters say", () => {
    const cases: [CryptographicParameters, SigningKey, RegExp][] = [
      [{ cryptographicAlgorithm: CryptographicAlgorithm.RSA, paddingMethod: PaddingMethod.PSS }, P256, /RSA-PSS signature .* EC key/],
      [{ digitalSignatureAlgorithm: DigitalSignatureAlgorithm.SHA256WithRSAEncryption }, ED25519, /RSA signature .* EdDSA key/],
      [{ cryptographicAlgorithm: CryptographicAlgorithm.ECDSA }, RSA, /ECDSA signature .* RSA key/],
      [{ cryptographicAlgorithm: CryptographicAlgorithm.Ed25519 }, P384, /Ed25519 signature .* EC key/],
    ];
    for (const [params, key, message] of cases) throwsKmip(() => chooseScheme(params, key), ResultReason.InvalidField, message);
    throwsKmip(() => chooseScheme(undefined, { keyType: "other", bits: 0 }), ResultReason.CryptographicFailure, /cannot sign with/);
  });

  test("unsupported values are Invalid Field and say what is supported", () => {
    const cases: [CryptographicParameters, SigningKey, RegExp][] = [
      [{ hashingAlgorithm: HashingAlgorithm.SHA1 }, RSA, /Hashing Algorithm 4 .*SHA-256, SHA-384 or SHA-512/],
      [{ paddingMethod: PaddingMethod.OAEP }, RSA, /Padding Method 2 .*PKCS1 v1\.5 or PSS/],
      [{ digitalSignatureAlgorithm: DigitalSignatureAlgorithm.DSAWithSHA256 }, RSA, /Digital Signature Algorithm 11/],
      [{ cryptographicAlgorithm: CryptographicAlgorithm.AES }, RSA, /Cryptographic Algorithm 3 cannot sign/],
      [{ digitalSignatureAlgorithm: DigitalSignatureAlgorithm.ECDSAWithSHA256, hashingAlgorithm: HashingAlgorithm.SHA384 }, P256, /contradicts/],
      [{ hashingAlgorithm: HashingAlgorithm.SHA256 }, ED25519, /must not name a Hashing Algorithm/],
      [{ paddingMethod: PaddingMethod.PSS, maskGenerator: 2 }, RSA, /MGF1/],
      [{ paddingMethod: PaddingMethod.PSS, maskGeneratorHashingAlgorithm: HashingAlgorithm.MD5 }, RSA, /Mask Generator Hashing Algorithm 3/],
    ];
    for (const [params, key, message] of cases) throwsKmip(() => chooseScheme(params, key), ResultReason.InvalidField, message);
  });
});

describe("toBeSigned", () => {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 1024 });
  const data = Buffer.from("example.com. 3600 IN A 192.0.2.1");

  test("PKCS#1 v1.5 signs the DigestInfo node:crypto's RSA signature carries, for each hash", () => {
    for (const hash of ["sha256", "sha384", "sha512"] as const) {
      const signature = sign(hash, data, privateKey);
      const digestInfo = publicDecrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, signature);
      const scheme = chooseScheme({ hashingAlgorithm: { sha256: HashingAlgorithm.SHA256, sha384: HashingAlgorithm.SHA384, sha512: HashingAlgorithm.SHA512 }[hash] }, RSA);
      assert.deepEqual(Buffer.from(toBeSigned(scheme, data, undefined)), digestInfo, hash);
      // Digested Data gives the same bytes.
      assert.deepEqual(Buffer.from(toBeSigned(scheme, undefined, createHash(hash).update(data).digest())), digestInfo);
    }
  });

  test("ECDSA and PSS sign the digest; EdDSA the message", () => {
    assert.deepEqual(Buffer.from(toBeSigned(chooseScheme(undefined, P384), data, undefined)), createHash("sha384").update(data).digest());
    assert.deepEqual(Buffer.from(toBeSigned(chooseScheme({ paddingMethod: PaddingMethod.PSS }, RSA), data, undefined)), createHash("sha256").update(data).digest());
    assert.equal(toBeSigned(chooseScheme(undefined, ED25519), data, undefined), data);
  });

  test("Data and Digested Data: exactly one, of the hash's length; none for EdDSA", () => {
    const ecdsa = chooseScheme(undefined, P256);
    throwsKmip(() => toBeSigned(ecdsa, undefined, undefined), ResultReason.InvalidField, /neither Data nor Digested Data/);
    throwsKmip(() => toBeSigned(ecdsa, data, Buffer.alloc(32)), ResultReason.InvalidField, /both Data and Digested Data/);
    throwsKmip(() => toBeSigned(ecdsa, undefined, Buffer.alloc(48)), ResultReason.InvalidField, /48 bytes; a SHA256 digest is 32/);
    throwsKmip(() => toBeSigned(chooseScheme(undefined, ED25519), undefined, Buffer.alloc(64)), ResultReason.InvalidField, /send Data, not Digested Data/);
  });
});

describe("checkSigningFields", () => {
  const v = (minor: number) => ({ major: 1, minor });
  test("streaming is Feature Not Supported; Digested Data only from 1.4", () => {
    throwsKmip(() => checkSigningFields({ initIndicator: true }, v(4), "Sign"), ResultReason.FeatureNotSupported, /streaming Sign/);
    throwsKmip(() => checkSigningFields({ correlationValue: Buffer.alloc(1) }, v(3), "Signature Verify"), ResultReason.FeatureNotSupported, /streaming Signature Verify/);
    throwsKmip(() => checkSigningFields({ digestedData: Buffer.alloc(32) }, v(3), "Sign"), ResultReason.InvalidField, /KMIP 1\.4 field; this request is KMIP 1\.3/);
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
      throwsKmip(() => ecdsaDerToRaw(Buffer.from(hex.replace(/ /g, ""), "hex"), 256), ResultReason.InvalidField, /not a DER SEQUENCE of two INTEGERs/);
    }
    // An INTEGER longer than the curve's size.
    throwsKmip(() => ecdsaDerToRaw(ecdsaRawToDer(Buffer.alloc(96, 0x7f)), 256), ResultReason.InvalidField, /not a DER SEQUENCE/);
  });
});
