// `kmip2pkcs11 keys list`: the keys on a token as the relay sees them, with
// the KMIP Unique Identifiers clients use for them. Answers the operator's
// question "where are the keys made through KMIP?": in the token, as PKCS#11
// objects whose CKA_ID is the hex part of the KMIP id (doc/compatibility.md#key-identifiers),
// so other PKCS#11 tools find them by that id.
import type { HsmBackend, SlotSummary } from "../hsm/backend.js";
import type { KeyDescription, KeyFilter, KeyType, ObjectClass } from "../hsm/key-types.js";
import { HsmError } from "../hsm/hsm-error.js";
import { UsageError } from "./args.js";
import type { CliIo } from "./io.js";
import {
  CONFIG_OPTION,
  EXIT_OK,
  formatTable,
  loadToolConfig,
  loginFix,
  openToolBackend,
  parseToolArgs,
  pickSlot,
  PIN_OPTIONS,
  pinSource,
  Progress,
  readSecret,
  runTool,
  ToolError,
} from "./tool.js";

export const KEYS_USAGE = `Usage: kmip2pkcs11 keys list [-c CONFIG] [--slot NAME] [--pin-file FILE | --pin-env VARIABLE]
                            [--class public|private] [--type rsa|ec|ed25519] [--label TEXT] [--json]

Lists the keys on a token: their KMIP Unique Identifiers (the hex CKA_ID
followed by _pub or _priv), class, type, size, label and permitted usage.
Private keys are visible only after login, so the token's user PIN is needed.

Options:
  -c, --config <PATH>      The relay's config file (default /etc/kmip2pkcs11/config.toml)
      --slot <NAME>        The token, named as a KMIP client names it (a token
                           label, serial:SERIAL, slot:ID, a [tokens] alias, ...);
                           needed when the module has several tokens
      --pin-file <FILE>    The token's user PIN is in FILE
      --pin-env <VARIABLE> The token's user PIN is in this environment variable
                           (without either, KMIP2PKCS11_PIN is used)
      --class <CLASS>      Only public or only private keys
      --type <TYPE>        Only rsa, ec or ed25519 keys
      --label <TEXT>       Only keys with exactly this CKA_LABEL
      --json               Print JSON instead of a table
  -h, --help               Show this help

Exit status: 0 listed, 1 failed (module, token or login), 2 bad command line.
`;

const KEY_TYPES: Readonly<Record<string, KeyType>> = { rsa: "RSA", ec: "EC", ed25519: "EdDSA" };
const USAGE_FLAGS = ["sign", "verify", "encrypt", "decrypt", "wrap", "unwrap", "derive"] as const;

export async function runKeysCommand(argv: string[], io: CliIo): Promise<number> {
  return runTool("keys", io, async () => {
    const [command, ...rest] = argv;
    if (command === undefined || command === "-h" || command === "--help" || command === "help") {
      io.stdout.write(KEYS_USAGE);
      return command === undefined ? 2 : EXIT_OK;
    }
    if (command !== "list") throw new UsageError(`unknown command '${command}' (the command is: list)`);
    const { values } = parseToolArgs({
      args: rest,
      options: {
        ...CONFIG_OPTION,
        ...PIN_OPTIONS,
        slot: { type: "string" },
        class: { type: "string" },
        type: { type: "string" },
        label: { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
    if (values.help) {
      io.stdout.write(KEYS_USAGE);
      return EXIT_OK;
    }
    const filter = keyFilter(values);
    const pin = await readSecret(pinSource(values));
    if (pin === undefined) {
      throw new UsageError("the token's user PIN is needed to see private keys: give it with --pin-file FILE or --pin-env VARIABLE (or set KMIP2PKCS11_PIN)");
    }
    const { config } = await loadToolConfig(values.config);
    const { backend, logger } = await openToolBackend(config);
    try {
      const slot = await pickSlot(backend, values.slot);
      await logIn(backend, slot, pin);
      const keys = await describeKeys(backend, slot, filter, io.stderr);
      io.stdout.write(values.json ? `${JSON.stringify(keysJson(backend, slot, keys), null, 2)}\n` : keysTable(backend, slot, keys));
    } finally {
      await backend.close();
      await logger.close();
    }
    return EXIT_OK;
  });
}

function keyFilter(values: { class?: string; type?: string; label?: string }): KeyFilter {
  const filter: { objectClass?: ObjectClass; keyType?: KeyType; label?: string } = {};
  if (values.class !== undefined) {
    if (values.class !== "public" && values.class !== "private") throw new UsageError(`--class: expected public or private, got '${values.class}'`);
    filter.objectClass = values.class;
  }
  if (values.type !== undefined) {
    const keyType = KEY_TYPES[values.type.toLowerCase()];
    if (keyType === undefined) throw new UsageError(`--type: expected rsa, ec or ed25519, got '${values.type}'`);
    filter.keyType = keyType;
  }
  if (values.label !== undefined) filter.label = values.label;
  return filter;
}

async function logIn(backend: HsmBackend, slot: SlotSummary, pin: string): Promise<void> {
  try {
    await backend.authenticate(slot.slotId, Buffer.from(pin, "utf8"));
  } catch (err) {
    if (err instanceof HsmError) throw new ToolError(`login to "${slot.tokenLabel}" failed: ${err.message}`, loginFix(err));
    throw err;
  }
}

/** Reads every key's attributes, showing progress on a token with many keys. */
async function describeKeys(backend: HsmBackend, slot: SlotSummary, filter: KeyFilter, stderr: NodeJS.WritableStream): Promise<KeyDescription[]> {
  const ids = (await backend.findKeys(slot.slotId, filter)).sort();
  const keys: KeyDescription[] = [];
  const progress = new Progress(stderr, () => `reading key ${keys.length + 1} of ${ids.length}`).start();
  try {
    for (const id of ids) {
      try {
        keys.push(await backend.describeKey(slot.slotId, id));
      } catch (err) {
        // Destroyed by someone else since it was found.
        if (!(err instanceof HsmError && err.code === "ITEM_NOT_FOUND")) throw err;
      }
    }
  } finally {
    progress.stop();
  }
  return keys;
}

function typeName(key: KeyDescription): string {
  if (key.keyType === "EC") return `EC ${key.curve ?? "?"}`;
  if (key.keyType === "EdDSA") return key.curve ?? "EdDSA";
  return key.keyType;
}

function usageList(key: KeyDescription): string[] {
  return USAGE_FLAGS.filter((flag) => key.usage[flag]);
}

function keysTable(backend: HsmBackend, slot: SlotSummary, keys: readonly KeyDescription[]): string {
  const rows = keys.map((k) => [k.id, k.objectClass, typeName(k), String(k.bits), usageList(k).join(",") || "-", k.label ?? "-"]);
  const pairs = new Set(keys.map((k) => k.id.replace(/_(pub|priv)$/, ""))).size;
  const where = `token "${slot.tokenLabel}" (slot ${slot.index}, id ${slot.slotId}, serial ${slot.tokenSerial || "none"}) of ${backend.module.path}`;
  const summary =
    keys.length === 0
      ? `No keys on ${where}.\n`
      : `${keys.length} key${keys.length === 1 ? "" : "s"} (${pairs} CKA_ID${pairs === 1 ? "" : "s"}) on ${where}.\n` +
        "The hex part of a KMIP id is the object's CKA_ID (e.g. pkcs11-tool --list-objects --id HEX).\n";
  return (keys.length === 0 ? "" : formatTable(["KMIP ID", "CLASS", "TYPE", "BITS", "USAGE", "LABEL"], rows)) + summary;
}

function keysJson(backend: HsmBackend, slot: SlotSummary, keys: readonly KeyDescription[]) {
  return {
    module: backend.module.path,
    slot: { index: slot.index, slotId: slot.slotId, tokenLabel: slot.tokenLabel, tokenSerial: slot.tokenSerial },
    keys: keys.map((k) => ({
      id: k.id,
      ckaId: k.id.replace(/_(pub|priv)$/, ""),
      class: k.objectClass,
      type: k.keyType,
      bits: k.bits,
      ...(k.curve === undefined ? {} : { curve: k.curve }),
      label: k.label,
      usage: usageList(k),
      startDate: k.startDate,
      endDate: k.endDate,
    })),
  };
}
