// Sign, Signature Verify, Query, Discover Versions and RNG Retrieve run in
// process on an in-memory token (test/helpers/memory-backend.ts): what the
// relay asks the token to sign, what it answers, and the Result Reason of
// each main failure. Real signatures on SoftHSM: test/e2e/.
import assert from "node:assert/strict";
import { createHash, verify } from "node:crypto";
import { describe, test } from "node:test";
import { HsmError } from "../../src/hsm/hsm-error.js";
import { CKM_ECDSA, CKM_RSA_PKCS } from "../../src/hsm/mechanisms.js";
import {
  createKeyPairPayloads,
  discoverVersionsPayloads,
  queryPayloads,
  revokePayloads,
  rngRetrievePayloads,
  signatureVerifyPayloads,
  signPayloads,
} from "../../src/kmip/payloads/index.js";
import { CryptographicAlgorithm, HashingAlgorithm, ObjectType, Operation, PaddingMethod, QueryFunction, ResultReason, RevocationReasonCode, ValidityIndicator } from "../../src/ttlv/enums.js";
import { OperationBench } from "../helpers/operation-context.js";

const DATA = Buffer.from("example.com. 3600 IN A 192.0.2.1");
/** DigestInfo of SHA-256 (RFC 8017 section 9.2, note 1), up to the digest. */
const SHA256_DIGEST_INFO = Buffer.from("3031300d060960864801650304020105000420", "hex");

async function pair(bench: OperationBench, cryptographicAlgorithm: number, bits: number) {
  return bench.run(Operation.CreateKeyPair, createKeyPairPayloads, {
    commonTemplateAttribute: {
      names: [],
      attributes: [
        { name: "Cryptographic Algorithm", value: cryptographicAlgorithm },
        { name: "Cryptographic Length", value: bits },
        // Active at once (KMIP 1.x 3.22), as a key Cascade has activated.
        { name: "Activation Date", value: BigInt(Math.floor(Date.now() / 1000)) - 60n },
      ],
    },
  });
}

describe("Sign", () => {
  test("RSA as Cascade asks: the token signs the SHA-256 DigestInfo with CKM_RSA_PKCS; the signature verifies", async () => {
    const bench = new OperationBench();
    const ids = await pair(bench, CryptographicAlgorithm.RSA, 1024);
    const { signatureData } = await bench.run(Operation.Sign, signPayloads, {
      uniqueIdentifier: ids.privateKeyUniqueIdentifier,
      cryptographicParameters: { hashingAlgorithm: HashingAlgorithm.SHA256, cryptographicAlgorithm: CryptographicAlgorithm.RSA, paddingMethod: PaddingMethod.Pkcs1v15 },
      data: DATA,
    });
    const call = bench.backend.calls.find((c) => c.fn === "sign")!;
    assert.equal(call.mechanism!.mechanism, CKM_RSA_PKCS);
    assert.deepEqual(Buffer.from(call.data!), Buffer.concat([SHA256_DIGEST_INFO, createHash("sha256").update(DATA).digest()]));
    assert.ok(verify("sha256", DATA, bench.backend.object(ids.publicKeyUniqueIdentifier)!.publicKey, signatureData!));
  });

  test("ECDSA: the token gets the SHA-256 digest and CKM_ECDSA; r || s is answered as DER, which Signature Verify accepts", async () => {
    const bench = new OperationBench();
    const ids = await pair(bench, CryptographicAlgorithm.ECDSA, 256);
    const { signatureData } = await bench.run(Operation.Sign, signPayloads, { uniqueIdentifier: ids.privateKeyUniqueIdentifier, data: DATA });
    const call = bench.backend.calls.find((c) => c.fn === "sign")!;
    assert.equal(call.mechanism!.mechanism, CKM_ECDSA);
    assert.deepEqual(Buffer.from(call.data!), createHash("sha256").update(DATA).digest());
    assert.equal(signatureData![0], 0x30, "a DER SEQUENCE");
    const valid = await bench.run(Operation.SignatureVerify, signatureVerifyPayloads, { uniqueIdentifier: ids.publicKeyUniqueIdentifier, data: DATA, signatureData });
    assert.equal(valid.validityIndicator, ValidityIndicator.Valid);
    const other = await bench.run(Operation.SignatureVerify, signatureVerifyPayloads, { uniqueIdentifier: ids.publicKeyUniqueIdentifier, data: Buffer.from("other"), signatureData });
    assert.equal(other.validityIndicator, ValidityIndicator.Invalid);
  });

  test("Ed25519 signs the message itself", async () => {
    const bench = new OperationBench();
    const ids = await pair(bench, CryptographicAlgorithm.Ed25519, 255);
    const { signatureData } = await bench.run(Operation.Sign, signPayloads, { uniqueIdentifier: ids.privateKeyUniqueIdentifier, data: DATA });
    assert.ok(verify(null, DATA, bench.backend.object(ids.publicKeyUniqueIdentifier)!.publicKey, signatureData!));
  });

  test("a revoked key is Permission Denied; a public key, an unknown key, parameters that do not fit the key, no data", async () => {
    const bench = new OperationBench();
    const ids = await pair(bench, CryptographicAlgorithm.ECDSA, 256);
    const priv = ids.privateKeyUniqueIdentifier;
    await bench.fails(Operation.Sign, signPayloads, { uniqueIdentifier: ids.publicKeyUniqueIdentifier, data: DATA }, ResultReason.PermissionDenied, /public key/);
    await bench.fails(Operation.Sign, signPayloads, { uniqueIdentifier: "0A_priv", data: DATA }, ResultReason.ItemNotFound);
    await bench.fails(Operation.Sign, signPayloads, { uniqueIdentifier: priv, cryptographicParameters: { cryptographicAlgorithm: CryptographicAlgorithm.RSA }, data: DATA }, ResultReason.InvalidField);
    await bench.fails(Operation.Sign, signPayloads, { uniqueIdentifier: priv }, ResultReason.InvalidField, /neither Data nor Digested Data/);
    await bench.run(Operation.Revoke, revokePayloads, { uniqueIdentifier: priv, revocationReason: { revocationReasonCode: RevocationReasonCode.Superseded } });
    await bench.fails(Operation.Sign, signPayloads, { uniqueIdentifier: priv, data: DATA }, ResultReason.PermissionDenied, /CKA_SIGN is false/);
  });

  test("a module failure fails the item with General Failure", async () => {
    const bench = new OperationBench();
    const ids = await pair(bench, CryptographicAlgorithm.ECDSA, 256);
    bench.backend.failNext("sign", new HsmError("MODULE_FAILED", "the HSM module failed: C_Sign did not answer within 60 s", "C_Sign"));
    await bench.fails(Operation.Sign, signPayloads, { uniqueIdentifier: ids.privateKeyUniqueIdentifier, data: DATA }, ResultReason.GeneralFailure, /did not answer/);
  });
});

describe("Signature Verify", () => {
  test("verifies with the public key only; no Signature Data is Missing Data", async () => {
    const bench = new OperationBench();
    const ids = await pair(bench, CryptographicAlgorithm.Ed25519, 255);
    await bench.fails(Operation.SignatureVerify, signatureVerifyPayloads, { uniqueIdentifier: ids.privateKeyUniqueIdentifier, data: DATA, signatureData: Buffer.alloc(64) }, ResultReason.PermissionDenied, /cannot verify/);
    await bench.fails(Operation.SignatureVerify, signatureVerifyPayloads, { uniqueIdentifier: ids.publicKeyUniqueIdentifier, data: DATA }, ResultReason.MissingData);
    const invalid = await bench.run(Operation.SignatureVerify, signatureVerifyPayloads, { uniqueIdentifier: ids.publicKeyUniqueIdentifier, data: DATA, signatureData: Buffer.alloc(64) });
    assert.equal(invalid.validityIndicator, ValidityIndicator.Invalid);
  });
});

describe("Query", () => {
  test("answers the operations served, the object types and the server information", async () => {
    const bench = new OperationBench();
    const answer = await bench.run(Operation.Query, queryPayloads, {
      queryFunctions: [QueryFunction.QueryOperations, QueryFunction.QueryObjects, QueryFunction.QueryServerInformation],
    });
    assert.deepEqual(answer.operations, bench.handlers.map((h) => h.operation));
    assert.equal(answer.operations!.length, 25);
    assert.deepEqual(answer.objectTypes, [ObjectType.SymmetricKey, ObjectType.PublicKey, ObjectType.PrivateKey, ObjectType.SecretData, ObjectType.OpaqueData]);
    assert.match(answer.vendorIdentification!, /^kmip2pkcs11 9\.9\.9; token "token" \(serial 0123456789abcdef\), slot "memory slot" \(id 1\), module libmemory\.so /);
  });

  test("a query function with nothing to say is answered with nothing", async () => {
    const answer = await new OperationBench().run(Operation.Query, queryPayloads, { queryFunctions: [QueryFunction.QueryExtensionList] });
    assert.deepEqual([answer.operations, answer.objectTypes, answer.vendorIdentification], [[], [], undefined]);
  });
});

describe("Discover Versions", () => {
  test("the versions both speak, newest first; none offered gets them all", async () => {
    const bench = new OperationBench();
    const all = await bench.run(Operation.DiscoverVersions, discoverVersionsPayloads, { protocolVersions: [] });
    assert.deepEqual(all.protocolVersions.map((v) => `${v.major}.${v.minor}`), ["1.4", "1.3", "1.2", "1.1", "1.0"]);
    const some = await bench.run(Operation.DiscoverVersions, discoverVersionsPayloads, { protocolVersions: [{ major: 1, minor: 0 }, { major: 2, minor: 0 }, { major: 1, minor: 2 }] });
    assert.deepEqual(some.protocolVersions.map((v) => `${v.major}.${v.minor}`), ["1.2", "1.0"]);
  });
});

describe("RNG Retrieve", () => {
  test("the bytes asked for; a length out of bounds is Invalid Field naming the bounds", async () => {
    const bench = new OperationBench();
    const { data } = await bench.run(Operation.RNGRetrieve, rngRetrievePayloads, { dataLength: 32 });
    assert.equal(data.length, 32);
    await bench.fails(Operation.RNGRetrieve, rngRetrievePayloads, { dataLength: 65537 }, ResultReason.InvalidField, /1\.\.65536/);
  });
});
