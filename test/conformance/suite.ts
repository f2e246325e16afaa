// The conformance suite of one KMIP version: every OASIS test case copied to
// test/data/kmip-test-cases/<version>/, each an individual node:test test,
// grouped by profile, played against the relay (its own process) on SoftHSM
// with one fresh token per case, so that no case sees another's objects.
//
// A case passes when every response matches. A case listed in
// expected-skips.ts is skipped with its reason, but only while it fails with
// exactly the difference listed there: a listed case that passes, or that
// fails differently, fails (the list is to be updated); a case not listed that
// fails, fails.
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { startRelayProcess, type RunningRelay } from "../helpers/relay.js";
import { createSoftHsmToken } from "../helpers/softhsm.js";
import { EXPECTED_SKIPS } from "./expected-skips.js";
import { caseId, playCase } from "./player.js";

/** test/data/kmip-test-cases, found from dist/test/conformance/. */
export const CASES_DIRECTORY = fileURLToPath(new URL("../../../test/data/kmip-test-cases/", import.meta.url));

/** "AKLC", "CS-AC", "CS-RNG" ...: the part of a case id before -M- or -O-. */
export const profileOf = (id: string): string => id.replace(/-[MO]-.*$/, "");

/** The case files of a version ("1.4"), mandatory then optional, in natural order. */
export function caseFiles(version: string): string[] {
  const files: string[] = [];
  for (const kind of ["mandatory", "optional"]) {
    const dir = join(CASES_DIRECTORY, version, kind);
    const names = readdirSync(dir).filter((n) => n.endsWith(".xml"));
    names.sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
    files.push(...names.map((n) => join(dir, n)));
  }
  return files;
}

/** Date-times a server returns differ from run to run: the skip list is compared without them. */
// Dates, and runs of 32 or more hex digits (a random CKA_ID, the plaintext of a random key), differ from run to run.
const withoutDates = (text: string): string => text.replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/g, "<date-time>").replace(/\b[0-9A-Fa-f]{32,}\b/g, "<hex>");

/**
 * The relay's configuration for the cases: KMIP's strict Destroy (4.21,
 * Permission Denied for an Active object), and the tokens of the Symmetric
 * Key Foundry cases set up as a foundry, whose keys are made for clients to
 * Get (key-export = "by-default", README "Key export").
 */
export function conformanceConfig(ids: readonly string[]): string {
  const foundries = ids.filter((id) => profileOf(id) === "SKFF").map((id) => [`[tokens.${id}]`, `label = "${id}"`, `key-export = "by-default"`].join("\n"));
  return ["[lifecycle]\nstrict-destroy = true", ...foundries].join("\n");
}

export function conformanceSuite(version: string): void {
  const files = caseFiles(version);
  const ids = files.map(caseId);
  let relay: RunningRelay;
  let ca: Buffer;

  before(async () => {
    // Token labels are the case ids: the Username of a case selects its token.
    const token = await createSoftHsmToken({ labels: ids });
    relay = await startRelayProcess({ token, extra: conformanceConfig(ids) });
    ca = await readFile(join(relay.dir, "state", "tls", "cert.pem"));
  });
  after(async () => {
    await relay?.cleanup();
    await relay?.token.cleanup();
  });

  const profiles = [...new Set(ids.map(profileOf))];
  for (const profile of profiles) {
    describe(`KMIP ${version} ${profile}`, () => {
      for (const file of files.filter((f) => profileOf(caseId(f)) === profile)) {
        const id = caseId(file);
        test(id, async (t) => {
          const [difference] = await playCase(file, { host: relay.host, port: relay.port, ca, username: id, password: relay.token.pin });
          const expected = EXPECTED_SKIPS.get(id);
          if (expected === undefined) {
            assert.equal(difference, undefined, `${id} ${difference}`);
            return;
          }
          assert.notEqual(difference, undefined, `${id} passes: remove it from the skip list (test/conformance/expected-skips.ts)`);
          assert.equal(
            withoutDates(difference!),
            withoutDates(expected.difference),
            `${id} fails differently than expected-skips.ts says: update its entry`,
          );
          t.skip(`${id} ${difference} (${expected.why})`);
        });
      }
    });
  }
}
