// Daemon mode with the real relay on a SoftHSM token: the binary is started
// with -d and must return once the detached child listens.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, readlink, rename, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "node:tls";
import { setTimeout as sleep } from "node:timers/promises";
import { KmipClient } from "../../src/client/kmip-client.js";
import { keyPairRequest } from "../../src/cli/client/keys.js";
import { createSoftHsmToken, type SoftHsmToken } from "../helpers/softhsm.js";

const MAIN = new URL("../../src/cli/main.js", import.meta.url).pathname;

let token: SoftHsmToken;
let dir: string;
before(async () => {
  token = await createSoftHsmToken({ label: "daemon-test", pin: "1234" });
  dir = await mkdtemp(join(tmpdir(), "kmip2pkcs11-daemon-"));
});
after(async () => {
  await token.cleanup();
  await rm(dir, { recursive: true, force: true });
});

interface Daemon {
  status: number;
  stderr: string;
  pidFile: string;
  logFile: string;
  configPath: string;
}

/** Runs `kmip2pkcs11 -c <config> -d` until the parent exits. */
async function daemonize(name: string, extra: { libPath?: string; daemon?: string; logDir?: string; stateDir?: string } = {}): Promise<Daemon> {
  const pidFile = join(dir, `${name}.pid`);
  const logFile = join(extra.logDir ?? dir, `${name}.log`);
  const configPath = join(dir, `${name}.toml`);
  await writeFile(
    configPath,
    `version = "v1"
[pkcs11]
lib-path = ${JSON.stringify(extra.libPath ?? token.modulePath)}
[server]
addr = "127.0.0.1:0"
state-dir = ${JSON.stringify(extra.stateDir ?? join(dir, "state"))}
[daemon]
log-target = { type = "file", path = ${JSON.stringify(logFile)} }
pid-file = ${JSON.stringify(pidFile)}
${extra.daemon ?? ""}
`,
  );
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, "-c", configPath, "-d"], { env: token.env }, (err, stdout, stderr) => {
      assert.equal(stdout, "");
      resolve({ status: err === null ? 0 : Number(err.code), stderr, pidFile, logFile, configPath });
    });
  });
}

/** Running, not a zombie: the daemon's parent has exited, so init reaps it, in its own time. */
async function isRunning(pid: number): Promise<boolean> {
  try {
    return !/^State:\s+Z/m.test(await readFile(`/proc/${pid}/status`, "utf8"));
  } catch {
    return false;
  }
}

/** Waits for the process to end (bounded, so that a hang fails the test). */
async function gone(pid: number): Promise<void> {
  for (let i = 0; i < 400 && (await isRunning(pid)); i++) await sleep(50);
  assert.equal(await isRunning(pid), false, `process ${pid} still running`);
}

/** The pids whose parent is `pid`, from /proc/<pid>/stat (field 4). */
async function childPids(pid: number): Promise<number[]> {
  const children: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    // The command name (field 2) is in parentheses and may contain spaces.
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    if (ppid === pid) children.push(Number(entry));
  }
  return children;
}

async function chownTree(path: string, uid: number, gid: number): Promise<void> {
  await chown(path, uid, gid);
  for (const entry of await readdir(path, { withFileTypes: true })) {
    const child = join(path, entry.name);
    if (entry.isDirectory()) await chownTree(child, uid, gid);
    else await chown(child, uid, gid);
  }
}

async function runningPid(d: Daemon): Promise<number> {
  const pid = Number((await readFile(d.pidFile, "utf8")).trim());
  assert.ok(await isRunning(pid), `pid ${pid} not running`);
  return pid;
}

describe("daemon mode", () => {
  test("returns once the detached relay listens; it serves TLS from /, and SIGTERM stops it", async () => {
    const d = await daemonize("basic");
    assert.deepEqual([d.status, d.stderr], [0, ""]);
    const pid = await runningPid(d);
    assert.equal(await readlink(`/proc/${pid}/cwd`), "/");
    const port = Number(/Listening on 127\.0\.0\.1:(\d+)/.exec(await readFile(d.logFile, "utf8"))?.[1]);
    const ca = await readFile(join(dir, "state", "tls", "cert.pem"));
    const socket = connect({ host: "127.0.0.1", port, servername: "localhost", ca });
    await once(socket, "secureConnect");
    socket.destroy();

    process.kill(pid, "SIGTERM");
    await gone(pid);
    await assert.rejects(stat(d.pidFile), { code: "ENOENT" });
    assert.match(await readFile(d.logFile, "utf8"), /shutting down \(SIGTERM\)/);
  });

  test("a second stop signal ends it at once, and the pid file goes too", async () => {
    const d = await daemonize("twice");
    assert.deepEqual([d.status, d.stderr], [0, ""]);
    const pid = await runningPid(d);
    // Two signals of different kinds, so that neither is merged into the other while pending.
    process.kill(pid, "SIGINT");
    process.kill(pid, "SIGTERM");
    await gone(pid);
    await assert.rejects(stat(d.pidFile), { code: "ENOENT" });
  });

  test("a pid file naming a live process refuses the start", async () => {
    const pidFile = join(dir, "live.pid");
    await writeFile(pidFile, `${process.pid}\n`);
    const d = await daemonize("live");
    assert.equal(d.status, 1);
    assert.equal(
      d.stderr,
      `kmip2pkcs11: pid file ${pidFile} names process ${process.pid}, which is running: is kmip2pkcs11 already running? (if not, remove the file)\n`,
    );
    assert.equal(await readFile(pidFile, "utf8"), `${process.pid}\n`);
  });

  test("a stale pid file is replaced", async () => {
    const exited = spawn(process.execPath, ["-e", ""]);
    await once(exited, "exit");
    await writeFile(join(dir, "stale.pid"), `${exited.pid}\n`);
    const d = await daemonize("stale");
    assert.deepEqual([d.status, d.stderr], [0, ""]);
    const pid = await runningPid(d);
    assert.notEqual(pid, exited.pid);
    process.kill(pid, "SIGTERM");
    await gone(pid);
  });

  test("a start-up failure of the child reaches the terminal in one line", async () => {
    const d = await daemonize("failing", { libPath: "/nonexistent/module.so" });
    assert.equal(d.status, 1);
    assert.match(d.stderr, /^kmip2pkcs11: [^\n]*\/nonexistent\/module\.so[^\n]*\n$/);
    await assert.rejects(stat(d.pidFile), { code: "ENOENT" });
  });

  test("drops privileges to [daemon] identity once started, the module process too, and still signs", { skip: process.getuid?.() !== 0 && "needs root" }, async () => {
    // The token's files must be usable by the user the relay becomes.
    await chownTree(token.dir, 65534, 65534);
    const d = await daemonize("identity", { daemon: 'identity = "nobody:nogroup"' });
    assert.deepEqual([d.status, d.stderr], [0, ""]);
    const pid = await runningPid(d);
    const log = await readFile(d.logFile, "utf8");
    assert.match(log, /Running as nobody:nogroup uid=65534 gid=65534/);

    // A Sign after the drop: the module, loaded as root, works as nobody.
    const port = Number(/Listening on 127\.0\.0\.1:(\d+)/.exec(log)?.[1]);
    const ca = await readFile(join(dir, "state", "tls", "cert.pem"));
    const client = await KmipClient.connect({ host: "127.0.0.1", port, ca, username: token.label, password: token.pin });
    try {
      const { privateKeyUniqueIdentifier } = await client.createKeyPair(keyPairRequest({ algorithm: "ec", label: "after-drop" }).request);
      const { signatureData } = await client.sign({ uniqueIdentifier: privateKeyUniqueIdentifier, data: Buffer.from("example.com.") });
      assert.ok(signatureData !== undefined && signatureData.length > 0);
    } finally {
      await client.close();
    }

    // The relay and the processes under it (the module process, or with
    // [server] workers the workers and their module processes) run as nobody:nogroup.
    const children = await childPids(pid);
    const grandchildren = (await Promise.all(children.map((child) => childPids(child)))).flat();
    assert.ok(children.length >= 1, "a module process or workers");
    for (const p of [pid, ...children, ...grandchildren]) {
      const status = await readFile(`/proc/${p}/status`, "utf8");
      const field = (name: string) => new RegExp(`^${name}:\\t(.*)$`, "m").exec(status)?.[1]?.trim().split(/\s+/);
      assert.deepEqual(field("Uid"), ["65534", "65534", "65534", "65534"], `process ${p}`);
      assert.deepEqual(field("Gid"), ["65534", "65534", "65534", "65534"], `process ${p}`);
      assert.deepEqual(field("Groups"), ["65534"], `process ${p}`);
    }
    process.kill(pid, "SIGTERM");
    await gone(pid);
  });

  test("with [daemon] identity the log file belongs to that user, SIGHUP after mv reopens it, and the root-owned pid file is removed at exit", { skip: process.getuid?.() !== 0 && "needs root" }, async () => {
    await chownTree(token.dir, 65534, 65534);
    // The log's directory is the service user's; the pid file's (dir) is root's alone, like /run.
    const logDir = join(dir, "logs");
    await chmod(dir, 0o711);
    await mkdir(logDir);
    await chown(logDir, 65534, 65534);
    // A state directory this start makes is the service user's too (one that was there keeps its owner).
    const stateDir = join(dir, "handover-state");
    const d = await daemonize("handover", { daemon: 'identity = "nobody:nogroup"', logDir, stateDir });
    assert.deepEqual([d.status, d.stderr], [0, ""]);
    const pid = await runningPid(d);
    assert.equal((await stat(d.logFile)).uid, 65534);
    for (const made of [stateDir, join(stateDir, "tls"), join(stateDir, "tls", "key.pem")]) assert.equal((await stat(made)).uid, 65534, made);

    await rename(d.logFile, `${d.logFile}.1`);
    process.kill(pid, "SIGHUP");
    for (let i = 0; i < 400 && !(await readFile(d.logFile, "utf8").catch(() => "")).includes("log file reopened"); i++) await sleep(50);
    assert.match(await readFile(d.logFile, "utf8"), /log file reopened \(SIGHUP\)/);
    assert.doesNotMatch(await readFile(`${d.logFile}.1`, "utf8"), /cannot open log file|log file reopened/);
    assert.equal((await stat(d.logFile)).uid, 65534);

    process.kill(pid, "SIGTERM");
    await gone(pid);
    let removed = false;
    for (let i = 0; i < 400 && !removed; i++) {
      removed = await stat(d.pidFile).then(() => false, () => true);
      if (!removed) await sleep(50);
    }
    assert.ok(removed, `${d.pidFile} left behind`);

    // What the start made passes the next preflight.
    const checked = await new Promise<{ status: number; stderr: string }>((resolve) =>
      execFile(process.execPath, [MAIN, "--check-config", "-c", d.configPath], { env: token.env }, (err, _stdout, stderr) => resolve({ status: err === null ? 0 : Number(err.code), stderr })),
    );
    assert.equal(checked.status, 0, checked.stderr);
  });
});

test("check with [daemon] identity uses the module as that user: a token only root can use is a problem", { skip: process.getuid?.() !== 0 && "needs root" }, async () => {
  const own = await createSoftHsmToken({ label: "root-only" });
  try {
    const configPath = join(own.dir, "config.toml");
    await writeFile(
      configPath,
      `version = "v1"\n[pkcs11]\nlib-path = ${JSON.stringify(own.modulePath)}\n[server]\naddr = "127.0.0.1:0"\nstate-dir = ${JSON.stringify(join(own.dir, "state"))}\n[daemon]\nidentity = "nobody:nogroup"\n`,
    );
    const check = () =>
      new Promise<{ status: number; stdout: string }>((resolve) =>
        execFile(process.execPath, [MAIN, "check", "-c", configPath], { env: { ...own.env, KMIP2PKCS11_PIN: own.pin } }, (err, stdout) =>
          resolve({ status: err === null ? 0 : Number(err.code), stdout }),
        ),
      );
    // Root loads the module and sees the token; nobody, as the relay is once listening, does not.
    const refused = await check();
    assert.equal(refused.status, 1, refused.stdout);
    assert.match(refused.stdout, /^identity +the module is used as nobody:nogroup from here on/m);
    assert.match(refused.stdout, /^PROBLEM +the module has 0 initialised tokens/m);
    // The token's files given to nobody: the same check logs in.
    await chownTree(own.dir, 65534, 65534);
    const passed = await check();
    assert.equal(passed.status, 0, passed.stdout);
    assert.match(passed.stdout, /^login +slot 0 \("root-only"\): PIN accepted/m);
  } finally {
    await own.cleanup();
  }
});
