// Batches and protocol versions end to end: one batch that makes a key pair,
// activates and signs with it through the ID Placeholder, finds the public
// key with Locate (which sets the placeholder) and gets it; Batch Error
// Continuation Option Stop, Continue and Undo; many Sign items in one
// batch; Maximum Response Size; versions 1.0 to 1.4 answered in the
// request's version, and Discover Versions.
import assert from "node:assert/strict";
import { verify } from "node:crypto";
import { describe, test } from "node:test";
import type { ProtocolVersion, ResponseBatchItem } from "../../src/kmip/message.js";
import * as payloads from "../../src/kmip/payloads/index.js";
import {
  BatchErrorContinuationOption,
  CryptographicAlgorithm,
  CryptographicUsageMask,
  HashingAlgorithm,
  Operation,
  QueryFunction,
  ResultReason,
  ResultStatus,
} from "../../src/ttlv/enums.js";
import { enumerationName } from "../../src/ttlv/names.js";
import { Tag } from "../../src/ttlv/tags.js";
import { algorithm, createKeyPair, DATA, length, name, publicKeyOf, relayAndClient } from "../helpers/relay-client.js";

const shared = relayAndClient();

const id = (n: number) => Buffer.from([n]);
const reasonName = (item: ResponseBatchItem) => (item.resultReason === undefined ? undefined : enumerationName(Tag.ResultReason, item.resultReason));
const UNKNOWN_ID = `${"00".repeat(20)}_pub`;

function assertSucceeded(item: ResponseBatchItem): asserts item is ResponseBatchItem & { responsePayload: NonNullable<ResponseBatchItem["responsePayload"]> } {
  assert.equal(item.resultStatus, ResultStatus.Success, `${enumerationName(Tag.Operation, item.operation ?? 0)}: ${reasonName(item)} ${item.resultMessage}`);
  assert.ok(item.responsePayload !== undefined);
}

test("one batch: Create Key Pair, Activate and Sign on the ID Placeholder, Locate the public key, Get it", async () => {
  const label = "batch-zsk";
  const usage = (value: number) => ({ name: "Cryptographic Usage Mask" as const, value });
  const response = await shared.client.batch([
    {
      operation: Operation.CreateKeyPair,
      uniqueBatchItemId: id(1),
      requestPayload: payloads.encodeCreateKeyPairRequest({
        commonTemplateAttribute: { names: [], attributes: [algorithm(CryptographicAlgorithm.ECDSA), length(256)] },
        privateKeyTemplateAttribute: { names: [], attributes: [name(`${label}-priv`), usage(CryptographicUsageMask.Sign)] },
        publicKeyTemplateAttribute: { names: [], attributes: [name(`${label}-pub`), usage(CryptographicUsageMask.Verify)] },
      }),
    },
    // No Unique Identifier: the ID Placeholder, the private key (KMIP 4.2).
    { operation: Operation.Activate, uniqueBatchItemId: id(2), requestPayload: payloads.encodeActivateRequest({}) },
    {
      operation: Operation.Sign,
      uniqueBatchItemId: id(3),
      requestPayload: payloads.encodeSignRequest({
        cryptographicParameters: { cryptographicAlgorithm: CryptographicAlgorithm.ECDSA, hashingAlgorithm: HashingAlgorithm.SHA256 },
        data: DATA,
      }),
    },
    // One match: Locate sets the ID Placeholder to it (4.9), so Get needs no id either.
    { operation: Operation.Locate, uniqueBatchItemId: id(4), requestPayload: payloads.encodeLocateRequest({ attributes: [name(`${label}-pub`)] }) },
    { operation: Operation.Get, uniqueBatchItemId: id(5), requestPayload: payloads.encodeGetRequest({}) },
  ]);
  assert.equal(response.header.batchCount, 5);
  assert.deepEqual(
    response.batchItems.map((item) => [item.operation, item.uniqueBatchItemId]),
    [Operation.CreateKeyPair, Operation.Activate, Operation.Sign, Operation.Locate, Operation.Get].map((operation, i) => [operation, id(i + 1)]),
  );
  for (const item of response.batchItems) assertSucceeded(item);
  const [create, activate, sign, locate, get] = response.batchItems as Required<ResponseBatchItem>[];
  const created = payloads.decodeCreateKeyPairResponse(create!.responsePayload);
  assert.equal(payloads.decodeActivateResponse(activate!.responsePayload).uniqueIdentifier, created.privateKeyUniqueIdentifier);
  const signed = payloads.decodeSignResponse(sign!.responsePayload);
  assert.equal(signed.uniqueIdentifier, created.privateKeyUniqueIdentifier);
  assert.deepEqual(payloads.decodeLocateResponse(locate!.responsePayload).uniqueIdentifiers, [created.publicKeyUniqueIdentifier]);
  const got = payloads.decodeGetResponse(get!.responsePayload);
  assert.equal(got.uniqueIdentifier, created.publicKeyUniqueIdentifier);
  assert.equal(verify("sha256", DATA, publicKeyOf(got), signed.signatureData!), true, "the signature verifies with the key Get returned");

  const { attributes } = await shared.client.getAttributes({ uniqueIdentifier: created.privateKeyUniqueIdentifier, attributeNames: ["Activation Date"] });
  assert.equal(attributes.length, 1, "the Activate of the batch recorded its date");
});

test("a Locate with several matches empties the ID Placeholder; a later item without an id is Missing Data", async () => {
  // The pair made first gives Locate two matches at least.
  const response = await shared.client.batch([
    { operation: Operation.CreateKeyPair, requestPayload: payloads.encodeCreateKeyPairRequest({ commonTemplateAttribute: { names: [], attributes: [algorithm(CryptographicAlgorithm.ECDSA), length(256)] } }) },
    { operation: Operation.Locate, requestPayload: payloads.encodeLocateRequest({ attributes: [{ name: "Cryptographic Length", value: 256 }] }) },
    { operation: Operation.Get, requestPayload: payloads.encodeGetRequest({}) },
  ]);
  assertSucceeded(response.batchItems[0]!);
  assertSucceeded(response.batchItems[1]!);
  assert.equal(reasonName(response.batchItems[2]!), "MissingData");
  assert.match(response.batchItems[2]!.resultMessage!, /no Unique Identifier and no earlier batch item set the ID Placeholder/);
});

describe("Batch Error Continuation Option", () => {
  const items = () => [
    { operation: Operation.Get, uniqueBatchItemId: id(1), requestPayload: payloads.encodeGetRequest({ uniqueIdentifier: UNKNOWN_ID }) },
    { operation: Operation.Query, uniqueBatchItemId: id(2), requestPayload: payloads.encodeQueryRequest({ queryFunctions: [QueryFunction.QueryObjects] }) },
  ];

  test("Stop (the default): nothing after the failed item runs or is answered", async () => {
    for (const option of [undefined, BatchErrorContinuationOption.Stop]) {
      const response = await shared.client.batch(items(), option === undefined ? {} : { batchErrorContinuationOption: option });
      assert.equal(response.batchItems.length, 1);
      assert.equal(reasonName(response.batchItems[0]!), "ItemNotFound");
    }
  });

  test("Continue: every item runs and is answered", async () => {
    const response = await shared.client.batch(items(), { batchErrorContinuationOption: BatchErrorContinuationOption.Continue });
    assert.deepEqual(response.batchItems.map(reasonName), ["ItemNotFound", undefined]);
    assertSucceeded(response.batchItems[1]!);
  });

  test("Undo: answered as not supported, for every item", async () => {
    const response = await shared.client.batch(items(), { batchErrorContinuationOption: BatchErrorContinuationOption.Undo });
    assert.deepEqual(response.batchItems.map(reasonName), ["FeatureNotSupported", "FeatureNotSupported"]);
    assert.match(response.batchItems[0]!.resultMessage!, /Undo is not supported/);
    assert.deepEqual(response.batchItems.map((item) => item.uniqueBatchItemId), [id(1), id(2)]);
  });
});

test("many Sign items in one batch: answered in order, each with its Unique Batch Item ID, each signature valid", async () => {
  const created = await createKeyPair(shared.client, [algorithm(CryptographicAlgorithm.RSA), length(2048)]);
  const key = publicKeyOf(await shared.client.get({ uniqueIdentifier: created.publicKeyUniqueIdentifier }));
  const messages = Array.from({ length: 24 }, (_, i) => Buffer.from(`record ${i}`));
  const response = await shared.client.batch(
    messages.map((data, i) => ({
      operation: Operation.Sign,
      uniqueBatchItemId: id(i),
      requestPayload: payloads.encodeSignRequest({ uniqueIdentifier: created.privateKeyUniqueIdentifier, data }),
    })),
  );
  assert.equal(response.batchItems.length, messages.length);
  response.batchItems.forEach((item, i) => {
    assertSucceeded(item);
    assert.deepEqual(item.uniqueBatchItemId, id(i));
    const { signatureData } = payloads.decodeSignResponse(item.responsePayload);
    assert.equal(verify("sha256", messages[i]!, key, signatureData!), true, `item ${i} signs its own data`);
  });
});

test("Maximum Response Size: a response over it becomes Response Too Large for every item", async () => {
  const request = () => [{ operation: Operation.Query, requestPayload: payloads.encodeQueryRequest({ queryFunctions: [QueryFunction.QueryOperations, QueryFunction.QueryServerInformation] }) }];
  const small = await shared.client.batch(request(), { maximumResponseSize: 100 });
  assert.equal(reasonName(small.batchItems[0]!), "ResponseTooLarge");
  assert.match(small.batchItems[0]!.resultMessage!, /over the request's Maximum Response Size of 100/);
  const large = await shared.client.batch(request(), { maximumResponseSize: 100_000 });
  assertSucceeded(large.batchItems[0]!);
});

describe("protocol versions", () => {
  const ALL = ["1.4", "1.3", "1.2", "1.1", "1.0"];
  const text = (v: ProtocolVersion) => `${v.major}.${v.minor}`;

  for (const version of ALL) {
    test(`a KMIP ${version} request is answered in ${version}; Discover Versions lists 1.4 to 1.0, newest first`, async () => {
      const [major, minor] = version.split(".").map(Number) as [number, number];
      const response = await shared.client.batch(
        [{ operation: Operation.DiscoverVersions, requestPayload: payloads.encodeDiscoverVersionsRequest({ protocolVersions: [] }) }],
        { protocolVersion: { major, minor } },
      );
      assert.equal(text(response.header.protocolVersion), version);
      assertSucceeded(response.batchItems[0]!);
      assert.deepEqual(payloads.decodeDiscoverVersionsResponse(response.batchItems[0]!.responsePayload).protocolVersions.map(text), ALL);
    });
  }

  test("Discover Versions answers the versions both sides speak, in the relay's order", async () => {
    const { protocolVersions } = await shared.client.discoverVersions({
      protocolVersions: [{ major: 1, minor: 0 }, { major: 2, minor: 0 }, { major: 1, minor: 3 }],
    });
    assert.deepEqual(protocolVersions.map(text), ["1.3", "1.0"]);
  });

  test("versions the relay does not speak: one failed item without an Operation", async () => {
    for (const [protocolVersion, answered] of [
      [{ major: 1, minor: 5 }, "1.4"],
      [{ major: 2, minor: 0 }, "1.2"],
    ] as const) {
      const response = await shared.client.batch([{ operation: Operation.Query, requestPayload: payloads.encodeQueryRequest({ queryFunctions: [] }) }], { protocolVersion });
      assert.equal(text(response.header.protocolVersion), answered);
      assert.equal(response.batchItems.length, 1);
      assert.equal(response.batchItems[0]!.operation, undefined);
      assert.equal(reasonName(response.batchItems[0]!), "InvalidMessage");
      assert.match(response.batchItems[0]!.resultMessage!, new RegExp(`${text(protocolVersion).replace(".", "\\.")} is not supported; this relay speaks KMIP 1\\.0 to 1\\.4`));
    }
  });
});

test("an item naming no Unique Identifier in a batch that set no ID Placeholder is Missing Data", async () => {
  const response = await shared.client.batch([{ operation: Operation.Sign, requestPayload: payloads.encodeSignRequest({ data: DATA }) }]);
  assert.equal(reasonName(response.batchItems[0]!), enumerationName(Tag.ResultReason, ResultReason.MissingData));
});
