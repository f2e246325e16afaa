// `kmip2pkcs11 --check-config` and `check` run start-up's checks before the
// module is touched: each broken setup the relay would refuse gets one
// PROBLEM line with a fix and exit status 1.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { makeTestCertificate, type TestCertificate } from "../helpers/tls-certificate.js";

const MAIN = new URL("../../src/cli/main.js", import.meta.url).pathname;
const SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so";
const root = process.getuid?.() === 0;
/** Whether uid 65534 can run the relay from this checkout (a checkout under a 0700 folder, as mktemp makes, cannot). */
const nobodyCanRun = root && spawnSync(process.execPath, ["-e", "require('node:fs').accessSync(process.argv[1])", MAIN], { uid: 65534, gid: 65534 }).status === 0;

interface Run {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs the command, as `as` (a uid and gid, like systemd's User=) when given. */
function run(args: string[], env: NodeJS.ProcessEnv = {}, as?: { uid: number; gid: number }): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { env: { ...process.env, SOFTHSM2_CONF: "/nonexistent", ...env }, ...as }, (err, stdout, stderr) => {
      resolve({ status: err === null ? 0 : Number(err.code), stdout, stderr });
    });
  });
}

let dir: string;
let good: TestCertificate;
let other: TestCertificate;
let n = 0;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "kmip2pkcs11-preflight-"));
  [good, other] = await Promise.all([makeTestCertificate(), makeTestCertificate()]);
  await writeFile(join(dir, "cert.pem"), good.cert);
  await writeFile(join(dir, "key.pem"), good.key);
  await writeFile(join(dir, "other-key.pem"), other.key);
  await writeFile(join(dir, "garbage.pem"), "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n");
});
after(() => rm(dir, { recursive: true, force: true }));

/** A config file with a free port, its own state-dir and the given extra tables; returns its path. */
async function config(tables: { server?: string; identity?: { cert: string; key: string } | false; daemon?: string; stateDir?: string } = {}): Promise<string> {
  const path = join(dir, `config-${++n}.toml`);
  const identity = tables.identity === undefined ? { cert: join(dir, "cert.pem"), key: join(dir, "key.pem") } : tables.identity;
  await writeFile(
    path,
    [
      'version = "v1"',
      "[pkcs11]",
      `lib-path = "${SOFTHSM}"`,
      "[server]",
      'addr = "127.0.0.1:0"',
      `state-dir = ${JSON.stringify(tables.stateDir ?? join(dir, `state-${n}`))}`,
      tables.server ?? "",
      ...(identity === false ? [] : ["[server.identity]", `cert-path = ${JSON.stringify(identity.cert)}`, `key-path = ${JSON.stringify(identity.key)}`]),
      "[daemon]",
      tables.daemon ?? "",
    ].join("\n"),
  );
  return path;
}

/** Both commands find exactly one problem, matching `problem`, with a fix; neither gets as far as the module for --check-config. */
async function assertOneProblem(path: string, problem: RegExp, env: NodeJS.ProcessEnv = {}, as?: { uid: number; gid: number }): Promise<void> {
  const quick = await run(["--check-config", "-c", path], env, as);
  assert.equal(quick.status, 1, quick.stderr);
  assert.equal(quick.stdout, "");
  const lines = quick.stderr.split("\n");
  assert.equal(lines.filter((l) => l.startsWith("PROBLEM")).length, 1, quick.stderr);
  assert.match(quick.stderr, problem);
  assert.match(quick.stderr, /^ {2}fix +\S/m);
  assert.match(quick.stderr, new RegExp(`^kmip2pkcs11: ${path}: 1 problem found$`, "m"));

  const full = await run(["check", "-c", path], env, as);
  assert.equal(full.status, 1, full.stdout);
  assert.match(full.stdout, problem);
  // The module is loaded after the preflight lines (SoftHSM sees no token here: one more problem).
  assert.ok(full.stdout.indexOf("PROBLEM") > full.stdout.indexOf("config "), full.stdout);
}

describe("preflight: --check-config and check", () => {
  test("a good config passes --check-config", async () => {
    const r = await run(["--check-config", "-c", await config()]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /configuration is valid\n$/);
  });

  test("a missing certificate", async () => {
    await assertOneProblem(await config({ identity: { cert: join(dir, "absent.pem"), key: join(dir, "key.pem") } }), /^PROBLEM +cannot read TLS certificate .*absent\.pem: ENOENT/m);
  });

  test("a garbage certificate", async () => {
    await assertOneProblem(await config({ identity: { cert: join(dir, "garbage.pem"), key: join(dir, "key.pem") } }), /^PROBLEM +.*garbage\.pem: not a PEM certificate/m);
  });

  test("a certificate with the wrong key", async () => {
    await assertOneProblem(await config({ identity: { cert: join(dir, "cert.pem"), key: join(dir, "other-key.pem") } }), /^PROBLEM +TLS certificate .*cert\.pem does not match private key .*other-key\.pem/m);
  });

  test("an expired certificate", async () => {
    // OpenSSL's -days -1 ends the validity a day before it starts (now).
    const csr = join(dir, "expired.csr");
    await promisify(execFile)("openssl", ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(dir, "expired-key.pem"), "-out", csr, "-subj", "/CN=localhost"]);
    await promisify(execFile)("openssl", ["x509", "-req", "-in", csr, "-key", join(dir, "expired-key.pem"), "-days", "-1", "-out", join(dir, "expired.pem")]);
    await assertOneProblem(
      await config({ identity: { cert: join(dir, "expired.pem"), key: join(dir, "expired-key.pem") } }),
      /^PROBLEM +TLS certificate .*expired\.pem expired on \S+: clients refuse it\n {2}fix +install a new certificate/m,
    );
  });

  test("an identity that does not exist", async () => {
    await assertOneProblem(await config({ daemon: 'identity = "nosuchuser"' }), /^PROBLEM +daemon\.identity: unknown user 'nosuchuser'/m);
  });

  test("a state-dir the service user cannot write (systemd's User=: the check runs as that user)", { skip: !root ? "needs root to run as another user" : !nobodyCanRun && "uid 65534 cannot read this checkout" }, async () => {
    const stateDir = join(dir, "root-only");
    await mkdir(stateDir, { mode: 0o700 });
    await chmod(dir, 0o755);
    const path = await config({ identity: false, stateDir });
    await chmod(path, 0o644);
    await assertOneProblem(path, /^PROBLEM +server\.state-dir: .*root-only is not writable by nobody \(EACCES\)/m, {}, { uid: 65534, gid: 65534 });
    // With [daemon] identity the relay makes its TLS files as root, before the switch, and then
    // gives them to that user: root's state-dir is fine (test/cli/daemon.e2e.test.ts starts one).
    const withIdentity = await run(["--check-config", "-c", await config({ identity: false, stateDir, daemon: 'identity = "nobody:nogroup"' })]);
    assert.equal(withIdentity.status, 0, withIdentity.stderr);
  });

  test("a log file in a directory that does not exist", async () => {
    const logDir = join(dir, "no", "such", "dir");
    const path = await config({ daemon: `log-target = { type = "file", path = ${JSON.stringify(join(logDir, "relay.log"))} }` });
    // The relay makes the file, not its directory: a start would fail with ENOENT.
    await assertOneProblem(path, new RegExp(`^PROBLEM +daemon\\.log-target: the directory of the log file .*relay\\.log does not exist\n {2}fix +make it: install -d -o root -m 0750 ${logDir}$`, "m"));
  });

  test("a log file that root can make but the identity cannot make again after rotation: a warning", { skip: !root && "needs root" }, async () => {
    const logDir = join(dir, "root-logs");
    await mkdir(logDir, { mode: 0o755 });
    const r = await run(["--check-config", "-c", await config({ daemon: `identity = "nobody:nogroup"\nlog-target = "file:${join(logDir, "relay.log")}"` })]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^warning +daemon\.log-target: nobody cannot make files in .*root-logs \(EACCES\): reopening the log after it is moved away \(SIGHUP\) will fail/m);
  });

  test("a pid file in a directory that does not exist", async () => {
    const pidFile = join(dir, "no-run", "kmip2pkcs11.pid");
    const daemon = `daemonize = true\npid-file = ${JSON.stringify(pidFile)}\nlog-target = "file:${join(dir, "daemon.log")}"`;
    await assertOneProblem(await config({ daemon }), /^PROBLEM +daemon\.pid-file: the directory of .*no-run\/kmip2pkcs11\.pid does not exist/m);
  });

  test("a pid file naming a running process: a warning, since a start is refused while it runs", async () => {
    const pidFile = join(dir, "running.pid");
    await writeFile(pidFile, `${process.pid}\n`);
    const r = await run(["check", "-c", await config({ daemon: `pid-file = ${JSON.stringify(pidFile)}` })]);
    assert.match(r.stdout, new RegExp(`^warning +daemon\\.pid-file .*running\\.pid names process ${process.pid}, which is running`, "m"));
    // Without daemonize the file is not written at all: said so.
    assert.match(r.stdout, /^pid +daemon\.pid-file .*running\.pid: written in daemon mode only \(-d or daemonize = true\)$/m);
  });

  test("a port in use by another process", async () => {
    const server: Server = createServer();
    await new Promise<void>((resolve) => server.listen({ host: "127.0.0.1", port: 0 }, resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const path = await config({ server: "" });
      const text = (await import("node:fs/promises")).readFile;
      await writeFile(path, (await text(path, "utf8")).replace('addr = "127.0.0.1:0"', `addr = "127.0.0.1:${port}"`));
      await assertOneProblem(path, new RegExp(`^PROBLEM +server\\.addr 127\\.0\\.0\\.1:${port} is in use by another process`, "m"));
      // Under socket activation systemd holds the port: not a problem.
      const activated = await run(["--check-config", "-c", path], { KMIP2PKCS11_SOCKET_ACTIVATION: "1" });
      assert.equal(activated.status, 0, activated.stderr);
    } finally {
      server.close();
    }
  });

  describe("[clients]", () => {
    /** A config mapping one client certificate, with `pin` as its PIN source line. */
    const withClient = (pin: string) =>
      config({ server: `client-ca-path = ${JSON.stringify(join(dir, "cert.pem"))}`, daemon: `\n[clients.app]\nsubject = "CN=app"\ntoken = "dnssec"\n${pin}` });

    test("a PIN file group or others can read", async () => {
      const pinFile = join(dir, "shared.pin");
      await writeFile(pinFile, "1234");
      await chmod(pinFile, 0o644);
      await assertOneProblem(await withClient(`pin-file = ${JSON.stringify(pinFile)}`), /^PROBLEM +clients\.app: pin-file .*shared\.pin: .*has mode 0644: group or others can read or write the PIN\n {2}fix +chmod 600 /m);
    });

    test("a PIN file of mode 0600 passes, and the PIN is not printed", async () => {
      const pinFile = join(dir, "own.pin");
      await writeFile(pinFile, "86420", { mode: 0o600 });
      const r = await run(["--check-config", "-c", await withClient(`pin-file = ${JSON.stringify(pinFile)}`)]);
      assert.equal(r.status, 0, r.stderr);
      assert.doesNotMatch(r.stderr + r.stdout, /86420/);
    });

    test("an environment variable that is not set", async () => {
      const path = await withClient('pin-env = "KMIP2PKCS11_TEST_APP_PIN"');
      await assertOneProblem(path, /^PROBLEM +clients\.app: pin-env KMIP2PKCS11_TEST_APP_PIN: the variable is not set/m);
      const r = await run(["--check-config", "-c", path], { KMIP2PKCS11_TEST_APP_PIN: "1234" });
      assert.equal(r.status, 0, r.stderr);
    });

    test("a systemd credential without CREDENTIALS_DIRECTORY", async () => {
      await assertOneProblem(await withClient('pin-credential = "app-pin"'), /^PROBLEM +clients\.app: pin-credential app-pin: CREDENTIALS_DIRECTORY is not set/m);
    });

    test("a PIN in the config file is a warning, not a problem", async () => {
      const r = await run(["--check-config", "-c", await withClient('pin = "1234"\nallow-pin-in-config = true')]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /^warning +clients\.app: the PIN is written in the config file/m);
    });
  });
});
