// `kmip2pkcs11 [OPTIONS]` runs the relay; `kmip2pkcs11 COMMAND ...` runs a
// tool. Commands are loaded when used, so that running the relay does not
// load the tools and a tool does not load the PKCS#11 stack.
import { parseCliArgs, UsageError, USAGE } from "./args.js";
import { serve, type ServeDeps } from "./serve.js";
import { relayVersion } from "../version.js";
import type { CliIo } from "./io.js";

/** A command: its arguments (after its name) in, the exit status out. */
type Command = (argv: string[], io: CliIo) => Promise<number>;

const COMMANDS: Readonly<Record<string, Command>> = {
  check: async (argv, io) => (await import("./check-command.js")).runCheckCommand(argv, io),
  keys: async (argv, io) => (await import("./keys-command.js")).runKeysCommand(argv, io),
  client: async (argv, io) => (await import("./client-command.js")).runClientCommand(argv, io),
  ttlv: async (argv, io) => (await import("./ttlv-command.js")).runTtlvCommand(argv, io),
};

export type CliDeps = { readonly io: CliIo } & Partial<Omit<ServeDeps, "stderr">>;

/** Resolves to the exit status: 0 done, 1 failed, 2 bad command line. */
export async function runCli(argv: string[], deps: CliDeps): Promise<number> {
  const { io } = deps;
  const usageError = (message: string) => {
    io.stderr.write(`kmip2pkcs11: ${message}\nTry 'kmip2pkcs11 --help' for more information.\n`);
    return 2;
  };
  const [first, ...rest] = argv;
  if (first !== undefined && !first.startsWith("-")) {
    const command = Object.hasOwn(COMMANDS, first) ? COMMANDS[first] : undefined;
    return command === undefined ? usageError(`unknown command '${first}'`) : command(rest, io);
  }

  let options;
  try {
    options = parseCliArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) return usageError(err.message);
    throw err;
  }
  if (options.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  if (options.version) {
    io.stdout.write(`kmip2pkcs11 ${relayVersion()}\n`);
    return 0;
  }
  return serve(argv, options, {
    stderr: io.stderr,
    startRelay: deps.startRelay ?? (async (...args) => (await import("../server/workers/start.js")).startRelayOrWorkers(...args)),
    signals: deps.signals ?? process,
    exit: deps.exit ?? ((status) => process.exit(status)),
  });
}
