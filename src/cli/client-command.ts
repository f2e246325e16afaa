// `kmip2pkcs11 client`: a small KMIP client for a running relay (or any KMIP
// server), on src/client/kmip-client.ts, printing what a person can read. Its
// `sign --count` mode drives many signatures over several connections and
// reports throughput and latency: the same requests a benchmark sends.
import { createPublicKey } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { KmipClient, KmipConnectionError, KmipResultError, type KmipClientOptions } from "../client/kmip-client.js";
import { parseHostPort } from "../config/config.js";
import type { Attribute } from "../kmip/attributes.js";
import { KmipError } from "../kmip/errors.js";
import { decodeResponseMessage, encodeRequestMessage } from "../kmip/message.js";
import type { KeyObject } from "../kmip/objects.js";
import { encodeSignRequest, type CreateKeyPairRequestPayload, type SignRequestPayload } from "../kmip/payloads/index.js";
import { decodeTtlv } from "../ttlv/decode.js";
import { encodeTtlv } from "../ttlv/encode.js";
import {
  CredentialType,
  CryptographicAlgorithm,
  CryptographicUsageMask,
  HashingAlgorithm,
  KeyFormatType,
  NameType,
  ObjectType,
  Operation,
  PaddingMethod,
  QueryFunction,
  RecommendedCurve,
  ResultReason,
  ResultStatus,
  RevocationReasonCode,
} from "../ttlv/enums.js";
import { enumerationName } from "../ttlv/names.js";
import { Tag } from "../ttlv/tags.js";
import { UsageError } from "./args.js";
import type { CliIo } from "./io.js";
import { EXIT_OK, loadToolConfig, parseToolArgs, Progress, readSecret, runTool, ToolError } from "./tool.js";

export const CLIENT_USAGE = `Usage: kmip2pkcs11 client [CONNECTION OPTIONS] COMMAND [ARGS...]

A KMIP client for a running relay. The username selects the token (its
label); the password is the token's user PIN.

Commands:
  discover                 The protocol versions the server speaks
  query                    The server's operations, object types and identity
  create --algorithm rsa|ec|ed25519 [--bits N] [--curve P-256|P-384|P-521] [--label NAME]
                           Make a key pair for signing (RSA: --bits, default
                           2048; EC: --curve, default P-256); prints both ids
  get ID [--format x509|pkcs1|raw] [--out FILE]
                           A public key, as PEM (x509, the default, or pkcs1)
                           or as hex (raw)
  sign ID [--in FILE | --data TEXT] [--hash sha256|sha384|sha512] [--padding pkcs1|pss] [--out FILE]
                           Signs the data (default: standard input) with a
                           private key; prints the signature in hex, or
                           writes it to FILE
  sign ID --count N [--connections N] [--in-flight N] [--batch N]
                           Signs N times over several connections and reports
                           signatures per second and latency
  locate [--label NAME] [--class public|private] [--type rsa|ec|ed25519] [--max N]
                           The ids of the keys that match
  revoke ID [--reason REASON] [--message TEXT]
                           Revokes a key (default reason cessation-of-operation)
  destroy ID               Destroys a key

Connection options:
  -s, --server <HOST:PORT>     The relay (default 127.0.0.1:5696)
  -c, --config <PATH>          Take the address and, with the generated
                               certificate, the CA from the relay's config file
      --ca <FILE>              CA certificate(s) to verify the server (PEM;
                               default: the system's)
      --cert <FILE> --key <FILE>
                               Client certificate and key (PEM)
      --servername <NAME>      Name to verify in the server's certificate
      --insecure               Do not verify the server's certificate
  -u, --username <NAME>        The token, as the relay selects it (its label,
                               serial:SERIAL, slot:ID, a [tokens] alias, ...)
      --password-file <FILE>   The password (user PIN) is in FILE
      --password-env <VARIABLE>
                               The password is in this environment variable
                               (without either, KMIP2PKCS11_PASSWORD is used)
      --timeout <SECONDS>      Limit for connecting and for each reply (default 30)
  -h, --help                   Show this help

Exit status: 0 done, 1 failed (the server's answer or the connection), 2 bad command line.
`;

const CONNECTION_OPTIONS = {
  server: { type: "string", short: "s" },
  config: { type: "string", short: "c" },
  ca: { type: "string" },
  cert: { type: "string" },
  key: { type: "string" },
  servername: { type: "string" },
  insecure: { type: "boolean" },
  username: { type: "string", short: "u" },
  "password-file": { type: "string" },
  "password-env": { type: "string" },
  timeout: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

const COMMAND_OPTIONS = {
  algorithm: { type: "string" },
  bits: { type: "string" },
  curve: { type: "string" },
  label: { type: "string" },
  format: { type: "string" },
  out: { type: "string" },
  in: { type: "string" },
  data: { type: "string" },
  hash: { type: "string" },
  padding: { type: "string" },
  count: { type: "string" },
  connections: { type: "string" },
  "in-flight": { type: "string" },
  batch: { type: "string" },
  class: { type: "string" },
  type: { type: "string" },
  max: { type: "string" },
  reason: { type: "string" },
  message: { type: "string" },
} as const;

type CommandOption = keyof typeof COMMAND_OPTIONS;
type Values = {
  [K in keyof typeof CONNECTION_OPTIONS | CommandOption]?: (typeof CONNECTION_OPTIONS & typeof COMMAND_OPTIONS)[K]["type"] extends "boolean" ? boolean : string;
};

/** Each command: how many ids it takes, and its options. */
const COMMANDS: Readonly<Record<string, { readonly ids: 0 | 1; readonly options: readonly CommandOption[] }>> = {
  discover: { ids: 0, options: [] },
  query: { ids: 0, options: [] },
  create: { ids: 0, options: ["algorithm", "bits", "curve", "label"] },
  get: { ids: 1, options: ["format", "out"] },
  sign: { ids: 1, options: ["in", "data", "hash", "padding", "out", "count", "connections", "in-flight", "batch"] },
  locate: { ids: 0, options: ["label", "class", "type", "max"] },
  revoke: { ids: 1, options: ["reason", "message"] },
  destroy: { ids: 1, options: [] },
};

export async function runClientCommand(argv: string[], io: CliIo): Promise<number> {
  return runTool("client", io, async () => {
    const { values, positionals, tokens } = parseToolArgs({
      args: argv,
      options: { ...CONNECTION_OPTIONS, ...COMMAND_OPTIONS },
      allowPositionals: true,
      tokens: true,
    });
    const [command, ...ids] = positionals;
    if (values.help || command === "help") {
      io.stdout.write(CLIENT_USAGE);
      return EXIT_OK;
    }
    if (command === undefined) throw new UsageError("name a command: discover, query, create, get, sign, locate, revoke or destroy");
    const spec = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
    if (spec === undefined) throw new UsageError(`unknown command '${command}'`);
    for (const token of tokens) {
      if (token.kind === "option" && Object.hasOwn(COMMAND_OPTIONS, token.name) && !spec.options.includes(token.name as CommandOption)) {
        throw new UsageError(`--${token.name} is not an option of '${command}'`);
      }
    }
    if (ids.length !== spec.ids) throw new UsageError(spec.ids === 0 ? `'${command}' takes no argument` : `'${command}' takes one key id`);
    const id = ids[0] as string;

    const options = await connectionOptions(values);
    const server = `${options.host}:${options.port}`;
    // Checked before connecting, so that a mistake costs no round trip.
    const prepared = await prepare(command, id, values, io);
    try {
      if (prepared.load !== undefined) return await signLoadCommand(options, prepared.load, io);
      const client = await KmipClient.connect(options);
      try {
        await prepared.run(client);
      } finally {
        await client.close();
      }
      return EXIT_OK;
    } catch (err) {
      throw explain(err, server);
    }
  });
}

/** A command ready to run: its arguments read and checked. */
interface Prepared {
  run(client: KmipClient): Promise<void>;
  /** `sign --count`: many signatures instead of one. */
  load?: SignLoad;
}

async function prepare(command: string, id: string, values: Values, io: CliIo): Promise<Prepared> {
  const out = (text: string) => io.stdout.write(text);
  switch (command) {
    case "discover":
      return {
        run: async (client) => {
          const { protocolVersions } = await client.discoverVersions();
          out(`Protocol versions: ${protocolVersions.map((v) => `${v.major}.${v.minor}`).join(", ")}\n`);
        },
      };
    case "query":
      return {
        run: async (client) => {
          const answer = await client.query({
            queryFunctions: [QueryFunction.QueryOperations, QueryFunction.QueryObjects, QueryFunction.QueryServerInformation],
          });
          out(`Server:       ${answer.vendorIdentification ?? "(not given)"}\n`);
          out(`Operations:   ${answer.operations.map((o) => readable(Tag.Operation, o)).join(", ")}\n`);
          out(`Object types: ${answer.objectTypes.map((o) => readable(Tag.ObjectType, o)).join(", ")}\n`);
        },
      };
    case "create": {
      const { request, description } = keyPairRequest(values);
      return {
        run: async (client) => {
          const progress = new Progress(io.stderr, (s) => `generating ${description} key pair... ${Math.floor(s)} s`).start();
          let created;
          try {
            created = await client.createKeyPair(request);
          } finally {
            progress.stop();
          }
          out(`Private key: ${created.privateKeyUniqueIdentifier}\nPublic key:  ${created.publicKeyUniqueIdentifier}\n`);
        },
      };
    }
    case "get": {
      const format = choose("--format", values.format ?? "x509", GET_FORMATS);
      return {
        run: async (client) => {
          const got = await client.get({ uniqueIdentifier: id, keyFormatType: format.kmip });
          const { text, bytes, summary } = publicKeyOutput(got.object as KeyObject, format.name);
          if (values.out === undefined) out(`${summary}\n${text}`);
          else {
            await writeFile(values.out, bytes ?? text);
            out(`${summary}\nwritten to ${values.out}\n`);
          }
        },
      };
    }
    case "sign": {
      const payload = { uniqueIdentifier: id, data: await signData(values, io), cryptographicParameters: signParameters(values) };
      if (values.count !== undefined) return { run: async () => {}, load: signLoadSpec(values, payload) };
      if (values.connections !== undefined || values["in-flight"] !== undefined || values.batch !== undefined) {
        throw new UsageError("--connections, --in-flight and --batch go with --count");
      }
      return {
        run: async (client) => {
          const { signatureData } = await client.sign(payload);
          if (signatureData === undefined) throw new ToolError("the server answered the Sign request without Signature Data");
          if (values.out === undefined) out(`${Buffer.from(signatureData).toString("hex")}\n`);
          else {
            await writeFile(values.out, signatureData);
            out(`${signatureData.length}-byte signature written to ${values.out}\n`);
          }
        },
      };
    }
    case "locate": {
      const attributes = locateAttributes(values);
      const maximumItems = values.max === undefined ? undefined : positiveInteger("--max", values.max);
      return {
        run: async (client) => {
          const { uniqueIdentifiers } = await client.locate({ attributes, maximumItems });
          for (const found of uniqueIdentifiers) out(`${found}\n`);
          if (uniqueIdentifiers.length === 0) io.stderr.write("no key matches\n");
        },
      };
    }
    case "revoke": {
      const reason = choose("--reason", values.reason ?? "cessation-of-operation", REVOCATION_REASONS);
      return {
        run: async (client) => {
          await client.revoke({ uniqueIdentifier: id, revocationReason: { revocationReasonCode: reason.kmip, revocationMessage: values.message } });
          out(`Revoked ${id} (${reason.name})\n`);
        },
      };
    }
    default:
      return {
        run: async (client) => {
          await client.destroy({ uniqueIdentifier: id });
          out(`Destroyed ${id}\n`);
        },
      };
  }
}

/** The connection: the config file's defaults, then the options. */
async function connectionOptions(values: Values): Promise<KmipClientOptions> {
  const { config } = values.config === undefined ? { config: undefined } : await loadToolConfig(values.config);
  const addr = values.server ?? (config === undefined ? DEFAULT_SERVER : loopbackFor(config.server.addr));
  const target = parseHostPort(addr);
  if (target === undefined) throw new UsageError(`--server: expected HOST:PORT (e.g. 127.0.0.1:5696 or [::1]:5696), got '${addr}'`);

  let caPath = values.ca;
  // A relay without [server.identity] uses its generated self-signed certificate.
  if (caPath === undefined && config !== undefined && config.server.identity === undefined) caPath = join(config.server.stateDir, "tls", "cert.pem");
  if ((values.cert === undefined) !== (values.key === undefined)) throw new UsageError("--cert and --key go together");
  if (values.username === undefined) throw new UsageError("name the token with --username NAME (its label, as KMIP clients send it)");
  const password = await readSecret({ file: values["password-file"], env: values["password-env"], defaultEnv: "KMIP2PKCS11_PASSWORD", what: "password" });
  if (password === undefined) {
    throw new UsageError("give the password (the token's user PIN) with --password-file FILE or --password-env VARIABLE (or set KMIP2PKCS11_PASSWORD)");
  }
  return {
    host: target.host,
    port: target.port,
    ca: caPath === undefined ? undefined : await readPem(caPath, "CA certificate", values.ca === undefined ? "the relay generates it at its first start; or give --ca FILE" : undefined),
    cert: values.cert === undefined ? undefined : await readPem(values.cert, "client certificate"),
    key: values.key === undefined ? undefined : await readPem(values.key, "client key"),
    servername: values.servername,
    rejectUnauthorized: !values.insecure,
    username: values.username,
    password,
    timeoutMs: values.timeout === undefined ? undefined : positiveNumber("--timeout", values.timeout) * 1000,
  };
}

const DEFAULT_SERVER = "127.0.0.1:5696";

/** A listener on all addresses is reached on the loopback address of its family. */
function loopbackFor(addr: string): string {
  const target = parseHostPort(addr);
  if (target?.host === "0.0.0.0") return `127.0.0.1:${target.port}`;
  if (target?.host === "::") return `[::1]:${target.port}`;
  return addr;
}

async function readPem(path: string, what: string, fix?: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new ToolError(`cannot read the ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, fix);
  }
}

function positiveNumber(option: string, text: string): number {
  const n = Number(text);
  if (!(text.trim() !== "" && Number.isFinite(n) && n > 0)) throw new UsageError(`${option}: expected a positive number, got '${text}'`);
  return n;
}

function positiveInteger(option: string, text: string): number {
  const n = positiveNumber(option, text);
  if (!Number.isSafeInteger(n)) throw new UsageError(`${option}: expected a positive whole number, got '${text}'`);
  return n;
}

/** A choice among named values: the names are what the user types. */
interface Choice {
  readonly name: string;
  readonly kmip: number;
}

function choose(option: string, text: string, choices: readonly Choice[]): Choice {
  const found = choices.find((c) => c.name === text.toLowerCase());
  if (found === undefined) throw new UsageError(`${option}: expected ${choices.map((c) => c.name).join(", ")}; got '${text}'`);
  return found;
}

/** "CessationOfOperation" -> "cessation-of-operation". */
function kebab(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase();
}

const REVOCATION_REASONS: readonly Choice[] = Object.entries(RevocationReasonCode).map(([name, kmip]) => ({ name: kebab(name), kmip }));
const GET_FORMATS: readonly Choice[] = [
  { name: "x509", kmip: KeyFormatType.X509 },
  { name: "pkcs1", kmip: KeyFormatType.PKCS1 },
  { name: "raw", kmip: KeyFormatType.Raw },
];
const HASHES: readonly Choice[] = [
  { name: "sha256", kmip: HashingAlgorithm.SHA256 },
  { name: "sha384", kmip: HashingAlgorithm.SHA384 },
  { name: "sha512", kmip: HashingAlgorithm.SHA512 },
];
const PADDINGS: readonly Choice[] = [
  { name: "pkcs1", kmip: PaddingMethod.Pkcs1v15 },
  { name: "pss", kmip: PaddingMethod.PSS },
];
const CURVES: readonly Choice[] = [
  { name: "p-256", kmip: RecommendedCurve.P256 },
  { name: "p-384", kmip: RecommendedCurve.P384 },
  { name: "p-521", kmip: RecommendedCurve.P521 },
];
const KEY_ALGORITHMS: readonly Choice[] = [
  { name: "rsa", kmip: CryptographicAlgorithm.RSA },
  { name: "ec", kmip: CryptographicAlgorithm.ECDSA },
  { name: "ed25519", kmip: CryptographicAlgorithm.Ed25519 },
];

/** An enumeration value as words: Operation CreateKeyPair -> "Create Key Pair". */
function readable(tag: number, value: number): string {
  const name = enumerationName(tag, value);
  return name === undefined ? `0x${value.toString(16)}` : name.replace(/([a-z0-9])([A-Z])/g, "$1 $2").replace(/([A-Z])([A-Z][a-z])/g, "$1 $2");
}

const nameAttribute = (nameValue: string): Attribute => ({ name: "Name", value: { nameValue, nameType: NameType.UninterpretedTextString } });
const usageAttribute = (value: number): Attribute => ({ name: "Cryptographic Usage Mask", value });

/**
 * Create Key Pair as Cascade sends it (compat.md "What the real client
 * sends"): algorithm and size in the common template, Name and usage (Sign /
 * Verify) per key. `values`: --algorithm, --bits, --curve, --label.
 */
export function keyPairRequest(values: { algorithm?: string; bits?: string; curve?: string; label?: string }): {
  request: CreateKeyPairRequestPayload;
  description: string;
} {
  if (values.algorithm === undefined) throw new UsageError("create needs --algorithm rsa, ec or ed25519");
  const algorithm = choose("--algorithm", values.algorithm, KEY_ALGORITHMS);
  const common: Attribute[] = [{ name: "Cryptographic Algorithm", value: algorithm.kmip }];
  let description: string;
  if (algorithm.name === "rsa") {
    if (values.curve !== undefined) throw new UsageError("--curve is for EC keys; RSA keys take --bits");
    const bits = values.bits === undefined ? 2048 : positiveInteger("--bits", values.bits);
    common.push({ name: "Cryptographic Length", value: bits });
    description = `RSA-${bits}`;
  } else if (algorithm.name === "ec") {
    if (values.bits !== undefined) throw new UsageError("--bits is for RSA keys; EC keys take --curve");
    const curve = choose("--curve", values.curve ?? "P-256", CURVES);
    common.push({ name: "Cryptographic Domain Parameters", value: { recommendedCurve: curve.kmip } });
    description = `EC ${curve.name.toUpperCase()}`;
  } else {
    if (values.bits !== undefined || values.curve !== undefined) throw new UsageError("Ed25519 keys take neither --bits nor --curve");
    description = "Ed25519";
  }
  const named = values.label === undefined ? [] : [nameAttribute(values.label)];
  return {
    request: {
      commonTemplateAttribute: { names: [], attributes: common },
      privateKeyTemplateAttribute: { names: [], attributes: [...named, usageAttribute(CryptographicUsageMask.Sign)] },
      publicKeyTemplateAttribute: { names: [], attributes: [...named, usageAttribute(CryptographicUsageMask.Verify)] },
    },
    description,
  };
}

function locateAttributes(values: Values): Attribute[] {
  const attributes: Attribute[] = [];
  if (values.label !== undefined) attributes.push(nameAttribute(values.label));
  if (values.class !== undefined) {
    const objectType = choose("--class", values.class, [
      { name: "public", kmip: ObjectType.PublicKey },
      { name: "private", kmip: ObjectType.PrivateKey },
    ]);
    attributes.push({ name: "Object Type", value: objectType.kmip });
  }
  if (values.type !== undefined) attributes.push({ name: "Cryptographic Algorithm", value: choose("--type", values.type, KEY_ALGORITHMS).kmip });
  return attributes;
}

/** A public key from a Get answer: PEM for X.509 and PKCS#1, hex for Raw. */
function publicKeyOutput(object: KeyObject, format: string): { text: string; bytes?: Uint8Array; summary: string } {
  const block = object.keyBlock;
  const material = block.keyValue === undefined || block.keyValue instanceof Uint8Array ? undefined : block.keyValue.keyMaterial;
  if (!(material instanceof Uint8Array)) throw new ToolError("the server answered Get without plain key material in the asked format");
  const algorithm = block.cryptographicAlgorithm === undefined ? "key" : readable(Tag.CryptographicAlgorithm, block.cryptographicAlgorithm);
  const summary = `${algorithm}${block.cryptographicLength === undefined ? "" : `, ${block.cryptographicLength} bits`}, ${readable(Tag.KeyFormatType, block.keyFormatType)}`;
  if (format === "raw") return { text: `${Buffer.from(material).toString("hex")}\n`, bytes: material, summary };
  const type = format === "pkcs1" ? "pkcs1" : "spki";
  try {
    const pem = createPublicKey({ key: Buffer.from(material), format: "der", type }).export({ type, format: "pem" });
    return { text: pem.toString(), summary };
  } catch (err) {
    throw new ToolError(`the key material of the Get answer is not a ${format} public key: ${(err as Error).message}`);
  }
}

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

/** `sign --count`: what to send and how. */
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

export interface SignLoadResult {
  readonly signatures: number;
  readonly seconds: number;
  /** Milliseconds per request message, sorted. */
  readonly latenciesMs: number[];
}

/**
 * Sends `load.count` signatures: one request message (encoded once) sent
 * over `connections` TLS connections with `inFlight` requests pipelined on
 * each. Every batch item must succeed; the first failure ends the run.
 */
export async function runSignLoad(options: KmipClientOptions, load: SignLoad, onProgress?: (signatures: number) => void): Promise<SignLoadResult> {
  const message = encodeTtlv(
    encodeRequestMessage({
      header: {
        protocolVersion: { major: 1, minor: 2 },
        authentication: { credential: { credentialType: CredentialType.UsernameAndPassword, username: options.username, password: options.password } },
        batchCount: load.batch,
      },
      batchItems: Array.from({ length: load.batch }, () => ({ operation: Operation.Sign, requestPayload: encodeSignRequest(load.payload) })),
    }),
  );
  const clients = await Promise.all(Array.from({ length: load.connections }, () => KmipClient.connect(options)));
  let requestsLeft = load.count / load.batch;
  let signatures = 0;
  const latenciesMs: number[] = [];
  const worker = async (client: KmipClient): Promise<void> => {
    while (requestsLeft > 0) {
      requestsLeft--;
      const started = performance.now();
      const reply = decodeResponseMessage(decodeTtlv(await client.sendRaw(message)));
      latenciesMs.push(performance.now() - started);
      for (const item of reply.batchItems) {
        if (item.resultStatus !== ResultStatus.Success) throw new KmipResultError(Operation.Sign, item);
      }
      signatures += reply.batchItems.length;
      onProgress?.(signatures);
    }
  };
  const started = performance.now();
  try {
    await Promise.all(clients.flatMap((client) => Array.from({ length: load.inFlight }, () => worker(client))));
  } finally {
    requestsLeft = 0;
    await Promise.all(clients.map((client) => client.close()));
  }
  return { signatures, seconds: (performance.now() - started) / 1000, latenciesMs: latenciesMs.sort((a, b) => a - b) };
}

async function signLoadCommand(options: KmipClientOptions, load: SignLoad, io: CliIo): Promise<number> {
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
  return EXIT_OK;
}

/** TLS verification failures (OpenSSL's verify codes, Node's host name check). */
const CERTIFICATE_ERRORS = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_GET_ISSUER_CERT",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/** What a KMIP Result Reason asks the user to do. */
const REASON_FIXES: ReadonlyMap<number, string> = new Map([
  [ResultReason.AuthenticationNotSuccessful, "check --username (the token's label, or serial:SERIAL; `kmip2pkcs11 check` lists them) and the password (the token's user PIN)"],
  [ResultReason.ItemNotFound, "list the keys with `kmip2pkcs11 client locate` or `kmip2pkcs11 keys list`"],
  [ResultReason.PermissionDenied, "the key may not do this (a public key cannot sign; a revoked key cannot be used)"],
]);

/** Any failure as a ToolError that says what happened and, where known, what to do. */
function explain(err: unknown, server: string): unknown {
  if (err instanceof ToolError || err instanceof UsageError) return err;
  if (err instanceof KmipResultError) return new ToolError(err.message, err.resultReason === undefined ? undefined : REASON_FIXES.get(err.resultReason));
  if (err instanceof KmipConnectionError) return new ToolError(err.message);
  if (err instanceof KmipError) return new ToolError(`the answer of ${server} cannot be read: ${err.message}`);
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== undefined && CERTIFICATE_ERRORS.has(code)) {
    return new ToolError(
      `the certificate of ${server} is not trusted: ${(err as Error).message}`,
      "give the relay's certificate or its CA with --ca FILE (a relay without [server.identity] uses <state-dir>/tls/cert.pem), or use -c with the relay's config file",
    );
  }
  if (code === "ECONNREFUSED" || code === "EHOSTUNREACH" || code === "ENOTFOUND" || code === "ETIMEDOUT" || code === "ECONNRESET") {
    return new ToolError(`cannot connect to ${server}: ${code}`, "is the relay running and listening there? (--server HOST:PORT, or -c with its config file)");
  }
  if (err instanceof Error && code !== undefined) return new ToolError(`${server}: ${err.message}`);
  return err;
}
