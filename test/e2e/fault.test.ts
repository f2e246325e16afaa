// Module fault isolation, end to end: the relay runs the fault-injecting
// PKCS#11 module (test/fixtures/faulty-pkcs11, forwarding to SoftHSM) in its
// supervised child process. For each fault (segfault, abort, exit, a hang
// past pkcs11.call-timeout) the relay keeps its listener and its
// connections, the client gets Operation Failed saying the HSM module failed,
// the module process is restarted, and the next request succeeds on the same
// connection and on a new one (logging in again with the client's PIN). What
// the module prints goes to the relay's log, line by line with a prefix, and
// never to the relay's own stdout.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { KmipClient, KmipResultError } from "../../src/client/kmip-client.js";
import { signPayloads } from "../../src/kmip/payloads/index.js";
import { BatchErrorContinuationOption, CryptographicAlgorithm, NameType, Operation, ResultReason, ResultStatus } from "../../src/ttlv/enums.js";
import { buildFaultyModule, FaultLabel } from "../helpers/faulty-module.js";
import { startRelayProcess, type RunningRelay } from "../helpers/relay.js";
import { createSoftHsmToken, type SoftHsmToken } from "../helpers/softhsm.js";

const CALL_TIMEOUT_S = 2;

let token: SoftHsmToken;
let relay: RunningRelay;
let serverCa: string;
/** The connection that lives through every fault. */
let client: KmipClient;
/** Private key ids by CKA_LABEL; "good" signs normally. */
const keys = new Map<string, string>();
/** What the relay process wrote to its stdout (the log goes to stderr). */
let relayStdout = "";

function connect(): Promise<KmipClient> {
  return KmipClient.connect({ host: relay.host, port: relay.port, ca: serverCa, username: token.label, password: token.pin, timeoutMs: 30_000 });
}

async function createKey(label: string): Promise<void> {
  const created = await client.createKeyPair({
    commonTemplateAttribute: {
      names: [],
      attributes: [{ name: "Activation Date", value: BigInt(Math.floor(Date.now() / 1000)) }, 
        { name: "Cryptographic Algorithm", value: CryptographicAlgorithm.ECDSA },
        { name: "Cryptographic Length", value: 256 },
      ],
    },
    privateKeyTemplateAttribute: {
      names: [],
      attributes: [{ name: "Name", value: { nameValue: label, nameType: NameType.UninterpretedTextString } }],
    },
  });
  keys.set(label, created.privateKeyUniqueIdentifier);
}

function sign(on: KmipClient, label: string) {
  return on.sign({ uniqueIdentifier: keys.get(label)!, data: Buffer.from("example.com. 3600 IN A 192.0.2.1") });
}

let restarts = 0;

/**
 * Waits until the module process has been restarted once more. Requests
 * that arrive during a restart wait for it, but only up to call-timeout,
 * which these tests keep short while the restart backoff doubles with each
 * fault; so the tests wait for the restart itself.
 */
async function moduleRestarted(): Promise<void> {
  restarts++;
  await relay.waitForOutput(new RegExp(`(?:the HSM module process \\d+ is serving again[^]*?){${restarts}}`));
}

/** Rejects like a batch item answered Operation Failed because the module failed. */
function moduleFailed(error: unknown): boolean {
  assert.ok(error instanceof KmipResultError, String(error));
  assert.equal(error.resultStatus, ResultStatus.OperationFailed);
  assert.equal(error.resultReason, ResultReason.GeneralFailure);
  assert.match(error.resultMessage!, /the HSM module failed/);
  return true;
}

before(async () => {
  const modulePath = await buildFaultyModule();
  token = await createSoftHsmToken();
  relay = await startRelayProcess({ token, modulePath, pkcs11: [`call-timeout = ${CALL_TIMEOUT_S}`] });
  relay.process.stdout!.on("data", (chunk: Buffer) => (relayStdout += chunk.toString()));
  serverCa = await readFile(join(relay.dir, "state", "tls", "cert.pem"), "utf8");
  client = await connect();
  for (const label of ["good", ...Object.values(FaultLabel)]) await createKey(label);
});
after(async () => {
  await client?.close();
  await relay?.cleanup();
  await token?.cleanup();
});

describe("a module that dies or hangs in C_SignInit", () => {
  const faults: [string, string, RegExp][] = [
    ["segfault", FaultLabel.segv, /killed by SIGSEGV during sign/],
    ["abort", FaultLabel.abort, /killed by SIGABRT during sign/],
    ["exit", FaultLabel.exit, /exited with code 42 during sign/],
    ["hang", FaultLabel.hang, /timeout: no answer .* sign .*\(limit 2000 ms\)/],
  ];
  for (const [name, label, logged] of faults) {
    test(`${name}: the client gets Operation Failed, the module restarts, the next request succeeds on the same and on a new connection`, async () => {
      await assert.rejects(sign(client, label), moduleFailed);
      await relay.waitForOutput(new RegExp(`the HSM module process \\d+ failed: ${logged.source}`));
      await moduleRestarted();

      const again = await sign(client, "good");
      assert.ok(again.signatureData!.length > 0);
      const fresh = await connect();
      try {
        assert.ok((await sign(fresh, "good")).signatureData!.length > 0);
      } finally {
        await fresh.close();
      }
      assert.equal(relay.process.exitCode, null, "the relay is still running");
    });
  }

  test("in a batch, the items in flight when the module dies fail with the module's failure; each item is answered", async () => {
    const item = (label: string) => ({
      operation: Operation.Sign,
      requestPayload: signPayloads.encodeRequest({ uniqueIdentifier: keys.get(label)!, data: Buffer.from("x") }),
    });
    const response = await client.batch([item("good"), item(FaultLabel.segv), item("good")], {
      batchErrorContinuationOption: BatchErrorContinuationOption.Continue,
    });
    assert.equal(response.batchItems.length, 3);
    assert.equal(response.batchItems[1]!.resultStatus, ResultStatus.OperationFailed);
    for (const answer of response.batchItems) {
      if (answer.resultStatus !== ResultStatus.Success) assert.match(answer.resultMessage!, /the HSM module failed/);
    }
    await moduleRestarted();
    assert.ok((await sign(client, "good")).signatureData!.length > 0);
  });
});

test("module output is logged line by line with a prefix and never reaches the relay's stdout", async () => {
  assert.ok((await sign(client, FaultLabel.stdout)).signatureData!.length > 0);
  await relay.waitForOutput(/module stdout: faulty-pkcs11: a line on stdout/);
  await relay.waitForOutput(/module stderr: faulty-pkcs11: a line on stderr/);
  // The 20,000-character line is cut, not buffered whole.
  await relay.waitForOutput(/module stdout: x{1000} \[truncated: 19000 more characters\]/);

  assert.ok((await sign(client, FaultLabel.flood)).signatureData!.length > 0);
  await relay.waitForOutput(/module stdout: \d+ lines dropped \(more than 50 lines per second\)/);
  assert.doesNotMatch(relayStdout, /faulty-pkcs11|xxxx/, "the module's output did not reach the relay's stdout");
});
