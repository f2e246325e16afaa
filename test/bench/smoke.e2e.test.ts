// The benchmark (bench/run.ts) as CI's smoke run: every part of it runs for a
// moment (both isolation modes with one and two workers, batches of 1 and 32,
// the Cascade-shaped row, the direct pkcs11js
// baseline, the floor server, the fairness probe with key generation, idle
// connections), and
// what it writes is complete and parseable. Nothing here looks at speed: on
// a shared 2-core machine the figures mean nothing, only that they exist.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import type { BenchResults } from "../../bench/results-format.js";

const RUN = resolve(dirname(fileURLToPath(import.meta.url)), "../../bench/run.js");
const ISOLATIONS = ["in-process", "process"];
const WORKERS = [1, 2];
/** Every relay variant: each isolation mode with each worker count, as the report names them. */
const VARIANTS = ISOLATIONS.flatMap((isolation) => WORKERS.map((workers) => ({ isolation, workers, name: `isolation = "${isolation}", workers = ${workers}` })));
const CONNECTIONS = 2;
const BATCHES = [1, 32];
const IDLE_CONNECTIONS = 20;

/**
 * --quick: 100 ms warm-up, RSA-2048 instead of RSA-4096 generation in the
 * fairness probe (so it lasts about 2 × 0.3 s plus one key pair), no codec
 * table. The rest is the smallest shape that still runs every path.
 */
const ARGS = [
  "--quick",
  "--seconds",
  "0.2",
  "--algorithms",
  "ECDSA P-256",
  "--connections",
  String(CONNECTIONS),
  "--batches",
  BATCHES.join(","),
  "--idle-connections",
  String(IDLE_CONNECTIONS),
  "--workers",
  WORKERS.join(","),
  "--cascade",
  "on",
];

function runBenchmark(out: string): Promise<{ error: Error | null; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [RUN, ...ARGS, "--out", out], { maxBuffer: 16 * 2 ** 20 }, (error, _stdout, stderr) => done({ error, stderr }));
  });
}

test("the benchmark runs every part briefly and writes a complete report, results.json and chart", { timeout: 180_000 }, async () => {
  const out = await mkdtemp(join(tmpdir(), "kmip2pkcs11-bench-smoke-"));
  try {
    const { error, stderr } = await runBenchmark(out);
    assert.equal(error, null, `bench/run.js failed:\n${stderr}`);

    const report = await readFile(join(out, "report.md"), "utf8");
    const signSections = VARIANTS.map(({ name }) => `## Sign, ${name}`);
    const floorSection = "## The floor: TLS and the process boundary without KMIP work";
    const perModeSections = ["## Fairness: signing while a key pair is generated", "## Idle connections"];
    const lines = report.split("\n");
    for (const section of ["# kmip2pkcs11 benchmark", "## Targets", ...signSections, floorSection, ...perModeSections]) {
      assert.ok(lines.includes(section), `report.md has "${section}"`);
    }
    /** The text of a section, up to the next one. */
    const sectionText = (section: string): string => report.slice(report.indexOf(section) + section.length).split("\n## ")[0]!;
    for (const section of [...signSections, floorSection]) {
      for (const batch of BATCHES) assert.ok(sectionText(section).includes(`\n| ECDSA P-256 | ${CONNECTIONS} | ${batch} |`), `"${section}" has a row for batch ${batch}`);
      assert.ok(sectionText(section).includes(`\n| ECDSA P-256 | 10 | 1 |`), `"${section}" has the Cascade-shaped row`);
    }
    for (const section of perModeSections) {
      for (const { name } of VARIANTS) assert.ok(sectionText(section).includes(`\n| ${name} |`), `"${section}" has a row for ${name}`);
    }

    const results = JSON.parse(await readFile(join(out, "results.json"), "utf8")) as BenchResults;
    assert.deepEqual(results.settings.isolations, ISOLATIONS);
    assert.deepEqual(results.settings.workers, WORKERS);
    const SHAPES = [...BATCHES.map((batch) => ["ECDSA P-256", CONNECTIONS, batch]), ["ECDSA P-256", 10, 1]];
    assert.deepEqual(results.direct.map(({ scenario }) => [scenario.algorithm, scenario.connections, scenario.batch]), SHAPES);
    for (const { scenario, result } of results.direct) assert.ok(result.requests > 0, `direct ran batch ${scenario.batch}`);
    assert.deepEqual(results.floor.map(({ scenario }) => [scenario.algorithm, scenario.connections, scenario.batch]), SHAPES);
    for (const { scenario, result } of results.floor) assert.ok(result.requests > 0, `the floor server ran batch ${scenario.batch}`);
    assert.deepEqual(results.modes.map((mode) => [mode.isolation, mode.workers]), VARIANTS.map((v) => [v.isolation, v.workers]));
    for (const mode of results.modes) {
      assert.deepEqual(mode.rows.map(({ scenario }) => [scenario.algorithm, scenario.connections, scenario.batch]), SHAPES);
      for (const { scenario, relay } of mode.rows) {
        // The load generator counts a request only when each of its Sign
        // items came back Success with Signature Data (bench/load.ts
        // checkReply), and fails the run otherwise: so the signatures
        // counted are every item of every request counted.
        const where = `${mode.isolation} × ${mode.workers}, ${scenario.connections} conn, batch ${scenario.batch}`;
        assert.ok(relay.requests > 0, `${where}: requests answered`);
        assert.equal(Math.round(relay.opsPerSecond * relay.seconds), relay.requests * scenario.batch, `${where}: every Sign item succeeded`);
        assert.ok(relay.cpu.relay > 0, `${where}: the relay's CPU time was read`);
      }
      assert.ok(mode.fairness.rounds.length > 0, `${mode.isolation}: fairness ran`);
      for (const round of mode.fairness.rounds) {
        assert.ok(round.baseline.requests > 0 && round.duringKeyGeneration.requests > 0, `${mode.isolation}: fairness signed`);
      }
      assert.ok(mode.fairness.keyGenerationSeconds.length > 0, `${mode.isolation}: a key pair was generated`);
      assert.equal(mode.idle.connections, IDLE_CONNECTIONS, `${mode.isolation}: idle connections opened`);
    }

    const chart = await readFile(join(out, "chart.svg"), "utf8");
    assert.match(chart, /^<svg[\s>][\s\S]*<\/svg>\s*$/);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});
