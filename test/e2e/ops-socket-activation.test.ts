// systemd socket activation end to end: a real relay process is started the
// way systemd starts it (sd_listen_fds(3)): a listening socket as fd 3,
// LISTEN_FDS=1 and LISTEN_PID naming the relay's own pid. It must serve KMIP
// on that socket, not on server.addr, and keep the variables from the module
// process.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import { once } from "node:events";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KmipClient } from "../../src/client/kmip-client.js";
import { keyPairRequest } from "../../src/cli/client/keys.js";
import { MAIN } from "../helpers/relay.js";
import { createSoftHsmToken } from "../helpers/softhsm.js";

test("a relay started with a listening socket as fd 3 serves KMIP on it", async () => {
  const token = await createSoftHsmToken({ label: "activated" });
  const dir = await mkdtemp(join(tmpdir(), "kmip2pkcs11-activation-"));
  // What systemd's .socket unit does: bind and listen before the service starts.
  // A backlog of its own (Backlog=), which the relay must keep.
  const listener = createServer();
  listener.listen({ port: 0, host: "127.0.0.1", backlog: 37 });
  await once(listener, "listening");
  const { port } = listener.address() as AddressInfo;
  const fd = (listener as unknown as { _handle: { fd: number } })._handle.fd;
  const configPath = join(dir, "config.toml");
  // server.addr names a port nobody listens on: only fd 3 may be used.
  await writeFile(
    configPath,
    `version = "v1"\n[pkcs11]\nlib-path = "${token.modulePath}"\n[server]\naddr = "127.0.0.1:1"\nstate-dir = "${join(dir, "state")}"\n`,
  );
  // LISTEN_PID must be the relay's pid: a shell learns its pid and execs node in place.
  const relay = spawn("/bin/sh", ["-c", 'LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=kmip exec "$@"', "sh", process.execPath, MAIN, "-c", configPath], {
    env: token.env,
    stdio: ["ignore", "pipe", "pipe", fd],
  });
  // The relay holds the socket now; the test's copy must not accept connections.
  listener.close();
  let output = "";
  relay.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  relay.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = once(relay, "exit");
  try {
    for (let i = 0; i < 400 && !/Listening on /.test(output) && relay.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50));
    // The address the socket is bound to, not just the descriptor.
    assert.match(output, new RegExp(`INFO {2}Listening on 127\\.0\\.0\\.1:${port} \\(socket from systemd, fd 3\\)\n`));
    // ss(8) shows a listener's backlog as Send-Q.
    const ss = await promisify(execFile)("ss", ["-Hltn", `sport = :${port}`]);
    assert.equal(ss.stdout.trim().split(/\s+/)[2], "37", ss.stdout);

    const client = await KmipClient.connect({
      host: "127.0.0.1",
      port,
      ca: await readFile(join(dir, "state", "tls", "cert.pem")),
      username: token.label,
      password: token.pin,
    });
    try {
      const { privateKeyUniqueIdentifier } = await client.createKeyPair(keyPairRequest({ algorithm: "ec" }).request);
      const { signatureData } = await client.sign({ uniqueIdentifier: privateKeyUniqueIdentifier, data: Buffer.from("example.com.") });
      assert.ok(signatureData !== undefined && signatureData.length > 0);
    } finally {
      await client.close();
    }

    // The module process did not inherit the activation variables.
    const modulePid = Number(/modulePid=(\d+)/.exec(output)?.[1]);
    const environ = (await readFile(`/proc/${modulePid}/environ`, "latin1")).split("\0");
    assert.ok(environ.some((v) => v.startsWith("SOFTHSM2_CONF=")), "read the module's environment");
    assert.deepEqual(
      environ.filter((v) => v.startsWith("LISTEN_")),
      [],
    );
  } finally {
    relay.kill("SIGTERM");
    await exited;
    await rm(dir, { recursive: true, force: true });
    await token.cleanup();
  }
  assert.equal(relay.exitCode, 0, output);
});
