// The systemd units in deploy/systemd: they parse without a warning
// (systemd-analyze verify), their command lines are ones the relay accepts,
// and the hardening keeps its exposure score. Skipped without systemd-analyze.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { MAIN } from "../helpers/relay.js";

const UNITS = new URL("../../../deploy/systemd/", import.meta.url);
const INSTALLED = "/usr/local/bin/kmip2pkcs11";

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
  assert.equal(line("Type"), "exec");
  assert.doesNotMatch(text, /^ExecStart=.*(-d|--daemonize)/m);
  const sysusers = await readFile(new URL("kmip2pkcs11.sysusers.conf", UNITS), "utf8");
  assert.match(sysusers, new RegExp(`^u ${line("User")} - "[^"]+" /var/lib/${line("StateDirectory")} /usr/sbin/nologin$`, "m"));
});
