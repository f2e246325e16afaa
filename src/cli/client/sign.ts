// `client sign`: one signature printed or written to a file, or with
// --count many signatures over several connections, reporting throughput and
// latency (the Sign load generator the benchmark uses too).
import { readFile, writeFile } from "node:fs/promises";
import type { KmipClientOptions } from "../../client/kmip-client.js";
import { runSignLoad, type SignLoad, type SignLoadResult } from "../../client/sign-load.js";
import type { SignRequestPayload } from "../../kmip/payloads/index.js";
import { HashingAlgorithm, PaddingMethod, ResultReason } from "../../ttlv/enums.js";
import { UsageError } from "../args.js";
import type { CliIo } from "../io.js";
import { Progress, ToolError } from "../tool.js";
import { choose, positiveInteger, type Choice } from "./arguments.js";
import { onOneConnection, type ClientCommand } from "./command.js";
import type { Values } from "./options.js";

const HASHES: readonly Choice[] = [
  { name: "sha256", kmip: HashingAlgorithm.SHA256 },
  { name: "sha384", kmip: HashingAlgorithm.SHA384 },
  { name: "sha512", kmip: HashingAlgorithm.SHA512 },
];
const PADDINGS: readonly Choice[] = [
  { name: "pkcs1", kmip: PaddingMethod.Pkcs1v15 },
  { name: "pss", kmip: PaddingMethod.PSS },
];

export const signCommand: ClientCommand = {
  name: "sign",
  usage: `  sign ID [--in FILE | --data TEXT] [--hash sha256|sha384|sha512] [--padding pkcs1|pss] [--out FILE]
                           Signs the data (default: standard input) with a
                           private key; prints the signature in hex, or
                           writes it to FILE
  sign ID --count N [--connections N] [--in-flight N] [--batch N]
                           Signs N times over several connections and reports
                           signatures per second and latency
`,
  ids: 1,
  options: ["in", "data", "hash", "padding", "out", "count", "connections", "in-flight", "batch"],
  async prepare(id, values, io) {
    const payload = { uniqueIdentifier: id, data: await signData(values, io), cryptographicParameters: signParameters(values) };
    if (values.count !== undefined) {
      const load = signLoadSpec(values, payload);
      return (options) => signLoad(options, load, io);
    }
    if (values.connections !== undefined || values["in-flight"] !== undefined || values.batch !== undefined) {
      throw new UsageError("--connections, --in-flight and --batch go with --count");
    }
    return onOneConnection(async (client) => {
      const { signatureData } = await client.sign(payload);
      if (signatureData === undefined) throw new ToolError("the server answered the Sign request without Signature Data");
      if (values.out === undefined) io.stdout.write(`${Buffer.from(signatureData).toString("hex")}\n`);
      else {
        await writeFile(values.out, signatureData);
        io.stdout.write(`${signatureData.length}-byte signature written to ${values.out}\n`);
      }
    });
  },
  // Permission Denied on Sign: the key is a public key or may no longer sign.
  fixes: new Map([[ResultReason.PermissionDenied, "the key may not do this (a public key cannot sign; a revoked key cannot be used)"]]),
};

async function signData(values: Values, io: CliIo): Promise<Uint8Array> {
  if (values.data !== undefined && values.in !== undefined) throw new UsageError("give the data with --data or --in, not both");
  if (values.data !== undefined) return Buffer.from(values.data, "utf8");
  if (values.in !== undefined && values.in !== "-") {
    try {
      return await readFile(values.in);
    } catch (err) {
      throw new ToolError(`cannot read ${values.in}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  const chunks: Buffer[] = [];
  for await (const chunk of io.stdin) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks);
}

/** Cryptographic Parameters from --hash and --padding; none lets the key's type decide. */
function signParameters(values: Values): SignRequestPayload["cryptographicParameters"] {
  if (values.hash === undefined && values.padding === undefined) return undefined;
  return {
    ...(values.hash === undefined ? {} : { hashingAlgorithm: choose("--hash", values.hash, HASHES).kmip }),
    ...(values.padding === undefined ? {} : { paddingMethod: choose("--padding", values.padding, PADDINGS).kmip }),
  };
}

function signLoadSpec(values: Values, payload: SignRequestPayload): SignLoad {
  const count = positiveInteger("--count", values.count as string);
  const batch = values.batch === undefined ? 1 : positiveInteger("--batch", values.batch);
  if (count % batch !== 0) throw new UsageError(`--count ${count} is not a multiple of --batch ${batch}`);
  if (values.out !== undefined) throw new UsageError("--out writes one signature; it does not go with --count");
  return {
    count,
    batch,
    connections: values.connections === undefined ? 1 : positiveInteger("--connections", values.connections),
    inFlight: values["in-flight"] === undefined ? 1 : positiveInteger("--in-flight", values["in-flight"]),
    payload,
  };
}

async function signLoad(options: KmipClientOptions, load: SignLoad, io: CliIo): Promise<void> {
  let done = 0;
  const progress = new Progress(io.stderr, (s) => `signed ${done} of ${load.count} (${Math.round(done / Math.max(s, 0.001))}/s)`).start();
  let result: SignLoadResult;
  try {
    result = await runSignLoad(options, load, (n) => (done = n));
  } finally {
    progress.stop();
  }
  const percentile = (p: number) => (result.latenciesMs[Math.min(result.latenciesMs.length - 1, Math.floor((p / 100) * result.latenciesMs.length))] ?? 0).toFixed(2);
  io.stdout.write(
    `${result.signatures} signatures in ${result.seconds.toFixed(2)} s over ${load.connections} connection${load.connections === 1 ? "" : "s"} ` +
      `(${load.inFlight} in flight each, ${load.batch} per request): ${Math.round(result.signatures / result.seconds)} signatures/s\n` +
      `latency per request: p50 ${percentile(50)} ms, p90 ${percentile(90)} ms, p99 ${percentile(99)} ms, max ${percentile(100)} ms\n`,
  );
}
