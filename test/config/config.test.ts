import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { loadConfig, parseConfig } from "../../src/config/config.js";
import { DEFAULTS } from "../../src/config/defaults.js";
import { parseHostPort } from "../../src/config/host-port.js";
import { resolveWorkers } from "../../src/config/server.js";
import { ConfigError } from "../../src/config/table-reader.js";

const FILE = "/etc/kmip2pkcs11/config.toml";
const MINIMAL = 'version = "v1"\n[pkcs11]\nlib-path = "/usr/lib/softhsm/libsofthsm2.so"\n';

/**
 * The Rust relay's config file as doc/compatibility.md#config-file shows it:
 * the first TOML block of that section, read from the page, so the page and
 * the parser cannot disagree.
 */
const COMPAT_EXAMPLE = (() => {
  // Compiled to dist/test/config/: the project root is three levels up.
  const page = readFileSync(new URL("../../../doc/compatibility.md", import.meta.url), "utf8");
  const section = page.slice(page.indexOf("\n## Config file\n"));
  const block = /```toml\n([^]*?)```/.exec(section);
  assert.ok(block !== null, "doc/compatibility.md#config-file has no TOML block");
  return block[1]!;
})();

/** Asserts that parsing `text` fails with exactly `message`. */
function rejects(text: string, message: string): void {
  assert.throws(
    () => parseConfig(text, FILE),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError, `not a ConfigError: ${String(err)}`);
      assert.equal(err.message, message);
      return true;
    },
  );
}

describe("parseConfig", () => {
  test("the example of doc/compatibility.md#config-file parses", () => {
    const c = parseConfig(COMPAT_EXAMPLE, FILE);
    assert.equal(c.version, "v1");
    assert.equal(c.pkcs11.libPath, "/usr/lib/softhsm/libsofthsm2.so");
    assert.equal(c.server.addr, "127.0.0.1:5696");
    assert.deepEqual(c.server.identity, { certPath: "/path/cert.pem", keyPath: "/path/key.pem" });
    assert.equal(c.daemon.logLevel, "info");
    assert.deepEqual(c.daemon.logTarget, { type: "stderr" });
    assert.equal(c.daemon.daemonize, false);
    assert.equal(c.daemon.pidFile, "/var/run/kmip2pkcs11.pid");
    assert.deepEqual(c.daemon.identity, { user: "user", group: "group" });
  });

  test("a minimal file takes every default", () => {
    const c = parseConfig(MINIMAL, FILE);
    assert.deepEqual(c.server, { ...DEFAULTS.server, identity: undefined, clientCaPath: undefined });
    assert.deepEqual(c.pkcs11, {
      ...DEFAULTS.pkcs11,
      libPath: "/usr/lib/softhsm/libsofthsm2.so",
      initArgs: undefined,
      env: {},
    });
    assert.deepEqual(c.daemon, { ...DEFAULTS.daemon, pidFile: undefined, identity: undefined });
    assert.deepEqual(c.metrics, { addr: undefined });
  });

  test("every addition beyond doc/compatibility.md#config-file is read", () => {
    const c = parseConfig(
      `${MINIMAL}isolation = "in-process"
call-timeout = 1.5
write-timeout = 120
max-queued-calls = 100
max-queued-writes = 8
start-timeout = 90
max-sessions = 4
login-failure-limit = 3
login-failure-window = 30
login-cooldown = 600
login-failure-budget = 50
pin-recheck = 20
init-args = "configdir=/etc/vendor"
env = { VENDOR_CONF = "/etc/vendor.conf" }
quirks = { omit-attributes = ["CKA_WRAP"], skip-attributes = ["CKA_UNWRAP", "CKA_DERIVE"] }
[server]
addr = "[::1]:0"
max-message-size = 1048576
state-dir = "/srv/state"
client-ca-path = "/etc/ca.pem"
handshake-timeout = 5
first-request-timeout = 2.5
idle-timeout = 60
max-connections = 10
max-connections-per-peer = 4
max-handshakes-per-peer = 2
max-response-size = 65536
max-requests-in-flight = 2
max-batch-count = 100
shutdown-timeout = 3
workers = 3
[daemon]
log-target = { type = "syslog", socket = "/run/log.sock" }
identity = "kmip"
[metrics]
addr = "127.0.0.1:9696"
`,
      FILE,
    );
    assert.deepEqual(c.pkcs11, {
      libPath: "/usr/lib/softhsm/libsofthsm2.so",
      isolation: "in-process",
      callTimeout: 1.5,
      writeTimeout: 120,
      maxQueuedCalls: 100,
      maxQueuedWrites: 8,
      startTimeout: 90,
      maxSessions: 4,
      loginFailureLimit: 3,
      loginFailureWindow: 30,
      loginCooldown: 600,
      loginFailureBudget: 50,
      pinRecheck: 20,
      initArgs: "configdir=/etc/vendor",
      env: { VENDOR_CONF: "/etc/vendor.conf" },
      quirks: { omitAttributes: ["CKA_WRAP"], skipAttributes: ["CKA_UNWRAP", "CKA_DERIVE"] },
    });
    assert.deepEqual(c.server, {
      addr: "[::1]:0",
      identity: undefined,
      maxMessageSize: 1048576,
      stateDir: "/srv/state",
      clientCaPath: "/etc/ca.pem",
      handshakeTimeout: 5,
      firstRequestTimeout: 2.5,
      idleTimeout: 60,
      maxConnections: 10,
      maxConnectionsPerPeer: 4,
      maxHandshakesPerPeer: 2,
      maxResponseSize: 65536,
      maxRequestsInFlight: 2,
      maxBatchCount: 100,
      shutdownTimeout: 3,
      workers: 3,
    });
    assert.deepEqual(c.daemon.logTarget, { type: "syslog", socket: "/run/log.sock" });
    assert.deepEqual(c.daemon.identity, { user: "kmip" });
    assert.equal(c.metrics.addr, "127.0.0.1:9696");
  });

  test("relative paths resolve against the working directory", () => {
    const c = parseConfig(
      `version = "v1"
[pkcs11]
lib-path = "lib/module.so"
[server]
state-dir = "state"
client-ca-path = "./ca.pem"
[server.identity]
cert-path = "tls/cert.pem"
key-path = "../key.pem"
[daemon]
log-target = { type = "file", path = "relay.log" }
pid-file = "run/relay.pid"
`,
      FILE,
    );
    const cwd = process.cwd();
    assert.equal(c.pkcs11.libPath, join(cwd, "lib/module.so"));
    assert.equal(c.server.stateDir, join(cwd, "state"));
    assert.equal(c.server.clientCaPath, join(cwd, "ca.pem"));
    assert.deepEqual(c.server.identity, { certPath: join(cwd, "tls/cert.pem"), keyPath: resolve(cwd, "../key.pem") });
    assert.deepEqual(c.daemon.logTarget, { type: "file", path: join(cwd, "relay.log") });
    assert.equal(c.daemon.pidFile, join(cwd, "run/relay.pid"));
  });

  test("a module name without a slash is left to the dynamic linker's search", () => {
    const c = parseConfig('version = "v1"\n[pkcs11]\nlib-path = "libsofthsm2.so"\n', FILE);
    assert.equal(c.pkcs11.libPath, "libsofthsm2.so");
  });

  test("operators' other spellings: log-level \"warn\", log-target as on the command line", () => {
    const c = (daemon: string) => parseConfig(`${MINIMAL}[daemon]\n${daemon}\n`, FILE).daemon;
    assert.equal(c('log-level = "warn"').logLevel, "warning");
    assert.deepEqual(c('log-target = "stderr"').logTarget, { type: "stderr" });
    assert.deepEqual(c('log-target = "syslog"').logTarget, { type: "syslog" });
    assert.deepEqual(c('log-target = "file:/var/log/kmip2pkcs11.log"').logTarget, { type: "file", path: "/var/log/kmip2pkcs11.log" });
  });

  describe("errors name the file and the key", () => {
    test("syntax error with line and column", () => {
      rejects('version = "v1"\n[pkcs11\n', `${FILE}:2:8: TOML syntax error: illegal character in key`);
    });
    test("missing required keys", () => {
      rejects('[pkcs11]\nlib-path = "x.so"\n', `${FILE}: version: missing: expected a string`);
      rejects('version = "v1"\n', `${FILE}: pkcs11: missing: expected a table`);
      rejects('version = "v1"\n[pkcs11]\n', `${FILE}: pkcs11.lib-path: missing: expected a string`);
    });
    test("unsupported version", () => {
      rejects('version = "v2"\n[pkcs11]\nlib-path = "x.so"\n', `${FILE}: version: unsupported version "v2", expected "v1"`);
    });
    test("wrong types", () => {
      rejects(`${MINIMAL}[server]\naddr = 5696\n`, `${FILE}: server.addr: expected a string, got integer (write it in quotes: addr = "5696")`);
      rejects(`${MINIMAL}[server]\nmax-connections = 1.5\n`, `${FILE}: server.max-connections: expected an integer, got float`);
      rejects(`${MINIMAL}[daemon]\ndaemonize = "yes"\n`, `${FILE}: daemon.daemonize: expected a boolean, got string (write it without quotes: daemonize = true)`);
      rejects(`${MINIMAL}call-timeout = "60s"\n`, `${FILE}: pkcs11.call-timeout: expected a number of seconds, got string (write it without quotes: call-timeout = 60)`);
      rejects(`${MINIMAL}env = { A = 1 }\n`, `${FILE}: pkcs11.env.A: expected a string, got integer (write it in quotes: A = "1")`);
      rejects(`version = "v1"\npkcs11 = [1]\n`, `${FILE}: pkcs11: expected a table, got array`);
      rejects(
        `${MINIMAL}[daemon]\nlog-target = 2\n`,
        `${FILE}: daemon.log-target: expected "stderr", "syslog", "file:/var/log/kmip2pkcs11.log", or a table such as { type = "file", path = "/var/log/kmip2pkcs11.log" }, got integer`,
      );
      rejects(
        `${MINIMAL}[daemon]\nlog-target = "journal"\n`,
        `${FILE}: daemon.log-target: expected "stderr", "syslog", "file:/var/log/kmip2pkcs11.log", or a table such as { type = "file", path = "/var/log/kmip2pkcs11.log" }, got "journal"`,
      );
      rejects(`${MINIMAL}[server]\naddr = 1979-05-27\n`, `${FILE}: server.addr: expected a string, got date-time`);
      rejects(`${MINIMAL}[server]\nworkers = "all"\n`, `${FILE}: server.workers: must be "auto" or an integer between 1 and 256`);
      rejects(`${MINIMAL}[server]\nworkers = 0\n`, `${FILE}: server.workers: must be between 1 and 256, got 0`);
    });
    test('workers = "auto" is one per core but one, at least one; a number is itself', () => {
      assert.deepEqual([1, 2, 4, 16, 1000].map((cores) => resolveWorkers("auto", cores)), [1, 1, 3, 15, 256]);
      assert.equal(resolveWorkers(2, 1), 2);
    });
    test("unknown keys, with a suggestion when one is close", () => {
      rejects(`${MINIMAL}[server]\nmax-conections = 1\n`, `${FILE}: server.max-conections: unknown key (did you mean "max-connections"?)`);
      rejects(`${MINIMAL}[bogus]\n`, `${FILE}: bogus: unknown key`);
      rejects(`${MINIMAL}[daemon]\nlog-target = { type = "file", path = "x", mode = 1 }\n`, `${FILE}: daemon.log-target.mode: unknown key`);
      // The key as written is named, even where the key it stands for is required.
      rejects('version = "v1"\n[pkcs11]\nlib_path = "x.so"\n', `${FILE}: pkcs11.lib_path: unknown key (did you mean "lib-path"?)`);
      rejects('version = "v1"\n[pkcs11]\nlib-pth = "x.so"\n', `${FILE}: pkcs11.lib-pth: unknown key (did you mean "lib-path"?)`);
      rejects('version = "v1"\n[pkcs11]\nLib-Path = "x.so"\n', `${FILE}: pkcs11.Lib-Path: unknown key (did you mean "lib-path"?)`);
      rejects(`${MINIMAL}[server]\nadress = "127.0.0.1:5696"\n`, `${FILE}: server.adress: unknown key (did you mean "addr"?)`);
      rejects(`${MINIMAL}[server]\naddress = "127.0.0.1:5696"\n`, `${FILE}: server.address: unknown key (did you mean "addr"?)`);
      rejects(`${MINIMAL}[daemon]\nlog_level = "info"\n`, `${FILE}: daemon.log_level: unknown key (did you mean "log-level"?)`);
    });
    test("bad values", () => {
      const addrMsg = (v: string) => `${FILE}: server.addr: expected "host:port" (e.g. "127.0.0.1:5696" or "[::1]:5696"), got "${v}"`;
      for (const bad of ["localhost", "::1:5696", "127.0.0.1:70000", "[127.0.0.1]:1", ":5696", "host:port"]) {
        rejects(`${MINIMAL}[server]\naddr = "${bad}"\n`, addrMsg(bad));
      }
      rejects(
        `${MINIMAL}[daemon]\nlog-level = "warnings"\n`,
        `${FILE}: daemon.log-level: expected one of "trace", "debug", "info", "warning", "error", got "warnings"`,
      );
      rejects(`${MINIMAL}isolation = "thread"\n`, `${FILE}: pkcs11.isolation: expected one of "process", "in-process", got "thread"`);
      rejects(`${MINIMAL}max-sessions = 0\n`, `${FILE}: pkcs11.max-sessions: must be between 1 and 65536, got 0`);
      rejects(`${MINIMAL}call-timeout = -1\n`, `${FILE}: pkcs11.call-timeout: must be more than 0 and at most 86400 seconds, got -1`);
      rejects(`${MINIMAL}[daemon]\nidentity = "a:b:c"\n`, `${FILE}: daemon.identity: expected "user" or "user:group", got "a:b:c"`);
      rejects(`${MINIMAL}[daemon]\nlog-target = { type = "journal" }\n`, `${FILE}: daemon.log-target.type: expected one of "stderr", "syslog", "file", got "journal"`);
      rejects(`${MINIMAL}[daemon]\nlog-target = { type = "file" }\n`, `${FILE}: daemon.log-target.path: missing: expected a string`);
      rejects(`${MINIMAL}[daemon]\nlog-target = {}\n`, `${FILE}: daemon.log-target.type: missing: expected "stderr", "syslog" or "file"`);
      rejects(`${MINIMAL}[server]\nstate-dir = ""\n`, `${FILE}: server.state-dir: must not be empty`);
      rejects(`${MINIMAL}[metrics]\naddr = "9696"\n`, `${FILE}: metrics.addr: expected "host:port" (e.g. "127.0.0.1:5696" or "[::1]:5696"), got "9696"`);
    });
    test("cert-path and key-path go together", () => {
      rejects(`${MINIMAL}[server.identity]\ncert-path = "c.pem"\n`, `${FILE}: server.identity.key-path: missing: cert-path and key-path go together`);
      rejects(`${MINIMAL}[server.identity]\nkey-path = "k.pem"\n`, `${FILE}: server.identity.cert-path: missing: key-path and cert-path go together`);
    });
  });
});

test("parseHostPort", () => {
  assert.deepEqual(parseHostPort("127.0.0.1:5696"), { host: "127.0.0.1", port: 5696 });
  assert.deepEqual(parseHostPort("[::1]:5696"), { host: "::1", port: 5696 });
  assert.deepEqual(parseHostPort("localhost:0"), { host: "localhost", port: 0 });
  assert.equal(parseHostPort("[::1]"), undefined);
  assert.equal(parseHostPort("[localhost]:1"), undefined);
});

describe("loadConfig", () => {
  test("reads a file, and names it when it cannot", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kmip2pkcs11-config-"));
    try {
      const path = join(dir, "config.toml");
      await writeFile(path, MINIMAL);
      assert.equal((await loadConfig(path)).pkcs11.libPath, "/usr/lib/softhsm/libsofthsm2.so");
      const missing = join(dir, "absent.toml");
      await assert.rejects(loadConfig(missing), { name: "ConfigError", message: `${missing}: cannot read config file: no such file` });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("etc/kmip2pkcs11.toml, the sample config", () => {
  // Compiled to dist/test/config/: the sample is three folders up.
  const samplePath = new URL("../../../etc/kmip2pkcs11.toml", import.meta.url).pathname;

  test("parses as shipped, with every default", async () => {
    const c = await loadConfig(samplePath);
    assert.deepEqual(c.server, { ...DEFAULTS.server, identity: undefined, clientCaPath: undefined });
    assert.deepEqual(c.daemon, { ...DEFAULTS.daemon, pidFile: undefined, identity: undefined });
    assert.deepEqual(c.lifecycle, DEFAULTS.lifecycle);
  });

  test("its commented-out settings parse and show the true defaults", async () => {
    // "#key = value" and "#[table]" are settings; "# text" is commentary.
    const text = (await readFile(samplePath, "utf8")).replace(/^#(?=[a-z[])/gm, "");
    const c = parseConfig(text, samplePath);
    for (const section of ["pkcs11", "server", "daemon", "lifecycle"] as const) {
      for (const [key, value] of Object.entries(DEFAULTS[section])) {
        assert.deepEqual((c[section] as unknown as Record<string, unknown>)[key], value, `${section}.${key}`);
      }
    }
    assert.ok(c.server.identity && c.server.clientCaPath && c.daemon.pidFile && c.daemon.identity && c.metrics.addr);
    assert.ok(c.pkcs11.initArgs !== undefined && Object.keys(c.pkcs11.env).length > 0);
  });
});
