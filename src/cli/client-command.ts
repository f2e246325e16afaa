// `kmip2pkcs11 client`: a small KMIP client for a running relay (or any KMIP
// server), on src/client/kmip-client.ts, printing what a person can read. The
// commands are a table of command objects (client/*.ts); this file parses
// the command line, checks it against the command, connects and explains
// failures, the same for all of them.
import { UsageError } from "./args.js";
import type { CliIo } from "./io.js";
import { EXIT_OK, parseToolArgs, runTool } from "./tool.js";
import type { ClientCommand } from "./client/command.js";
import { explain } from "./client/errors.js";
import { createCommand, destroyCommand, getCommand, locateCommand, revokeCommand } from "./client/keys.js";
import { COMMAND_OPTIONS, CONNECTION_OPTIONS, connectionOptions, type CommandOption } from "./client/options.js";
import { discoverCommand, queryCommand } from "./client/server-info.js";
import { signCommand } from "./client/sign.js";

/** The commands, in the order the usage lists them. */
const COMMANDS: readonly ClientCommand[] = [
  discoverCommand,
  queryCommand,
  createCommand,
  getCommand,
  signCommand,
  locateCommand,
  revokeCommand,
  destroyCommand,
];

export const CLIENT_USAGE = `Usage: kmip2pkcs11 client [CONNECTION OPTIONS] COMMAND [ARGS...]

A KMIP client for a running relay. The username selects the token (its
label); the password is the token's user PIN.

Commands:
${COMMANDS.map((c) => c.usage).join("")}
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

export async function runClientCommand(argv: string[], io: CliIo): Promise<number> {
  return runTool("client", io, async () => {
    const { values, positionals, tokens } = parseToolArgs({
      args: argv,
      options: { ...CONNECTION_OPTIONS, ...COMMAND_OPTIONS },
      allowPositionals: true,
      tokens: true,
    });
    const [name, ...ids] = positionals;
    if (values.help || name === "help") {
      io.stdout.write(CLIENT_USAGE);
      return EXIT_OK;
    }
    if (name === undefined) throw new UsageError("name a command: discover, query, create, get, sign, locate, revoke or destroy");
    const command = COMMANDS.find((c) => c.name === name);
    if (command === undefined) throw new UsageError(`unknown command '${name}'`);
    for (const token of tokens) {
      if (token.kind === "option" && Object.hasOwn(COMMAND_OPTIONS, token.name) && !command.options.includes(token.name as CommandOption)) {
        throw new UsageError(`--${token.name} is not an option of '${name}'`);
      }
    }
    if (ids.length !== command.ids) throw new UsageError(command.ids === 0 ? `'${name}' takes no argument` : `'${name}' takes one key id`);

    const options = await connectionOptions(values);
    const server = `${options.host}:${options.port}`;
    // Checked before connecting, so that a mistake costs no round trip.
    const prepared = await command.prepare(ids[0] as string, values, io);
    try {
      await prepared(options);
      return EXIT_OK;
    } catch (err) {
      throw explain(err, server, command.fixes);
    }
  });
}
