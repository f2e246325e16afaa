// The Prometheus endpoint ([metrics] addr) of a real relay: a known sequence
// of requests is counted exactly; /healthz answers from the module; a module
// crash shows as a failed call and a restart.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { KmipClient, KmipResultError } from "../../src/client/kmip-client.js";
import { keyPairRequest } from "../../src/cli/client/keys.js";
import { encodeSignRequest } from "../../src/kmip/payloads/index.js";
import { Operation, QueryFunction, ResultReason, ResultStatus } from "../../src/ttlv/enums.js";
import { buildFaultyModule, FaultLabel } from "../helpers/faulty-module.js";
import { startRelayProcess, type RunningRelay } from "../helpers/relay.js";

const METRICS = '[metrics]\naddr = "127.0.0.1:0"';

/** The metrics endpoint's address, from the relay's start-up line. */
async function metricsAddress(relay: RunningRelay): Promise<string> {
  return /http:\/\/(\S+)\/metrics/.exec(await relay.waitForOutput(/Metrics on http:\/\/\S+\/metrics/))![1]!;
}

/** Every sample of the exposition, "name{labels}" -> value. */
async function scrape(address: string): Promise<Map<string, number>> {
  const response = await fetch(`http://${address}/metrics`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  const samples = new Map<string, number>();
  for (const line of (await response.text()).split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}

/** The samples of one metric whose names start with `prefix`, labels and all. */
function family(samples: Map<string, number>, prefix: string): Record<string, number> {
  return Object.fromEntries([...samples].filter(([name]) => name.startsWith(prefix)));
}

async function connect(relay: RunningRelay, password = relay.token.pin): Promise<KmipClient> {
  return KmipClient.connect({
    host: relay.host,
    port: relay.port,
    ca: await readFile(join(relay.dir, "state", "tls", "cert.pem")),
    username: relay.token.label,
    password,
  });
}

describe("metrics of a relay serving a known sequence", () => {
  let relay: RunningRelay;
  let address: string;
  before(async () => {
    relay = await startRelayProcess({ extra: METRICS });
    address = await metricsAddress(relay);
  });
  after(() => relay.cleanup());

  test("counts requests by operation and result, HSM calls, logins and connections exactly", async () => {
    const client = await connect(relay);
    await client.discoverVersions();
    await client.query({ queryFunctions: [QueryFunction.QueryOperations] });
    const { privateKeyUniqueIdentifier } = await client.createKeyPair(keyPairRequest({ algorithm: "ec" }).request);
    // Three Sign items in one message: three requests for the metrics.
    const sign = encodeSignRequest({ uniqueIdentifier: privateKeyUniqueIdentifier, data: Buffer.from("example.com.") });
    const batch = await client.batch([0, 1, 2].map(() => ({ operation: Operation.Sign, requestPayload: sign })));
    assert.deepEqual(
      batch.batchItems.map((item) => item.resultStatus),
      [ResultStatus.Success, ResultStatus.Success, ResultStatus.Success],
    );
    await assert.rejects(client.get({ uniqueIdentifier: "00_pub" }), (e: unknown) => e instanceof KmipResultError && e.resultReason === ResultReason.ItemNotFound);

    const during = await scrape(address);
    assert.equal(during.get("kmip2pkcs11_connections_open"), 1);
    assert.deepEqual(family(during, "kmip2pkcs11_requests_total"), {
      'kmip2pkcs11_requests_total{operation="DiscoverVersions",result="success"}': 1,
      'kmip2pkcs11_requests_total{operation="Query",result="success"}': 1,
      'kmip2pkcs11_requests_total{operation="CreateKeyPair",result="success"}': 1,
      'kmip2pkcs11_requests_total{operation="Sign",result="success"}': 3,
      'kmip2pkcs11_requests_total{operation="Get",result="ItemNotFound"}': 1,
    });
    const counts = family(during, "kmip2pkcs11_request_duration_seconds_count");
    assert.deepEqual(counts, {
      'kmip2pkcs11_request_duration_seconds_count{operation="DiscoverVersions"}': 1,
      'kmip2pkcs11_request_duration_seconds_count{operation="Query"}': 1,
      'kmip2pkcs11_request_duration_seconds_count{operation="CreateKeyPair"}': 1,
      'kmip2pkcs11_request_duration_seconds_count{operation="Sign"}': 3,
      'kmip2pkcs11_request_duration_seconds_count{operation="Get"}': 1,
    });
    // The +Inf bucket holds every observation.
    assert.equal(during.get('kmip2pkcs11_request_duration_seconds_bucket{le="+Inf",operation="Sign"}'), 3);
    assert.equal(during.get('kmip2pkcs11_hsm_call_duration_seconds_count{call="sign",outcome="ok"}'), 3);
    assert.equal(during.get('kmip2pkcs11_hsm_call_duration_seconds_count{call="generateKeyPair",outcome="ok"}'), 1);
    assert.deepEqual(family(during, "kmip2pkcs11_login_failures_total"), {});
    assert.equal(during.get("kmip2pkcs11_hsm_calls_in_progress"), 0);
    assert.equal(during.get("kmip2pkcs11_module_failed_calls_total"), 0);
    assert.equal(during.get("kmip2pkcs11_module_restarts_total"), 0);

    // A wrong PIN is a login failure. (The dispatcher reports only items that
    // reached an operation to onItem, so it is not in requests_total.)
    const intruder = await connect(relay, "not-the-pin");
    await assert.rejects(
      intruder.query({ queryFunctions: [QueryFunction.QueryOperations] }),
      (e: unknown) => e instanceof KmipResultError && e.resultReason === ResultReason.AuthenticationNotSuccessful,
    );
    const failed = await scrape(address);
    assert.equal(failed.get("kmip2pkcs11_connections_open"), 2);
    assert.deepEqual(family(failed, "kmip2pkcs11_login_failures_total"), { 'kmip2pkcs11_login_failures_total{reason="AUTH_FAILED"}': 1 });

    await Promise.all([client.close(), intruder.close()]);
    let open = during.get("kmip2pkcs11_connections_open");
    for (let i = 0; i < 100 && open !== 0; i++) {
      await sleep(50);
      open = (await scrape(address)).get("kmip2pkcs11_connections_open");
    }
    assert.equal(open, 0);
    // Scrapes are not requests.
    assert.equal(family(await scrape(address), "kmip2pkcs11_requests_total")['kmip2pkcs11_requests_total{operation="Sign",result="success"}'], 3);
  });

  test("/healthz answers 200 from the module; other paths 404, other methods 405", async () => {
    const health = await fetch(`http://${address}/healthz`);
    assert.deepEqual([health.status, await health.text()], [200, "ok\n"]);
    assert.equal((await fetch(`http://${address}/nope`)).status, 404);
    assert.equal((await fetch(`http://${address}/metrics`, { method: "POST" })).status, 405);
  });

  test("/healthz answers 503 while the module does not answer (its process stopped), in about 5 s", async () => {
    const modulePid = Number(/modulePid=(\d+)/.exec(relay.output())?.[1]);
    assert.ok(modulePid > 0);
    process.kill(modulePid, "SIGSTOP");
    try {
      const health = await fetch(`http://${address}/healthz`);
      assert.deepEqual([health.status, await health.text()], [503, "the HSM module does not answer\n"]);
    } finally {
      process.kill(modulePid, "SIGCONT");
    }
    assert.equal((await fetch(`http://${address}/healthz`)).status, 200);
  });
});

test("a module crash counts as a failed call and a module restart", async () => {
  const relay = await startRelayProcess({ modulePath: await buildFaultyModule(), extra: METRICS });
  try {
    const address = await metricsAddress(relay);
    const client = await connect(relay);
    try {
      const { privateKeyUniqueIdentifier } = await client.createKeyPair(keyPairRequest({ algorithm: "ec", label: FaultLabel.segv }).request);
      await assert.rejects(client.sign({ uniqueIdentifier: privateKeyUniqueIdentifier, data: Buffer.from("x") }), KmipResultError);
    } finally {
      await client.close();
    }
    await relay.waitForOutput(/is serving again/);
    const samples = await scrape(address);
    assert.equal(samples.get("kmip2pkcs11_module_failed_calls_total"), 1);
    assert.equal(samples.get("kmip2pkcs11_module_restarts_total"), 1);
    assert.equal(samples.get('kmip2pkcs11_hsm_call_duration_seconds_count{call="sign",outcome="MODULE_FAILED"}'), 1);
    assert.equal((await fetch(`http://${address}/healthz`)).status, 200);
  } finally {
    await relay.cleanup();
  }
});
