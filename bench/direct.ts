// The baseline: the same signatures made directly with pkcs11js, in a process
// of its own, on the same token and keys the relay uses, doing per signature
// what the relay's HSM work is and nothing else (signer.ts).
//
// A scenario has the relay scenario's shape: `connections` loops, each making
// a "request" of `batch` signatures and starting the next when it is done.
// The scenario runs each of pkcs11js's forms of C_Sign (synchronous and
// asynchronous) for half the window, and the faster one is the baseline.
import { Window, type DirectResult, type Scenario } from "./common.js";
import { closeToken, dataToSign, openToken, sessionFor, signer, type OpenArgs, type SignForm } from "./signer.js";
import { serveMethods } from "./worker.js";

export interface DirectRunArgs {
  readonly scenario: Scenario;
  /** The relay's Unique Identifier of the private key: hex CKA_ID + "_priv". */
  readonly keyId: string;
  readonly warmupMs: number;
  /** Split evenly between the synchronous and the asynchronous form. */
  readonly measureMs: number;
}

async function open(args: OpenArgs): Promise<void> {
  openToken(args);
}

async function measure(args: DirectRunArgs, form: SignForm, measureMs: number) {
  const { scenario } = args;
  const sign = signer(scenario.algorithm, args.keyId, scenario.connections * scenario.batch);
  const messages = dataToSign();
  const batchAt = (i: number) => Array.from({ length: scenario.batch }, (_, k) => messages[(i + k) % messages.length]!);
  const window = new Window(undefined, args.warmupMs, measureMs);

  const loop = async (index: number) => {
    const session = sessionFor(index);
    for (let i = index; !window.stopped; i++) {
      const started = process.hrtime.bigint();
      if (form === "sync") sign.signSync(session, batchAt(i));
      else await sign.signAsync(batchAt(i));
      window.record(started, scenario.batch);
      // Let the other loops and the window's timers run, as a server's event loop would.
      if (form === "sync") await new Promise((resolve) => setImmediate(resolve));
    }
  };
  await Promise.all([window.done, ...Array.from({ length: scenario.connections }, (_, i) => loop(i))]);
  const result = window.result();
  return { ...window.summary(), cpuPerSignUs: (result.cpu.client * 1e6) / window.items };
}

async function run(args: DirectRunArgs): Promise<DirectResult> {
  const half = Math.max(1, Math.round(args.measureMs / 2));
  const sync = await measure(args, "sync", half);
  const async = await measure(args, "async", half);
  const [best, other, mode] = sync.opsPerSecond >= async.opsPerSecond ? [sync, async, "sync" as const] : [async, sync, "async" as const];
  return { ...best, mode, otherOpsPerSecond: other.opsPerSecond };
}

async function close(): Promise<void> {
  closeToken();
}

export const directMethods = { open, run, close };
export type DirectMethods = typeof directMethods;

serveMethods(directMethods);
