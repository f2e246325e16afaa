// The pure side of the lifecycle and of the attributes the relay reports:
// the KMIP State and dates of keys without metadata, read from PKCS#11 dates
// and CKA_SIGN (src/operations/legacy.ts), the attributes of a key description
// (key-attributes.ts), Locate's criteria (locate.ts) and the id helpers
// (keys.ts).
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { describe, test } from "node:test";
import type { KeyDescription } from "../../src/hsm/key-types.js";
import type { Attribute } from "../../src/kmip/attributes.js";
import { KmipError } from "../../src/kmip/errors.js";
import { keyAttributes, usageMaskOf } from "../../src/operations/key-attributes.js";
import { labelName, partnerId } from "../../src/operations/keys.js";
import { dateTimeOf, legacyAttributes, today } from "../../src/operations/legacy.js";
import { locateCriteria } from "../../src/operations/locate.js";
import {
  CryptographicAlgorithm,
  CryptographicUsageMask,
  NameType,
  ObjectType,
  RecommendedCurve,
  ResultReason,
  State,
} from "../../src/ttlv/enums.js";

const NOW = new Date("2025-03-10T23:59:59Z");
/** A real P-256 point, uncompressed (04 || X || Y), as CKA_EC_POINT holds it unwrapped. */
const EC_POINT = (() => {
  const jwk = generateKeyPairSync("ec", { namedCurve: "prime256v1" }).publicKey.export({ format: "jwk" });
  return Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, "base64url"), Buffer.from(jwk.y!, "base64url")]);
})();
const NO_USAGE = { sign: false, verify: false, encrypt: false, decrypt: false, wrap: false, unwrap: false, derive: false };

/** A P-256 key pair as SoftHSM describes it, with overrides. */
function key(objectClass: "public" | "private", overrides: Partial<KeyDescription> = {}): KeyDescription {
  return {
    id: `0A0B_${objectClass === "public" ? "pub" : "priv"}`,
    objectClass,
    keyType: "EC",
    bits: 256,
    curve: "P-256",
    label: null,
    usage: { ...NO_USAGE, ...(objectClass === "public" ? { verify: true } : { sign: true }) },
    startDate: null,
    endDate: null,
    ...(objectClass === "public" ? { ecPoint: EC_POINT } : {}),
    ...overrides,
  };
}

describe("dates", () => {
  test("today is the UTC date as a CK_DATE", () => {
    assert.equal(today(NOW), "20250310");
    assert.equal(today(new Date("2025-03-11T00:00:00+02:00")), "20250310");
  });

  test("a CK_DATE is midnight UTC as a KMIP Date-Time", () => {
    assert.equal(dateTimeOf("20250310"), BigInt(Date.UTC(2025, 2, 10) / 1000));
    assert.equal(dateTimeOf("19700101"), 0n);
    assert.throws(() => dateTimeOf("2025-03-10"), /not a CK_DATE/);
  });
});

/** The State and dates of a key without a metadata record (legacy.ts). */
function lifecycleOf(k: KeyDescription, partner: KeyDescription | undefined, now: Date) {
  const attributes = legacyAttributes(k, partner, now).own;
  const get = (name: string) => attributes.find((a) => a.name === name)?.value;
  return { state: get("State"), activationDate: get("Activation Date") ?? null, deactivationDate: get("Deactivation Date") ?? null };
}

describe("keys without a metadata record", () => {
  test("keys without dates, from the relay or other tools, are Active", () => {
    assert.deepEqual(lifecycleOf(key("public"), undefined, NOW), { state: State.Active, activationDate: null, deactivationDate: null });
    assert.equal(lifecycleOf(key("private"), key("public"), NOW).state, State.Active);
    assert.equal(lifecycleOf(key("private"), undefined, NOW).state, State.Active, "a private key without a public key");
  });

  test("the pair's dates are the public key's: Activation Date from CKA_START_DATE, Deactivated from CKA_END_DATE up to today", () => {
    const pub = key("public", { startDate: "20250101", endDate: "20250310" });
    for (const k of [pub, key("private")]) {
      assert.deepEqual(lifecycleOf(k, pub, NOW), { state: State.Deactivated, activationDate: dateTimeOf("20250101"), deactivationDate: dateTimeOf("20250310") });
    }
    const future = key("public", { endDate: "20250311" });
    assert.equal(lifecycleOf(future, undefined, NOW).state, State.Active, "an end date still to come");
    assert.equal(lifecycleOf(key("private"), future, NOW).state, State.Active);
  });

  test("a private key that may not sign is Deactivated, whatever the dates", () => {
    const revoked = key("private", { usage: NO_USAGE });
    assert.equal(lifecycleOf(revoked, key("public"), NOW).state, State.Deactivated);
    assert.equal(lifecycleOf(revoked, undefined, NOW).state, State.Deactivated);
  });

  test("a private key without a public key is dated by itself", () => {
    const alone = key("private", { startDate: "20240101", endDate: "20240202" });
    assert.deepEqual(lifecycleOf(alone, undefined, NOW), { state: State.Deactivated, activationDate: dateTimeOf("20240101"), deactivationDate: dateTimeOf("20240202") });
  });
});

describe("key attributes", () => {
  const V12 = { major: 1, minor: 2 };
  const active: Attribute[] = [{ name: "State", value: State.Active }];

  test("the Cryptographic Usage Mask has a bit per true PKCS#11 usage flag", () => {
    assert.equal(usageMaskOf({ usage: NO_USAGE }), 0);
    assert.equal(
      usageMaskOf({ usage: { sign: true, verify: true, encrypt: true, decrypt: true, wrap: true, unwrap: true, derive: true } }),
      CryptographicUsageMask.Sign |
        CryptographicUsageMask.Verify |
        CryptographicUsageMask.Encrypt |
        CryptographicUsageMask.Decrypt |
        CryptographicUsageMask.WrapKey |
        CryptographicUsageMask.UnwrapKey |
        CryptographicUsageMask.DeriveKey,
    );
  });

  test("a private key: no Name without a label, no Digest, dates when recorded", () => {
    const lifecycle: Attribute[] = [
      { name: "State", value: State.Deactivated },
      { name: "Activation Date", value: dateTimeOf("20250101") },
      { name: "Deactivation Date", value: dateTimeOf("20250310") },
    ];
    assert.deepEqual(keyAttributes(key("private"), lifecycle, V12), [
      { name: "Unique Identifier", value: "0A0B_priv" },
      { name: "Object Type", value: ObjectType.PrivateKey },
      { name: "Cryptographic Algorithm", value: CryptographicAlgorithm.ECDSA },
      { name: "Cryptographic Length", value: 256 },
      { name: "Cryptographic Domain Parameters", value: { recommendedCurve: RecommendedCurve.P256 } },
      { name: "Cryptographic Usage Mask", value: CryptographicUsageMask.Sign },
      { name: "State", value: State.Deactivated },
      { name: "Activation Date", value: dateTimeOf("20250101") },
      { name: "Deactivation Date", value: dateTimeOf("20250310") },
    ]);
  });

  test("a public key: its Name and a Digest, whose Key Format Type field appears from KMIP 1.1", () => {
    const pub = key("public", { label: "zsk" });
    const names = keyAttributes(pub, active, V12).map((a) => a.name);
    assert.ok(names.includes("Name") && names.includes("Digest"));
    const digestIn = (minor: number) => keyAttributes(pub, active, { major: 1, minor }).find((a) => a.name === "Digest")!.value as { keyFormatType?: number };
    assert.equal(digestIn(0).keyFormatType, undefined);
    assert.notEqual(digestIn(1).keyFormatType, undefined);
  });

  test("a key of a type the relay does not know: no algorithm, length, curve or Digest", () => {
    const other = key("public", { keyType: "other", bits: 0, curve: undefined, ecPoint: undefined });
    assert.deepEqual(
      keyAttributes(other, active, V12).map((a) => a.name),
      ["Unique Identifier", "Object Type", "Cryptographic Usage Mask", "State"],
    );
  });
});

describe("locateCriteria", () => {
  const attr = (name: string, value: unknown) => ({ name, value }) as Attribute;
  const uts = (nameValue: string) => attr("Name", { nameValue, nameType: NameType.UninterpretedTextString });

  test("each attribute becomes a filter field", () => {
    assert.deepEqual(locateCriteria([]), { filter: { objectClass: undefined, keyType: undefined, label: undefined, bits: undefined } });
    assert.deepEqual(
      locateCriteria([uts("ksk"), attr("Object Type", ObjectType.PrivateKey), attr("Cryptographic Algorithm", CryptographicAlgorithm.EC), attr("Cryptographic Length", 384)]),
      { filter: { objectClass: "private", keyType: "EC", label: "ksk", bits: 384 }, objectType: ObjectType.PrivateKey },
    );
    assert.deepEqual(locateCriteria([attr("Cryptographic Algorithm", CryptographicAlgorithm.Ed25519), attr("State", State.Deactivated)]), {
      filter: { objectClass: undefined, keyType: "EdDSA", label: undefined, bits: undefined },
      state: State.Deactivated,
    });
    assert.deepEqual(locateCriteria([uts("a"), uts("a")])?.filter.label, "a", "the same value twice is one criterion");
    // Triple DES (CKK_DES3 or CKK_DES2) and HMAC keys (generic secrets naming their HMAC) are told by each secret key, as Get Attributes tells them.
    for (const algorithm of [CryptographicAlgorithm.TripleDES, CryptographicAlgorithm.HMACSHA1, CryptographicAlgorithm.HMACSHA256, CryptographicAlgorithm.HMACSHA384, CryptographicAlgorithm.HMACSHA512]) {
      assert.deepEqual(locateCriteria([attr("Cryptographic Algorithm", algorithm), attr("Object Type", ObjectType.SymmetricKey)]), {
        algorithm,
        filter: { objectClass: "secret", keyType: undefined, label: undefined, bits: undefined },
        objectType: ObjectType.SymmetricKey,
      });
    }
    // Secret Data is kept as a secret key; its model tells it apart (register-secret.ts). Object Groups are all required.
    assert.deepEqual(locateCriteria([attr("Object Type", ObjectType.SecretData), attr("Object Group", "g1"), attr("Object Group", "g2")]), {
      filter: { objectClass: "secret", keyType: undefined, label: undefined, bits: undefined },
      objectType: ObjectType.SecretData,
      objectGroups: ["g1", "g2"],
    });
    // A Unique Identifier narrows the answer to that one object (SKFF-M-5-10 looks for a key it destroyed).
    assert.deepEqual(locateCriteria([attr("Unique Identifier", "ab12"), attr("Object Type", ObjectType.SymmetricKey)]), {
      uniqueIdentifier: "ab12",
      filter: { objectClass: "secret", keyType: undefined, label: undefined, bits: undefined },
      objectType: ObjectType.SymmetricKey,
    });
  });

  test("criteria no token key can meet give undefined", () => {
    for (const attributes of [
      [attr("Object Type", ObjectType.Certificate)],
      [attr("Cryptographic Algorithm", CryptographicAlgorithm.HMACMD5)],
      [attr("Cryptographic Algorithm", CryptographicAlgorithm.TripleDES), attr("Object Type", ObjectType.PrivateKey)],
      [attr("Cryptographic Algorithm", CryptographicAlgorithm.TripleDES), attr("Cryptographic Algorithm", CryptographicAlgorithm.AES)],
      [attr("State", State.Destroyed)],
      [attr("Name", { nameValue: "urn:x", nameType: NameType.URI })],
      [uts("a"), uts("b")],
      [attr("Cryptographic Length", 256), attr("Cryptographic Length", 384)],
      [attr("Unique Identifier", "ab12"), attr("Unique Identifier", "cd34")],
    ]) {
      assert.equal(locateCriteria(attributes), undefined, JSON.stringify(attributes));
    }
  });

  test("attributes it cannot match are Feature Not Supported", () => {
    assert.throws(
      () => locateCriteria([attr("Contact Information", "ops")]),
      (error: unknown) => error instanceof KmipError && error.reason === ResultReason.FeatureNotSupported && /"Contact Information"/.test(error.message),
    );
  });
});

describe("ids and Names", () => {
  test("partnerId pairs _pub and _priv of one CKA_ID", () => {
    assert.equal(partnerId("0A0B_priv"), "0A0B_pub");
    assert.equal(partnerId("0A0B_pub"), "0A0B_priv");
    assert.throws(() => partnerId("0A0B"), (error: unknown) => error instanceof KmipError && error.reason === ResultReason.ItemNotFound);
  });

  test("labelName takes Uninterpreted Text String Names only", () => {
    const value = { nameValue: "zsk", nameType: NameType.UninterpretedTextString };
    assert.deepEqual(labelName({ name: "Name", value }, "added"), value);
    assert.throws(() => labelName({ name: "Name", value: { ...value, nameType: NameType.URI } }, "added"), /Uninterpreted Text String/);
    assert.throws(() => labelName({ name: "Object Group", value: "x" }, "modified"), /"Object Group" cannot be modified here/);
  });
});
