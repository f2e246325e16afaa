// The start-up check that core dumps are off (they would hold PINs).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { test } from "node:test";
import { promisify } from "node:util";
import { coreDumpWarning, coreLimit } from "../../src/cli/core-dumps.js";

const LIMITS = (core: string) => `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max core file size        ${core}                    unlimited            bytes
Max open files            1024                 1048576              files
`;

test("coreLimit reads the soft RLIMIT_CORE", () => {
  assert.equal(coreLimit(LIMITS("0")), "0");
  assert.equal(coreLimit(LIMITS("unlimited")), "unlimited");
  assert.equal(coreLimit("nothing here"), undefined);
});

test("a warning only when core dumps are possible", () => {
  assert.equal(coreDumpWarning(() => LIMITS("0")), undefined);
  assert.match(coreDumpWarning(() => LIMITS("unlimited"))!, /core dumps are enabled \(RLIMIT_CORE unlimited\).*LimitCORE=0/);
  assert.equal(coreDumpWarning(() => { throw new Error("ENOENT"); }), undefined);
});

test("a process started under `ulimit -c 0` (scripts/start.sh) gets no warning; one under `ulimit -c unlimited` does", async () => {
  const script = `import("${new URL("../../src/cli/core-dumps.js", import.meta.url).href}").then((m) => process.stdout.write(String(m.coreDumpWarning())))`;
  const run = async (limit: string) =>
    (await promisify(execFile)("bash", ["-c", `ulimit -c ${limit} && exec "${process.execPath}" -e '${script}'`])).stdout;
  assert.equal(await run("0"), "undefined");
  const hard = (await promisify(execFile)("bash", ["-c", "ulimit -H -c"])).stdout.trim();
  if (hard !== "0") assert.match(await run(hard), /core dumps are enabled/);
});
