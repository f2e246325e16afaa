// Slow and greedy clients against the relay's bounds: a client that trickles
// a byte at a time, one that stays silent, one that never completes the TLS
// handshake, a flood over server.max-connections, a 1 GiB length header, an
// oversized batch, and requests pipelined past max-requests-in-flight. Each
// is cut off (or answered) per its bound and logged once, while a
// well-behaved client on its own connection keeps getting answers.
import assert from "node:assert/strict";
import { once } from "node:events";
import { readFile } from "node:fs/promises";
import net from "node:net";
import { join } from "node:path";
import { after, afterEach, before, beforeEach, test } from "node:test";
import tls from "node:tls";
import { setTimeout as sleep } from "node:timers/promises";
import { KmipClient, type KmipClientOptions } from "../../src/client/kmip-client.js";
import { decodeResponseMessage, encodeRequestMessage, type RequestBatchItem } from "../../src/kmip/message.js";
import { createKeyPairPayloads, discoverVersionsPayloads, rngRetrievePayloads } from "../../src/kmip/payloads/index.js";
import { decodeTtlv } from "../../src/ttlv/decode.js";
import { encodeTtlv } from "../../src/ttlv/encode.js";
import { BatchErrorContinuationOption, CredentialType, CryptographicAlgorithm, Operation, ResultReason, ResultStatus } from "../../src/ttlv/enums.js";
import { startRelayProcess, type RunningRelay } from "../helpers/relay.js";
import { algorithm, length, name } from "../helpers/relay-client.js";

const HANDSHAKE_TIMEOUT_S = 2;
const IDLE_TIMEOUT_S = 3;
const MAX_CONNECTIONS = 6;
const MAX_BATCH_COUNT = 16;

let relay: RunningRelay;
let serverCa: string;

/**
 * The well-behaved client: a Discover Versions every 100 ms on a connection
 * of its own, from before each test to after it; every one must be answered.
 */
class WellBehavedClient {
  answers = 0;
  readonly errors: Error[] = [];
  private running = true;
  private readonly loop: Promise<void>;

  constructor(private readonly client: KmipClient) {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        await this.client.discoverVersions();
        this.answers++;
      } catch (error) {
        this.errors.push(error as Error);
        return;
      }
      await sleep(100);
    }
  }

  /** Stops, and checks that every request got an answer and that there were some. */
  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    await this.client.close();
    assert.deepEqual(this.errors, [], "the well-behaved client got every answer");
    assert.ok(this.answers > 0, "the well-behaved client was answered during the test");
  }
}

let wellBehaved: WellBehavedClient;

function clientOptions(): KmipClientOptions {
  return { host: relay.host, port: relay.port, ca: serverCa, username: relay.token.label, password: relay.token.pin, timeoutMs: 15_000 };
}

before(async () => {
  relay = await startRelayProcess({
    server: [
      `handshake-timeout = ${HANDSHAKE_TIMEOUT_S}`,
      `idle-timeout = ${IDLE_TIMEOUT_S}`,
      "first-request-timeout = 1",
      `max-connections = ${MAX_CONNECTIONS}`,
      "max-requests-in-flight = 4",
      `max-batch-count = ${MAX_BATCH_COUNT}`,
    ],
  });
  serverCa = await readFile(join(relay.dir, "state", "tls", "cert.pem"), "utf8");
});
after(async () => relay?.cleanup());
beforeEach(async () => {
  wellBehaved = new WellBehavedClient(await KmipClient.connect(clientOptions()));
});
afterEach(async () => {
  await wellBehaved.stop();
  assert.equal(relay.process.exitCode, null, "the relay is still running");
});

/** A one-item KMIP 1.4 request message with the token's credential. */
function requestMessage(item: RequestBatchItem): Buffer {
  return encodeTtlv(
    encodeRequestMessage({
      header: {
        protocolVersion: { major: 1, minor: 4 },
        authentication: {
          credential: { credentialType: CredentialType.UsernameAndPassword, username: relay.token.label, password: relay.token.pin },
        },
        batchCount: 1,
      },
      batchItems: [item],
    }),
  );
}

function discoverRequest(): Buffer {
  return requestMessage({ operation: Operation.DiscoverVersions, requestPayload: discoverVersionsPayloads.encodeRequest({ protocolVersions: [] }) });
}

/** A TLS connection without the KMIP client, for writing raw bytes; it collects what the relay sends. */
async function rawTlsConnection(): Promise<{ socket: tls.TLSSocket; received: () => Buffer; closed: Promise<void> }> {
  const socket = tls.connect({ host: relay.host, port: relay.port, ca: serverCa, servername: "localhost" });
  socket.on("error", () => {});
  const chunks: Buffer[] = [];
  socket.on("data", (chunk: Buffer) => chunks.push(chunk));
  const closed = once(socket, "close").then(() => undefined);
  await once(socket, "secureConnect");
  return { socket, received: () => Buffer.concat(chunks), closed };
}

/** The relay's resident set size in bytes, from /proc. */
async function relayRss(): Promise<number> {
  const status = await readFile(`/proc/${relay.process.pid}/status`, "utf8");
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)![1]) * 1024;
}

/** How many lines of the relay's output match `pattern`. */
function countLines(pattern: RegExp): number {
  return relay.output().split("\n").filter((line) => pattern.test(line)).length;
}

/** A raw connection that has sent one whole request and read its answer, so that idle-timeout runs. */
async function startedConnection(): Promise<Awaited<ReturnType<typeof rawTlsConnection>>> {
  const connection = await rawTlsConnection();
  connection.socket.write(discoverRequest());
  while (connection.received().length === 0) await once(connection.socket, "data");
  return connection;
}

test("a client sending a byte at a time is cut off: idle-timeout counts whole messages only", async () => {
  const { socket, closed } = await startedConnection();
  const message = discoverRequest();
  let sent = 0;
  let isClosed = false;
  void closed.then(() => (isClosed = true));
  // Slower than the relay's answer to a whole message would need, faster than
  // the idle timeout: each byte alone would keep a byte-based timer alive.
  while (!isClosed && sent < message.length) {
    socket.write(message.subarray(sent, sent + 1));
    sent++;
    await sleep(250);
  }
  await closed;
  assert.ok(sent < message.length, `cut off after ${sent} of ${message.length} bytes`);
  assert.equal(countLines(/bytes of a request message but no whole message within 3 s \(server\.idle-timeout\)/), 1, "logged once");
});

test("a client silent after its first request is closed after idle-timeout, with one line", async () => {
  const before = countLines(/closing connection idle for 3 s/);
  const { closed } = await startedConnection();
  await closed;
  // The well-behaved client's own requests keep its connection open.
  assert.equal(countLines(/closing connection idle for 3 s/), before + 1);
});

test("a client that sends nothing, or part of a message, after the handshake is closed after first-request-timeout", async () => {
  const line = /closing connection: no request within 1 s of the handshake \(server\.first-request-timeout\)/;
  const partial = /closing connection: 3 bytes of a request message but no whole message within 1 s of the handshake \(server\.first-request-timeout\)/;
  const [silentBefore, partialBefore] = [countLines(line), countLines(partial)];
  const silent = await rawTlsConnection();
  const trickling = await rawTlsConnection();
  trickling.socket.write(discoverRequest().subarray(0, 3));
  await Promise.all([silent.closed, trickling.closed]);
  await relay.waitForOutput(partial);
  assert.equal(countLines(line), silentBefore + 1);
  assert.equal(countLines(partial), partialBefore + 1);
});

test("an impossible header is refused at once, answered, and the connection closed", async () => {
  const cases: [string, Buffer, RegExp][] = [
    ["a Response Message tag", Buffer.from("42007B0100000100", "hex"), /tag 0x42007B, not Request Message/],
    ["a Text String", Buffer.from("4200780700000100", "hex"), /item type 0x07, not Structure/],
    ["a length not a multiple of 8", Buffer.from("4200780100000101", "hex"), /declares 257 bytes, not a multiple of 8/],
  ];
  for (const [what, header, reason] of cases) {
    const { socket, received, closed } = await rawTlsConnection();
    // The header only, and fewer bytes than it declares: nothing more will come.
    socket.write(Buffer.concat([header, Buffer.alloc(16)]));
    await closed;
    const response = decodeResponseMessage(decodeTtlv(received()));
    const item = response.batchItems[0]!;
    assert.equal(item.resultReason, ResultReason.InvalidMessage, what);
    assert.match(item.resultMessage!, reason, what);
    assert.match(relay.output(), new RegExp(`${reason.source}.*closing the connection`), what);
  }
});

test("a client that never completes the TLS handshake is closed after handshake-timeout", async () => {
  const socket = net.connect({ host: relay.host, port: relay.port });
  await once(socket, "connect");
  const port = socket.localPort!;
  // Half a ClientHello record header, then nothing.
  socket.write(Buffer.from([0x16, 0x03, 0x01]));
  await once(socket, "close");
  await relay.waitForOutput(new RegExp(`TLS handshake with 127\\.0\\.0\\.1:${port} failed: .*timeout`, "i"));
});

test("a connection flood over max-connections is refused, logged once, and the relay accepts again afterwards", async () => {
  // Plain TCP connections that never start TLS: each holds a slot until its
  // handshake times out; those over the limit are closed at once.
  const flood = Array.from({ length: 30 }, () => net.connect({ host: relay.host, port: relay.port }).on("error", () => {}));
  await Promise.all(flood.map((socket) => once(socket, "close")));
  assert.equal(countLines(/refusing connections: 6 are open \(server\.max-connections\)/), 1, "logged once for the burst");

  const client = await KmipClient.connect(clientOptions());
  await client.discoverVersions();
  await client.close();
  await relay.waitForOutput(/accepting connections again; \d+ were refused/);
});

test("a 1 GiB length header is answered with Invalid Message and the connection closed, without allocating it", async () => {
  const rssBefore = await relayRss();
  const { socket, received, closed } = await rawTlsConnection();
  // Request Message (42 00 78), Structure (01), length 2^30.
  socket.write(Buffer.from([0x42, 0x00, 0x78, 0x01, 0x40, 0x00, 0x00, 0x00]));
  await closed;
  const response = decodeResponseMessage(decodeTtlv(received()));
  assert.equal(response.batchItems.length, 1);
  const item = response.batchItems[0]!;
  assert.equal(item.resultStatus, ResultStatus.OperationFailed);
  assert.equal(item.resultReason, ResultReason.InvalidMessage);
  assert.match(item.resultMessage!, /1073741832 bytes exceeds the limit of 65536 bytes \(server\.max-message-size\)/);
  const grown = (await relayRss()) - rssBefore;
  assert.ok(grown < 64 * 1024 * 1024, `the relay's RSS grew by ${grown} bytes`);
  assert.equal(countLines(/1073741832 bytes exceeds the limit/), 1, "logged once");
});

test("a client that sends without reading its answers is not buffered for: reading pauses, then idle-timeout ends it", async () => {
  const rssBefore = await relayRss();
  const closes = countLines(/closing connection/);
  const { socket } = await rawTlsConnection();
  socket.pause();
  socket.removeAllListeners("data");
  // 2000 requests for 64 KiB of random data each: 125 MiB of answers that
  // the relay would hold if it kept reading while the client does not.
  const request = requestMessage({ operation: Operation.RNGRetrieve, requestPayload: rngRetrievePayloads.encodeRequest({ dataLength: 65536 }) });
  socket.write(Buffer.concat(Array.from({ length: 2000 }, () => request)));
  await relay.waitForOutput(new RegExp(`(?:closing connection[^]*?){${closes + 1}}`));
  const grown = (await relayRss()) - rssBefore;
  assert.ok(grown < 64 * 1024 * 1024, `the relay's RSS grew by ${grown} bytes`);
  socket.destroy();
});

test("a batch over max-batch-count is refused item by item and the connection stays usable", async () => {
  const client = await KmipClient.connect(clientOptions());
  try {
    const payload = discoverVersionsPayloads.encodeRequest({ protocolVersions: [] });
    const items = Array.from({ length: MAX_BATCH_COUNT + 1 }, () => ({ operation: Operation.DiscoverVersions, requestPayload: payload }));
    const response = await client.batch(items);
    assert.equal(response.batchItems.length, MAX_BATCH_COUNT + 1);
    for (const item of response.batchItems) {
      assert.equal(item.resultStatus, ResultStatus.OperationFailed);
      assert.match(item.resultMessage!, /at most 16 \(server\.max-batch-count\)/);
    }
    const ok = await client.batch(items.slice(0, MAX_BATCH_COUNT));
    assert.ok(ok.batchItems.every((item) => item.resultStatus === ResultStatus.Success));
  } finally {
    await client.close();
  }
});

test("requests pipelined past max-requests-in-flight are all answered, in order", async () => {
  const client = await KmipClient.connect(clientOptions());
  try {
    const payload = discoverVersionsPayloads.encodeRequest({ protocolVersions: [] });
    const ids = Array.from({ length: 100 }, (_, i) => Buffer.from(`item ${i}`));
    const items = await Promise.all(ids.map((id) => client.call(Operation.DiscoverVersions, payload, { uniqueBatchItemId: id })));
    assert.deepEqual(
      items.map((item) => Buffer.from(item.uniqueBatchItemId!).toString()),
      ids.map((id) => id.toString()),
    );
  } finally {
    await client.close();
  }
});

test("a batch of key generations whose client ends its side runs its first item only; the others are answered as not run, and nothing is made after the client left", async () => {
  const keys = async () => {
    const client = await KmipClient.connect(clientOptions());
    try {
      return (await client.locate({ attributes: [] })).uniqueIdentifiers.length;
    } finally {
      await client.close();
    }
  };
  const payload = createKeyPairPayloads.encodeRequest({
    commonTemplateAttribute: { names: [], attributes: [algorithm(CryptographicAlgorithm.EC), length(256)] },
    privateKeyTemplateAttribute: { names: [], attributes: [name("left")] },
    publicKeyTemplateAttribute: { names: [], attributes: [name("left")] },
  });
  const items = Array.from({ length: MAX_BATCH_COUNT }, () => ({ operation: Operation.CreateKeyPair, requestPayload: payload }));
  const before = await keys();

  // Half-open: the client ends its side right after sending, and reads the answer.
  const halfOpen = await KmipClient.connect(clientOptions());
  const answer = halfOpen.batch(items, { batchErrorContinuationOption: BatchErrorContinuationOption.Continue });
  await halfOpen.close();
  const response = await answer;
  assert.equal(response.batchItems.length, MAX_BATCH_COUNT, "every item is answered");
  assert.equal(response.batchItems[0]!.resultStatus, ResultStatus.Success, "the first item ran");
  for (const item of response.batchItems.slice(1)) {
    assert.equal(item.resultReason, ResultReason.OperationCanceledByRequester);
    assert.match(item.resultMessage!, /not run: the client ended its side of the connection/);
  }
  assert.equal(await keys(), before + 2, "one pair made");

  // Gone: the client closes its socket without reading; the relay sees the same FIN.
  const notRun = new RegExp(`${MAX_BATCH_COUNT - 1} of ${MAX_BATCH_COUNT} batch items not run`);
  const seen = countLines(notRun);
  const { socket } = await rawTlsConnection();
  const message = encodeTtlv(
    encodeRequestMessage({
      header: {
        protocolVersion: { major: 1, minor: 4 },
        authentication: { credential: { credentialType: CredentialType.UsernameAndPassword, username: relay.token.label, password: relay.token.pin } },
        batchErrorContinuationOption: BatchErrorContinuationOption.Continue,
        batchCount: items.length,
      },
      batchItems: items,
    }),
  );
  // Gone once the message is out, without reading.
  socket.end(message, () => socket.destroy());
  await relay.waitForOutput(new RegExp(`(?:${notRun.source}[^]*?){${seen + 1}}`));
  assert.equal(await keys(), before + 4, "one more pair, the gone client's first item");
});
