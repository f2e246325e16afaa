// The benchmark's report: markdown tables (targets, one table per isolation
// mode, the floor, fairness, idle connections, codec) and an SVG bar chart
// of the relay/direct and floor/direct throughput ratios, written by hand
// (no chart dependency).
import { DATA_LENGTH, median, type DirectResult, type RelayResult, type Scenario } from "./common.js";
import type { FairnessResult } from "./load.js";
import { CASCADE_CONNECTIONS, modeName, type BenchResults, type ModeResults } from "./results-format.js";

/** The issue's targets (benchmarks, not tests). */
export const TARGETS = {
  batch32Ratio: 0.85,
  batch1Connections16Ratio: 0.6,
  p50AboveDirectUs: 150,
  fairnessP99Ratio: 2,
  idleConnections: 1000,
  idleRssMiB: 150,
  // Issue 18: where Cascade signs (batch 1 over 10 connections).
  cascadeEcdsaRatio: 0.6,
  cascadeRsaRatio: 0.9,
  batch1FloorRatio: 0.9,
  p50AboveFloorUs: 60,
  addedCpuBatch1EcdsaUs: 60,
} as const;

const MiB = 2 ** 20;
const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "–");
const fixed = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : "–");
/** A difference with its sign: +12, −3. */
const signed = (n: number) => (Number.isFinite(n) ? `${n < 0 ? "−" : "+"}${int(Math.abs(n))}` : "–");
const pct = (n: number) => (Number.isFinite(n) ? `${Math.round(n * 100)}%` : "–");
const same = (a: Scenario, b: Scenario) => a.algorithm === b.algorithm && a.connections === b.connections && a.batch === b.batch;

function directFor(results: BenchResults, scenario: Scenario): DirectResult | undefined {
  return results.direct.find((d) => same(d.scenario, scenario))?.result;
}

/** A relay mode's rows, or the floor's (floor.ts): results of the load generator against a server. */
type Measured = Pick<ModeResults, "rows">;

function relayFor(mode: Measured, scenario: Scenario): RelayResult | undefined {
  return mode.rows.find((r) => same(r.scenario, scenario))?.relay;
}

function floorOf(results: BenchResults): Measured {
  return { rows: results.floor.map(({ scenario, result }) => ({ scenario, relay: result })) };
}

function ratio(results: BenchResults, mode: Measured, scenario: Scenario): number {
  const relay = relayFor(mode, scenario);
  const direct = directFor(results, scenario);
  return relay === undefined || direct === undefined ? NaN : relay.opsPerSecond / direct.opsPerSecond;
}

const yes = (met: boolean) => (met ? "met" : "**not met**");

/**
 * One cell of the targets table per isolation mode; for the floor, the
 * throughput and latency targets only (it generates no keys and holds no
 * KMIP state).
 */
function targetCells(results: BenchResults, mode: ModeResults | Measured): string[] {
  const ecdsa = (connections: number, batch: number): Scenario => ({ algorithm: "ECDSA P-256", connections, batch });
  const cells: string[] = [];

  const batch32 = results.settings.connections.map((c) => [c, ratio(results, mode, ecdsa(c, 32))] as const).filter(([, r]) => Number.isFinite(r));
  const metAt = batch32.filter(([, r]) => r >= TARGETS.batch32Ratio).map(([c]) => c);
  cells.push(
    batch32.length === 0
      ? "not measured"
      : `${batch32.map(([c, r]) => `${pct(r)} at ${c}`).join(", ")}: ${metAt.length === batch32.length ? "met" : metAt.length === 0 ? "**not met**" : `met at ${metAt.join(", ")} conn only`}`,
  );

  const b1 = ratio(results, mode, ecdsa(16, 1));
  cells.push(Number.isFinite(b1) ? `${pct(b1)}: ${yes(b1 >= TARGETS.batch1Connections16Ratio)}` : "not measured");

  const latency = results.settings.algorithms
    .map((algorithm) => {
      const scenario: Scenario = { algorithm, connections: 1, batch: 1 };
      const relay = relayFor(mode, scenario);
      const direct = directFor(results, scenario);
      return relay === undefined || direct === undefined ? undefined : ([algorithm, relay.p50Us - direct.p50Us] as const);
    })
    .filter((x) => x !== undefined);
  cells.push(
    latency.length === 0
      ? "not measured"
      : latency.map(([algorithm, above]) => `${algorithm} ${signed(above)} µs: ${yes(above <= TARGETS.p50AboveDirectUs)}`).join("; "),
  );

  const cascade = (algorithm: Scenario["algorithm"], target: number) => {
    const r = ratio(results, mode, { algorithm, connections: CASCADE_CONNECTIONS, batch: 1 });
    return Number.isFinite(r) ? `${pct(r)}: ${yes(r >= target)}` : "not measured";
  };
  cells.push(cascade("ECDSA P-256", TARGETS.cascadeEcdsaRatio), cascade("RSA-2048", TARGETS.cascadeRsaRatio));
  if (!("fairness" in mode)) return [...cells, "–", "–", "–", "–", "–"];

  // Against the floor: every batch-1 row, and p50 at one connection.
  const floor = floorOf(results);
  const batch1 = mode.rows.filter(({ scenario }) => scenario.batch === 1);
  const shares = batch1.map(({ scenario, relay }) => [scenario, relay.opsPerSecond / (relayFor(floor, scenario)?.opsPerSecond ?? NaN)] as const).filter(([, r]) => Number.isFinite(r));
  const below = shares.filter(([, r]) => r < TARGETS.batch1FloorRatio);
  const lowest = shares.reduce((low, [, r]) => Math.min(low, r), Infinity);
  cells.push(shares.length === 0 ? "not measured" : below.length === 0 ? `lowest ${pct(lowest)}: met` : `**not met** at ${below.map(([s, r]) => `${s.algorithm} ${s.connections}c ${pct(r)}`).join(", ")}`);
  const overFloor = batch1
    .filter(({ scenario }) => scenario.connections === 1)
    .map(({ scenario, relay }) => [scenario.algorithm, relay.p50Us - (relayFor(floor, scenario)?.p50Us ?? NaN)] as const)
    .filter(([, d]) => Number.isFinite(d));
  cells.push(overFloor.length === 0 ? "not measured" : overFloor.map(([a, d]) => `${a} ${signed(d)} µs: ${yes(d <= TARGETS.p50AboveFloorUs)}`).join("; "));
  const added = batch1
    .filter(({ scenario }) => scenario.algorithm === "ECDSA P-256")
    .map(({ scenario, relay }) => [scenario.connections, (relay.cpu.relay + relay.cpu.module) * 1e6 / relay.requests - (directFor(results, scenario)?.cpuPerSignUs ?? NaN)] as const)
    .filter(([, d]) => Number.isFinite(d));
  cells.push(added.length === 0 ? "not measured" : added.map(([c, d]) => `${fixed(d, 0)} µs at ${c}c: ${yes(d <= TARGETS.addedCpuBatch1EcdsaUs)}`).join("; "));
  const ratios = fairnessRatios(mode.fairness);
  const under = ratios.filter((r) => r < TARGETS.fairnessP99Ratio).length;
  const middle = median(ratios);
  const rounds = ratios.length === 1 ? "" : ` (median of ${ratios.length} rounds; ${under} of them under ${TARGETS.fairnessP99Ratio}×)`;
  cells.push(`${fixed(middle)}×${rounds}: ${yes(middle < TARGETS.fairnessP99Ratio)}`);

  // With isolation the module process is part of the relay: judged on both together.
  const memory = (mode.idle.relayRssAfter + mode.idle.moduleUss) / MiB;
  const judged = mode.idle.connections < TARGETS.idleConnections ? "too few connections to judge" : yes(memory < TARGETS.idleRssMiB);
  cells.push(`${int(memory)} MiB${mode.isolation === "process" ? " (relay + module)" : ""}${mode.workers > 1 ? " (all workers)" : ""} with ${int(mode.idle.connections)}: ${judged}`);
  return cells;
}

function targetsTable(results: BenchResults): string {
  const names = [
    `ECDSA P-256, batch 32: relay ≥ ${pct(TARGETS.batch32Ratio)} of direct (per connection count)`,
    `ECDSA P-256, batch 1, 16 connections: ≥ ${pct(TARGETS.batch1Connections16Ratio)} of direct`,
    `p50 at 1 connection, batch 1: ≤ ${TARGETS.p50AboveDirectUs} µs above direct`,
    `Cascade-shaped (batch 1, ${CASCADE_CONNECTIONS} connections), ECDSA P-256: ≥ ${pct(TARGETS.cascadeEcdsaRatio)} of direct`,
    `Cascade-shaped, RSA-2048: ≥ ${pct(TARGETS.cascadeRsaRatio)} of direct`,
    `every batch-1 row: relay ≥ ${pct(TARGETS.batch1FloorRatio)} of the floor's signs/s`,
    `p50 at 1 connection, batch 1: ≤ floor + ${TARGETS.p50AboveFloorUs} µs`,
    `added CPU per batch-1 ECDSA P-256 signature ≤ ${TARGETS.addedCpuBatch1EcdsaUs} µs`,
    `ECDSA p99 during RSA-${results.settings.fairness.keyGenerationBits} generation: < ${TARGETS.fairnessP99Ratio}× without`,
    `${TARGETS.idleConnections} idle TLS connections: relay RSS (+ module USS) < ${TARGETS.idleRssMiB} MiB`,
  ];
  const cells = [...results.modes.map((mode) => targetCells(results, mode)), targetCells(results, floorOf(results))];
  // The Rust relay is not built here (bench/README.md, "The Rust relay"): its row says so in every column.
  // The defaults: isolation = "process", and workers = "auto", one per core but one, at least one.
  const defaultWorkers = Math.max(1, results.machine.cores - 1);
  const head = (m: ModeResults) => `${modeName(m)}${m.isolation === "process" && m.workers === defaultWorkers ? " (the defaults here)" : ""}`;
  return [
    `| target | ${results.modes.map(head).join(" | ")} | floor (no KMIP work) |`,
    `|---|${results.modes.map(() => "---").join("|")}|---|`,
    ...names.map((name, i) => `| ${name} | ${cells.map((c) => c[i]).join(" | ")} |`),
    `| ahead of the Rust relay: ≥ 1.2× its signs/s, Cascade-shaped (ECDSA, RSA) and ECDSA batch 32 (it cannot be built on this machine: crates.io is unreachable) | ${[...results.modes, undefined].map(() => "not measured").join(" | ")} |`,
  ].join("\n");
}

function modeTable(results: BenchResults, mode: ModeResults): string {
  const rows = mode.rows.map(({ scenario, relay }) => {
    const direct = directFor(results, scenario);
    const perRequest = (seconds: number) => (seconds * 1e6) / relay.requests;
    const perSign = (seconds: number) => (seconds * 1e6) / (relay.requests * scenario.batch);
    return [
      scenario.algorithm,
      scenario.connections,
      scenario.batch,
      int(relay.opsPerSecond),
      direct === undefined ? "–" : `${int(direct.opsPerSecond)} (${direct.mode})`,
      `**${pct(ratio(results, mode, scenario))}**`,
      int(relay.p50Us),
      direct === undefined ? "–" : int(direct.p50Us),
      int(relay.p99Us),
      direct === undefined ? "–" : int(direct.p99Us),
      `${int(perRequest(relay.cpu.relay))} (${int(perRequest(relay.cpu.relaySystem))})`,
      fixed(perSign(relay.cpu.relay), 1),
      mode.isolation === "process" ? fixed(perSign(relay.cpu.module), 1) : "–",
      direct === undefined ? "–" : fixed(direct.cpuPerSignUs, 1),
      direct === undefined ? "–" : `**${fixed(perSign(relay.cpu.relay + relay.cpu.module) - direct.cpuPerSignUs, 1)}**`,
      fixed(perSign(relay.cpu.client), 1),
    ].join(" | ");
  });
  return [
    "| algorithm | conns | batch | relay signs/s | direct signs/s (form) | relay/direct | relay p50 µs | direct p50 µs | relay p99 µs | direct p99 µs | relay CPU µs/request (kernel) | relay CPU µs/sign | module process CPU µs/sign | direct CPU µs/sign | added CPU µs/sign | client CPU µs/sign |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...rows.map((row) => `| ${row} |`),
  ].join("\n");
}

function floorTable(results: BenchResults): string {
  const rows = results.floor.map(({ scenario, result }) => {
    const direct = directFor(results, scenario);
    const floor = result;
    const cells = [
      scenario.algorithm,
      scenario.connections,
      scenario.batch,
      int(floor.opsPerSecond),
      `**${pct(direct === undefined ? NaN : floor.opsPerSecond / direct.opsPerSecond)}**`,
      int(floor.p50Us),
      direct === undefined ? "–" : signed(floor.p50Us - direct.p50Us),
      int((floor.cpu.relay * 1e6) / floor.requests),
      fixed((floor.cpu.client * 1e6) / (floor.requests * scenario.batch), 1),
      ...results.modes.flatMap((mode) => {
        const relay = relayFor(mode, scenario);
        return relay === undefined ? ["–", "–"] : [pct(relay.opsPerSecond / floor.opsPerSecond), signed(relay.p50Us - floor.p50Us)];
      }),
    ];
    return `| ${cells.join(" | ")} |`;
  });
  const modeHeads = results.modes.flatMap((m) => [`relay/floor, ${m.isolation} ×${m.workers}`, `relay p50 − floor p50 µs, ${m.isolation} ×${m.workers}`]);
  return [
    "What any relay in a process of its own pays here before doing KMIP work: a TLS server (bench/floor.ts) that frames each request, makes its signatures exactly as direct does (in the form direct found faster) without reading the request, and answers with a reply the relay gave to the same request, driven by the same load generator. *Floor/direct* is the cost of the process boundary, TLS, the client, and of signing in a server that waits for requests; *relay/floor* and the p50 difference are what the relay's own work costs.",
    "",
    `| algorithm | conns | batch | floor signs/s | floor/direct | floor p50 µs | floor p50 − direct p50 µs | floor server CPU µs/request | client CPU µs/sign | ${modeHeads.join(" | ")} |`,
    `|---|---:|---:|---:|---:|---:|---:|---:|---:|${modeHeads.map(() => "---:").join("|")}|`,
    ...rows,
  ].join("\n");
}

function fairnessRatios(f: FairnessResult): number[] {
  return f.rounds.map((r) => r.duringKeyGeneration.p99Us / r.baseline.p99Us);
}

function fairnessTable(results: BenchResults): string {
  const { connections, ratePerConnection, keyGenerationBits, rounds } = results.settings.fairness;
  const rows = results.modes.flatMap((mode) => {
    const f = mode.fairness;
    const isolation = modeName(mode);
    const times = f.keyGenerationSeconds;
    const mean = times.reduce((a, b) => a + b, 0) / times.length;
    const ratios = fairnessRatios(f);
    return f.rounds.map(
      (r, i) =>
        `| ${isolation} | ${i + 1} | ${int(r.baseline.p50Us)} / ${int(r.baseline.p99Us)} | ${int(r.duringKeyGeneration.p50Us)} / ${int(r.duringKeyGeneration.p99Us)} | ${fixed(ratios[i]!)}× | ${i === 0 ? `**${fixed(median(ratios))}×** | ${times.length} (mean ${fixed(mean)} s)` : " | "} |`,
    );
  });
  return [
    `ECDSA P-256 Sign, batches of 1, on ${connections} connections at ${ratePerConnection} requests/s each (paced, well below capacity), first alone, then while RSA-${keyGenerationBits} key pairs are generated back to back on another connection; ${rounds} round${rounds === 1 ? "" : "s"} of both, since one p99 over a few seconds swings widely on a shared machine.`,
    "",
    `| relay | round | p50 / p99 µs alone | p50 / p99 µs during generation | p99 ratio | median p99 ratio | key pairs generated |`,
    "|---|---:|---:|---:|---:|---:|---:|",
    ...rows,
  ].join("\n");
}

function idleTable(results: BenchResults): string {
  const rows = results.modes.map((mode) => {
    const { isolation, idle } = mode;
    const perConnection = (idle.relayRssAfter - idle.relayRssBefore) / idle.connections / 1024;
    return `| ${modeName(mode)} | ${int(idle.connections)} | ${int(idle.relayRssBefore / MiB)} | ${int(idle.relayRssAfter / MiB)} | ${fixed(perConnection, 1)} | ${isolation === "process" ? int(idle.moduleRss / MiB) : "–"} | ${isolation === "process" ? int((idle.relayRssAfter + idle.moduleUss) / MiB) : int(idle.relayRssAfter / MiB)} | ${int(idle.connections / idle.connectSeconds)} |`;
  });
  return [
    "Measured first, on the freshly started relay. With isolation, the relay's memory is its own RSS plus the pages only its module process holds (USS), so the Node.js binary both map is counted once.",
    "",
    "| relay | idle TLS connections | relay RSS before, MiB | relay RSS with them, MiB | KiB per connection | module process RSS, MiB | relay RSS + module USS, MiB | handshakes/s |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
    ...rows,
  ].join("\n");
}

export function markdownReport(results: BenchResults): string {
  const m = results.machine;
  const s = results.settings;
  const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(" ");
  return [
    "# kmip2pkcs11 benchmark",
    "",
    `Produced by \`${results.command}\` (after \`npx tsc -p tsconfig.json\`) on ${results.startedAt}, in ${fixed(results.durationSeconds, 0)} s${results.quick ? " (--quick: a smoke run, figures not meaningful)" : ""}.`,
    "",
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, Linux ${m.kernel}; Node.js ${m.node}, SoftHSM ${m.softhsm}, pkcs11js ${m.pkcs11js}, UV_THREADPOOL_SIZE ${m.uvThreadpoolSize}; commit ${m.commit}. Load average (1/5/15 min) before ${load(m.loadAverageBefore)}, after ${load(m.loadAverageAfter)}.`,
    "",
    `Each scenario: ${s.warmupMs} ms warm-up, then ${s.measureMs} ms measured. ${s.connections.join("/")} connections, each a closed loop with one request of ${s.batches.join(" or ")} Sign items in flight; ${s.algorithms.join(", ")}; data of ${DATA_LENGTH} bytes per item.${s.cascade ? ` The Cascade-shaped rows (${CASCADE_CONNECTIONS} connections, batch 1) follow the grid.` : ""} Relays: every isolation mode with ${s.workers.join(" and ")} worker process${s.workers.join() === "1" ? "" : "es"} (\`[server] workers\`).`,
    "",
    "Placement (no CPU pinning): the relay (`node dist/src/cli/main.js -c CONFIG`, SoftHSM token made for the run), its module process when isolated, and the load generator (the product's KmipClient, its own process) share the cores. Each scenario runs on direct, the floor and every relay back to back (the others idle), so that ratios compare figures taken seconds apart. Direct runs in a process of its own, with the faster of pkcs11js's synchronous and asynchronous C_Sign for each scenario, so it is the best a Node.js process does on this token; the relay figures carry the load generator's CPU as well (client column), so the ratios are conservative. See bench/README.md.",
    "",
    "Columns: throughput in signatures per second; latency per request (one request carries `batch` signatures). CPU columns are per request or per signature in the measured window, from /proc/<pid>/stat (user + kernel, all threads): the relay process (kernel share in parentheses), its module process, the direct process, and the load generator. *Added CPU* is relay + module CPU per signature minus direct's: what the relay spends beyond the signature itself. Unlike throughput it changes little when other work shares the machine, so compare it first between runs.",
    "",
    "## Targets",
    "",
    targetsTable(results),
    "",
    ...results.modes.flatMap((mode) => [`## Sign, ${modeName(mode)}`, "", modeTable(results, mode), ""]),
    "![relay/direct throughput](chart.svg)",
    "",
    "## The floor: TLS and the process boundary without KMIP work",
    "",
    floorTable(results),
    "",
    "## Fairness: signing while a key pair is generated",
    "",
    fairnessTable(results),
    "",
    "## Idle connections",
    "",
    idleTable(results),
    "",
    ...(results.codec === undefined ? [] : ["## TTLV codec (bench/codec.ts)", "", results.codec, ""]),
  ].join("\n");
}

const escape = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** Grouped bars: relay/direct throughput per scenario, one bar per isolation mode, with the target lines. */
export function svgChart(results: BenchResults): string {
  const scenarios = results.direct.map((d) => d.scenario);
  const series: { name: string; rows: Measured }[] = [
    ...results.modes.map((mode) => ({ name: modeName(mode), rows: mode })),
    { name: "floor (no KMIP work)", rows: floorOf(results) },
  ];
  const colors = ["#4477aa", "#66ccee", "#ee6677", "#aa3377", "#228833", "#bbbbbb"];
  const bar = 14;
  const group = bar * series.length + 12;
  const left = 48;
  const top = 52;
  const height = 260;
  // Room for the scenario labels, rotated 60° (about 18 characters of 6 px).
  const bottom = 115;
  const width = left + group * scenarios.length + 20;
  const maxRatio = Math.max(1.1, ...series.flatMap(({ rows }) => scenarios.map((s) => ratio(results, rows, s)).filter(Number.isFinite)));
  const y = (r: number) => Math.round((top + height - (r / maxRatio) * height) * 10) / 10;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${top + height + bottom}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="18" font-size="14">Sign throughput through the relay, as a share of direct pkcs11js</text>`,
  ];
  for (let r = 0; r <= maxRatio + 1e-9; r += 0.2) {
    parts.push(`<line x1="${left}" x2="${width - 20}" y1="${y(r)}" y2="${y(r)}" stroke="#ddd"/>`);
    parts.push(`<text x="${left - 6}" y="${y(r) + 4}" text-anchor="end">${Math.round(r * 100)}%</text>`);
  }
  for (const [r, label] of [
    [TARGETS.batch32Ratio, "target, batch 32"],
    [TARGETS.batch1Connections16Ratio, "target, batch 1 × 16 conn"],
  ] as const) {
    parts.push(`<line x1="${left}" x2="${width - 20}" y1="${y(r)}" y2="${y(r)}" stroke="#999" stroke-dasharray="4 3"/>`);
    parts.push(`<text x="${width - 22}" y="${y(r) - 3}" text-anchor="end" fill="#666">${label} ${Math.round(r * 100)}%</text>`);
  }
  scenarios.forEach((scenario, i) => {
    const x0 = left + i * group + 6;
    series.forEach(({ name, rows }, k) => {
      const r = ratio(results, rows, scenario);
      if (!Number.isFinite(r)) return;
      parts.push(
        `<rect x="${x0 + k * bar}" y="${y(r)}" width="${bar - 2}" height="${Math.round((top + height - y(r)) * 10) / 10}" fill="${colors[k % colors.length]}"><title>${escape(`${scenario.algorithm}, ${scenario.connections} conn, batch ${scenario.batch}, ${name}: ${pct(r)}`)}</title></rect>`,
      );
    });
    const cx = x0 + (bar * series.length) / 2;
    const label = `${scenario.algorithm} ${scenario.connections}c×${scenario.batch}`;
    parts.push(`<text transform="translate(${cx},${top + height + 8}) rotate(60)" text-anchor="start">${escape(label)}</text>`);
  });
  series.forEach(({ name }, k) => {
    const x = left + 200 * k;
    const legendY = 38;
    parts.push(`<rect x="${x}" y="${legendY - 10}" width="12" height="12" fill="${colors[k % colors.length]}"/>`);
    parts.push(`<text x="${x + 16}" y="${legendY}">${escape(name)}</text>`);
  });
  parts.push(`<line x1="${left}" x2="${width - 20}" y1="${y(0)}" y2="${y(0)}" stroke="#333"/>`, "</svg>", "");
  return parts.join("\n");
}
