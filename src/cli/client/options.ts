// The client's command line options, and the connection they describe: the
// relay's config file gives the defaults, the options override them.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { KmipClientOptions } from "../../client/kmip-client.js";
import { parseHostPort } from "../../config/host-port.js";
import { UsageError } from "../args.js";
import { loadToolConfig, readSecret, ToolError } from "../tool.js";
import { positiveNumber } from "./arguments.js";

export const CONNECTION_OPTIONS = {
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

/** Every command's options; each command names those it takes. */
export const COMMAND_OPTIONS = {
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

export type CommandOption = keyof typeof COMMAND_OPTIONS;
export type Values = {
  [K in keyof typeof CONNECTION_OPTIONS | CommandOption]?: (typeof CONNECTION_OPTIONS & typeof COMMAND_OPTIONS)[K]["type"] extends "boolean" ? boolean : string;
};

const DEFAULT_SERVER = "127.0.0.1:5696";

/** The connection: the config file's defaults, then the options. */
export async function connectionOptions(values: Values): Promise<KmipClientOptions> {
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
