// `kmip2pkcs11 check`: is this setup able to work? Loads the config and the
// module as the relay would, lists the tokens with what the relay needs to
// know about them, optionally logs in, and says plainly what is wrong and how
// to put it right. Exit status 0 when nothing is wrong, 1 when something is.
import type { HsmBackend, SlotSummary } from "../hsm/backend.js";
import { HsmError } from "../hsm/hsm-error.js";
import {
  CKM_EC_EDWARDS_KEY_PAIR_GEN,
  CKM_EC_KEY_PAIR_GEN,
  CKM_ECDSA,
  CKM_EDDSA,
  CKM_RSA_PKCS,
  CKM_RSA_PKCS_KEY_PAIR_GEN,
  CKM_RSA_PKCS_PSS,
} from "../hsm/mechanisms.js";
import type { Config } from "../config/config.js";
import { describePolicy, keyExportOf, policySource } from "../operations/key-export.js";
import type { Logger } from "../log/logger.js";
import type { CliIo } from "./io.js";
import { dropPrivileges } from "./daemon.js";
import { preflight } from "./preflight.js";
import { resolveRunAs } from "./run-as.js";
import { Report } from "./report.js";
import {
  CONFIG_OPTION,
  EXIT_FAILED,
  EXIT_OK,
  loadToolConfig,
  loginFix,
  openToolBackend,
  parseToolArgs,
  pickSlot,
  PIN_OPTIONS,
  pinSource,
  readSecret,
  runTool,
  ToolError,
} from "./tool.js";

export const CHECK_USAGE = `Usage: kmip2pkcs11 check [-c CONFIG] [--slot NAME] [--pin-file FILE | --pin-env VARIABLE]

Checks that the relay can work with this config: loads the config file, runs
the checks of start-up (TLS certificate and key, client CA file, [daemon]
identity, state directory, log file and pid file writable by the user
starting the relay, the log's directory by [daemon] identity too, listening
ports free), loads the PKCS#11 module, lists the tokens (label, serial, flags, session limits, the
mechanisms the relay uses and whether the token has them), the [clients]
tables (what each matches, its PIN source read but never shown, its token's
slot), and, when a PIN is given, logs in; with [daemon] identity (as root) the
module is used as that user after loading, as the relay does. Says what is
wrong and how to fix it.

Options:
  -c, --config <PATH>      The relay's config file (default /etc/kmip2pkcs11/config.toml)
      --slot <NAME>        Check only the token a KMIP client with this username
                           would use (a token label, serial:SERIAL, slot:ID,
                           a [tokens] alias, ...)
      --pin-file <FILE>    Log in with the user PIN in FILE
      --pin-env <VARIABLE> Log in with the user PIN in this environment variable
                           (without either, KMIP2PKCS11_PIN is used when set)
  -h, --help               Show this help

Exit status: 0 no problem found, 1 a problem found, 2 bad command line.
`;

/** The mechanisms behind what the relay offers (PKCS#11 v2.40 Current Mechanisms; v3.0 for EdDSA). */
const CAPABILITIES: readonly { readonly what: string; readonly mechanisms: readonly (readonly [string, number])[]; readonly cascade: boolean }[] = [
  { what: "RSA key pairs", mechanisms: [["CKM_RSA_PKCS_KEY_PAIR_GEN", CKM_RSA_PKCS_KEY_PAIR_GEN]], cascade: true },
  { what: "RSA PKCS#1 v1.5 signatures", mechanisms: [["CKM_RSA_PKCS", CKM_RSA_PKCS]], cascade: true },
  { what: "EC key pairs (P-256/384/521)", mechanisms: [["CKM_EC_KEY_PAIR_GEN", CKM_EC_KEY_PAIR_GEN]], cascade: true },
  { what: "ECDSA signatures", mechanisms: [["CKM_ECDSA", CKM_ECDSA]], cascade: true },
  { what: "RSA-PSS signatures", mechanisms: [["CKM_RSA_PKCS_PSS", CKM_RSA_PKCS_PSS]], cascade: false },
  {
    what: "Ed25519 keys and signatures",
    mechanisms: [
      ["CKM_EC_EDWARDS_KEY_PAIR_GEN", CKM_EC_EDWARDS_KEY_PAIR_GEN],
      ["CKM_EDDSA", CKM_EDDSA],
    ],
    cascade: false,
  },
];

export async function runCheckCommand(argv: string[], io: CliIo): Promise<number> {
  return runTool("check", io, async () => {
    const { values } = parseToolArgs({
      args: argv,
      options: { ...CONFIG_OPTION, ...PIN_OPTIONS, slot: { type: "string" }, help: { type: "boolean", short: "h" } },
    });
    if (values.help) {
      io.stdout.write(CHECK_USAGE);
      return EXIT_OK;
    }
    const pin = await readSecret(pinSource(values));
    const report = new Report(io.stdout);
    try {
      const { config, path } = await loadToolConfig(values.config);
      report.line("config", `${path}: valid`);
      // What start-up checks before it loads the module, in the same order.
      await preflight(config, report, { libPath: false });
      const { backend, logger } = await openToolBackend(config);
      try {
        useModuleAsServiceUser(config, backend, logger, report);
        await checkModule(backend, config, path, report, values.slot, pin);
      } finally {
        await backend.close();
        await logger.close();
      }
    } catch (err) {
      if (!(err instanceof ToolError)) throw err;
      report.problem(err.message, err.fix);
    }
    return report.finish() ? EXIT_OK : EXIT_FAILED;
  });
}

/**
 * With [daemon] identity the relay loads the module as root and then uses it
 * as that user: so does `check` (for good: this process cannot switch back),
 * so that a token the user cannot use shows here, not after the relay started.
 */
function useModuleAsServiceUser(config: Config, backend: HsmBackend, logger: Logger, report: Report): void {
  const identity = config.daemon.identity;
  if (identity === undefined || process.getuid?.() !== 0) return;
  let name: string;
  try {
    ({ name } = resolveRunAs(identity));
    dropPrivileges(identity, { followCredentials: () => backend.followCredentials?.() }, logger);
  } catch {
    // An unknown identity is a problem of the preflight already.
    return;
  }
  report.line("identity", `the module is used as ${name} from here on, as the relay uses it once listening`);
}

async function checkModule(backend: HsmBackend, config: Config, configPath: string, report: Report, slotName: string | undefined, pin: string | undefined): Promise<void> {
  const m = backend.module;
  report.line("module", m.path);
  report.line("", `${m.manufacturer}, library ${m.libraryVersion}, Cryptoki ${m.cryptokiVersion} (${m.libraryDescription})`);

  const slots = await backend.listSlots();
  let checked = slots;
  try {
    if (slotName !== undefined || !slots.some((s) => s.tokenInitialized)) checked = [await pickSlot(backend, slotName)];
  } catch (err) {
    if (!(err instanceof ToolError)) throw err;
    report.problem(err.message, err.fix);
    return;
  }
  for (const slot of checked) await describeSlot(backend, config, slot, slots, slotName !== undefined, report);
  await checkAliases(backend, config, report);
  await checkClientTokens(backend, config, report);

  if (pin === undefined) {
    report.line("login", "not tried: give the user PIN with --pin-file FILE or --pin-env VARIABLE to check it");
    return;
  }
  const usable = checked.filter((s) => s.tokenInitialized);
  if (usable.length !== 1) {
    if (usable.length > 1) report.problem("a PIN was given but there are several tokens", "name the token to log in to with --slot NAME");
    return;
  }
  await checkLogin(backend, usable[0] as SlotSummary, pin, configPath, report);
}

/** `selected`: the slot was asked for by name (--slot), so it must be usable. */
async function describeSlot(
  backend: HsmBackend,
  config: Config,
  slot: SlotSummary,
  all: readonly SlotSummary[],
  selected: boolean,
  report: Report,
): Promise<void> {
  report.line(`slot ${slot.index}`, `id ${slot.slotId}${slot.slotDescription === "" ? "" : ` (${slot.slotDescription})`}`);
  if (!slot.tokenInitialized) {
    // A spare slot (SoftHSM always has one) is no problem unless it is the one asked for.
    report.line("  token", "not initialised: KMIP clients cannot use it until it is initialised");
    if (selected) {
      report.problem(`the token in slot ${slot.index} is not initialised`, "initialise it with the vendor's tool (SoftHSM: softhsm2-util --init-token --free --label NAME)");
    }
    return;
  }
  report.line("  token", `"${slot.tokenLabel}", serial ${slot.tokenSerial || "(none)"}, ${slot.tokenManufacturer} ${slot.tokenModel}`.trimEnd());
  const flags = [slot.userPinInitialized ? "user PIN set" : "NO user PIN", slot.loginRequired ? "login required" : "no login required"];
  report.line("  flags", flags.join(", "));
  if (!slot.userPinInitialized) {
    report.problem(`the token "${slot.tokenLabel}" has no user PIN`, "set one with the vendor's tool (e.g. pkcs11-tool --init-pin --login --login-type so)");
  }

  const limit = (n: number) => (n === 0 ? "no limit" : String(n));
  const cap = Math.min(config.pkcs11.maxSessions, ...[slot.maxSessionCount, slot.maxRwSessionCount].filter((n) => n > 0));
  report.line("  sessions", `token allows ${limit(slot.maxSessionCount)} (read/write: ${limit(slot.maxRwSessionCount)}); the relay opens up to ${cap}`);

  // A label on several tokens selects none of them: the relay refuses an ambiguous username.
  const explicit = slot.tokenSerial === "" ? `slot:${slot.slotId}` : `serial:${slot.tokenSerial}`;
  const sameLabel = all.filter((s) => s.tokenInitialized && s.tokenLabel === slot.tokenLabel);
  if (sameLabel.length === 1) report.line("  username", `KMIP clients select this token with username "${slot.tokenLabel}" (or "${explicit}")`);
  else {
    report.line("  username", `KMIP clients select this token with username "${explicit}"`);
    report.warning(
      `${sameLabel.length} tokens are labelled "${slot.tokenLabel}": that username is refused as ambiguous`,
      "give each token its own label, or have clients use serial:<serial> or a [tokens] alias",
    );
  }

  // [tokens] aliases, resolved by the relay's own rule.
  const aliases: string[] = [];
  for (const alias of Object.keys(config.tokens)) {
    const target = await backend.resolveSlot(alias).catch(() => undefined);
    if (target?.slotId === slot.slotId) aliases.push(`"${alias}"`);
  }
  if (aliases.length > 0) report.line("  aliases", `[tokens] ${aliases.join(", ")}: usernames that select this token too`);
  const keyExport = await keyExportOf((username) => backend.resolveSlot(username), config.keyExport, slot);
  report.line("  key export", `${keyExport.policy} (${policySource(keyExport)}): ${describePolicy(keyExport.policy)}`);

  let offered: Set<number>;
  try {
    offered = new Set(await backend.mechanisms(slot.slotId));
  } catch (err) {
    report.problem(`slot ${slot.index}: cannot list the mechanisms: ${(err as Error).message}`);
    return;
  }
  report.line("  mechanisms", `${offered.size} offered; those the relay uses:`);
  let signing = false;
  for (const capability of CAPABILITIES) {
    const missing = capability.mechanisms.filter(([, value]) => !offered.has(value)).map(([name]) => name);
    const names = capability.mechanisms.map(([name]) => name).join(", ");
    report.line(missing.length === 0 ? "    ok" : "    missing", `${capability.what.padEnd(30)} ${names}`);
    if (missing.length === 0 && /signatures/.test(capability.what) && capability.cascade) signing = true;
    if (missing.length > 0 && capability.cascade) {
      report.warning(`the token "${slot.tokenLabel}" lacks ${missing.join(", ")}: KMIP requests for ${capability.what} will fail`);
    }
  }
  if (!signing) report.problem(`the token "${slot.tokenLabel}" can make neither RSA nor ECDSA signatures`, "use a token or module that supports CKM_RSA_PKCS or CKM_ECDSA");
}

/** [tokens]: an alias that selects no single token (none, or several with its label) refuses its clients. */
async function checkAliases(backend: HsmBackend, config: Config, report: Report): Promise<void> {
  for (const alias of Object.keys(config.tokens)) {
    try {
      await backend.resolveSlot(alias);
    } catch (err) {
      if (!(err instanceof HsmError)) throw err;
      const policy = config.keyExport.find((rule) => rule.alias === alias)?.policy;
      const exported = policy === undefined ? "" : policy === "never" ? `; its key-export = "never" still holds for each token its label and serial describe` : `; its key-export = "${policy}" applies to no token`;
      report.warning(`[tokens] "${alias}" selects no token: ${err.message}; KMIP clients with this username are refused${exported}`, "correct its label or serial, or give both (the tokens are listed above)");
    }
  }
}

/** [clients]: each entry's token, selected by the relay's own rule (the PINs were read by the preflight). */
async function checkClientTokens(backend: HsmBackend, config: Config, report: Report): Promise<void> {
  for (const client of config.clients) {
    try {
      const slot = await backend.resolveSlot(client.token);
      const keyExport = await keyExportOf((username) => backend.resolveSlot(username), config.keyExport, slot);
      report.line("clients", `${client.name}: token "${client.token}" is slot ${slot.index} ("${slot.tokenLabel}"), key-export ${keyExport.policy}`);
    } catch (err) {
      if (!(err instanceof HsmError)) throw err;
      report.problem(`clients.${client.name}: token "${client.token}": ${err.message}`, "name the token by its label, serial:SERIAL or a [tokens] alias");
    }
  }
}

async function checkLogin(backend: HsmBackend, slot: SlotSummary, pin: string, configPath: string, report: Report): Promise<void> {
  try {
    await backend.authenticate(slot.slotId, Buffer.from(pin, "utf8"));
  } catch (err) {
    if (!(err instanceof HsmError)) throw err;
    report.problem(`login to "${slot.tokenLabel}" failed: ${err.message}`, loginFix(err));
    return;
  }
  const keys = await backend.findKeys(slot.slotId, {});
  const privateKeys = keys.filter((id) => id.endsWith("_priv")).length;
  report.line(
    "login",
    `slot ${slot.index} ("${slot.tokenLabel}"): PIN accepted; ${keys.length} key object${keys.length === 1 ? "" : "s"} (${privateKeys} private); list them with: kmip2pkcs11 keys list -c ${configPath} --slot "${slot.tokenLabel}"`,
  );
}
