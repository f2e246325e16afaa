// `[server] workers = 2`: a supervisor hands client connections to two worker
// processes. A worker killed takes only its own connections with it, the
// other one keeps serving, and the supervisor starts it again; /metrics adds
// the workers' counts up; SIGTERM stops the workers after their requests and
// leaves no process behind.
import assert from "node:assert/strict";
import { once } from "node:events";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { describe, test, before, after } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { KmipClient } from "../../src/client/kmip-client.js";
import { keyPairRequest } from "../../src/cli/client/keys.js";
import { isAlive } from "../../src/cli/daemon.js";
import { startRelayProcess, type RunningRelay } from "../helpers/relay.js";

const METRICS = '[metrics]\naddr = "127.0.0.1:0"';

/** Pids of the live processes whose parent is `pid` and whose command line contains `marker`. */
async function children(pid: number, marker: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[1]) !== pid || fields[0] === "Z") continue;
      if ((await readFile(`/proc/${entry}/cmdline`, "utf8")).includes(marker)) found.push(Number(entry));
    } catch {
      // Gone while the list was read.
    }
  }
  return found.sort((a, b) => a - b);
}

const workersOf = (relay: RunningRelay) => children(relay.process.pid!, "worker-main.js");

async function connect(relay: RunningRelay): Promise<KmipClient> {
  return KmipClient.connect({
    host: relay.host,
    port: relay.port,
    ca: await readFile(join(relay.dir, "state", "tls", "cert.pem")),
    username: relay.token.label,
    password: relay.token.pin,
  });
}

async function scrape(address: string): Promise<Map<string, number>> {
  const response = await fetch(`http://${address}/metrics`);
  assert.equal(response.status, 200);
  const samples = new Map<string, number>();
  for (const line of (await response.text()).split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

/** Signs once on `client`; true when it worked, false when its connection is gone. */
async function signs(client: KmipClient, keyId: string): Promise<boolean> {
  try {
    const response = await client.sign({ uniqueIdentifier: keyId, data: Buffer.from("example.com.") });
    return (response.signatureData?.length ?? 0) > 0;
  } catch {
    return false;
  }
}

describe("two workers", () => {
  let relay: RunningRelay;
  let address: string;
  let keyId: string;
  before(async () => {
    relay = await startRelayProcess({ server: ["workers = 2"], extra: METRICS });
    address = /http:\/\/(\S+)\/metrics/.exec(await relay.waitForOutput(/Metrics on http:\/\/\S+\/metrics/))![1]!;
    const client = await connect(relay);
    keyId = (await client.createKeyPair(keyPairRequest({ algorithm: "ec" }).request)).privateKeyUniqueIdentifier;
    await client.close();
  });
  after(() => relay.cleanup());

  test("start two worker processes and say so", async () => {
    assert.match(relay.output(), /2 workers serving\n.*Listening on 127\.0\.0\.1:\d+\n/);
    assert.equal((await workersOf(relay)).length, 2);
  });

  test("/metrics adds up the requests and connections of both workers; /healthz asks both", async () => {
    // Handed to the worker with the fewest connections: two each.
    const clients = [];
    for (let i = 0; i < 4; i++) clients.push(await connect(relay));
    try {
      const before = (await scrape(address)).get('kmip2pkcs11_requests_total{operation="Sign",result="success"}') ?? 0;
      for (const client of clients) assert.ok(await signs(client, keyId));
      const samples = await scrape(address);
      assert.equal(samples.get('kmip2pkcs11_requests_total{operation="Sign",result="success"}'), before + 4);
      assert.equal(samples.get("kmip2pkcs11_connections_open"), 4);
      assert.equal(samples.get("kmip2pkcs11_worker_restarts_total"), 0);
      const health = await fetch(`http://${address}/healthz`);
      assert.deepEqual([health.status, await health.text()], [200, "ok\n"]);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });

  test("a killed worker closes only its connections; the other serves on; it is restarted", async () => {
    const workers = await workersOf(relay);
    assert.equal(workers.length, 2);
    const clients = [];
    for (let i = 0; i < 4; i++) clients.push(await connect(relay));
    try {
      for (const client of clients) assert.ok(await signs(client, keyId));
      process.kill(workers[0]!, "SIGKILL");
      await relay.waitForOutput(/worker \d \(pid \d+\) exited \(SIGKILL\)/);
      // Two connections were the killed worker's, two the other's.
      const outcomes = await Promise.all(clients.map((client) => signs(client, keyId)));
      assert.deepEqual(outcomes.filter((ok) => ok).length, 2, `outcomes: ${outcomes.join(", ")}`);
      // New connections go to the worker still up meanwhile, and the restarted one later.
      const late = await connect(relay);
      assert.ok(await signs(late, keyId));
      await late.close();
      await relay.waitForOutput(/worker \d restarted/);
      const now = await workersOf(relay);
      assert.equal(now.length, 2);
      assert.ok(!now.includes(workers[0]!) && now.includes(workers[1]!), `workers ${workers.join(",")} -> ${now.join(",")}`);
      const samples = await scrape(address);
      assert.equal(samples.get("kmip2pkcs11_worker_restarts_total"), 1);
      const fresh = [];
      for (let i = 0; i < 4; i++) fresh.push(await connect(relay));
      for (const client of fresh) assert.ok(await signs(client, keyId));
      await Promise.all(fresh.map((c) => c.close()));
      assert.equal((await fetch(`http://${address}/healthz`)).status, 200);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });
});

test("failed logins are counted once for all workers: a wrong-PIN storm over both reaches C_Login at most login-failure-limit times", async () => {
  const limit = 3;
  const relay = await startRelayProcess({ server: ["workers = 2"], pkcs11: [`login-failure-limit = ${limit}`, "login-failure-window = 60", "login-cooldown = 60"] });
  try {
    const ca = await readFile(join(relay.dir, "state", "tls", "cert.pem"));
    // Four connections: two on each worker.
    const clients = [];
    for (let i = 0; i < 4; i++) clients.push(await KmipClient.connect({ host: relay.host, port: relay.port, ca, username: relay.token.label, password: `wrong-${i % 2}` }));
    try {
      await Promise.all(
        clients.map(async (client) => {
          for (let i = 0; i < 10; i++) await assert.rejects(client.discoverVersions());
        }),
      );
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
    const output = relay.output();
    const refused = output.split("\n").filter((line) => line.includes("C_Login refused the PIN"));
    assert.ok(refused.length <= limit, `${refused.length} wrong PINs reached C_Login:\n${refused.join("\n")}`);
    assert.match(output, /worker=0/);
    assert.match(output, /worker=1/);
  } finally {
    await relay.cleanup();
  }
});

test("SIGTERM with workers: the request in progress is answered, every process ends, exit 0", async () => {
  const relay = await startRelayProcess({ server: ["workers = 2", "shutdown-timeout = 60"], logLevel: "debug" });
  try {
    const workers = await workersOf(relay);
    const modules = (await Promise.all(workers.map((pid) => children(pid, "")))).flat();
    assert.equal(workers.length, 2);
    assert.equal(modules.length, 2, "a module process per worker");
    const client = await connect(relay);
    try {
      // An RSA-4096 key pair takes long enough to be in progress when the signal comes.
      const generation = client.createKeyPair(keyPairRequest({ algorithm: "rsa", bits: "4096" }).request);
      await relay.waitForOutput(/request message \(\d+ bytes\)/);
      relay.process.kill("SIGTERM");
      const response = await generation;
      assert.ok(response.privateKeyUniqueIdentifier.length > 0);
    } finally {
      await client.close();
    }
    const [code] = (await once(relay.process, "exit")) as [number | null];
    assert.equal(code, 0);
    assert.match(relay.output(), /shutting down \(SIGTERM\)/);
    assert.match(relay.output(), /stopped/);
    for (let i = 0; i < 50; i++) {
      if (![...workers, ...modules].some(isAlive)) break;
      await sleep(100);
    }
    assert.deepEqual([...workers, ...modules].filter(isAlive), [], "no worker or module process is left");
  } finally {
    await relay.cleanup();
  }
});
