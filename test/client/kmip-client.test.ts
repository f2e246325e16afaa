// KmipClient against tiny in-test TLS servers: replies matched in order with
// many requests in flight, replies split and merged across TLS records,
// typed operations and failed results, and every way a connection can end.
import assert from "node:assert/strict";
import { once } from "node:events";
import net, { type AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import tls from "node:tls";
import { KmipClient, KmipConnectionError, type KmipClientOptions, KmipResultError, MAX_RESPONSE_SIZE } from "../../src/client/kmip-client.js";
import { decodeRequestMessage, encodeResponseMessage, type ResponseBatchItem } from "../../src/kmip/message.js";
import { encodeActivateRequest } from "../../src/kmip/payloads/index.js";
import { structure } from "../../src/ttlv/build.js";
import { decodeTtlv } from "../../src/ttlv/decode.js";
import { encodeTtlv } from "../../src/ttlv/encode.js";
import { Operation, ResultReason, ResultStatus } from "../../src/ttlv/enums.js";
import { messageLength } from "../../src/ttlv/framing.js";
import { ItemType } from "../../src/ttlv/item.js";
import { Tag } from "../../src/ttlv/tags.js";
import { makeTestCertificate, type TestCertificate } from "../helpers/tls-certificate.js";

/** What a test server does with each framed message it receives. */
type Handler = (message: Buffer, socket: tls.TLSSocket) => void;

let certificate: TestCertificate;
const servers: tls.Server[] = [];

before(async () => {
  certificate = await makeTestCertificate();
});

after(() => {
  for (const server of servers) server.close();
});

/** A TLS server on 127.0.0.1; resolves with its port. */
async function listen(onConnection: (socket: tls.TLSSocket) => void): Promise<number> {
  const server = tls.createServer({ cert: certificate.cert, key: certificate.key }, (socket) => {
    socket.on("error", () => {});
    onConnection(socket);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

/** A TLS server that frames incoming messages and hands each to `handler`. */
function startServer(handler: Handler): Promise<number> {
  return listen((socket) => {
    let buffered = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        const length = messageLength(buffered);
        if (length === undefined || buffered.length < length) break;
        handler(buffered.subarray(0, length), socket);
        buffered = buffered.subarray(length);
      }
    });
  });
}

function connect(port: number, options: Partial<KmipClientOptions> = {}): Promise<KmipClient> {
  return KmipClient.connect({ host: "127.0.0.1", port, ca: certificate.cert, username: "token", password: "1234", ...options });
}

/** A TTLV Structure whose content is `n` as a byte string, to tell messages apart. */
function numbered(n: number): Buffer {
  return encodeTtlv(structure(Tag.RequestMessage, [{ tag: Tag.Data, type: ItemType.ByteString, value: Buffer.from(`message ${n}`) }]));
}

/**
 * A KMIP responder: answers every batch item with Success and the request
 * payload as response payload, except Unique Identifier "missing", which
 * gets Item Not Found.
 */
const respond: Handler = (message, socket) => {
  const request = decodeRequestMessage(decodeTtlv(message));
  const batchItems = request.batchItems.map((item): ResponseBatchItem => {
    const payload = item.requestPayload.value;
    const missing = payload.some((field) => field.tag === Tag.UniqueIdentifier && field.value === "missing");
    return missing
      ? { operation: item.operation, uniqueBatchItemId: item.uniqueBatchItemId, resultStatus: ResultStatus.OperationFailed, resultReason: ResultReason.ItemNotFound, resultMessage: "no such key" }
      : { operation: item.operation, uniqueBatchItemId: item.uniqueBatchItemId, resultStatus: ResultStatus.Success, responsePayload: structure(Tag.ResponsePayload, payload) };
  });
  const response = { header: { protocolVersion: request.header.protocolVersion, timeStamp: 1n, batchCount: batchItems.length }, batchItems };
  socket.write(encodeTtlv(encodeResponseMessage(response)));
};

describe("KmipClient", () => {
  test("many raw requests in flight are answered in order, whatever the TLS records", async () => {
    // The server holds replies back and writes them in pieces that cut across message boundaries.
    let backlog = Buffer.alloc(0);
    let received = 0;
    const port = await startServer((message, socket) => {
      backlog = Buffer.concat([backlog, message]);
      if (++received % 7 !== 0 && received !== 50) return;
      for (let offset = 0; offset < backlog.length; offset += 13) socket.write(backlog.subarray(offset, offset + 13));
      backlog = Buffer.alloc(0);
    });
    const client = await connect(port);
    const sent = Array.from({ length: 50 }, (_, n) => numbered(n));
    const replies = await Promise.all(sent.map((bytes) => client.sendRaw(bytes)));
    replies.forEach((reply, n) => assert.deepEqual(Buffer.from(reply), sent[n]));
    assert.equal(client.inFlight, 0);
    await client.close();
  });

  test("call() sends the credential and protocol version; typed operations decode the payload", async () => {
    let header: unknown;
    const port = await startServer((message, socket) => {
      header = decodeRequestMessage(decodeTtlv(message)).header;
      respond(message, socket);
    });
    const client = await connect(port, { protocolVersion: { major: 1, minor: 4 } });
    const item = await client.call(Operation.Activate, encodeActivateRequest({ uniqueIdentifier: "k1" }), { uniqueBatchItemId: new Uint8Array([7]) });
    assert.equal(item.resultStatus, ResultStatus.Success);
    assert.deepEqual(Buffer.from(item.uniqueBatchItemId!), Buffer.from([7]));
    // The decoder gives a Password as bytes (the PIN is never made a string on the relay's side).
    assert.deepEqual(header, {
      protocolVersion: { major: 1, minor: 4 },
      authentication: { credential: { credentialType: 1, username: "token", password: Buffer.from("1234") } },
      batchCount: 1,
    });
    assert.deepEqual(await client.destroy({ uniqueIdentifier: "k2" }), { uniqueIdentifier: "k2" });
    await client.close();
  });

  test("a failed result is a KmipResultError", async () => {
    const client = await connect(await startServer(respond));
    await assert.rejects(client.activate({ uniqueIdentifier: "missing" }), (error: unknown) => {
      assert.ok(error instanceof KmipResultError);
      assert.equal(error.operation, Operation.Activate);
      assert.equal(error.resultStatus, ResultStatus.OperationFailed);
      assert.equal(error.resultReason, ResultReason.ItemNotFound);
      assert.equal(error.resultMessage, "no such key");
      assert.equal(error.message, "Activate: OperationFailed, ItemNotFound: no such key");
      return true;
    });
    await client.close();
  });

  test("batch() sets Batch Count and keeps item order", async () => {
    const client = await connect(await startServer(respond));
    const ids = ["a", "missing", "c"];
    const response = await client.batch(
      ids.map((id, n) => ({ operation: Operation.Activate, requestPayload: encodeActivateRequest({ uniqueIdentifier: id }), uniqueBatchItemId: new Uint8Array([n]) })),
      { batchOrderOption: true },
    );
    assert.equal(response.header.batchCount, 3);
    assert.deepEqual(
      response.batchItems.map((item) => [item.uniqueBatchItemId?.[0], item.resultStatus]),
      [
        [0, ResultStatus.Success],
        [1, ResultStatus.OperationFailed],
        [2, ResultStatus.Success],
      ],
    );
    await client.close();
  });

  test("the server closing rejects every pending request, and later ones", async () => {
    let received = 0;
    const port = await startServer((_message, socket) => {
      if (++received === 3) socket.destroy();
    });
    const client = await connect(port);
    const results = await Promise.allSettled([1, 2, 3].map((n) => client.sendRaw(numbered(n))));
    for (const result of results) {
      assert.equal(result.status, "rejected");
      assert.ok(result.reason instanceof KmipConnectionError);
      assert.equal(result.reason.code, "CLOSED");
      assert.match(result.reason.message, /^connection to 127\.0\.0\.1:\d+ closed with 3 request\(s\) pending$/);
    }
    await assert.rejects(client.sendRaw(numbered(4)), { code: "CLOSED" });
    await client.close();
  });

  test("close() lets replies already on their way arrive", async () => {
    const client = await connect(await startServer((message, socket) => socket.write(message)));
    const reply = client.sendRaw(numbered(1));
    const closing = client.close();
    assert.deepEqual(Buffer.from(await reply), numbered(1));
    await closing;
    await assert.rejects(client.sendRaw(numbered(2)), { code: "CLOSED", message: /closed by the client/ });
  });

  test("a reply over 64 MiB is refused before it arrives", async () => {
    const port = await startServer((_message, socket) => {
      const header = Buffer.from([0x42, 0x00, 0x7b, 0x01, 0, 0, 0, 0]);
      header.writeUInt32BE(MAX_RESPONSE_SIZE, 4);
      socket.write(header);
    });
    const client = await connect(port);
    await assert.rejects(client.sendRaw(numbered(1)), { name: "KmipConnectionError", code: "RESPONSE_TOO_LARGE" });
    await client.close();
  });

  test("a message nobody asked for ends the connection", async () => {
    let accepted!: (socket: tls.TLSSocket) => void;
    const serverSocket = new Promise<tls.TLSSocket>((resolve) => (accepted = resolve));
    const port = await listen((socket) => {
      socket.write(numbered(0));
      accepted(socket);
    });
    const client = await connect(port);
    const socket = await serverSocket;
    if (!socket.closed) await once(socket, "close");
    await assert.rejects(client.sendRaw(numbered(1)), { code: "UNEXPECTED_RESPONSE" });
    await client.close();
  });

  test("no reply within timeoutMs", async () => {
    // Generous: the same limit covers the TLS handshake, which a loaded machine may slow down.
    const client = await connect(await startServer(() => {}), { timeoutMs: 500 });
    await assert.rejects(client.sendRaw(numbered(1)), { code: "TIMEOUT", message: /no reply from 127\.0\.0\.1:\d+ within 500 ms/ });
    await client.close();
  });

  test("no TLS handshake within timeoutMs", async () => {
    const server = net.createServer(() => {}); // accepts, never answers the ClientHello
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      await assert.rejects(connect((server.address() as AddressInfo).port, { timeoutMs: 100 }), { code: "TIMEOUT" });
    } finally {
      server.close();
    }
  });

  test("an untrusted certificate fails the connection", async () => {
    const port = await startServer(respond);
    await assert.rejects(KmipClient.connect({ host: "127.0.0.1", port }), /self[- ]signed/);
  });
});
