// Every difference of some OASIS test cases, not just the first: plays each
// step of each case even after one failed, against the relay on SoftHSM, and
// prints what differs. For working on a case; the tests use the first
// difference only.
//
//   npm run build && node dist/test/conformance/explain.js AKLC-M-1-14 CS-RNG-M-1-14
//   node dist/test/conformance/explain.js 1.4          (every case of a version)
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { startRelayProcess } from "../helpers/relay.js";
import { createSoftHsmToken } from "../helpers/softhsm.js";
import { caseId, playCase } from "./player.js";
import { caseFiles, conformanceConfig } from "./suite.js";

const every = [...caseFiles("1.0"), ...caseFiles("1.4")];
const wanted = process.argv.slice(2);
// `node --test dist/test/` runs every file under a test/ folder, this one too,
// without arguments: that is nothing to explain, not a failure.
if (wanted.length === 0) {
  console.log("explain.js: no case given (e.g. AKLC-M-1-14, or 1.4 for every case of a version)");
  process.exit(0);
}
const files = every.filter((f) => wanted.some((w) => w === caseId(f) || f.includes(`/${w}/`)));
if (files.length === 0) {
  console.error("usage: explain.js CASE-ID... | 1.0 | 1.4   (case ids are file names without .xml, e.g. AKLC-M-1-14)");
  process.exit(2);
}

const token = await createSoftHsmToken({ labels: files.map(caseId) });
const relay = await startRelayProcess({ token, extra: conformanceConfig(files.map(caseId)) });
try {
  const ca = await readFile(join(relay.dir, "state", "tls", "cert.pem"));
  for (const file of files) {
    const id = caseId(file);
    const differences = await playCase(file, { host: relay.host, port: relay.port, ca, username: id, password: token.pin }, { keepGoing: true });
    console.log(differences.length === 0 ? `${id}: passes` : `${id}:\n${differences.map((d) => `  ${d}`).join("\n")}`);
  }
} finally {
  await relay.cleanup();
  await token.cleanup();
}
