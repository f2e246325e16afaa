// The Sign load generator: Sign request messages encoded once and sent again
// and again with KmipClient.sendRaw, over closed loops (send, await the
// reply, send the next), every reply checked. The `client sign --count`
// command and the benchmark (bench/load.ts) both drive a relay with it, so
// they send the same requests and a figure from one compares with the other.
import { decodeResponseMessage, encodeRequestMessage } from "../kmip/message.js";
import { encodeSignRequest, type SignRequestPayload } from "../kmip/payloads/sign.js";
import { decodeTtlv } from "../ttlv/decode.js";
import { encodeTtlv } from "../ttlv/encode.js";
import { CredentialType, Operation, ResultStatus } from "../ttlv/enums.js";
import { ItemType, type TtlvItem } from "../ttlv/item.js";
import { Tag } from "../ttlv/tags.js";
import { KmipClient, KmipResultError, type KmipClientOptions } from "./kmip-client.js";

/** The Username and Password credential sent in every message. */
export interface SignCredential {
  readonly username?: string;
  readonly password?: string;
}

/**
 * One Request Message (Protocol Version 1.2) with a Sign batch item per
 * payload, each with its index as Unique Batch Item ID.
 */
export function encodeSignMessage(credential: SignCredential, payloads: readonly SignRequestPayload[]): Buffer {
  return encodeTtlv(
    encodeRequestMessage({
      header: {
        protocolVersion: { major: 1, minor: 2 },
        authentication: {
          credential: { credentialType: CredentialType.UsernameAndPassword, username: credential.username, password: credential.password },
        },
        batchCount: payloads.length,
      },
      batchItems: payloads.map((payload, i) => ({
        operation: Operation.Sign,
        uniqueBatchItemId: Uint8Array.of(i >> 8, i & 0xff),
        requestPayload: encodeSignRequest(payload),
      })),
    }),
  );
}

/**
 * Checks a reply to a message of `expected` Sign items: every item Success
 * with Signature Data. It walks the TTLV tree rather than building typed
 * objects (cheap enough for every reply) and decodes in full only to report
 * a failure, as a KmipResultError carrying the server's Result Reason and
 * Result Message.
 */
export function checkSignReply(reply: Uint8Array, expected: number): void {
  const tree = decodeTtlv(reply);
  let good = 0;
  if (tree.type === ItemType.Structure) {
    for (const item of tree.value) {
      if (item.tag === Tag.BatchItem && item.type === ItemType.Structure && isSignSuccess(item.value)) good++;
    }
  }
  if (good === expected) return;
  const failed = decodeResponseMessage(tree).batchItems.find((item) => item.resultStatus !== ResultStatus.Success);
  if (failed !== undefined) throw new KmipResultError(Operation.Sign, failed);
  throw new Error(`${expected - good} of ${expected} Sign items came back without Signature Data`);
}

function isSignSuccess(fields: readonly TtlvItem[]): boolean {
  let success = false;
  let signed = false;
  for (const field of fields) {
    if (field.tag === Tag.ResultStatus) success = field.value === ResultStatus.Success;
    else if (field.tag === Tag.ResponsePayload && field.type === ItemType.Structure) signed = field.value.some((f) => f.tag === Tag.SignatureData);
  }
  return success && signed;
}

/**
 * A closed loop on one connection: while `more()` allows, sends the next of
 * `messages` (cycling, from `offset`), awaits and checks its reply
 * (`itemsPerMessage` Sign items), then calls `done` with the time the
 * request was sent (process.hrtime.bigint()). The first failure ends it.
 */
export async function signLoop(
  client: KmipClient,
  messages: readonly Uint8Array[],
  itemsPerMessage: number,
  offset: number,
  more: () => boolean,
  done: (started: bigint) => void,
): Promise<void> {
  for (let i = offset; more(); i++) {
    const started = process.hrtime.bigint();
    checkSignReply(await client.sendRaw(messages[i % messages.length]!), itemsPerMessage);
    done(started);
  }
}

/** A fixed number of signatures, as `client sign --count` sends them. */
export interface SignLoad {
  /** Total signatures; a multiple of `batch`. */
  readonly count: number;
  readonly connections: number;
  /** Requests in flight per connection. */
  readonly inFlight: number;
  /** Sign batch items per request message. */
  readonly batch: number;
  readonly payload: SignRequestPayload;
}

export interface SignLoadResult {
  readonly signatures: number;
  readonly seconds: number;
  /** Milliseconds per request message, sorted. */
  readonly latenciesMs: number[];
}

/**
 * Sends `load.count` signatures: one request message (encoded once) sent
 * over `connections` TLS connections with `inFlight` loops on each. Every
 * batch item must succeed; the first failure ends the run.
 */
export async function runSignLoad(options: KmipClientOptions, load: SignLoad, onProgress?: (signatures: number) => void): Promise<SignLoadResult> {
  const message = encodeSignMessage(options, Array.from({ length: load.batch }, () => load.payload));
  const clients = await Promise.all(Array.from({ length: load.connections }, () => KmipClient.connect(options)));
  let requestsLeft = load.count / load.batch;
  let signatures = 0;
  const latenciesMs: number[] = [];
  const more = () => requestsLeft-- > 0;
  const done = (started: bigint) => {
    latenciesMs.push(Number(process.hrtime.bigint() - started) / 1e6);
    signatures += load.batch;
    onProgress?.(signatures);
  };
  const started = process.hrtime.bigint();
  try {
    await Promise.all(clients.flatMap((client) => Array.from({ length: load.inFlight }, () => signLoop(client, [message], load.batch, 0, more, done))));
  } finally {
    requestsLeft = 0;
    await Promise.all(clients.map((client) => client.close()));
  }
  return { signatures, seconds: Number(process.hrtime.bigint() - started) / 1e9, latenciesMs: latenciesMs.sort((a, b) => a - b) };
}
