// The KMIP load generator: a process of its own that drives the relay with
// the product's own client and Sign load generator (src/client/sign-load.ts,
// also behind `kmip2pkcs11 client sign --count`). Sign requests are encoded
// once per scenario (a few distinct messages, cycled) and sent with
// KmipClient.sendRaw, so that the generator spends its CPU on TLS and on
// checking replies, not on building requests; every batch item must be
// Success with Signature Data.
import { randomBytes } from "node:crypto";
import { KmipClient, type KmipClientOptions } from "../src/client/kmip-client.js";
import { checkSignReply, encodeSignMessage, signLoop } from "../src/client/sign-load.js";
import { decodeResponseMessage } from "../src/kmip/message.js";
import { decodeTtlv } from "../src/ttlv/decode.js";
import { ResultStatus } from "../src/ttlv/enums.js";
import {
  ALGORITHMS,
  DATA_LENGTH,
  DISTINCT_MESSAGES,
  residentBytes,
  sleep,
  uniqueBytes,
  Window,
  type AlgorithmName,
  type LatencySummary,
  type MeasuredPids,
  type RelayResult,
  type Scenario,
} from "./common.js";
import { serveMethods } from "./worker.js";

export interface ConnectArgs {
  readonly host: string;
  readonly port: number;
  /** The relay's certificate, PEM (its self-signed one for "localhost"). */
  readonly ca: string;
  readonly username: string;
  readonly password: string;
  /** Connections to hold open for the scenarios. */
  readonly count: number;
}

export interface RunArgs extends MeasuredPids {
  readonly scenario: Scenario;
  readonly keyId: string;
  readonly warmupMs: number;
  readonly measureMs: number;
}

export interface FairnessArgs extends MeasuredPids {
  readonly keyId: string;
  /** Signing connections, each sending batches of one at `ratePerConnection` per second. */
  readonly connections: number;
  readonly ratePerConnection: number;
  readonly warmupMs: number;
  readonly measureMs: number;
  /** RSA modulus bits of the key pairs generated on another connection meanwhile. */
  readonly keyGenerationBits: number;
  /** Pairs of windows (alone, then during generation): one p99 from a few seconds swings, the median of several less. */
  readonly rounds: number;
}

export interface FairnessRound {
  readonly baseline: LatencySummary;
  readonly duringKeyGeneration: LatencySummary;
}

export interface FairnessResult {
  readonly rounds: FairnessRound[];
  /** Seconds each key generation took. */
  readonly keyGenerationSeconds: number[];
}

export interface IdleArgs extends MeasuredPids {
  readonly count: number;
}

export interface IdleResult {
  readonly connections: number;
  readonly relayRssBefore: number;
  readonly relayRssAfter: number;
  /** The module process's RSS with the connections open (0 when in-process). */
  readonly moduleRss: number;
  /** The module process's unique memory (USS) with the connections open (0 when in-process). */
  readonly moduleUss: number;
  /** Seconds to complete all TLS handshakes. */
  readonly connectSeconds: number;
}

let clientOptions: KmipClientOptions | undefined;
let clients: KmipClient[] = [];

function options(): KmipClientOptions {
  if (clientOptions === undefined) throw new Error("connect first");
  return clientOptions;
}

/** Opens `count` connections, at most `parallel` handshakes at a time. */
async function openClients(count: number, parallel = 32): Promise<KmipClient[]> {
  const opened: KmipClient[] = [];
  for (let start = 0; start < count; start += parallel) {
    const n = Math.min(parallel, count - start);
    opened.push(...(await Promise.all(Array.from({ length: n }, () => KmipClient.connect(options())))));
  }
  return opened;
}

async function connect(args: ConnectArgs): Promise<void> {
  clientOptions = {
    host: args.host,
    port: args.port,
    ca: args.ca,
    servername: "localhost",
    username: args.username,
    password: args.password,
    timeoutMs: 120_000,
  };
  clients = await openClients(args.count);
}

/** Creates one key pair per algorithm through the relay; resolves to the private keys' Unique Identifiers. */
async function createKeys(algorithms: AlgorithmName[]): Promise<Record<string, string>> {
  const client = clients[0]!;
  const ids: Record<string, string> = {};
  for (const name of algorithms) ids[name] = await createKeyPair(client, name === "RSA-2048" ? 2048 : undefined, name);
  return ids;
}

function createKeyPair(client: KmipClient, rsaBits: number | undefined, name: AlgorithmName | "RSA"): Promise<string> {
  const algorithm = name === "RSA" ? ALGORITHMS["RSA-2048"] : ALGORITHMS[name];
  const length = rsaBits ?? algorithm.cryptographicLength;
  return client
    .createKeyPair({
      commonTemplateAttribute: {
        names: [],
        attributes: [
          { name: "Cryptographic Algorithm", value: algorithm.cryptographicAlgorithm },
          // Active at once (KMIP 1.x 3.22): without it the pair is Pre-Active and may not sign.
          { name: "Activation Date", value: BigInt(Math.floor(Date.now() / 1000)) },
          ...(length === undefined ? [] : [{ name: "Cryptographic Length" as const, value: length }]),
        ],
      },
    })
    .then((response) => response.privateKeyUniqueIdentifier);
}

/** DISTINCT_MESSAGES encoded Request Messages of `batch` Sign items each, with fresh random Data. */
function signMessages(algorithmName: AlgorithmName, keyId: string, batch: number): Buffer[] {
  const cryptographicParameters = ALGORITHMS[algorithmName].parameters;
  return Array.from({ length: DISTINCT_MESSAGES }, () =>
    encodeSignMessage(
      options(),
      Array.from({ length: batch }, () => ({ uniqueIdentifier: keyId, cryptographicParameters, data: randomBytes(DATA_LENGTH) })),
    ),
  );
}

export interface SampleArgs {
  readonly scenario: Scenario;
  readonly keyId: string;
}

/** One reply of the relay to the scenario's request, raw: what the floor server (floor.ts) answers with. */
async function sample(args: SampleArgs): Promise<Uint8Array> {
  if (clients.length === 0) clients.push(...(await openClients(1)));
  const reply = await clients[0]!.sendRaw(signMessages(args.scenario.algorithm, args.keyId, args.scenario.batch)[0]!);
  checkSignReply(reply, args.scenario.batch);
  return reply;
}

/** `scenario.connections` closed loops: send a request, await its reply, send the next. */
async function run(args: RunArgs): Promise<RelayResult> {
  const { scenario } = args;
  if (clients.length < scenario.connections) clients.push(...(await openClients(scenario.connections - clients.length)));
  const messages = signMessages(scenario.algorithm, args.keyId, scenario.batch);
  // One request first, decoded in full: a misconfigured scenario fails here with the relay's message.
  const first = decodeResponseMessage(decodeTtlv(await clients[0]!.sendRaw(messages[0]!)));
  const failed = first.batchItems.find((item) => item.resultStatus !== ResultStatus.Success);
  if (failed !== undefined) throw new Error(`Sign with ${scenario.algorithm} failed: ${failed.resultMessage}`);

  const window = new Window(args, args.warmupMs, args.measureMs);
  const more = () => !window.stopped;
  const done = (started: bigint) => window.record(started, scenario.batch);
  await Promise.all([window.done, ...clients.slice(0, scenario.connections).map((client, i) => signLoop(client, messages, scenario.batch, i, more, done))]);
  return window.result();
}

/**
 * Signing latency at a steady, moderate rate (batches of one, paced per
 * connection) without and then with RSA key generation running back to back
 * on another connection: a stall of the event loop shows in p99. Repeated
 * `rounds` times, generation stopped (the pair in progress finished) before
 * each window alone.
 */
async function fairness(args: FairnessArgs): Promise<FairnessResult> {
  const needed = args.connections + 1;
  if (clients.length < needed) clients.push(...(await openClients(needed - clients.length)));
  const messages = signMessages("ECDSA P-256", args.keyId, 1);
  const signers = clients.slice(0, args.connections);
  const intervalNs = BigInt(Math.round(1e9 / args.ratePerConnection));

  const paced = async (window: Window, client: KmipClient, offset: number) => {
    // Spread the connections' sends over the interval.
    let next = process.hrtime.bigint() + (intervalNs * BigInt(offset)) / BigInt(args.connections);
    for (let i = offset; !window.stopped; i++) {
      const wait = Number(next - process.hrtime.bigint()) / 1e6;
      if (wait > 0) await sleep(wait);
      const started = process.hrtime.bigint();
      checkSignReply(await client.sendRaw(messages[i % messages.length]!), 1);
      window.record(started, 1);
      next += intervalNs;
      if (next < started) next = started; // fell behind: do not burst to catch up
    }
  };
  const measure = async () => {
    const window = new Window(args, args.warmupMs, args.measureMs);
    await Promise.all([window.done, ...signers.map((client, i) => paced(window, client, i))]);
    return window.summary();
  };

  const generator = clients[args.connections]!;
  const keyGenerationSeconds: number[] = [];
  const rounds: FairnessRound[] = [];
  for (let round = 0; round < args.rounds; round++) {
    const baseline = await measure();
    let generating = true;
    const generate = async () => {
      while (generating) {
        const started = process.hrtime.bigint();
        await createKeyPair(generator, args.keyGenerationBits, "RSA");
        keyGenerationSeconds.push(Number(process.hrtime.bigint() - started) / 1e9);
      }
    };
    const generation = generate();
    const duringKeyGeneration = await measure();
    generating = false;
    await generation;
    rounds.push({ baseline, duringKeyGeneration });
  }
  return { rounds, keyGenerationSeconds };
}

/** Opens `count` more connections that send nothing, and reads the relay's resident memory. */
async function idle(args: IdleArgs): Promise<IdleResult> {
  await closeAll();
  await sleep(500);
  // With workers: the supervisor's RSS and the pages only each worker holds
  // (USS), so that the Node.js binary they all map counts once.
  const relayMemory = () => residentBytes(args.relayPid) + (args.workerPids ?? []).reduce((sum, pid) => sum + uniqueBytes(pid), 0);
  const modules = args.modulePid === undefined ? [] : [args.modulePid, ...(args.otherModulePids ?? [])];
  const relayRssBefore = relayMemory();
  const started = process.hrtime.bigint();
  const idlers = await openClients(args.count, 50);
  const connectSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  await sleep(1000);
  const result = {
    connections: idlers.length,
    relayRssBefore,
    relayRssAfter: relayMemory(),
    moduleRss: modules.reduce((sum, pid) => sum + residentBytes(pid), 0),
    moduleUss: modules.reduce((sum, pid) => sum + uniqueBytes(pid), 0),
    connectSeconds,
  };
  await Promise.all(idlers.map((client) => client.close()));
  return result;
}

async function closeAll(): Promise<void> {
  const open = clients;
  clients = [];
  await Promise.all(open.map((client) => client.close()));
}

export const loadMethods = { connect, createKeys, sample, run, fairness, idle, close: closeAll };
export type LoadMethods = typeof loadMethods;

serveMethods(loadMethods);
