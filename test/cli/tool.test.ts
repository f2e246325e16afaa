// The operator commands' shared pieces: secrets from files and variables,
// tables, the progress line, and how failures become exit statuses.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { setImmediate } from "node:timers/promises";
import { UsageError } from "../../src/cli/args.js";
import { formatTable, Progress, readSecret, runTool, ToolError } from "../../src/cli/tool.js";

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "kmip2pkcs11-tool-"));
});
after(() => rm(dir, { recursive: true, force: true }));

describe("readSecret", () => {
  const source = { defaultEnv: "TEST_PIN", what: "PIN" };

  test("from a file, one trailing newline dropped, other whitespace kept", async () => {
    const file = join(dir, "pin");
    await writeFile(file, " 12 34\r\n");
    assert.equal(await readSecret({ ...source, file }), " 12 34");
    await writeFile(file, "1234\n\n");
    assert.equal(await readSecret({ ...source, file }), "1234\n");
  });

  test("from a named variable, else from the default one, else none", async () => {
    assert.equal(await readSecret({ ...source, env: "OTHER" }, { OTHER: "5678", TEST_PIN: "1234" }), "5678");
    assert.equal(await readSecret(source, { TEST_PIN: "1234" }), "1234");
    assert.equal(await readSecret(source, {}), undefined);
    assert.equal(await readSecret(source, { TEST_PIN: "" }), undefined);
  });

  test("failures say what is wrong", async () => {
    await assert.rejects(readSecret({ ...source, file: join(dir, "missing") }), (e: unknown) => e instanceof ToolError && /cannot read the PIN file .*missing: ENOENT/.test(e.message));
    const empty = join(dir, "empty");
    await writeFile(empty, "\n");
    await assert.rejects(readSecret({ ...source, file: empty }), /the PIN file .* is empty/);
    await assert.rejects(readSecret({ ...source, env: "UNSET" }, {}), (e: unknown) => e instanceof ToolError && e.fix === "export UNSET=... before running the command");
    await assert.rejects(readSecret({ ...source, file: empty, env: "X" }), UsageError);
  });
});

test("formatTable aligns columns and leaves no trailing blanks", () => {
  assert.equal(
    formatTable(
      ["ID", "TYPE", "LABEL"],
      [
        ["AB_pub", "RSA", "zsk"],
        ["ABCDEF_priv", "EC P-256", ""],
      ],
    ),
    "ID           TYPE      LABEL\nAB_pub       RSA       zsk\nABCDEF_priv  EC P-256\n",
  );
});

describe("Progress", () => {
  const collect = (isTTY: boolean) => {
    const stream = Object.assign(new PassThrough(), { isTTY });
    let text = "";
    stream.on("data", (chunk: Buffer) => (text += chunk.toString()));
    return { stream, text: () => text };
  };

  // Carriage return and "erase to end of line" (ECMA-48 EL).
  const CLEAR = "\r\x1b[K";

  test("on a terminal: one line rewritten in place four times a second, cleared at the end", async (t) => {
    t.mock.timers.enable({ apis: ["setInterval"] });
    const out = collect(true);
    let n = 0;
    const progress = new Progress(out.stream, () => `step ${++n}`).start();
    t.mock.timers.tick(750);
    progress.stop();
    await setImmediate();
    assert.equal(out.text(), `${CLEAR}step 1${CLEAR}step 2${CLEAR}step 3${CLEAR}`);
  });

  test("elsewhere: whole lines at the log interval", async (t) => {
    t.mock.timers.enable({ apis: ["setInterval"] });
    const out = collect(false);
    const progress = new Progress(out.stream, () => "working", 5_000).start();
    t.mock.timers.tick(10_000);
    progress.stop();
    await setImmediate();
    assert.equal(out.text(), "working\nworking\n");
  });

  test("a command quicker than the first update prints nothing", async () => {
    const out = collect(true);
    new Progress(out.stream, () => "never").start().stop();
    await setImmediate();
    assert.equal(out.text(), "");
  });
});

test("runTool: a usage error exits 2 with a hint, a tool error 1 with its fix, other errors propagate", async () => {
  const io = () => {
    const stderr = new PassThrough();
    let text = "";
    stderr.on("data", (chunk: Buffer) => (text += chunk.toString()));
    return { io: { stdin: new PassThrough(), stdout: new PassThrough(), stderr }, text: () => text };
  };
  const usage = io();
  assert.equal(await runTool("keys", usage.io, async () => Promise.reject(new UsageError("bad"))), 2);
  assert.equal(usage.text(), "kmip2pkcs11 keys: bad\nTry 'kmip2pkcs11 keys --help' for more information.\n");
  const failed = io();
  assert.equal(await runTool("check", failed.io, async () => Promise.reject(new ToolError("broken", "mend it"))), 1);
  assert.equal(failed.text(), "kmip2pkcs11 check: broken\n  fix: mend it\n");
  await assert.rejects(runTool("check", io().io, async () => Promise.reject(new TypeError("bug"))), TypeError);
});

test("Report: a warning reached twice (once per token) is printed once", async () => {
  const { Report } = await import("../../src/cli/report.js");
  const out: string[] = [];
  const report = new Report({ write: (text: string) => void out.push(text) } as unknown as NodeJS.WritableStream);
  report.warning("2 tokens are labelled \"x\"", "fix it");
  report.warning("2 tokens are labelled \"x\"", "fix it");
  assert.equal(report.finish(), true);
  assert.equal(out.filter((l) => l.startsWith("warning")).length, 1);
});
