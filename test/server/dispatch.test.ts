// The Dispatcher with a fake HSM backend and fake operations: the batch
// semantics that a real relay exercises only in part (order and concurrency
// of items, the ID Placeholder, error continuation, limits, credentials,
// protocol versions), and how failures become Result Reasons (result.ts).
// The same behaviour over TLS against the real relay is in
// test/e2e/relay-protocol.test.ts.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import pino from "pino";
import type { HsmBackend, SlotSummary } from "../../src/hsm/backend.js";
import { HsmError, type HsmErrorCode } from "../../src/hsm/hsm-error.js";
import { KmipError } from "../../src/kmip/errors.js";
import {
  decodeResponseMessage,
  encodeRequestMessage,
  type RequestBatchItem,
  type RequestHeader,
  type ResponseBatchItem,
  type ResponseMessage,
} from "../../src/kmip/message.js";
import type { OperationHandler } from "../../src/operations/operation.js";
import { Dispatcher, type DispatcherOptions, type RequestScope } from "../../src/server/dispatch.js";
import { ClientWork } from "../../src/server/client-work.js";
import { describeFailure } from "../../src/server/result.js";
import * as ttlv from "../../src/ttlv/build.js";
import { decodeTtlv } from "../../src/ttlv/decode.js";
import { encodeTtlv } from "../../src/ttlv/encode.js";
import { BatchErrorContinuationOption, CredentialType, Operation, ResultReason, ResultStatus } from "../../src/ttlv/enums.js";
import { ItemType, type TtlvItem } from "../../src/ttlv/item.js";
import { enumerationName } from "../../src/ttlv/names.js";
import { Tag } from "../../src/ttlv/tags.js";

const logger = pino({ level: "silent" });

const SLOT: SlotSummary = {
  slotId: "7",
  index: 0,
  slotDescription: "fake slot",
  tokenLabel: "token",
  tokenSerial: "1",
  tokenManufacturer: "test",
  tokenModel: "fake",
  maxSessionCount: 0,
  maxRwSessionCount: 0,
  tokenInitialized: true,
  userPinInitialized: true,
  loginRequired: true,
};

/** A backend that knows one token, "token", with PIN "1234"; the dispatcher itself calls nothing else. */
function fakeBackend(calls: string[] = []): HsmBackend {
  const unused = () => Promise.reject(new Error("the dispatcher does not call this"));
  return {
    module: { path: "/fake.so", manufacturer: "test", libraryDescription: "fake", libraryVersion: "1.0", cryptokiVersion: "2.40" },
    listSlots: unused,
    async resolveSlot(username) {
      calls.push(`resolveSlot ${username}`);
      if (username === "shared") throw new HsmError("SLOT_NOT_FOUND", `username "shared" matches 2 tokens: slot 7 (label "shared", serial "1"); slot 8 (label "shared", serial "2")`);
      if (username !== SLOT.tokenLabel) throw new HsmError("SLOT_NOT_FOUND", `no token labelled "${username}", and no slot with that id or index`);
      return SLOT;
    },
    async authenticate(slotId, bytes) {
      const pin = Buffer.from(bytes).toString("utf8");
      calls.push(`authenticate ${slotId}`);
      if (pin === "cool") throw new HsmError("LOGIN_COOLDOWN", `slot ${slotId}: logins refused for another 300 s after 5 failed C_Login calls`);
      if (pin !== "1234") throw new HsmError("AUTH_FAILED", `slot ${slotId}: the PIN does not match the one the token is logged in with`);
    },
    mechanisms: unused,
    generateKeyPair: unused,
    importKey: unused,
    generateSecretKey: unused,
    readSecretValue: unused,
    wrapKey: unused,
    encrypt: unused,
    decrypt: unused,
    mac: unused,
    macVerify: unused,
    describeKey: unused,
    digestSecretKey: unused,
    findKeys: unused,
    describeKeys: unused,
    updateKey: unused,
    destroyKey: unused,
    readMetadata: unused,
    writeMetadata: unused,
    destroyMetadata: unused,
    sign: unused,
    verify: unused,
    generateRandom: unused,
    ping: unused,
    close: unused,
  };
}

/** The Unique Identifier a request payload names. */
function idOf(payload: TtlvItem): string | undefined {
  const item = ttlv.child(payload, Tag.UniqueIdentifier);
  return item?.type === ItemType.TextString && typeof item.value === "string" ? item.value : undefined;
}

const payloadWithId = (tag: number, id: string) => ttlv.structure(tag, [ttlv.textString(Tag.UniqueIdentifier, id)]);

/**
 * Fake operations that log when they start and end (by the id they act on):
 * Get and Sign are read-only, Activate and Create change state (Create sets
 * the ID Placeholder). An id "missing" is Item Not Found; "bug" throws a
 * plain Error; "hsm-down" an HsmError; "large" answers 1 KiB.
 */
function fakeHandlers(events: string[]): OperationHandler[] {
  const handler = (operation: number, readOnly: boolean): OperationHandler => ({
    operation,
    name: enumerationName(Tag.Operation, operation)!,
    readOnly,
    async run(context, requestPayload) {
      const id = idOf(requestPayload) ?? context.idPlaceholder;
      if (id === undefined) throw new KmipError(ResultReason.MissingData, "no Unique Identifier and no ID Placeholder");
      events.push(`start ${id}`);
      await new Promise((resolve) => setImmediate(resolve));
      events.push(`end ${id}`);
      if (id === "missing") throw new KmipError(ResultReason.ItemNotFound, `no key ${id}`);
      if (id === "bug") throw new TypeError("x is undefined");
      if (id === "hsm-down") throw new HsmError("MODULE_FAILED", "C_Sign: the module process exited", "C_Sign");
      if (operation === Operation.Create) context.idPlaceholder = id;
      const extra = id === "large" ? [ttlv.byteString(Tag.Data, Buffer.alloc(1024))] : [];
      return ttlv.structure(Tag.ResponsePayload, [ttlv.textString(Tag.UniqueIdentifier, id), ...extra]);
    },
  });
  const random: OperationHandler = {
    operation: Operation.RNGRetrieve,
    name: "RNG Retrieve",
    readOnly: true,
    async run(context) {
      context.responseBudget?.reserve(1032, "RNG Retrieve of 1024 bytes");
      events.push("random");
      return ttlv.structure(Tag.ResponsePayload, [ttlv.byteString(Tag.Data, Buffer.alloc(1024))]);
    },
  };
  return [handler(Operation.Get, true), handler(Operation.Sign, true), handler(Operation.Activate, false), handler(Operation.Create, false), random];
}

function dispatcher(options: Partial<DispatcherOptions> & { events?: string[]; calls?: string[] } = {}): Dispatcher {
  return new Dispatcher({
    backend: fakeBackend(options.calls),
    handlers: fakeHandlers(options.events ?? []),
    server: { productName: "kmip2pkcs11", productVersion: "0.0.0" },
    logger,
    maxMessageSize: 65536,
    maxBatchCount: 100,
    ...options,
  });
}

const item = (operation: number, id?: string): RequestBatchItem => ({
  operation,
  uniqueBatchItemId: id === undefined ? undefined : Buffer.from(`#${id}`),
  requestPayload: id === undefined ? ttlv.structure(Tag.RequestPayload, []) : payloadWithId(Tag.RequestPayload, id),
});

function header(overrides: Partial<RequestHeader> = {}): RequestHeader {
  return {
    protocolVersion: { major: 1, minor: 2 },
    authentication: { credential: { credentialType: CredentialType.UsernameAndPassword, username: "token", password: "1234" } },
    batchCount: 1,
    ...overrides,
  };
}

async function handle(d: Dispatcher, batchItems: RequestBatchItem[], overrides: Partial<RequestHeader> = {}, scope: RequestScope = {}): Promise<ResponseMessage> {
  const bytes = encodeTtlv(encodeRequestMessage({ header: header({ batchCount: batchItems.length, ...overrides }), batchItems }));
  return decodeResponseMessage(decodeTtlv(await d.handle(bytes, logger, scope)));
}

const statuses = (response: ResponseMessage) => response.batchItems.map((i) => i.resultStatus);
const reasons = (response: ResponseMessage) => response.batchItems.map((i) => (i.resultReason === undefined ? undefined : enumerationName(Tag.ResultReason, i.resultReason)));
const ids = (response: ResponseMessage) => response.batchItems.map((i) => (i.uniqueBatchItemId === undefined ? undefined : Buffer.from(i.uniqueBatchItemId).toString()));

function assertMessageFailure(response: ResponseMessage, version: { major: number; minor: number }, message: RegExp): void {
  assert.deepEqual(response.header.protocolVersion, version);
  assert.equal(response.header.batchCount, 1);
  const [only] = response.batchItems as [ResponseBatchItem];
  assert.equal(response.batchItems.length, 1);
  assert.equal(only.operation, undefined);
  assert.equal(only.resultStatus, ResultStatus.OperationFailed);
  assert.equal(only.resultReason, ResultReason.InvalidMessage);
  assert.match(only.resultMessage ?? "", message);
}

describe("batch order", () => {
  test("consecutive read-only items run together; an item that changes state runs alone, in its place", async () => {
    const events: string[] = [];
    const d = dispatcher({ events });
    const response = await handle(d, [item(Operation.Get, "a"), item(Operation.Sign, "b"), item(Operation.Get, "c"), item(Operation.Activate, "d"), item(Operation.Sign, "e"), item(Operation.Sign, "f")]);
    assert.deepEqual(ids(response), ["#a", "#b", "#c", "#d", "#e", "#f"]);
    assert.deepEqual(statuses(response), Array(6).fill(ResultStatus.Success));
    assert.deepEqual(events, ["start a", "start b", "start c", "end a", "end b", "end c", "start d", "end d", "start e", "start f", "end e", "end f"]);
  });

  test("the ID Placeholder carries a created id to later items of the same message only", async () => {
    const d = dispatcher();
    const response = await handle(d, [item(Operation.Create, "new-key"), item(Operation.Activate), item(Operation.Sign)]);
    assert.deepEqual(statuses(response), Array(3).fill(ResultStatus.Success));
    for (const answer of response.batchItems) assert.equal(idOf(answer.responsePayload!), "new-key");
    const next = await handle(d, [item(Operation.Sign)]);
    assert.deepEqual(reasons(next), ["MissingData"]);
  });
});

describe("onItem", () => {
  test("reports every item it ran, alone or in a group, with its operation, Result Reason and a duration", async () => {
    const seen: [string | undefined, string | undefined][] = [];
    const d = dispatcher({
      onItem: (operation, resultReason, seconds) => {
        assert.ok(seconds >= 0 && seconds < 60, `a duration in seconds, not ${seconds}`);
        seen.push([operation === undefined ? undefined : enumerationName(Tag.Operation, operation), resultReason === undefined ? undefined : enumerationName(Tag.ResultReason, resultReason)]);
      },
    });
    await handle(d, [item(Operation.Sign, "a")]);
    await handle(d, [item(Operation.Get, "b"), item(Operation.Sign, "missing"), item(Operation.Activate, "c")], { batchErrorContinuationOption: BatchErrorContinuationOption.Continue });
    assert.deepEqual(seen, [
      ["Sign", undefined],
      ["Get", undefined],
      ["Sign", "ItemNotFound"],
      ["Activate", undefined],
    ]);
  });
});

describe("Batch Error Continuation Option", () => {
  const batch = () => [item(Operation.Activate, "a"), item(Operation.Activate, "missing"), item(Operation.Activate, "c")];

  test("Stop, the default, answers up to and including the first failure", async () => {
    const events: string[] = [];
    for (const option of [undefined, BatchErrorContinuationOption.Stop]) {
      events.length = 0;
      const response = await handle(dispatcher({ events }), batch(), { batchErrorContinuationOption: option });
      assert.deepEqual(ids(response), ["#a", "#missing"]);
      assert.deepEqual(reasons(response), [undefined, "ItemNotFound"]);
      assert.equal(response.header.batchCount, 2);
      assert.ok(!events.includes("start c"), "the item after the failure is not run");
    }
  });

  test("Continue answers every item", async () => {
    const response = await handle(dispatcher(), batch(), { batchErrorContinuationOption: BatchErrorContinuationOption.Continue });
    assert.deepEqual(ids(response), ["#a", "#missing", "#c"]);
    assert.deepEqual(statuses(response), [ResultStatus.Success, ResultStatus.OperationFailed, ResultStatus.Success]);
  });

  test("a value that is none of Continue, Stop and Undo is refused (Invalid Field), and nothing runs", async () => {
    for (const option of [0, 4, 0x7fffffff]) {
      const events: string[] = [];
      const response = await handle(dispatcher({ events }), batch(), { batchErrorContinuationOption: option });
      assert.deepEqual(reasons(response), ["InvalidField", "InvalidField", "InvalidField"]);
      assert.match(response.batchItems[0]!.resultMessage!, new RegExp(`Batch Error Continuation Option ${option} is not one of`));
      assert.deepEqual(events, []);
    }
  });

  test("Undo is refused for every item, and nothing runs", async () => {
    const events: string[] = [];
    const response = await handle(dispatcher({ events }), batch(), { batchErrorContinuationOption: BatchErrorContinuationOption.Undo });
    assert.deepEqual(reasons(response), ["FeatureNotSupported", "FeatureNotSupported", "FeatureNotSupported"]);
    assert.deepEqual(ids(response), ["#a", "#missing", "#c"]);
    assert.deepEqual(events, []);
  });
});

describe("failures of an item", () => {
  test("an operation without a handler is Operation Not Supported, naming it", async () => {
    const response = await handle(dispatcher(), [item(Operation.Archive, "a"), item(0x7777, "b")], { batchErrorContinuationOption: BatchErrorContinuationOption.Continue });
    assert.deepEqual(reasons(response), ["OperationNotSupported", "OperationNotSupported"]);
    assert.deepEqual(response.batchItems.map((i) => i.operation), [Operation.Archive, 0x7777]);
    assert.match(response.batchItems[0]!.resultMessage!, /operation Archive is not supported/);
    assert.match(response.batchItems[1]!.resultMessage!, /operation 0x7777 is not supported/);
  });

  test("KmipError keeps its reason, HsmError is mapped, anything else is an internal General Failure", async () => {
    const response = await handle(dispatcher(), [item(Operation.Get, "missing"), item(Operation.Get, "hsm-down"), item(Operation.Get, "bug"), item(Operation.Get, "ok")], {
      batchErrorContinuationOption: BatchErrorContinuationOption.Continue,
    });
    assert.deepEqual(reasons(response), ["ItemNotFound", "GeneralFailure", "GeneralFailure", undefined]);
    assert.equal(response.batchItems[1]!.resultMessage, "C_Sign: the module process exited");
    assert.equal(response.batchItems[2]!.resultMessage, "internal error: x is undefined");
  });

  test("the log line of a failed item names its Result Reason, not its number", async () => {
    const records: Record<string, unknown>[] = [];
    const capture = pino({ level: "info" }, { write: (json: string) => void records.push(JSON.parse(json) as Record<string, unknown>) });
    const bytes = encodeTtlv(encodeRequestMessage({ header: header(), batchItems: [item(Operation.Get, "missing")] }));
    await dispatcher().handle(bytes, capture);
    const line = records.find((r) => r.msg === "Get failed: no key missing");
    assert.equal(line?.reason, "ItemNotFound");
  });

  test("describeFailure maps every HSM error code", () => {
    const expected: Record<HsmErrorCode, [string, boolean]> = {
      SLOT_NOT_FOUND: ["AuthenticationNotSuccessful", false],
      TOKEN_NOT_INITIALISED: ["AuthenticationNotSuccessful", false],
      AUTH_FAILED: ["AuthenticationNotSuccessful", false],
      LOGIN_COOLDOWN: ["AuthenticationNotSuccessful", false],
      PIN_LOCKED: ["AuthenticationNotSuccessful", false],
      ITEM_NOT_FOUND: ["ItemNotFound", false],
      PERMISSION_DENIED: ["PermissionDenied", false],
      UNSUPPORTED: ["CryptographicFailure", false],
      INVALID_ARGUMENT: ["InvalidField", false],
      CRYPTO_FAILED: ["CryptographicFailure", false],
      BUSY: ["GeneralFailure", false],
      MODULE_FAILED: ["GeneralFailure", true],
      PKCS11_ERROR: ["GeneralFailure", true],
    };
    for (const [code, [reason, internal]] of Object.entries(expected)) {
      const failure = describeFailure(new HsmError(code as HsmErrorCode, `C_Fn: ${code}`));
      assert.deepEqual([enumerationName(Tag.ResultReason, failure.resultReason), failure.internal, failure.resultMessage], [reason, internal, `C_Fn: ${code}`], code);
    }
    assert.deepEqual(describeFailure("thrown string"), { resultReason: ResultReason.GeneralFailure, resultMessage: "internal error: thrown string", internal: true });
  });
});

describe("limits", () => {
  test("a batch over max-batch-count fails item by item with Invalid Message, and nothing runs", async () => {
    const events: string[] = [];
    const d = dispatcher({ events, maxBatchCount: 2 });
    const response = await handle(d, [item(Operation.Get, "a"), item(Operation.Get, "b"), item(Operation.Get, "c")]);
    assert.deepEqual(reasons(response), ["InvalidMessage", "InvalidMessage", "InvalidMessage"]);
    assert.match(response.batchItems[0]!.resultMessage!, /3 items; this relay accepts at most 2 \(server\.max-batch-count\)/);
    assert.deepEqual(events, []);
    assert.deepEqual(statuses(await handle(d, [item(Operation.Get, "a"), item(Operation.Get, "b")])), [ResultStatus.Success, ResultStatus.Success]);
  });

  test("a response over the request's Maximum Response Size becomes Response Too Large for every item", async () => {
    const d = dispatcher();
    const batch = [item(Operation.Get, "a"), item(Operation.Get, "large")];
    const tooLarge = await handle(d, batch, { maximumResponseSize: 1024 });
    assert.deepEqual(reasons(tooLarge), ["ResponseTooLarge", "ResponseTooLarge"]);
    assert.deepEqual(ids(tooLarge), ["#a", "#large"]);
    assert.match(tooLarge.batchItems[0]!.resultMessage!, /over the request's Maximum Response Size of 1024/);
    assert.deepEqual(statuses(await handle(d, batch, { maximumResponseSize: 4096 })), [ResultStatus.Success, ResultStatus.Success]);
  });

  test("a message larger than max-message-size is not decoded", async () => {
    const d = dispatcher({ maxMessageSize: 64 });
    const bytes = encodeTtlv(encodeRequestMessage({ header: header(), batchItems: [item(Operation.Get, "a")] }));
    assertMessageFailure(decodeResponseMessage(decodeTtlv(await d.handle(bytes, logger))), { major: 1, minor: 2 }, /exceeds the maximum of 64 bytes/);
  });

  test("server.max-response-size: items that would pass it are refused before they make their answer", async () => {
    const events: string[] = [];
    const d = dispatcher({ events, maxResponseSize: 4096 });
    const response = await handle(d, Array.from({ length: 8 }, () => item(Operation.RNGRetrieve)));
    assert.deepEqual(new Set(reasons(response)), new Set(["ResponseTooLarge"]));
    assert.match(response.batchItems[0]!.resultMessage!, /over the relay's limit of 4096 bytes \(server\.max-response-size\)/);
    // Three fit; the fourth reservation fails before it makes its data.
    assert.equal(events.filter((e) => e === "random").length, 3);
    assert.deepEqual(statuses(await handle(d, [item(Operation.RNGRetrieve), item(Operation.RNGRetrieve)])), [ResultStatus.Success, ResultStatus.Success]);
  });

  test("items not yet started when the client goes away are not run", async () => {
    const events: string[] = [];
    const gone = new AbortController();
    const d = dispatcher({ events });
    const batchItems = [item(Operation.Activate, "a"), item(Operation.Activate, "b"), item(Operation.Activate, "c")];
    const answered = handle(d, batchItems, {}, { signal: gone.signal });
    // The first item has started; the client leaves while it runs.
    await new Promise((resolve) => setImmediate(resolve));
    gone.abort();
    await answered;
    assert.deepEqual(events, ["start a", "end a"]);
  });

  test("after the client ends its side, a request runs its first item and answers the others Operation Canceled By Requester", async () => {
    const events: string[] = [];
    const ended = new AbortController();
    const d = dispatcher({ events });
    const batchItems = [item(Operation.Activate, "a"), item(Operation.Activate, "b"), item(Operation.Activate, "c")];
    const answered = handle(d, batchItems, { batchErrorContinuationOption: BatchErrorContinuationOption.Continue }, { ended: ended.signal });
    // The first item has started; the client ends its side while it runs.
    await new Promise((resolve) => setImmediate(resolve));
    ended.abort();
    const response = await answered;
    assert.deepEqual(events, ["start a", "end a"]);
    assert.deepEqual(ids(response), ["#a", "#b", "#c"], "every item is answered");
    assert.deepEqual(reasons(response), [undefined, "OperationCanceledByRequester", "OperationCanceledByRequester"]);
    assert.match(response.batchItems[1]!.resultMessage!, /not run: the client ended its side of the connection/);
  });

  test("a request that arrives after the client ended its side still runs its first item, and only that", async () => {
    const events: string[] = [];
    const ended = new AbortController();
    ended.abort();
    const d = dispatcher({ events });
    const one = await handle(d, [item(Operation.Activate, "a")], {}, { ended: ended.signal });
    assert.deepEqual(statuses(one), [ResultStatus.Success]);
    const reads = await handle(d, [item(Operation.Get, "b"), item(Operation.Get, "c"), item(Operation.Activate, "d")], {}, { ended: ended.signal });
    assert.deepEqual(events, ["start a", "end a", "start b", "end b"]);
    assert.deepEqual(reasons(reads), [undefined, "OperationCanceledByRequester", "OperationCanceledByRequester"]);
  });

  test("a client has at most its share of a slot's work in progress; the rest waits in the relay, and another client is not held up", async () => {
    const events: string[] = [];
    const clientWork = new ClientWork({ items: 2, writes: 1 });
    const d = dispatcher({ events, clientWork });
    const a = { client: "192.0.2.1" };
    const responses = await Promise.all([
      handle(d, [item(Operation.Activate, "a1")], {}, a),
      handle(d, [item(Operation.Activate, "a2")], {}, a),
      handle(d, [item(Operation.Get, "a3"), item(Operation.Get, "a4"), item(Operation.Get, "a5")], {}, a),
      handle(d, [item(Operation.Activate, "b1")], {}, { client: "192.0.2.2" }),
    ]);
    for (const response of responses) assert.ok(statuses(response).every((status) => status === ResultStatus.Success));
    // One write of client a at a time, two items at most; b's write runs beside a's.
    const running = new Set<string>();
    let most = 0;
    for (const event of events) {
      const [what, id] = event.split(" ") as [string, string];
      if (what === "start") running.add(id);
      else running.delete(id);
      const ofA = [...running].filter((r) => r.startsWith("a"));
      most = Math.max(most, ofA.length);
      assert.ok(ofA.filter((r) => ["a1", "a2"].includes(r)).length <= 1, `two writes of one client at once: ${events.join(", ")}`);
    }
    assert.equal(most, 2, events.join(", "));
    assert.ok(events.indexOf("start b1") < events.indexOf("end a1"), `b waited for a: ${events.join(", ")}`);
    assert.deepEqual(clientWork.usage("192.0.2.1", "7"), { items: 0, writes: 0, waiting: 0 });
  });

  test("items waiting for their client's share are not run once the client has gone", async () => {
    const events: string[] = [];
    const gone = new AbortController();
    const d = dispatcher({ events, clientWork: new ClientWork({ items: 1, writes: 1 }) });
    const scope = { client: "192.0.2.1", signal: gone.signal };
    const first = handle(d, [item(Operation.Activate, "a")], {}, scope);
    const waiting = handle(d, [item(Operation.Activate, "b")], {}, scope);
    await new Promise((resolve) => setImmediate(resolve));
    gone.abort();
    await Promise.all([first, waiting]);
    assert.deepEqual(events, ["start a", "end a"]);
  });

  test("refusal() is one item with no Operation, Invalid Message", () => {
    const response = decodeResponseMessage(decodeTtlv(dispatcher().refusal("too big")));
    assertMessageFailure(response, { major: 1, minor: 2 }, /^too big$/);
  });
});

describe("credentials", () => {
  test("checked once per message: a missing credential is Authentication Not Successful for every item", async () => {
    const calls: string[] = [];
    const d = dispatcher({ calls });
    const response = await handle(d, [item(Operation.Get, "a"), item(Operation.Get, "b")], { authentication: undefined });
    assert.deepEqual(reasons(response), ["AuthenticationNotSuccessful", "AuthenticationNotSuccessful"]);
    assert.deepEqual(ids(response), ["#a", "#b"]);
    assert.deepEqual(calls, []);
    await handle(d, [item(Operation.Get, "a"), item(Operation.Get, "b"), item(Operation.Sign, "c")]);
    assert.deepEqual(calls, ["resolveSlot token", "authenticate 7"]);
  });

  test("a credential of another type is Authentication Not Successful", async () => {
    // The message encoder writes Username and Password credentials only, so this one is built by hand.
    const message = ttlv.structure(Tag.RequestMessage, [
      ttlv.structure(Tag.RequestHeader, [
        ttlv.structure(Tag.ProtocolVersion, [ttlv.integer(Tag.ProtocolVersionMajor, 1), ttlv.integer(Tag.ProtocolVersionMinor, 2)]),
        ttlv.structure(Tag.Authentication, [
          ttlv.structure(Tag.Credential, [
            ttlv.enumeration(Tag.CredentialType, CredentialType.Device),
            ttlv.structure(Tag.CredentialValue, [ttlv.textString(Tag.DeviceIdentifier, "device")]),
          ]),
        ]),
        ttlv.integer(Tag.BatchCount, 1),
      ]),
      encodeRequestMessage({ header: header(), batchItems: [item(Operation.Get, "a")] }).value[1]!,
    ]);
    const response = decodeResponseMessage(decodeTtlv(await dispatcher().handle(encodeTtlv(message), logger)));
    assert.deepEqual(reasons(response), ["AuthenticationNotSuccessful"]);
  });

  test("an unknown username or a wrong PIN is Authentication Not Successful for every item", async () => {
    for (const credential of [{ username: "other", password: "1234" }, { username: "token", password: "4321" }]) {
      const response = await handle(dispatcher(), [item(Operation.Get, "a"), item(Operation.Sign, "b")], {
        authentication: { credential: { credentialType: CredentialType.UsernameAndPassword, ...credential } },
      });
      assert.deepEqual(reasons(response), ["AuthenticationNotSuccessful", "AuthenticationNotSuccessful"]);
      assert.ok(!response.batchItems[0]!.resultMessage!.includes(credential.password), "the PIN is not echoed");
    }
  });

  test("a refused credential is answered without slot ids, labels or serial numbers", async () => {
    for (const credential of [{ username: "shared", password: "1234" }, { username: "token", password: "4321" }, { username: "token", password: "cool" }]) {
      const response = await handle(dispatcher(), [item(Operation.Get, "a")], {
        authentication: { credential: { credentialType: CredentialType.UsernameAndPassword, ...credential } },
      });
      assert.deepEqual(reasons(response), ["AuthenticationNotSuccessful"]);
      assert.doesNotMatch(response.batchItems[0]!.resultMessage!, /slot|serial|\b[78]\b/, credential.password);
    }
  });
});

describe("protocol versions", () => {
  test("every supported version is answered in kind", async () => {
    for (let minor = 0; minor <= 4; minor++) {
      const response = await handle(dispatcher(), [item(Operation.Get, "a")], { protocolVersion: { major: 1, minor } });
      assert.deepEqual(response.header.protocolVersion, { major: 1, minor });
      assert.deepEqual(statuses(response), [ResultStatus.Success]);
    }
  });

  test("an unsupported version is one item with no Operation: a newer 1.x in 1.4, another major in 1.2", async () => {
    assertMessageFailure(await handle(dispatcher(), [item(Operation.Get, "a")], { protocolVersion: { major: 1, minor: 5 } }), { major: 1, minor: 4 }, /1\.5 is not supported/);
    assertMessageFailure(await handle(dispatcher(), [item(Operation.Get, "a")], { protocolVersion: { major: 2, minor: 0 } }), { major: 1, minor: 2 }, /2\.0 is not supported/);
  });

  test("an invalid message of a supported version is answered in that version", async () => {
    const bytes = encodeTtlv(encodeRequestMessage({ header: header({ protocolVersion: { major: 1, minor: 4 }, batchCount: 3 }), batchItems: [item(Operation.Get, "a")] }));
    assertMessageFailure(decodeResponseMessage(decodeTtlv(await dispatcher().handle(bytes, logger))), { major: 1, minor: 4 }, /Batch Count .* is 3/);
  });
});

describe("the PIN", () => {
  const PIN = "pin-3f9a-c17e";
  const pinBytes = Buffer.from(PIN);
  /** The request's bytes, with PIN as the Password and one Get item. */
  const request = (overrides: Partial<RequestHeader> = {}, items = [item(Operation.Get, "a")]) =>
    encodeTtlv(
      encodeRequestMessage({
        header: header({ authentication: { credential: { credentialType: CredentialType.UsernameAndPassword, username: "token", password: PIN } }, batchCount: items.length, ...overrides }),
        batchItems: items,
      }),
    );

  /** A backend that accepts PIN, recording what authenticate got and whether the request's bytes still held the PIN when the operation ran. */
  function recording(bytes: Buffer) {
    const seen: { pins: Uint8Array[]; pinInRequestDuringOperation?: boolean } = { pins: [] };
    const backend: HsmBackend = {
      ...fakeBackend(),
      async authenticate(_slotId, pin) {
        seen.pins.push(pin);
        if (!pinBytes.equals(pin)) throw new HsmError("AUTH_FAILED", "the PIN does not match");
      },
    };
    const get: OperationHandler = {
      operation: Operation.Get,
      name: "Get",
      readOnly: true,
      async run() {
        seen.pinInRequestDuringOperation = bytes.includes(pinBytes);
        return ttlv.structure(Tag.ResponsePayload, [ttlv.textString(Tag.UniqueIdentifier, "a")]);
      },
    };
    return { seen, dispatcher: dispatcher({ backend, handlers: [get] }) };
  }

  test("the backend gets the Password as the request's own bytes, never a string, and they are zeroed before the operation runs", async () => {
    const bytes = request();
    assert.ok(bytes.includes(pinBytes));
    const { seen, dispatcher: d } = recording(bytes);
    const response = decodeResponseMessage(decodeTtlv(await d.handle(bytes, logger)));
    assert.deepEqual(statuses(response), [ResultStatus.Success]);
    assert.equal(seen.pins.length, 1);
    const [pin] = seen.pins;
    assert.ok(pin instanceof Uint8Array);
    assert.equal(pin.buffer, bytes.buffer, "a view of the request, not a copy");
    assert.equal(pin.length, pinBytes.length);
    assert.ok(pin.every((b) => b === 0), "zeroed after use");
    assert.equal(seen.pinInRequestDuringOperation, false, "zeroed once authenticated, before the operation");
    assert.ok(!bytes.includes(pinBytes));
  });

  test("a refused PIN and a request refused before authentication leave no PIN in the request either", async () => {
    const wrong = encodeTtlv(
      encodeRequestMessage({
        header: header({ authentication: { credential: { credentialType: CredentialType.UsernameAndPassword, username: "token", password: `${PIN}x` } } }),
        batchItems: [item(Operation.Get, "a")],
      }),
    );
    const refused = recording(wrong);
    assert.deepEqual(reasons(decodeResponseMessage(decodeTtlv(await refused.dispatcher.handle(wrong, logger)))), ["AuthenticationNotSuccessful"]);
    assert.ok(!wrong.includes(Buffer.from(`${PIN}x`)));
    for (const bytes of [
      // Undo is refused before the credential is looked at.
      request({ batchErrorContinuationOption: BatchErrorContinuationOption.Undo }),
      // A Batch Count that does not match: the message does not convert.
      request({ batchCount: 3 }),
    ]) {
      const { seen, dispatcher: d } = recording(bytes);
      await d.handle(bytes, logger);
      assert.equal(seen.pins.length, 0);
      assert.ok(!bytes.includes(pinBytes));
    }
  });
});
