// The Sign load generator's message and reply check (src/client/sign-load.ts):
// the request it sends decodes as the Sign batch items it was given, and a
// reply passes only when every item is Success with Signature Data; a failed
// item is reported with the server's Result Reason and Message.
import assert from "node:assert/strict";
import { test } from "node:test";
import { KmipResultError } from "../../src/client/kmip-client.js";
import { checkSignReply, encodeSignMessage } from "../../src/client/sign-load.js";
import { decodeRequestMessage, encodeResponseMessage, type ResponseBatchItem } from "../../src/kmip/message.js";
import { decodeSignRequest, signPayloads } from "../../src/kmip/payloads/index.js";
import { decodeTtlv } from "../../src/ttlv/decode.js";
import { encodeTtlv } from "../../src/ttlv/encode.js";
import { CredentialType, Operation, ResultReason, ResultStatus } from "../../src/ttlv/enums.js";

const signed = (): ResponseBatchItem => ({
  operation: Operation.Sign,
  resultStatus: ResultStatus.Success,
  responsePayload: signPayloads.encodeResponse({ uniqueIdentifier: "k_priv", signatureData: Uint8Array.of(1, 2, 3) }),
});

const reply = (items: ResponseBatchItem[]) =>
  encodeTtlv(encodeResponseMessage({ header: { protocolVersion: { major: 1, minor: 2 }, timeStamp: 0n, batchCount: items.length }, batchItems: items }));

test("the message holds one Sign item per payload, with the credential and distinct batch item ids", () => {
  const payloads = [1, 2, 3].map((n) => ({ uniqueIdentifier: `k${n}_priv`, data: Uint8Array.of(n) }));
  const message = decodeRequestMessage(decodeTtlv(encodeSignMessage({ username: "token", password: "1234" }, payloads)));
  assert.equal(message.header.batchCount, 3);
  assert.deepEqual(message.header.authentication?.credential, { credentialType: CredentialType.UsernameAndPassword, username: "token", password: Buffer.from("1234") });
  assert.deepEqual(
    message.batchItems.map((item) => [item.operation, Buffer.from(item.uniqueBatchItemId ?? []).toString("hex"), decodeSignRequest(item.requestPayload!).uniqueIdentifier]),
    [
      [Operation.Sign, "0000", "k1_priv"],
      [Operation.Sign, "0001", "k2_priv"],
      [Operation.Sign, "0002", "k3_priv"],
    ],
  );
});

test("a reply passes when every item is Success with Signature Data", () => {
  checkSignReply(reply([signed(), signed()]), 2);
});

test("a failed item is a KmipResultError with the server's reason and message", () => {
  const failed: ResponseBatchItem = {
    operation: Operation.Sign,
    resultStatus: ResultStatus.OperationFailed,
    resultReason: ResultReason.PermissionDenied,
    resultMessage: "k_pub is a public key, which cannot sign",
  };
  assert.throws(
    () => checkSignReply(reply([signed(), failed]), 2),
    (err: unknown) => err instanceof KmipResultError && err.resultReason === ResultReason.PermissionDenied && /cannot sign/.test(err.message),
  );
});

test("fewer items than sent, or Success without Signature Data, fails", () => {
  assert.throws(() => checkSignReply(reply([signed()]), 2), /1 of 2 Sign items came back without Signature Data/);
  const empty: ResponseBatchItem = { operation: Operation.Sign, resultStatus: ResultStatus.Success, responsePayload: signPayloads.encodeResponse({ uniqueIdentifier: "k_priv" }) };
  assert.throws(() => checkSignReply(reply([empty]), 1), /without Signature Data/);
});
