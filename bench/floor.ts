// The floor: what any relay in a process of its own pays on this machine
// before doing any KMIP work. A TLS server (node:tls, like the relay) that
// reads each TTLV message off the connection, makes the request's
// signatures exactly as the direct baseline does (signer.ts, in the form
// direct found faster for the scenario) without reading the request, and
// answers with a reply the relay gave to the same request. The load
// generator drives it as it drives the relay, so floor versus direct is the
// cost of the process boundary, TLS and the client (and of signing in a
// server that sleeps between requests), and relay versus floor is what the
// relay's own work costs.
import { readFile } from "node:fs/promises";
import { createServer, type Server, type TLSSocket } from "node:tls";
import type { AlgorithmName } from "./common.js";
import { closeToken, dataToSign, openToken, sessionFor, signer, type OpenArgs, type SignForm, type Signer } from "./signer.js";
import { serveMethods } from "./worker.js";

export interface FloorStartArgs {
  /** PEM files of a TLS identity for "localhost" (the relay's generated one). */
  readonly certPath: string;
  readonly keyPath: string;
  readonly token: OpenArgs;
}

export interface FloorConfigureArgs {
  /** The bytes every request is answered with: a relay's Response Message. */
  readonly reply: Uint8Array;
  readonly algorithm: AlgorithmName;
  readonly keyId: string;
  /** Signatures per request, and the most in flight over all connections. */
  readonly batch: number;
  readonly connections: number;
  readonly form: SignForm;
}

const TTLV_HEADER = 8;

let server: Server | undefined;
let reply: Buffer = Buffer.alloc(0);
let work: { sign: Signer; form: SignForm; batch: Buffer[] } | undefined;
let connections = 0;

/** Writes the answer as the relay does: corked, so that it leaves in one write. */
function answer(socket: TLSSocket): void {
  socket.cork();
  socket.write(reply);
  process.nextTick(() => socket.uncork());
}

/** Frames TTLV messages (length at bytes 4-7 of the header) and answers each, in order. */
function serve(socket: TLSSocket): void {
  socket.setNoDelay(true);
  const session = sessionFor(connections++);
  let pending: Buffer = Buffer.alloc(0);
  let previous: Promise<void> = Promise.resolve();
  socket.on("data", (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= TTLV_HEADER && pending.length >= TTLV_HEADER + pending.readUInt32BE(4)) {
      pending = pending.subarray(TTLV_HEADER + pending.readUInt32BE(4));
      if (work === undefined) throw new Error("floor: configure first");
      const { sign, form, batch } = work;
      if (form === "sync") {
        sign.signSync(session, batch);
        answer(socket);
      } else {
        previous = previous.then(() => sign.signAsync(batch)).then(() => answer(socket));
      }
    }
  });
  socket.on("error", () => socket.destroy());
}

async function start(args: FloorStartArgs): Promise<number> {
  openToken(args.token);
  const [cert, key] = await Promise.all([readFile(args.certPath), readFile(args.keyPath)]);
  const listening = createServer({ cert, key, minVersion: "TLSv1.2" }, serve);
  server = listening;
  await new Promise<void>((resolve, reject) => {
    listening.once("error", reject);
    listening.listen(0, "127.0.0.1", resolve);
  });
  const address = listening.address();
  if (address === null || typeof address === "string") throw new Error("the floor server has no TCP address");
  return address.port;
}

async function configure(args: FloorConfigureArgs): Promise<void> {
  reply = Buffer.from(args.reply);
  const messages = dataToSign();
  work = {
    sign: signer(args.algorithm, args.keyId, args.connections * args.batch),
    form: args.form,
    batch: Array.from({ length: args.batch }, (_, k) => messages[k % messages.length]!),
  };
}

async function stop(): Promise<void> {
  const listening = server;
  server = undefined;
  if (listening !== undefined) await new Promise<void>((resolve) => listening.close(() => resolve()));
  closeToken();
}

export const floorMethods = { start, configure, stop };
export type FloorMethods = typeof floorMethods;

serveMethods(floorMethods);
