// The systemd units in deploy/systemd: they parse without a warning
// (systemd-analyze verify), their command lines are ones the relay accepts,
// and the hardening keeps its exposure score. Skipped without systemd-analyze.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { copyFile, mkdir, mkdtemp, open, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { MAIN, startRelayProcess } from "../helpers/relay.js";
import { createSoftHsmToken } from "../helpers/softhsm.js";

const UNITS = new URL("../../../deploy/systemd/", import.meta.url);
const INSTALLED = "/usr/local/bin/kmip2pkcs11";

const notifyTool = await promisify(execFile)("systemd-notify", ["--version"]).then(
  () => true,
  () => false,
);

/** Binds a Unix datagram socket, says so, and prints each message with its lines joined by "|". */
const NOTIFY_LISTENER = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("bound", flush=True)
while True:
    print(s.recv(4096).decode().strip().replace("\\n", "|"), flush=True)
`;

const analyze = await promisify(execFile)("systemd-analyze", ["--version"]).then(
  () => true,
  () => false,
);

/** The units with the command pointing at this build, in a temp dir. */
async function unitsHere(): Promise<{ dir: string; service: string; socket: string }> {
  const dir = await mkdtemp(join(tmpdir(), "kmip2pkcs11-units-"));
  const service = join(dir, "kmip2pkcs11.service");
  const socket = join(dir, "kmip2pkcs11.socket");
  const text = await readFile(new URL("kmip2pkcs11.service", UNITS), "utf8");
  await writeFile(service, text.replaceAll(INSTALLED, `${process.execPath} ${MAIN}`));
  await writeFile(socket, await readFile(new URL("kmip2pkcs11.socket", UNITS), "utf8"));
  return { dir, service, socket };
}

test("the service and socket units verify cleanly", { skip: !analyze && "systemd-analyze is not installed" }, async () => {
  const { dir, service, socket } = await unitsHere();
  try {
    // --man=no: the man pages are installed with the package, not here.
    const { stdout, stderr } = await promisify(execFile)("systemd-analyze", ["verify", "--man=no", socket, service]);
    assert.equal(stdout + stderr, "");
    // The service with the socket-activation drop-in, found on a unit path of its own.
    await mkdir(join(dir, "kmip2pkcs11.service.d"));
    await copyFile(new URL("socket-activation.conf", UNITS), join(dir, "kmip2pkcs11.service.d", "socket-activation.conf"));
    const withDropIn = await promisify(execFile)("systemd-analyze", ["verify", "--man=no", service], { env: { ...process.env, SYSTEMD_UNIT_PATH: `${dir}:` } });
    assert.equal(withDropIn.stdout + withDropIn.stderr, "");

    const security = await promisify(execFile)("systemd-analyze", ["security", "--offline=true", service]);
    const exposure = Number(/Overall exposure level for kmip2pkcs11\.service: ([\d.]+)/.exec(security.stdout)?.[1]);
    assert.ok(exposure <= 2.0, `exposure ${exposure}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("the units' command lines are the relay's: foreground, config file, check first", async () => {
  const text = await readFile(new URL("kmip2pkcs11.service", UNITS), "utf8");
  const line = (key: string) => new RegExp(`^${key}=(.*)$`, "m").exec(text)?.[1];
  assert.equal(line("ExecStartPre"), `${INSTALLED} --check-config --config /etc/kmip2pkcs11/config.toml`);
  assert.equal(line("ExecStart"), `${INSTALLED} --config /etc/kmip2pkcs11/config.toml`);
  // Readiness: systemctl start returns once the relay listens (sd_notify, sent by systemd-notify).
  assert.equal(line("Type"), "notify");
  assert.equal(line("NotifyAccess"), "all");
  // The service listens on [server] addr by itself: the socket unit is not pulled in.
  assert.doesNotMatch(text, /^(Wants|Requires|After)=.*kmip2pkcs11\.socket/m);
  const dropIn = await readFile(new URL("socket-activation.conf", UNITS), "utf8");
  assert.match(dropIn, /^Requires=kmip2pkcs11\.socket$/m);
  assert.match(dropIn, /^Environment=KMIP2PKCS11_SOCKET_ACTIVATION=1$/m);
  assert.doesNotMatch(text, /^ExecStart=.*(-d|--daemonize)/m);
  // A config error is not mended by restarting: a few tries, then the unit fails instead of looping.
  assert.equal(line("Restart"), "on-failure");
  assert.ok(Number(line("StartLimitBurst")) * Number(line("RestartSec")) < Number(line("StartLimitIntervalSec")), "the start limit is reached within its interval");
  const sysusers = await readFile(new URL("kmip2pkcs11.sysusers.conf", UNITS), "utf8");
  assert.match(sysusers, new RegExp(`^u ${line("User")} - "[^"]+" /var/lib/${line("StateDirectory")} /usr/sbin/nologin$`, "m"));
});

test("under systemd: READY=1 with the address once listening, STOPPING=1 at the end (NOTIFY_SOCKET, a datagram listener)", { skip: !notifyTool && "systemd-notify is not installed" }, async () => {
  const dir = await mkdtemp(join(tmpdir(), "kmip2pkcs11-notify-"));
  const socketPath = join(dir, "notify");
  // What systemd does: a Unix datagram socket; python3 can bind one, Node cannot.
  const listener = spawn("/usr/bin/python3", ["-c", NOTIFY_LISTENER, socketPath], { stdio: ["ignore", "pipe", "inherit"] });
  let received = "";
  listener.stdout.on("data", (chunk: Buffer) => (received += chunk.toString()));
  try {
    while (!received.includes("bound\n")) await once(listener.stdout, "data");
    const token = await createSoftHsmToken({ label: "notify" });
    const relay = await startRelayProcess({ token, env: { ...token.env, NOTIFY_SOCKET: socketPath } });
    try {
      for (let i = 0; i < 400 && !received.includes("READY=1"); i++) await sleep(50);
      assert.match(received, new RegExp(`^MAINPID=${relay.process.pid}\\|READY=1\\|STATUS=Listening on 127\\.0\\.0\\.1:${relay.port}$`, "m"));
      // The module's process does not get the variable: a notification from it would be taken for the relay's.
      const modulePid = Number(/modulePid=(\d+)/.exec(relay.output())?.[1]);
      const environ = (await readFile(`/proc/${modulePid}/environ`, "latin1")).split("\0");
      assert.deepEqual(environ.filter((v) => v.startsWith("NOTIFY_SOCKET=")), []);
      assert.equal(await relay.stop(), 0);
      for (let i = 0; i < 400 && !received.includes("STOPPING=1"); i++) await sleep(50);
      assert.match(received, /STOPPING=1/);
    } finally {
      await relay.cleanup();
      await token.cleanup();
    }
  } finally {
    listener.kill();
    await rm(dir, { recursive: true, force: true });
  }
});

test("under systemd: each stderr line starts with its journal priority (JOURNAL_STREAM names stderr)", async () => {
  const dir = await mkdtemp(join(tmpdir(), "kmip2pkcs11-journal-"));
  const token = await createSoftHsmToken({ label: "journal" });
  const logPath = join(dir, "stderr");
  const configPath = join(dir, "config.toml");
  await writeFile(configPath, `version = "v1"\n[pkcs11]\nlib-path = "${token.modulePath}"\n[server]\naddr = "127.0.0.1:0"\nstate-dir = "${join(dir, "state")}"\n`);
  const stderr = await open(logPath, "w");
  try {
    const st = await stderr.stat();
    const relay = spawn(process.execPath, [MAIN, "-c", configPath], { env: { ...token.env, JOURNAL_STREAM: `${st.dev}:${st.ino}` }, stdio: ["ignore", "ignore", stderr.fd] });
    const exited = once(relay, "exit");
    for (let i = 0; i < 400 && !(await readFile(logPath, "utf8")).includes("Listening on"); i++) await sleep(50);
    // The process is named kmip2pkcs11 (pidof, ps, top), not node.
    assert.equal((await readFile(`/proc/${relay.pid}/comm`, "utf8")).trim(), "kmip2pkcs11");
    relay.kill("SIGTERM");
    await exited;
    const lines = (await readFile(logPath, "utf8")).trimEnd().split("\n");
    // sd-daemon(3) prefixes: warning 4 (the generated certificate), info 6; the journal adds the time.
    assert.ok(lines.some((l) => /^<4>WARNING Generated a self-signed TLS certificate/.test(l)), lines.join("\n"));
    assert.ok(lines.some((l) => /^<6>INFO {2}Listening on 127\.0\.0\.1:\d+$/.test(l)), lines.join("\n"));
    assert.deepEqual(lines.filter((l) => !/^<[0-7]>[A-Z]+ /.test(l)), []);
  } finally {
    await stderr.close();
    await token.cleanup();
    await rm(dir, { recursive: true, force: true });
  }
});

test("README: where Node.js 20 comes from on Debian 12, and PyKMIP's EC attribute gap under Compatibility", async () => {
  const readme = await readFile(new URL("../../../README.md", import.meta.url), "utf8");
  assert.match(readme, /Debian 12 ships Node\.js 18, which is\s+too old: install Node\.js 20 \(or 22\) from NodeSource's Debian repository/);
  const compatibility = readme.slice(readme.indexOf("\n## Compatibility\n"));
  assert.match(compatibility.slice(0, compatibility.indexOf("\n## ", 1)), /PyKMIP's client cannot read an EC key's attributes[^]*PyKMIP's own gap/);
});

test("the package has the LICENSE its package.json names", async () => {
  const pkg = JSON.parse(await readFile(new URL("../../../package.json", import.meta.url), "utf8")) as { license: string };
  assert.equal(pkg.license, "BSD-3-Clause");
  const license = await readFile(new URL("../../../LICENSE", import.meta.url), "utf8");
  assert.match(license, /^BSD 3-Clause License\n\nCopyright \(c\) the kmip2pkcs11 authors\n/);
});
