// The relay's server behaviour end to end (doc/compatibility.md#protocol, issue #3
// "Connections"), against the relay as its own process on real SoftHSM
// tokens: requests in flight answered in order, the message size limit,
// messages that cannot be served at all, batch items and the response header,
// credentials and the username forms, and a slow key generation that does not
// hold up another connection.
import { setTimeout as sleep } from "node:timers/promises";
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { type KmipClient, KmipConnectionError, type KmipClientOptions } from "../../src/client/kmip-client.js";
import type { Attribute } from "../../src/kmip/attributes.js";
import {
  decodeResponseMessage,
  encodeRequestMessage,
  type RequestBatchItem,
  type RequestHeader,
  type ResponseBatchItem,
  type ResponseMessage,
} from "../../src/kmip/message.js";
import type { KeyObject } from "../../src/kmip/objects.js";
import {
  type CreateKeyPairResponsePayload,
  decodeCreateKeyPairResponse,
  decodeQueryResponse,
  encodeCreateKeyPairRequest,
  encodeDiscoverVersionsRequest,
  encodeGetRequest,
  encodeQueryRequest,
  encodeSignRequest,
} from "../../src/kmip/payloads/index.js";
import * as ttlv from "../../src/ttlv/build.js";
import { decodeTtlv } from "../../src/ttlv/decode.js";
import { encodeTtlv } from "../../src/ttlv/encode.js";
import {
  BatchErrorContinuationOption,
  CredentialType,
  CryptographicAlgorithm,
  HashingAlgorithm,
  Operation,
  QueryFunction,
  ResultReason,
  ResultStatus,
} from "../../src/ttlv/enums.js";
import { enumerationName } from "../../src/ttlv/names.js";
import { Tag } from "../../src/ttlv/tags.js";
import { startRelayProcess, type RunningRelay } from "../helpers/relay.js";
import { createSoftHsmToken, pkcs11Tool, type SoftHsmToken } from "../helpers/softhsm.js";
import { connect, DATA } from "../helpers/relay-client.js";

/** server.max-message-size of the relay under test: a multiple of 8, so that a message can be exactly this long. */
const MAX_MESSAGE_SIZE = 8192;

/** The user PIN of every token: distinctive, so that the relay's log can be searched for it. */
const PIN = "relay-test-PIN-7f3c";

const UNKNOWN_ID = `${"00".repeat(20)}_pub`;

let tokens: SoftHsmToken;
let relay: RunningRelay;
/** A connection to token 1 with the right PIN. */
let client: KmipClient;
/** A P-256 pair on token 1. */
let ecPair: CreateKeyPairResponsePayload;

/** One exchange on a connection of its own. */
async function withConnection<T>(options: Partial<KmipClientOptions>, use: (c: KmipClient) => Promise<T>): Promise<T> {
  const c = await connect(relay, options);
  try {
    return await use(c);
  } finally {
    await c.close();
  }
}

const attribute = (name: "Cryptographic Algorithm" | "Cryptographic Length", value: number): Attribute => ({ name, value });

/** Request batch items. */
const items = {
  discoverVersions: (): RequestBatchItem => ({ operation: Operation.DiscoverVersions, requestPayload: encodeDiscoverVersionsRequest({ protocolVersions: [] }) }),
  queryServer: (): RequestBatchItem => ({ operation: Operation.Query, requestPayload: encodeQueryRequest({ queryFunctions: [QueryFunction.QueryServerInformation] }) }),
  get: (uniqueIdentifier: string): RequestBatchItem => ({ operation: Operation.Get, requestPayload: encodeGetRequest({ uniqueIdentifier }) }),
  /** Cascade's ECDSA Sign. */
  sign: (uniqueIdentifier: string, data: Uint8Array = DATA): RequestBatchItem => ({
    operation: Operation.Sign,
    requestPayload: encodeSignRequest({
      uniqueIdentifier,
      cryptographicParameters: { hashingAlgorithm: HashingAlgorithm.SHA256, cryptographicAlgorithm: CryptographicAlgorithm.ECDSA },
      data,
    }),
  }),
  createKeyPair: (algorithm: number, length: number): RequestBatchItem => ({
    operation: Operation.CreateKeyPair,
    requestPayload: encodeCreateKeyPairRequest({
      commonTemplateAttribute: { names: [], attributes: [{ name: "Activation Date", value: BigInt(Math.floor(Date.now() / 1000)) }, attribute("Cryptographic Algorithm", algorithm), attribute("Cryptographic Length", length)] },
    }),
  }),
  /** An operation a relay that stores nothing will not serve. */
  archive: (uniqueIdentifier: string): RequestBatchItem => ({
    operation: Operation.Archive,
    requestPayload: ttlv.structure(Tag.RequestPayload, [ttlv.textString(Tag.UniqueIdentifier, uniqueIdentifier)]),
  }),
};

/** A request header with token 1's credential. */
function header(overrides: Partial<RequestHeader> = {}): RequestHeader {
  return {
    protocolVersion: { major: 1, minor: 2 },
    authentication: { credential: { credentialType: CredentialType.UsernameAndPassword, username: tokens.labels[0], password: PIN } },
    batchCount: 1,
    ...overrides,
  };
}

/** A Request Message's bytes; Batch Count is the number of items. */
function encodeRequest(batchItems: RequestBatchItem[], overrides: Partial<RequestHeader> = {}): Buffer {
  return encodeTtlv(encodeRequestMessage({ header: header({ batchCount: batchItems.length, ...overrides }), batchItems }));
}

const decodeReply = (bytes: Uint8Array): ResponseMessage => decodeResponseMessage(decodeTtlv(bytes));
const batchId = (text: string) => Buffer.from(text);
const reasonName = (reason: number | undefined) => (reason === undefined ? undefined : enumerationName(Tag.ResultReason, reason));

function assertSuccess(item: ResponseBatchItem | undefined, operation: number): void {
  assert.ok(item !== undefined, "a batch item");
  assert.equal(item.resultStatus, ResultStatus.Success, `${enumerationName(Tag.Operation, operation)}: ${item.resultMessage}`);
  assert.equal(item.operation, operation);
}

function assertFailure(item: ResponseBatchItem | undefined, reason: number, message?: RegExp): void {
  assert.ok(item !== undefined, "a batch item");
  assert.equal(item.resultStatus, ResultStatus.OperationFailed);
  assert.equal(reasonName(item.resultReason), reasonName(reason), item.resultMessage);
  if (message !== undefined) assert.match(item.resultMessage ?? "", message);
}

/** doc/compatibility.md#protocol: a message that cannot be served at all is answered by one batch item with no Operation, Operation Failed. */
function assertMessageFailure(response: ResponseMessage, message: RegExp): void {
  assert.equal(response.header.batchCount, 1);
  assert.equal(response.batchItems.length, 1);
  assert.equal(response.batchItems[0]!.operation, undefined, "no Operation");
  assertFailure(response.batchItems[0], ResultReason.InvalidMessage, message);
}

/** The token label and slot id that Query Server Information names: which token a request reached. */
async function reachedToken(username: string): Promise<{ label: string; slotId: string }> {
  const response = await withConnection({ username }, (c) => c.batch([items.queryServer()]));
  assertSuccess(response.batchItems[0], Operation.Query);
  const vendor = decodeQueryResponse(response.batchItems[0]!.responsePayload!).vendorIdentification ?? "";
  const match = /token "([^"]*)".*\(id (\d+)\)/.exec(vendor);
  assert.ok(match, vendor);
  return { label: match[1]!, slotId: match[2]! };
}

before(async () => {
  // Token 1 serves most tests, token 2 the username forms; token 3 stays
  // untouched until the wrong-PIN test, which needs a token not yet logged in.
  tokens = await createSoftHsmToken({ tokens: 3, pin: PIN });
  // Debug level: the request dumps show when the relay has read a request, and are searched for the PIN.
  relay = await startRelayProcess({ token: tokens, logLevel: "debug", server: [`max-message-size = ${MAX_MESSAGE_SIZE}`] });
  client = await connect(relay);
  ecPair = await client.createKeyPair({
    commonTemplateAttribute: { names: [], attributes: [{ name: "Activation Date", value: BigInt(Math.floor(Date.now() / 1000)) }, attribute("Cryptographic Algorithm", CryptographicAlgorithm.ECDSA), attribute("Cryptographic Length", 256)] },
  });
});

after(async () => {
  await client?.close();
  await relay?.cleanup();
  await tokens?.cleanup();
});

describe("messages on one connection", () => {
  test("requests sent without waiting are answered in order", async () => {
    // A slow request first (a key generation), then quick and failing ones:
    // were an answer to overtake another, its Operation and Unique Batch Item ID would not match.
    const requests: RequestBatchItem[] = [
      items.createKeyPair(CryptographicAlgorithm.RSA, 2048),
      items.discoverVersions(),
      items.sign(ecPair.privateKeyUniqueIdentifier),
      items.get(UNKNOWN_ID),
      items.queryServer(),
      ...Array.from({ length: 10 }, () => items.sign(ecPair.privateKeyUniqueIdentifier)),
      items.archive(UNKNOWN_ID),
      items.get(ecPair.publicKeyUniqueIdentifier),
    ];
    const answers = await Promise.all(
      requests.map((item, n) => client.send({ header: header(), batchItems: [{ ...item, uniqueBatchItemId: batchId(`request ${n}`) }] })),
    );
    answers.forEach((answer, n) => {
      assert.equal(answer.batchItems.length, 1);
      assert.equal(answer.batchItems[0]!.operation, requests[n]!.operation, `answer ${n}`);
      assert.deepEqual(answer.batchItems[0]!.uniqueBatchItemId, batchId(`request ${n}`), `answer ${n}`);
    });
    assertSuccess(answers[0]!.batchItems[0], Operation.CreateKeyPair);
    assertFailure(answers[3]!.batchItems[0], ResultReason.ItemNotFound);
    assertSuccess(answers.at(-1)!.batchItems[0], Operation.Get);
  });

  test("a message that cannot be parsed gets one batch item with no Operation, and the connection goes on", async () => {
    // An item of type 0xFF inside a well-framed Request Message.
    const badType = Buffer.from("42007801000000104200770F000000080000000000000000", "hex");
    // Well-formed TTLV that is not a Request Message.
    const notRequest = encodeTtlv(ttlv.structure(Tag.ResponseMessage, [ttlv.integer(Tag.BatchCount, 1)]));
    // A Request Message whose Batch Count disagrees with its items.
    const miscounted = encodeRequest([items.discoverVersions()], { batchCount: 2 });
    for (const [bytes, message] of [
      [badType, /type/i],
      [notRequest, /expected a Request Message/],
      [miscounted, /Batch Count .* is 2, but the message carries 1 Batch Item/],
    ] as const) {
      const response = decodeReply(await client.sendRaw(bytes));
      assertMessageFailure(response, message);
      assert.deepEqual(response.header.protocolVersion, { major: 1, minor: 2 });
    }
    assertSuccess((await client.batch([items.discoverVersions()])).batchItems[0], Operation.DiscoverVersions);
  });

  test("an unsupported major protocol version gets one batch item with no Operation", async () => {
    for (const protocolVersion of [{ major: 2, minor: 0 }, { major: 0, minor: 9 }]) {
      const response = decodeReply(await client.sendRaw(encodeRequest([items.discoverVersions()], { protocolVersion })));
      assertMessageFailure(response, new RegExp(`protocol version ${protocolVersion.major}\\.${protocolVersion.minor} is not supported`));
    }
  });

  test("a message over server.max-message-size gets an error response, then the connection is closed", async () => {
    // A Sign whose Data pads the message to `size` bytes (Data of a multiple of 8 bytes needs no padding).
    const emptyData = encodeRequest([items.sign(ecPair.privateKeyUniqueIdentifier, Buffer.alloc(0))]).length;
    const ofSize = (size: number) => encodeRequest([items.sign(ecPair.privateKeyUniqueIdentifier, Buffer.alloc(size - emptyData, 0x61))]);
    await withConnection({}, async (c) => {
      const exact = ofSize(MAX_MESSAGE_SIZE);
      assert.equal(exact.length, MAX_MESSAGE_SIZE);
      assertSuccess(decodeReply(await c.sendRaw(exact)).batchItems[0], Operation.Sign);
      // Eight bytes more is refused, and a request sent behind it is never read.
      const over = c.sendRaw(ofSize(MAX_MESSAGE_SIZE + 8));
      const behind = c.sendRaw(encodeRequest([items.discoverVersions()]));
      assertMessageFailure(decodeReply(await over), /8200 bytes exceeds the limit of 8192 bytes \(server\.max-message-size\)/);
      await assert.rejects(behind, (error: unknown) => error instanceof KmipConnectionError && error.code === "CLOSED");
    });
    // Other connections go on.
    assertSuccess((await client.batch([items.discoverVersions()])).batchItems[0], Operation.DiscoverVersions);
  });
});

describe("batch items and the response header", () => {
  test("every batch item's Unique Batch Item ID is echoed, in order", async () => {
    const signs = Array.from({ length: 8 }, (_, n) => ({ ...items.sign(ecPair.privateKeyUniqueIdentifier), uniqueBatchItemId: batchId(`sign ${n}`) }));
    const request = [
      { ...items.discoverVersions(), uniqueBatchItemId: batchId("discover") },
      ...signs,
      items.get(ecPair.publicKeyUniqueIdentifier), // no ID: none comes back
      { ...items.queryServer(), uniqueBatchItemId: Buffer.from([0, 1, 2, 0xff]) },
    ];
    const response = await client.batch(request);
    assert.equal(response.header.batchCount, request.length);
    assert.equal(response.batchItems.length, request.length);
    response.batchItems.forEach((item, n) => {
      assertSuccess(item, request[n]!.operation);
      assert.deepEqual(item.uniqueBatchItemId, request[n]!.uniqueBatchItemId, `item ${n}`);
    });
  });

  test("the header carries the request's protocol version, a time stamp and the batch count", async () => {
    for (let minor = 0; minor <= 4; minor++) {
      const before = BigInt(Math.floor(Date.now() / 1000));
      const response = await client.batch([items.discoverVersions(), items.queryServer()], { protocolVersion: { major: 1, minor } });
      const after = BigInt(Math.ceil(Date.now() / 1000));
      assert.deepEqual(response.header.protocolVersion, { major: 1, minor });
      assert.ok(response.header.timeStamp >= before && response.header.timeStamp <= after, `time stamp ${response.header.timeStamp} is now`);
      assert.equal(response.header.batchCount, 2);
      assert.equal(response.batchItems.length, 2);
    }
  });

  test("Stop (the default) ends the batch at the first failure; Continue serves every item", async () => {
    const request = [
      { ...items.get(ecPair.publicKeyUniqueIdentifier), uniqueBatchItemId: batchId("1") },
      { ...items.get(UNKNOWN_ID), uniqueBatchItemId: batchId("2") },
      { ...items.discoverVersions(), uniqueBatchItemId: batchId("3") },
    ];
    const stopped = await client.batch(request);
    assert.deepEqual(stopped.batchItems.map((item) => item.uniqueBatchItemId), [batchId("1"), batchId("2")]);
    assert.equal(stopped.header.batchCount, 2);
    assertFailure(stopped.batchItems[1], ResultReason.ItemNotFound);

    const continued = await client.batch(request, { batchErrorContinuationOption: BatchErrorContinuationOption.Continue });
    assert.deepEqual(continued.batchItems.map((item) => item.resultStatus), [ResultStatus.Success, ResultStatus.OperationFailed, ResultStatus.Success]);
    assert.equal(continued.header.batchCount, 3);
  });

  test("an unsupported operation gets Operation Not Supported; the batch goes on under Continue", async () => {
    const response = await client.batch(
      [{ ...items.archive(ecPair.publicKeyUniqueIdentifier), uniqueBatchItemId: batchId("archive") }, items.discoverVersions()],
      { batchErrorContinuationOption: BatchErrorContinuationOption.Continue },
    );
    assert.equal(response.batchItems[0]!.operation, Operation.Archive);
    assert.deepEqual(response.batchItems[0]!.uniqueBatchItemId, batchId("archive"));
    assertFailure(response.batchItems[0], ResultReason.OperationNotSupported, /Archive/);
    assertSuccess(response.batchItems[1], Operation.DiscoverVersions);
  });
});

describe("credentials", () => {
  test("a request without a Username and Password gets Operation Failed, Authentication Not Successful for every item", async () => {
    const batchItems = [items.discoverVersions(), { ...items.queryServer(), uniqueBatchItemId: batchId("q") }];
    const credential = (fields: { username?: string; password?: string }) => ({
      authentication: { credential: { credentialType: CredentialType.UsernameAndPassword, ...fields } },
    });
    for (const overrides of [{ authentication: undefined }, credential({ username: tokens.labels[0] })]) {
      const response = decodeReply(await client.sendRaw(encodeRequest(batchItems, overrides)));
      assert.equal(response.batchItems.length, 2);
      response.batchItems.forEach((item, n) => {
        assert.equal(item.operation, batchItems[n]!.operation);
        assertFailure(item, ResultReason.AuthenticationNotSuccessful, /Username and Password/);
      });
      assert.deepEqual(response.batchItems[1]!.uniqueBatchItemId, batchId("q"));
    }
  });

  test(
    "a credential without a Username gets Authentication Not Successful too",
    async () => {
      const credential = ttlv.structure(Tag.Credential, [
        ttlv.enumeration(Tag.CredentialType, CredentialType.UsernameAndPassword),
        ttlv.structure(Tag.CredentialValue, [ttlv.textString(Tag.Password, PIN)]),
      ]);
      const message = ttlv.structure(Tag.RequestMessage, [
        ttlv.structure(Tag.RequestHeader, [
          ttlv.structure(Tag.ProtocolVersion, [ttlv.integer(Tag.ProtocolVersionMajor, 1), ttlv.integer(Tag.ProtocolVersionMinor, 2)]),
          ttlv.structure(Tag.Authentication, [credential]),
          ttlv.integer(Tag.BatchCount, 1),
        ]),
        ttlv.structure(Tag.BatchItem, [ttlv.enumeration(Tag.Operation, Operation.DiscoverVersions), encodeDiscoverVersionsRequest({ protocolVersions: [] })]),
      ]);
      const response = decodeReply(await client.sendRaw(encodeTtlv(message)));
      assert.equal(response.batchItems[0]!.operation, Operation.DiscoverVersions);
      assertFailure(response.batchItems[0], ResultReason.AuthenticationNotSuccessful);
    },
  );

  test("a username that names no token, slot id or slot index gets Authentication Not Successful", async () => {
    for (const username of ["no-such-token", "99", "0x1"]) {
      const response = await withConnection({ username }, (c) => c.batch([items.discoverVersions(), items.queryServer()]));
      assert.equal(response.batchItems.length, 2);
      for (const item of response.batchItems) assertFailure(item, ResultReason.AuthenticationNotSuccessful, /no single token matches the username/);
    }
  });

  test("a username selecting a slot without an initialised token gets Authentication Not Successful saying so, and the log says so too", async () => {
    // SoftHSM always offers one more slot, with an uninitialised token.
    const listing = await pkcs11Tool(tokens, ["-L"]);
    const spare = /^Slot (\d+) \(0x([0-9a-f]+)\): .*\n\s+token state:\s+uninitialized/m.exec(listing);
    assert.ok(spare, listing);
    const slotId = BigInt(`0x${spare[2]}`).toString();
    // Lines about refused credentials are limited to 5 a second per peer, and
    // the tests before this one spent them: start a fresh second.
    await sleep(1100);
    const response = await withConnection({ username: `slot:${slotId}` }, (c) => c.batch([items.queryServer()]));
    assertFailure(response.batchItems[0], ResultReason.AuthenticationNotSuccessful, /token not initialised/);
    const line = await relay.waitForOutput(new RegExp(`INFO .*token not initialised.*\n`));
    assert.doesNotMatch(line, /authentication failed/);
  });

  test("the username selects the token by label, by slot id or by slot index", async () => {
    // pkcs11-tool -L lists "Slot <index> (0x<id>): ..." followed by the token label.
    const listing = await pkcs11Tool(tokens, ["-L"]);
    const slots = [...listing.matchAll(/^Slot (\d+) \(0x([0-9a-f]+)\):.*\n\s+token label\s+:\s+(.*)$/gm)].map((m) => ({
      index: m[1]!,
      slotId: BigInt(`0x${m[2]}`).toString(),
      label: m[3]!.trim(),
    }));
    const first = slots.find((s) => s.label === tokens.labels[0]);
    const second = slots.find((s) => s.label === tokens.labels[1]);
    assert.ok(first && second, listing);

    assert.deepEqual(await reachedToken(tokens.labels[1]!), { label: second.label, slotId: second.slotId });
    assert.deepEqual(await reachedToken(second.slotId), { label: second.label, slotId: second.slotId });
    assert.deepEqual(await reachedToken(second.index), { label: second.label, slotId: second.slotId });
    assert.deepEqual(await reachedToken(first.index), { label: first.label, slotId: first.slotId });
    // Keys live on their token: token 2 does not know token 1's key.
    const response = await withConnection({ username: second.slotId }, (c) => c.batch([items.get(ecPair.publicKeyUniqueIdentifier)]));
    assertFailure(response.batchItems[0], ResultReason.ItemNotFound);
  });

  test("a wrong PIN fails before any login, and after another connection has logged the token in", async () => {
    const username = tokens.labels[2]!;
    const refused = async () => {
      const response = await withConnection({ username, password: "not-the-PIN" }, (c) => c.batch([items.discoverVersions(), items.queryServer()]));
      assert.equal(response.batchItems.length, 2);
      for (const item of response.batchItems) assertFailure(item, ResultReason.AuthenticationNotSuccessful);
    };
    await refused();
    const rightPin = await connect(relay, { username });
    try {
      assertSuccess((await rightPin.batch([items.queryServer()])).batchItems[0], Operation.Query);
      await refused();
      // The refusal did not log the token out for the right PIN.
      assertSuccess((await rightPin.batch([items.queryServer()])).batchItems[0], Operation.Query);
    } finally {
      await rightPin.close();
    }
  });

  test("the PIN never reaches the log, even at debug level", async () => {
    await withConnection({}, (c) => c.batch([items.discoverVersions()]));
    await relay.waitForOutput(/request message/);
    const output = relay.output();
    assert.ok(!output.includes(PIN), "the PIN in text");
    const hex = Buffer.from(PIN).toString("hex");
    assert.ok(!output.toLowerCase().includes(hex), "the PIN in a hex dump");
  });
});

test("Create Key Pair of RSA-4096 does not stall a Sign on another connection", async () => {
  const generating = await connect(relay);
  const signing = await connect(relay);
  try {
    const order: string[] = [];
    const created = generating.batch([items.createKeyPair(CryptographicAlgorithm.RSA, 4096)]).then((response) => {
      order.push("create");
      return response;
    });
    // The relay logs each request at debug level when it has read it: from
    // then on, the generation is under way.
    await relay.waitForOutput(/AttributeValue \(Integer\): 4096/);
    for (let n = 0; n < 3; n++) {
      assertSuccess((await signing.batch([items.sign(ecPair.privateKeyUniqueIdentifier)])).batchItems[0], Operation.Sign);
      order.push(`sign ${n}`);
    }
    const response = await created;
    assert.deepEqual(order, ["sign 0", "sign 1", "sign 2", "create"]);
    // The largest RSA size of doc/compatibility.md#create-key-pair is made, and is what it says.
    assertSuccess(response.batchItems[0], Operation.CreateKeyPair);
    const pair = decodeCreateKeyPairResponse(response.batchItems[0]!.responsePayload!);
    const got = await generating.get({ uniqueIdentifier: pair.publicKeyUniqueIdentifier });
    assert.equal((got.object as KeyObject).keyBlock.cryptographicLength, 4096);
  } finally {
    await generating.close();
    await signing.close();
  }
});
