// The relay on each real PKCS#11 module this machine can install from
// Debian (test/helpers/modules.ts): plain SoftHSM, p11-kit's client talking
// to a `p11-kit server` (a remote module), NSS's softokn (configured by
// init-args) and tpm2-pkcs11 on the swtpm software TPM (with the attribute
// quirk it needs; a last test shows the relay learning it alone). Each runs
// as a user runs it, with the module in its own
// process (isolation "process", the default), and serves Cascade's flow for
// every algorithm through the product's KMIP client: Discover Versions,
// Query, then per algorithm Create Key Pair, Get, Activate, Sign (verified
// with node:crypto), Signature Verify, Locate, Get Attributes, Revoke and
// Destroy. What a module cannot do must be a KMIP error with a precise
// message and leave the relay serving; the outcome per module and algorithm
// is printed as the README's compatibility table. A module that cannot be
// installed is skipped, saying why.
import assert from "node:assert/strict";
import { constants, verify, type KeyObject } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { KmipResultError, type KmipClient } from "../../src/client/kmip-client.js";
import type { Attribute, CryptographicParameters } from "../../src/kmip/attributes.js";
import {
  CryptographicAlgorithm,
  HashingAlgorithm,
  ObjectType,
  Operation,
  PaddingMethod,
  QueryFunction,
  RecommendedCurve,
  RevocationReasonCode,
  ValidityIndicator,
} from "../../src/ttlv/enums.js";
import { enumerationName } from "../../src/ttlv/names.js";
import { Tag } from "../../src/ttlv/tags.js";
import { buildQuirkyModule, createTpm2Token, MODULES, Quirk, tpm2Unavailable, type ModuleSetUp } from "../helpers/modules.js";
import { startRelayProcess, type RunningRelay } from "../helpers/relay.js";
import { createSoftHsmToken, type SoftHsmToken } from "../helpers/softhsm.js";
import { algorithm, connect, createKeyPair, DATA, length, name, objectType, publicKeyOf } from "../helpers/relay-client.js";

interface AlgorithmCase {
  readonly name: string;
  readonly common: Attribute[];
  readonly params: CryptographicParameters;
  /** node:crypto's hash for verify(), null for Ed25519. */
  readonly hash: "sha256" | "sha384" | "sha512" | null;
  readonly raw?: "ed25519";
  /** RSA-PSS, with a salt as long as the digest. */
  readonly pss?: boolean;
}

const curve = (recommendedCurve: number): Attribute => ({ name: "Cryptographic Domain Parameters", value: { recommendedCurve } });
const ecdsa = (hashingAlgorithm: number): CryptographicParameters => ({ cryptographicAlgorithm: CryptographicAlgorithm.ECDSA, hashingAlgorithm });

const ALGORITHMS: readonly AlgorithmCase[] = [
  {
    name: "RSA-2048",
    common: [algorithm(CryptographicAlgorithm.RSA), length(2048)],
    params: { cryptographicAlgorithm: CryptographicAlgorithm.RSA, paddingMethod: PaddingMethod.Pkcs1v15, hashingAlgorithm: HashingAlgorithm.SHA256 },
    hash: "sha256",
  },
  {
    name: "RSA-2048 PSS",
    common: [algorithm(CryptographicAlgorithm.RSA), length(2048)],
    params: { cryptographicAlgorithm: CryptographicAlgorithm.RSA, paddingMethod: PaddingMethod.PSS, hashingAlgorithm: HashingAlgorithm.SHA256 },
    hash: "sha256",
    pss: true,
  },
  { name: "P-256", common: [algorithm(CryptographicAlgorithm.ECDSA), length(256)], params: ecdsa(HashingAlgorithm.SHA256), hash: "sha256" },
  { name: "P-384", common: [algorithm(CryptographicAlgorithm.ECDSA), curve(RecommendedCurve.P384)], params: ecdsa(HashingAlgorithm.SHA384), hash: "sha384" },
  { name: "P-521", common: [algorithm(CryptographicAlgorithm.ECDSA), curve(RecommendedCurve.P521)], params: ecdsa(HashingAlgorithm.SHA512), hash: "sha512" },
  { name: "Ed25519", common: [algorithm(CryptographicAlgorithm.Ed25519)], params: { cryptographicAlgorithm: CryptographicAlgorithm.Ed25519 }, hash: null, raw: "ed25519" },
];

type Step = "Create Key Pair" | "Get" | "Activate" | "Sign" | "Signature Verify" | "Locate" | "Get Attributes" | "Revoke" | "Destroy";

/** A step's outcome: "ok", the KMIP error ("Result Reason: message"), or "-" when an earlier step failed. */
type Outcome = string;

const reasonName = (reason: number | undefined) => (reason === undefined ? "no Result Reason" : (enumerationName(Tag.ResultReason, reason) ?? `0x${reason.toString(16)}`));

/** Runs the steps in order; the first KMIP error ends the row. Anything else (a broken connection, a wrong signature) fails the test. */
async function runSteps(steps: ReadonlyArray<readonly [Step, () => Promise<void>]>): Promise<Map<Step, Outcome>> {
  const outcomes = new Map<Step, Outcome>();
  let failed = false;
  for (const [step, run] of steps) {
    if (failed) {
      outcomes.set(step, "-");
      continue;
    }
    try {
      await run();
      outcomes.set(step, "ok");
    } catch (error) {
      if (!(error instanceof KmipResultError)) throw error;
      outcomes.set(step, `${reasonName(error.resultReason)}: ${error.resultMessage ?? ""}`);
      failed = true;
    }
  }
  return outcomes;
}

/** The compatibility table, one line per module. */
const table: string[] = [];

for (const module of MODULES) {
  const skip = module.unavailable();
  if (skip !== undefined) table.push(`| ${module.name} | - | skipped: ${skip} | |`);
  describe(module.name, { skip }, () => {
    let setUp: ModuleSetUp;
    let relay: RunningRelay;
    let client: KmipClient;
    const rows = new Map<string, Map<Step, Outcome>>();

    before(async () => {
      setUp = await module.setUp();
      relay = await startRelayProcess({ modulePath: setUp.modulePath, env: setUp.env, pkcs11: setUp.pkcs11, token: setUp.token });
      client = await connect(relay, { username: setUp.username, password: setUp.pin });
    });
    after(async () => {
      await client?.close();
      await relay?.cleanup();
      await setUp?.cleanup();
      const version = /library version (\S+),/.exec(relay?.output() ?? "")?.[1] ?? "?";
      const works = ALGORITHMS.filter((a) => {
        const outcomes = rows.get(a.name);
        return outcomes !== undefined && [...outcomes.values()].every((o) => o === "ok");
      }).map((a) => a.name);
      const fails = ALGORITHMS.filter((a) => !works.includes(a.name)).map((a) => {
        const [step, outcome] = [...(rows.get(a.name) ?? new Map<Step, Outcome>())].find(([, o]) => o !== "ok") ?? ["?", "not run"];
        return `${a.name} (${step}: ${outcome})`;
      });
      table.push(`| ${module.name} | ${version} | ${works.join(", ")} | ${fails.join("; ") || "-"} |`);
    });

    test("Discover Versions and Query answer, naming the module", async () => {
      const { protocolVersions } = await client.discoverVersions();
      assert.ok(protocolVersions.length > 0);
      const query = await client.query({ queryFunctions: [QueryFunction.QueryOperations, QueryFunction.QueryObjects, QueryFunction.QueryServerInformation] });
      assert.ok(query.operations.includes(Operation.Sign));
      assert.ok(query.objectTypes.includes(ObjectType.PrivateKey));
      assert.ok(query.vendorIdentification?.includes(setUp.modulePath.split("/").pop()!), query.vendorIdentification);
    });

    for (const alg of ALGORITHMS) {
      const expected = module.expectedFailures[alg.name];
      test(`${alg.name}: ${expected === undefined ? "the whole flow" : `${expected.step} refused with a precise KMIP error`}`, async () => {
        let pair = { priv: "", pub: "" };
        let key: KeyObject;
        let signature: Uint8Array;
        const label = `modules-${alg.name}`;
        const outcomes = await runSteps([
          [
            "Create Key Pair",
            async () => {
              const created = await createKeyPair(client, alg.common, label);
              pair = { priv: created.privateKeyUniqueIdentifier, pub: created.publicKeyUniqueIdentifier };
            },
          ],
          ["Get", async () => void (key = publicKeyOf(await client.get({ uniqueIdentifier: pair.pub }), alg.raw))],
          ["Activate", async () => void (await client.activate({ uniqueIdentifier: pair.priv }))],
          [
            "Sign",
            async () => {
              ({ signatureData: signature } = (await client.sign({ uniqueIdentifier: pair.priv, cryptographicParameters: alg.params, data: DATA })) as {
                signatureData: Uint8Array;
              });
              const options = alg.pss ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } : key;
              assert.equal(verify(alg.hash, DATA, options, signature), true, "node:crypto verifies the signature");
            },
          ],
          [
            "Signature Verify",
            async () => {
              const verified = await client.signatureVerify({ uniqueIdentifier: pair.pub, cryptographicParameters: alg.params, data: DATA, signatureData: signature });
              assert.equal(verified.validityIndicator, ValidityIndicator.Valid);
            },
          ],
          [
            "Locate",
            async () => {
              const { uniqueIdentifiers } = await client.locate({ attributes: [name(`${label}-priv`), objectType(ObjectType.PrivateKey)] });
              assert.deepEqual(uniqueIdentifiers, [pair.priv]);
            },
          ],
          [
            "Get Attributes",
            async () => {
              const { attributes } = await client.getAttributes({ uniqueIdentifier: pair.priv, attributeNames: ["Cryptographic Algorithm", "Name", "State"] });
              assert.deepEqual(
                attributes.map((a) => a.name),
                ["Cryptographic Algorithm", "Name", "State"],
              );
            },
          ],
          ["Revoke", async () => void (await client.revoke({ uniqueIdentifier: pair.priv, revocationReason: { revocationReasonCode: RevocationReasonCode.CessationOfOperation } }))],
          [
            "Destroy",
            async () => {
              await client.destroy({ uniqueIdentifier: pair.priv });
              await client.destroy({ uniqueIdentifier: pair.pub });
            },
          ],
        ]);
        rows.set(alg.name, outcomes);
        const failure = [...outcomes].find(([, o]) => o !== "ok");
        assert.deepEqual(failure?.[0], expected?.step, `${module.name} ${alg.name}: ${failure?.[1] ?? "no failure"}`);
        if (expected !== undefined) assert.match(failure![1], expected.error);
      });
    }

    test("the relay still serves after every refusal", async () => {
      assert.equal(relay.process.exitCode, null);
      await createKeyPair(client, [algorithm(CryptographicAlgorithm.ECDSA), length(256)]);
    });
  });
}

after(() => {
  if (table.length === 0) return;
  // The README's compatibility table (node's runner shows it among the diagnostics).
  console.log(["| module | library version | works | fails |", "|---|---|---|---|", ...table].join("\n"));
});

describe("start-up of a slow module", () => {
  let modulePath: string;
  let token: SoftHsmToken;
  before(async () => {
    [modulePath, token] = await Promise.all([buildQuirkyModule(), createSoftHsmToken()]);
  });
  after(() => token?.cleanup());

  // The quirky module: SoftHSM whose C_Initialize takes 1.5 s more.
  const slowly = () => ({ modulePath, token, env: { ...token.env, [Quirk.initDelayMs]: "1500" } });

  test("within [pkcs11] start-timeout, the relay waits for it", async () => {
    const relay = await startRelayProcess(slowly());
    try {
      const client = await connect(relay);
      await client.discoverVersions();
      await client.close();
    } finally {
      await relay.cleanup();
    }
  });

  test("beyond it, start-up fails and says so", async () => {
    await assert.rejects(startRelayProcess({ ...slowly(), pkcs11: ["start-timeout = 0.2"] }), /did not load .* within 0\.2 s \(start-timeout\)/);
  });
});

describe("tpm2-pkcs11 without [pkcs11.quirks]", { skip: tpm2Unavailable() }, () => {
  test("the relay learns that it refuses CKA_ENCRYPT and CKA_DECRYPT false, says so once, and makes the keys", async () => {
    const tpm = await createTpm2Token();
    try {
      const relay = await startRelayProcess({ modulePath: tpm.modulePath, env: tpm.env });
      try {
        const client = await connect(relay, { username: tpm.label, password: tpm.pin });
        const first = await createKeyPair(client, [algorithm(CryptographicAlgorithm.ECDSA), length(256)]);
        await createKeyPair(client, [algorithm(CryptographicAlgorithm.RSA), length(2048)]);
        const signed = await client.sign({ uniqueIdentifier: first.privateKeyUniqueIdentifier, cryptographicParameters: ecdsa(HashingAlgorithm.SHA256), data: DATA });
        const key = publicKeyOf(await client.get({ uniqueIdentifier: first.publicKeyUniqueIdentifier }));
        assert.equal(verify("sha256", DATA, key, signed.signatureData!), true);
        await client.close();
        const learned = relay.output().match(/succeeded without [A-Z_, ]+: the relay leaves them out from now on; set \[pkcs11\.quirks\] omit-attributes = \[[^\]]*\]/g);
        assert.deepEqual(learned, ['succeeded without CKA_ENCRYPT, CKA_DECRYPT: the relay leaves them out from now on; set [pkcs11.quirks] omit-attributes = ["CKA_ENCRYPT", "CKA_DECRYPT"]']);
      } finally {
        await relay.cleanup();
      }
    } finally {
      await tpm.cleanup();
    }
  });
});
