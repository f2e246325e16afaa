// Starts the relay as a user runs it: its own process, `node
// dist/src/cli/main.js -c CONFIG`, on a SoftHSM token of its own, listening
// on a free loopback port. Tests talk to it over TLS like any client.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createSoftHsmToken, type SoftHsmToken } from "./softhsm.js";

/** dist/src/cli/main.js, from dist/test/helpers/relay.js. */
export const MAIN = resolve(dirname(fileURLToPath(import.meta.url)), "../../src/cli/main.js");

export interface RelayOptions {
  /** A token to share (several relays on one token); default: a new one. */
  token?: SoftHsmToken;
  /** Extra TOML lines for [server] (e.g. `max-message-size = 1024`). */
  server?: string[];
  /** Extra TOML lines for [pkcs11]. */
  pkcs11?: string[];
  /** Extra TOML after the known tables (e.g. a [metrics] table). */
  extra?: string;
  logLevel?: string;
  /** Module path (default SoftHSM). */
  modulePath?: string;
  /** Environment for the relay (default the token's env). */
  env?: NodeJS.ProcessEnv;
  /** Port to listen on (default 0: any free port). */
  port?: number;
}

export interface RunningRelay {
  readonly host: string;
  readonly port: number;
  readonly token: SoftHsmToken;
  readonly dir: string;
  readonly configPath: string;
  readonly process: ChildProcess;
  /** Everything the relay wrote to stderr and stdout so far. */
  output(): string;
  /** Resolves when a line matching `pattern` appears in the output. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** SIGTERM, then wait for the exit; returns the exit code. */
  stop(): Promise<number | null>;
  /** Stops the relay and removes its files (and its token, when it made it). */
  cleanup(): Promise<void>;
}

export async function startRelayProcess(options: RelayOptions = {}): Promise<RunningRelay> {
  const ownToken = options.token === undefined;
  const token = options.token ?? (await createSoftHsmToken());
  const dir = await mkdtemp(join(tmpdir(), "kmip2pkcs11-relay-"));
  const configPath = join(dir, "config.toml");
  await writeFile(
    configPath,
    [
      'version = "v1"',
      "[pkcs11]",
      `lib-path = "${options.modulePath ?? token.modulePath}"`,
      ...(options.pkcs11 ?? []),
      "[server]",
      `addr = "127.0.0.1:${options.port ?? 0}"`,
      `state-dir = "${join(dir, "state")}"`,
      ...(options.server ?? []),
      // One process, as the tests that look at the relay's own process (its
      // module process, its pid) expect; test/e2e/workers.test.ts asks for more.
      ...((options.server ?? []).some((line) => /^\s*workers\s*=/.test(line)) ? [] : ["workers = 1"]),
      "[daemon]",
      `log-level = "${options.logLevel ?? "info"}"`,
      options.extra ?? "",
      "",
    ].join("\n"),
  );
  const child = spawn(process.execPath, [MAIN, "-c", configPath], {
    env: options.env ?? token.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  const onData = (chunk: Buffer) => {
    output += chunk.toString("utf8");
    for (const waiter of [...waiters]) {
      const match = output.match(waiter.pattern);
      if (match) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(match[0]);
      }
    }
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  const exited = new Promise<number | null>((resolveExit) => child.once("exit", (code) => resolveExit(code)));

  const waitForOutput = (pattern: RegExp, timeoutMs = 20_000): Promise<string> => {
    const match = output.match(pattern);
    if (match) return Promise.resolve(match[0]);
    return new Promise((resolveWait, reject) => {
      const timer = setTimeout(() => reject(new Error(`relay output did not match ${pattern} within ${timeoutMs} ms:\n${output}`)), timeoutMs);
      const waiter = {
        pattern,
        resolve: (line: string) => {
          clearTimeout(timer);
          resolveWait(line);
        },
      };
      waiters.push(waiter);
      void exited.then((code) => {
        if (waiters.includes(waiter)) {
          clearTimeout(timer);
          reject(new Error(`relay exited (${code}) before its output matched ${pattern}:\n${output}`));
        }
      });
    });
  };

  const listening = await waitForOutput(/Listening on \S+/);
  const port = Number(/:(\d+)$/.exec(listening)![1]);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    return exited;
  };
  return {
    host: "127.0.0.1",
    port,
    token,
    dir,
    configPath,
    process: child,
    output: () => output,
    waitForOutput,
    stop,
    async cleanup() {
      await stop();
      await rm(dir, { recursive: true, force: true });
      if (ownToken) await token.cleanup();
    },
  };
}
