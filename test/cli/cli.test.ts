import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { EventEmitter } from "node:events";
import { mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import type { Config } from "../../src/config/config.js";
import type { RootLogger } from "../../src/log/logger.js";
import type { StartOptions, RelayHandle } from "../../src/server/relay.js";
import { runCli } from "../../src/cli/cli.js";

// Compiled to dist/test/cli/: the binary is dist/src/cli/main.js.
const MAIN = new URL("../../src/cli/main.js", import.meta.url).pathname;
const PACKAGE_JSON = new URL("../../../package.json", import.meta.url);

interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

function runMain(args: string[], cwd?: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { cwd }, (err, stdout, stderr) => {
      const status = err === null ? 0 : typeof err.code === "number" ? err.code : -1;
      resolve({ status, stdout, stderr });
    });
  });
}

const VALID = 'version = "v1"\n[pkcs11]\nlib-path = "/usr/lib/softhsm/libsofthsm2.so"\n';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "kmip2pkcs11-cli-"));
});
after(() => rm(dir, { recursive: true, force: true }));

describe("the kmip2pkcs11 binary", () => {
  test("--help prints the usage and exits 0", async () => {
    for (const flag of ["--help", "-h"]) {
      const r = await runMain([flag]);
      assert.equal(r.status, 0);
      assert.match(r.stdout, /^Usage: kmip2pkcs11 \[OPTIONS\]\n/);
      assert.match(r.stdout, /--check-config/);
      assert.equal(r.stderr, "");
    }
  });

  test("--version prints the package version", async () => {
    const { version } = JSON.parse(await readFile(PACKAGE_JSON, "utf8")) as { version: string };
    for (const flag of ["--version", "-V"]) {
      const r = await runMain([flag]);
      assert.deepEqual(r, { status: 0, stdout: `kmip2pkcs11 ${version}\n`, stderr: "" });
    }
  });

  test("--check-config: a valid file exits 0", async () => {
    await writeFile(join(dir, "good.toml"), VALID);
    const r = await runMain(["--check-config", "-c", "good.toml"], dir);
    assert.deepEqual(r, { status: 0, stdout: "", stderr: `kmip2pkcs11: ${join(dir, "good.toml")}: configuration is valid\n` });
  });

  test("--check-config: an invalid file exits 1 with one line naming file and key", async () => {
    const path = join(dir, "bad.toml");
    await writeFile(path, `${VALID}[server]\naddr = 5696\n`);
    const r = await runMain(["--check-config", "--config", path]);
    assert.deepEqual(r, { status: 1, stdout: "", stderr: `kmip2pkcs11: ${path}: server.addr: expected a string, got integer (write it in quotes: addr = "5696")\n` });
  });

  test("a missing config file exits 1", async () => {
    const r = await runMain(["--check-config", "-c", join(dir, "absent.toml")]);
    assert.deepEqual(r, { status: 1, stdout: "", stderr: `kmip2pkcs11: ${join(dir, "absent.toml")}: cannot read config file: no such file\n` });
  });

  test("command line errors exit 2 with a short message", async () => {
    const cases: [string[], string][] = [
      [["--bogus"], "unknown option '--bogus'"],
      [["-x"], "unknown option '-x'"],
      [["frobnicate"], "unknown command 'frobnicate'"],
      [["-c"], "Option '-c, --config <value>' argument missing"],
      [["--log-level", "warnings"], "--log-level: expected one of trace, debug, info, warning, error, got 'warnings'"],
      [["-l", "journal"], "--log: expected stderr, file:<PATH> or syslog, got 'journal'"],
    ];
    for (const [args, message] of cases) {
      const r = await runMain(args);
      assert.deepEqual(r, { status: 2, stdout: "", stderr: `kmip2pkcs11: ${message}\nTry 'kmip2pkcs11 --help' for more information.\n` }, args.join(" "));
    }
  });

  test("the ttlv command is dispatched", async () => {
    const r = await runMain(["ttlv", "--help"]);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /^Usage: kmip2pkcs11 ttlv /);
  });
});

/** Thrown by the stand-in for process.exit. */
class Exited extends Error {
  constructor(readonly status: number) {
    super(`exit ${status}`);
  }
}

/** runCli with a stand-in relay, signals and exit, and a file log target. */
function harness(startRelay?: (config: Config, logger: RootLogger, options?: StartOptions) => Promise<RelayHandle>) {
  const signals = new EventEmitter();
  const stderr = new PassThrough();
  let errText = "";
  stderr.setEncoding("utf8").on("data", (s: string) => (errText += s));
  const calls: { config?: Config; options?: StartOptions; closeReason?: string } = {};
  let started!: () => void;
  const startedPromise = new Promise<void>((resolve) => (started = resolve));
  const relay =
    startRelay ??
    (async (config: Config, logger: RootLogger, options?: StartOptions): Promise<RelayHandle> => {
      Object.assign(calls, { config, options });
      logger.info("stub listening");
      started();
      return {
        address: "127.0.0.1:1",
        followCredentials: () => {},
        close: async (reason?: string) => {
          calls.closeReason = reason;
          logger.info(`stub closed (${reason})`);
        },
      };
    });
  const run = (args: string[]) =>
    runCli(args, {
      io: { stdin: new PassThrough(), stdout: new PassThrough(), stderr },
      startRelay: relay,
      signals,
      exit: (status: number) => {
        throw new Exited(status);
      },
    });
  return { run, signals, calls, started: startedPromise, stderr: () => errText };
}

describe("running the relay (stand-in startRelay)", () => {
  const configPath = () => join(dir, "relay.toml");
  before(() => writeFile(configPath(), VALID));

  test("applies the overrides, starts, and stops cleanly on SIGTERM", async () => {
    const h = harness();
    const log = join(dir, "override.log");
    const status = h.run(["-c", configPath(), "--log-level", "debug", "-l", `file:${log}`]);
    await h.started;
    assert.equal(h.calls.config?.daemon.logLevel, "debug");
    assert.deepEqual(h.calls.config?.daemon.logTarget, { type: "file", path: log });
    assert.deepEqual(h.calls.options, {});
    h.signals.emit("SIGTERM", "SIGTERM");
    assert.equal(await status, 0);
    assert.equal(h.calls.closeReason, "SIGTERM");
    assert.match(await readFile(log, "utf8"), /INFO {2}stub listening\n.*INFO {2}stub closed \(SIGTERM\)\n$/);
    assert.equal(h.stderr(), "");
    assert.equal(h.signals.listenerCount("SIGTERM") + h.signals.listenerCount("SIGHUP"), 0, "handlers removed");
  });

  test("a second stop signal exits at once with 128 + signal number", async () => {
    const h = harness(async () => {
      h.signals.emit("SIGINT", "SIGINT");
      assert.throws(() => h.signals.emit("SIGINT", "SIGINT"), (e: unknown) => e instanceof Exited && e.status === 130);
      assert.throws(() => h.signals.emit("SIGTERM", "SIGTERM"), (e: unknown) => e instanceof Exited && e.status === 143);
      return { address: "x", followCredentials: () => {}, close: async () => {} };
    });
    // The first signal, during start-up, stops the relay as soon as it is up.
    assert.equal(await h.run(["-c", configPath(), "-l", `file:${join(dir, "second.log")}`]), 0);
  });

  test("SIGHUP reopens the log file", async () => {
    const h = harness();
    const log = join(dir, "rotated.log");
    const status = h.run(["-c", configPath(), "-l", `file:${log}`]);
    await h.started;
    await rename(log, `${log}.1`);
    h.signals.emit("SIGHUP", "SIGHUP");
    h.signals.emit("SIGTERM", "SIGTERM");
    assert.equal(await status, 0);
    assert.match(await readFile(`${log}.1`, "utf8"), /stub listening\n$/);
    assert.match(await readFile(log, "utf8"), /^\S+ INFO {2}log file reopened \(SIGHUP\)\n\S+ INFO {2}stub closed \(SIGTERM\)\n$/);
  });

  test("a start-up failure: one line on stderr and in the log, exit 1, no stack trace", async () => {
    const h = harness(async () => {
      throw new Error("cannot listen on 127.0.0.1:5696: EADDRINUSE");
    });
    const log = join(dir, "fail.log");
    assert.equal(await h.run(["-c", configPath(), "-l", `file:${log}`]), 1);
    assert.equal(h.stderr(), "kmip2pkcs11: cannot listen on 127.0.0.1:5696: EADDRINUSE\n");
    assert.match(await readFile(log, "utf8"), /^\S+ ERROR cannot listen on 127\.0\.0\.1:5696: EADDRINUSE\n$/);
  });

  test("an unopenable log file is a start-up failure", async () => {
    const h = harness();
    assert.equal(await h.run(["-c", configPath(), "-l", "file:/nonexistent/dir/x.log"]), 1);
    assert.match(h.stderr(), /^kmip2pkcs11: cannot open log file \/nonexistent\/dir\/x\.log: ENOENT[^\n]*\n$/);
  });

  test("an unknown identity closes the relay and exits 1", async () => {
    const path = join(dir, "identity.toml");
    await writeFile(path, `${VALID}[daemon]\nidentity = "no-such-user-kmip2pkcs11"\nlog-target = { type = "file", path = "${join(dir, "identity.log")}" }\n`);
    const h = harness();
    assert.equal(await h.run(["-c", path]), 1);
    assert.equal(h.calls.closeReason, "start-up failed");
    assert.equal(h.stderr(), "kmip2pkcs11: daemon.identity: unknown user 'no-such-user-kmip2pkcs11'\n");
  });

  test("systemd socket activation hands fd 3 to the relay", async () => {
    process.env.LISTEN_PID = String(process.pid);
    process.env.LISTEN_FDS = "1";
    const h = harness();
    const status = h.run(["-c", configPath(), "-l", `file:${join(dir, "activation.log")}`]);
    await h.started;
    assert.deepEqual(h.calls.options, { listenFd: 3 });
    assert.equal(process.env.LISTEN_PID, undefined);
    h.signals.emit("SIGTERM", "SIGTERM");
    assert.equal(await status, 0);
  });
});
