// Streaming Encrypt, Decrypt, MAC and MAC Verify (KMIP 1.3+ Init Indicator,
// Correlation Value, Final Indicator) end to end on SoftHSM through the relay in its own process
// (module isolation on): the parts give what node:crypto gives for the whole
// data, a GCM tag that does not verify fails the last part, and the bounds
// hold: a Correlation Value of another connection or of an ended stream is
// refused, one connection holds at most MAX_STREAMS_PER_CONNECTION streams,
// streams hold at most half the slot's sessions (16 by default: 8) while
// one-shot Encrypts still run, and a connection that closes gives its
// streams' sessions back.
import assert from "node:assert/strict";
import { createCipheriv, createHmac } from "node:crypto";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { KmipClient } from "../../src/client/kmip-client.js";
import type { Attribute, CryptographicParameters } from "../../src/kmip/attributes.js";
import type { KeyObject as KmipKeyObject } from "../../src/kmip/objects.js";
import { MAX_STREAMS_PER_CONNECTION } from "../../src/operations/cipher-streams.js";
import { encryptPayloads } from "../../src/kmip/payloads/index.js";
import { BatchErrorContinuationOption, BlockCipherMode, CryptographicAlgorithm, CryptographicUsageMask as Usage, ObjectType, Operation, PaddingMethod, ResultReason, ResultStatus, ValidityIndicator } from "../../src/ttlv/enums.js";
import { startRelayProcess, type RunningRelay } from "../helpers/relay.js";
import { algorithm, connect, length, rejectsWith, usage } from "../helpers/relay-client.js";

const V14 = { protocolVersion: { major: 1, minor: 4 } };
let relay: RunningRelay;
let client: KmipClient;
let id: string;
let key: Buffer;

before(async () => {
  relay = await startRelayProcess();
  client = await connect(relay, V14);
  const extractable: Attribute = { name: "Extractable", value: true };
  const created = await client.create({
    objectType: ObjectType.SymmetricKey,
    templateAttribute: { names: [], attributes: [algorithm(CryptographicAlgorithm.AES), length(128), usage(Usage.Encrypt | Usage.Decrypt), extractable] },
  });
  id = created.uniqueIdentifier;
  await client.activate({ uniqueIdentifier: id });
  const got = await client.get({ uniqueIdentifier: id });
  const block = (got.object as KmipKeyObject).keyBlock;
  assert.ok(block.keyValue !== undefined && !(block.keyValue instanceof Uint8Array));
  key = Buffer.from(block.keyValue.keyMaterial as Uint8Array);
});
after(async () => {
  await client?.close();
  await relay?.cleanup();
});

const GCM: CryptographicParameters = { blockCipherMode: BlockCipherMode.GCM, tagLength: 16 };
const CBC_PAD: CryptographicParameters = { blockCipherMode: BlockCipherMode.CBC, paddingMethod: PaddingMethod.Pkcs5 };
const message = Buffer.from("a message of some length, cut into three parts of uneven sizes for the stream");
const parts = [message.subarray(0, 20), message.subarray(20, 21), message.subarray(21)];

/** Starts a GCM Encrypt stream on `on` and returns its Correlation Value. */
async function startGcm(on: KmipClient): Promise<Uint8Array> {
  const first = await on.encrypt({ uniqueIdentifier: id, cryptographicParameters: GCM, data: parts[0], ivCounterNonce: Buffer.alloc(12, 1), initIndicator: true });
  assert.ok(first.correlationValue !== undefined && first.correlationValue.length === 16);
  return first.correlationValue;
}

test("GCM in three parts gives node:crypto's ciphertext and tag; streaming Decrypt with the tag on the last part gives the data, a changed tag fails it", async () => {
  const iv = Buffer.alloc(12, 9);
  const aad = Buffer.from("header");
  const first = await client.encrypt({ uniqueIdentifier: id, cryptographicParameters: GCM, data: parts[0], ivCounterNonce: iv, authenticatedEncryptionAdditionalData: aad, initIndicator: true });
  const correlationValue = first.correlationValue!;
  const middle = await client.encrypt({ uniqueIdentifier: id, cryptographicParameters: GCM, data: parts[1], correlationValue });
  assert.deepEqual(Buffer.from(middle.correlationValue!), Buffer.from(correlationValue));
  const last = await client.encrypt({ uniqueIdentifier: id, cryptographicParameters: GCM, data: parts[2], correlationValue, finalIndicator: true });
  assert.equal(last.correlationValue, undefined, "the last part's answer carries no Correlation Value");
  const expected = createCipheriv("aes-128-gcm", key, iv).setAAD(aad);
  const ciphertext = Buffer.concat([first.data!, middle.data!, last.data!]);
  assert.deepEqual(ciphertext, Buffer.concat([expected.update(message), expected.final()]));
  assert.deepEqual(Buffer.from(last.authenticatedEncryptionTag!), expected.getAuthTag());
  await rejectsWith(client.encrypt({ uniqueIdentifier: id, data: parts[2], correlationValue, finalIndicator: true }), ResultReason.InvalidField, /names no stream of this connection/);

  const decryptParts = async (tag: Uint8Array) => {
    const start = await client.decrypt({ uniqueIdentifier: id, cryptographicParameters: GCM, data: ciphertext.subarray(0, 30), ivCounterNonce: iv, authenticatedEncryptionAdditionalData: aad, initIndicator: true });
    const end = await client.decrypt({ uniqueIdentifier: id, data: ciphertext.subarray(30), correlationValue: start.correlationValue, finalIndicator: true, authenticatedEncryptionTag: tag });
    return Buffer.concat([start.data ?? Buffer.alloc(0), end.data!]);
  };
  assert.deepEqual(await decryptParts(last.authenticatedEncryptionTag!), message);
  const bad = Buffer.from(last.authenticatedEncryptionTag!);
  bad[3]! ^= 1;
  await rejectsWith(decryptParts(bad), ResultReason.CryptographicFailure, /the tag does not verify/);
});

test("CBC with padding and a random IV: the first part's answer carries the IV; the parts match node:crypto and decrypt back in parts", async () => {
  const first = await client.encrypt({ uniqueIdentifier: id, cryptographicParameters: { ...CBC_PAD, randomIv: true }, data: parts[0], initIndicator: true });
  assert.equal(first.ivCounterNonce?.length, 16);
  const rest = await client.encrypt({ uniqueIdentifier: id, data: Buffer.concat([parts[1]!, parts[2]!]), correlationValue: first.correlationValue, finalIndicator: true });
  const expected = createCipheriv("aes-128-cbc", key, first.ivCounterNonce!);
  const ciphertext = Buffer.concat([first.data!, rest.data!]);
  assert.deepEqual(ciphertext, Buffer.concat([expected.update(message), expected.final()]));
  const start = await client.decrypt({ uniqueIdentifier: id, cryptographicParameters: CBC_PAD, data: ciphertext.subarray(0, 17), ivCounterNonce: first.ivCounterNonce, initIndicator: true });
  const end = await client.decrypt({ uniqueIdentifier: id, data: ciphertext.subarray(17), correlationValue: start.correlationValue, finalIndicator: true });
  assert.deepEqual(Buffer.concat([start.data!, end.data!]), message);
});

test("refused: streaming in KMIP 1.2, a Correlation Value with Init Indicator, a later part without one, an Encrypt stream continued as a Decrypt", async () => {
  const old = await connect(relay);
  try {
    await rejectsWith(old.encrypt({ uniqueIdentifier: id, cryptographicParameters: GCM, data: parts[0], ivCounterNonce: Buffer.alloc(12), initIndicator: true }), ResultReason.InvalidField, /KMIP 1\.3 fields/);
  } finally {
    await old.close();
  }
  await rejectsWith(client.encrypt({ uniqueIdentifier: id, data: parts[0], correlationValue: Buffer.alloc(16), initIndicator: true }), ResultReason.InvalidField, /the server makes it/);
  await rejectsWith(client.encrypt({ uniqueIdentifier: id, data: parts[0], finalIndicator: true }), ResultReason.MissingData, /needs the Correlation Value/);
  const correlationValue = await startGcm(client);
  await rejectsWith(client.decrypt({ uniqueIdentifier: id, data: parts[1], correlationValue }), ResultReason.InvalidField, /is a streaming Encrypt/);
  // The stream is still there and finishes.
  const last = await client.encrypt({ uniqueIdentifier: id, data: parts[1], correlationValue, finalIndicator: true });
  assert.equal(last.authenticatedEncryptionTag?.length, 16);
});

test("bounds: another connection cannot continue a stream; one connection holds a few; streams hold half the sessions, one-shot Encrypts still run; a closed connection gives its sessions back", async () => {
  const a = await connect(relay, V14);
  const b = await connect(relay, V14);
  const c = await connect(relay, V14);
  try {
    const ofA: Uint8Array[] = [];
    for (let i = 0; i < MAX_STREAMS_PER_CONNECTION; i++) ofA.push(await startGcm(a));
    await rejectsWith(startGcm(a), ResultReason.GeneralFailure, /as many as one connection may/);
    await rejectsWith(b.encrypt({ uniqueIdentifier: id, data: parts[1], correlationValue: ofA[0] }), ResultReason.InvalidField, /names no stream of this connection/);
    // 16 sessions by default: streams may hold 8.
    for (let i = 0; i < MAX_STREAMS_PER_CONNECTION; i++) await startGcm(b);
    await rejectsWith(startGcm(c), ResultReason.GeneralFailure, /as many as streams may/);
    const oneShot = await c.encrypt({ uniqueIdentifier: id, cryptographicParameters: GCM, data: message, ivCounterNonce: Buffer.alloc(12, 2) });
    assert.equal(oneShot.data?.length, message.length);
    await a.close();
    // The relay ends a's streams when it sees the connection close; c may start one once it has.
    let started: Uint8Array | undefined;
    for (let attempt = 0; attempt < 100 && started === undefined; attempt++) {
      started = await startGcm(c).catch(async () => {
        await sleep(50);
        return undefined;
      });
    }
    assert.ok(started !== undefined, "a stream starts once the closed connection's streams have ended");
  } finally {
    await Promise.allSettled([a.close(), b.close(), c.close()]);
  }
});

test("a batch of Init items, which run concurrently, opens no more streams than one connection may; the connection's close gives them back", async () => {
  const d = await connect(relay, V14);
  try {
    const item = {
      operation: Operation.Encrypt,
      requestPayload: encryptPayloads.encodeRequest({ uniqueIdentifier: id, cryptographicParameters: GCM, data: parts[0], ivCounterNonce: Buffer.alloc(12, 4), initIndicator: true }),
    };
    const answer = await d.batch(Array.from({ length: MAX_STREAMS_PER_CONNECTION + 3 }, () => item), { batchErrorContinuationOption: BatchErrorContinuationOption.Continue });
    const succeeded = answer.batchItems.filter((i) => i.resultStatus === ResultStatus.Success).length;
    assert.equal(succeeded, MAX_STREAMS_PER_CONNECTION);
  } finally {
    await d.close();
  }
});

test("HMAC-SHA256 in parts: MAC answers node:crypto's MAC with the last part; MAC Verify in parts says Unknown, then Valid or Invalid", async () => {
  const extractable: Attribute = { name: "Extractable", value: true };
  const { uniqueIdentifier: hmac } = await client.create({
    objectType: ObjectType.SymmetricKey,
    templateAttribute: { names: [], attributes: [algorithm(CryptographicAlgorithm.HMACSHA256), usage(Usage.MacGenerate | Usage.MacVerify), extractable] },
  });
  await client.activate({ uniqueIdentifier: hmac });
  const got = await client.get({ uniqueIdentifier: hmac });
  const block = (got.object as KmipKeyObject).keyBlock;
  assert.ok(block.keyValue !== undefined && !(block.keyValue instanceof Uint8Array));
  const expected = createHmac("sha256", Buffer.from(block.keyValue.keyMaterial as Uint8Array)).update(message).digest();

  const first = await client.mac({ uniqueIdentifier: hmac, data: parts[0], initIndicator: true });
  assert.equal(first.macData, undefined, "no MAC before the last part");
  const middle = await client.mac({ uniqueIdentifier: hmac, data: parts[1], correlationValue: first.correlationValue });
  const last = await client.mac({ uniqueIdentifier: hmac, data: parts[2], correlationValue: middle.correlationValue, finalIndicator: true });
  assert.deepEqual(Buffer.from(last.macData!), expected);

  const verify = async (mac: Buffer) => {
    const start = await client.macVerify({ uniqueIdentifier: hmac, data: message.subarray(0, 40), initIndicator: true });
    assert.equal(start.validityIndicator, ValidityIndicator.Unknown);
    return (await client.macVerify({ uniqueIdentifier: hmac, data: message.subarray(40), macData: mac, correlationValue: start.correlationValue, finalIndicator: true })).validityIndicator;
  };
  assert.equal(await verify(expected), ValidityIndicator.Valid);
  const wrong = Buffer.from(expected);
  wrong[0]! ^= 1;
  assert.equal(await verify(wrong), ValidityIndicator.Invalid);
  // A MAC stream is not an Encrypt stream.
  const other = await client.mac({ uniqueIdentifier: hmac, data: parts[0], initIndicator: true });
  await rejectsWith(client.encrypt({ uniqueIdentifier: hmac, data: parts[1], correlationValue: other.correlationValue }), ResultReason.InvalidField, /is a streaming MAC with/);
  await client.mac({ uniqueIdentifier: hmac, correlationValue: other.correlationValue, finalIndicator: true });
});
