import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, rename, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../../src/log/logger.js";
import { formatRecord } from "../../src/log/format.js";

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "kmip2pkcs11-log-"));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const LINE = { time: true, level: true, stacks: false };

/** python3 binds the datagram socket below; without it that one test is skipped, so the unit path needs no Debian package. */
const hasPython3 = (() => {
  try {
    execFileSync("python3", ["-c", ""], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();
const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /;

describe("formatRecord", () => {
  test("time, level name, message, then key=value fields", () => {
    const line = formatRecord({ time: 0, level: 40, msg: "slow call", fn: "C_Sign", ms: 1200, ok: false }, LINE);
    assert.equal(line, "1970-01-01T00:00:00.000Z WARNING slow call fn=C_Sign ms=1200 ok=false");
  });

  test("values with spaces, quotes or control characters are quoted; messages stay one line", () => {
    const line = formatRecord({ level: 30, msg: "user\nforged line", user: 'a "b"', o: { k: [1] } }, { ...LINE, time: false });
    assert.equal(line, 'INFO  user\\nforged line user="a \\"b\\"" o={"k":[1]}');
  });

  test("every non-printable or bidi character a client may send is escaped, in messages and in values", () => {
    // C0, DEL, C1 (NEL, CSI), line and paragraph separators, bidi embeddings, overrides and isolates, a lone surrogate.
    const hostile = "a\x00\x1b\x7f\u0085\u009b\u2028\u2029\u202a\u202e\u2066\u2069\u061c\u200f\ud800z";
    const escaped = String.raw`a\u0000\u001b\u007f\u0085\u009b\u2028\u2029\u202a\u202e\u2066\u2069\u061c\u200f\ud800z`;
    const line = formatRecord({ level: 30, msg: `authentication failed for ${hostile}`, username: hostile, attribute: { value: hostile } }, { ...LINE, time: false });
    assert.equal(line, `INFO  authentication failed for ${escaped} username="${escaped}" attribute={"value":"${escaped}"}`);
    assert.doesNotMatch(line, /[^\x20-\x7e]/);
    // Printable text beyond ASCII stays as it is.
    assert.equal(formatRecord({ level: 30, msg: "clé", label: "ключ" }, { ...LINE, time: false }), "INFO  clé label=ключ");
  });

  test("an error shows its message, and its stack only when asked", () => {
    const err = { type: "Error", message: "C_Login: CKR_PIN_INCORRECT", stack: "Error: C_Login: CKR_PIN_INCORRECT\n    at login (x.js:1:1)" };
    assert.equal(formatRecord({ level: 50, msg: "login failed", err }, { ...LINE, time: false }), 'ERROR login failed err="C_Login: CKR_PIN_INCORRECT"');
    assert.equal(
      formatRecord({ level: 50, msg: err.message, err }, { time: false, level: true, stacks: true }),
      "ERROR C_Login: CKR_PIN_INCORRECT\n    at login (x.js:1:1)",
    );
  });
});

describe("file target", () => {
  test("appends readable lines, redacts secrets, honours the level", async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, "relay.log");
      const logger = createLogger({ level: "warning", target: { type: "file", path } });
      logger.info("not shown");
      logger.warn({ password: "hunter2", credential: { pin: "1234" } }, "login");
      logger.error(new Error("boom"));
      await logger.close();
      const lines = (await readFile(path, "utf8")).split("\n");
      assert.equal(lines.length, 3);
      assert.match(lines[0] ?? "", TIME);
      assert.equal(lines[0]?.replace(TIME, ""), 'WARNING login password=[redacted] credential={"pin":"[redacted]"}');
      assert.equal(lines[1]?.replace(TIME, ""), "ERROR boom");
      assert.equal(lines[2], "");
    });
  });

  test("stack traces at debug level", async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, "relay.log");
      const logger = createLogger({ level: "debug", target: { type: "file", path } });
      logger.error(new Error("boom"));
      await logger.close();
      const lines = (await readFile(path, "utf8")).split("\n");
      assert.equal(lines[0]?.replace(TIME, ""), "ERROR boom");
      assert.match(lines[1] ?? "", /^ {4}at /);
    });
  });

  test("reopen() after the file was moved away writes to a new file", async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, "relay.log");
      const logger = createLogger({ level: "info", target: { type: "file", path } });
      logger.info("before rotation");
      await rename(path, `${path}.1`);
      logger.info("still the old file");
      logger.reopen();
      logger.info("after rotation");
      await logger.close();
      const old = await readFile(`${path}.1`, "utf8");
      const current = await readFile(path, "utf8");
      assert.match(old, /INFO {2}before rotation\n.*INFO {2}still the old file\n$/);
      assert.match(current, /^\S+ INFO {2}after rotation\n$/);
    });
  });

  test("an unopenable file is a clear error", () => {
    assert.throws(() => createLogger({ level: "info", target: { type: "file", path: "/nonexistent/dir/x.log" } }), {
      message: "cannot open log file /nonexistent/dir/x.log: ENOENT: no such file or directory, open '/nonexistent/dir/x.log'",
    });
  });
});

describe("syslog target", () => {
  const HEADER = new RegExp(String.raw`^<(\d+)>\w{3} [ \d]\d \d\d:\d\d:\d\d kmip2pkcs11\[${process.pid}\]: (.*)$`);

  test("stream socket: facility daemon, severity, program name and pid", async () => {
    await withTempDir(async (dir) => {
      const socket = join(dir, "log.sock");
      let received = "";
      let ended!: Promise<unknown>;
      const server = createServer((conn) => {
        conn.setEncoding("utf8").on("data", (s: string) => (received += s));
        ended = once(conn, "end");
      });
      server.listen(socket);
      await once(server, "listening");
      const logger = createLogger({ level: "info", target: { type: "syslog", socket } });
      logger.info({ slot: "my token" }, "Listening on 127.0.0.1:5696");
      logger.warn("self-signed certificate");
      logger.error("port in use");
      await logger.close();
      await ended;
      server.close();
      const messages = received.trimEnd().split("\n").map((l) => HEADER.exec(l)?.slice(1));
      assert.deepEqual(messages, [
        ["30", 'Listening on 127.0.0.1:5696 slot="my token"'], // 24 (daemon) + 6 (info)
        ["28", "self-signed certificate"], // + 4 (warning)
        ["27", "port in use"], // + 3 (error)
      ]);
    });
  });

  test("datagram socket, as /dev/log is under journald and rsyslog", { skip: !hasPython3 && "python3 is not installed" }, async () => {
    await withTempDir(async (dir) => {
      const socket = join(dir, "log.sock");
      // Node cannot bind a Unix datagram socket; python3 can.
      const listener = spawn(
        "python3",
        [
          "-c",
          `import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1])
print("ready", flush=True)
for _ in range(2): print(s.recv(4096).decode(), flush=True)`,
          socket,
        ],
        { stdio: ["ignore", "pipe", "inherit"] },
      );
      let out = "";
      listener.stdout.setEncoding("utf8").on("data", (s: string) => (out += s));
      const exited = new Promise((resolve) => listener.on("exit", resolve));
      while (!out.startsWith("ready\n")) await new Promise((r) => setTimeout(r, 10));
      const logger = createLogger({ level: "debug", target: { type: "syslog", socket } });
      logger.debug("one");
      logger.info("two");
      await logger.close();
      await exited;
      const messages = out.trimEnd().split("\n").slice(1).map((l) => HEADER.exec(l)?.slice(1));
      assert.deepEqual(messages, [["31", "one"], ["30", "two"]]);
    });
  });

  test("a missing socket is a clear error", () => {
    assert.throws(() => createLogger({ level: "info", target: { type: "syslog", socket: "/nonexistent/log" } }), {
      message: "syslog: /nonexistent/log is not a socket (is a syslog daemon running?)",
    });
  });
});
