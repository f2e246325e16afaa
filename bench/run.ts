// The relay benchmark (`npm run bench`): Sign throughput and latency through
// the relay, as a ratio to the same signatures made directly with pkcs11js,
// for each algorithm, connection count and batch size; the relay's CPU time
// per request; signing latency while an RSA-4096 key pair is generated;
// resident memory with many idle TLS connections. Once with the module in
// the relay's process and once isolated in a child process. Writes
// report.md, chart.svg and results.json. See bench/README.md.
//
//   node dist/bench/run.js [--quick] [--seconds S] [--out DIR] [--profile DIR]
//       [--isolation in-process,process] [--algorithms "ECDSA P-256,Ed25519,RSA-2048"]
//       [--connections 1,4,16] [--batches 1,32] [--pkcs11 "sign-threads = 0" ...]
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, readFile, readdir, writeFile } from "node:fs/promises";
import { cpus, loadavg, release, tmpdir, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createSoftHsmToken, type SoftHsmToken } from "../test/helpers/softhsm.js";
import { startRelayProcess, type RunningRelay } from "../test/helpers/relay.js";
import { ALGORITHM_NAMES, childPids, type AlgorithmName, type MeasuredPids, type Scenario } from "./common.js";
import type { DirectMethods } from "./direct.js";
import type { FloorMethods } from "./floor.js";
import type { IdleResult, LoadMethods } from "./load.js";
import { formatProfileSummary, summarizeCpuProfile } from "./profile.js";
import { markdownReport, svgChart } from "./report.js";
import {
  CASCADE_ALGORITHMS,
  CASCADE_CONNECTIONS,
  ISOLATIONS,
  modeName,
  type BenchResults,
  type Isolation,
  type MachineFacts,
  type ModeResults,
  type Settings,
} from "./results-format.js";
import { startWorker, type Worker } from "./worker.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, "../..");

function list<T extends string>(value: string | undefined, allowed: readonly T[], name: string): T[] | undefined {
  if (value === undefined) return undefined;
  const items = value.split(",").map((s) => s.trim());
  for (const item of items) if (!allowed.includes(item as T)) throw new Error(`--${name}: "${item}" is not one of ${allowed.join(", ")}`);
  return items as T[];
}

function numbers(value: string | undefined, name: string): number[] | undefined {
  if (value === undefined) return undefined;
  const items = value.split(",").map(Number);
  if (!items.every((n) => Number.isSafeInteger(n) && n > 0)) throw new Error(`--${name}: "${value}" is not a list of positive integers`);
  return items;
}

function parseCommandLine(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: "boolean", default: false },
      seconds: { type: "string" },
      out: { type: "string" },
      profile: { type: "string" },
      isolation: { type: "string" },
      algorithms: { type: "string" },
      connections: { type: "string" },
      batches: { type: "string" },
      "idle-connections": { type: "string" },
      workers: { type: "string" },
      cascade: { type: "string" },
      pkcs11: { type: "string", multiple: true },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const quick = values.quick;
  const seconds = values.seconds === undefined ? (quick ? 0.3 : 2) : Number(values.seconds);
  if (!(seconds > 0)) throw new Error(`--seconds: "${values.seconds}" is not a positive number`);
  const settings: Settings = {
    warmupMs: quick ? 100 : 300,
    measureMs: Math.round(seconds * 1000),
    algorithms: list(values.algorithms, ALGORITHM_NAMES, "algorithms") ?? [...ALGORITHM_NAMES],
    connections: numbers(values.connections, "connections") ?? (quick ? [1, 16] : [1, 4, 16]),
    batches: numbers(values.batches, "batches") ?? [1, 32],
    isolations: list(values.isolation, ISOLATIONS, "isolation") ?? [...ISOLATIONS],
    workers: numbers(values.workers, "workers") ?? (quick ? [1] : [1, 2]),
    cascade: values.cascade === undefined ? !quick : onOff(values.cascade, "cascade"),
    // A steady 1,000 signatures per second in all, far below capacity, so that
    // p99 shows stalls rather than saturation; RSA-2048 keeps --quick quick.
    fairness: { connections: 4, ratePerConnection: 250, keyGenerationBits: quick ? 2048 : 4096, rounds: quick ? 1 : 3 },
    idleConnections: Number(values["idle-connections"] ?? (quick ? 100 : 1000)),
    pkcs11: values.pkcs11 ?? [],
  };
  return { values, quick, settings };
}

function onOff(value: string, name: string): boolean {
  if (value !== "on" && value !== "off") throw new Error(`--${name}: "${value}" is not on or off`);
  return value === "on";
}

function commandOutput(file: string, args: string[]): string {
  try {
    return execFileSync(file, args, { cwd: REPO, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return "unknown";
  }
}

async function machineFacts(): Promise<MachineFacts> {
  const pkcs11jsPackage = JSON.parse(await readFile(join(REPO, "node_modules/pkcs11js/package.json"), "utf8")) as { version: string };
  // The previous results, which this run replaces, do not make the tree dirty.
  const status = commandOutput("git", ["status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)bench/results"]);
  const dirty = status === "" ? "" : " (with uncommitted changes)";
  return {
    cpuModel: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    softhsm: commandOutput("softhsm2-util", ["--version"]),
    pkcs11js: pkcs11jsPackage.version,
    commit: commandOutput("git", ["rev-parse", "--short", "HEAD"]) + dirty,
    uvThreadpoolSize: process.env.UV_THREADPOOL_SIZE ?? "4 (default)",
    loadAverageBefore: loadavg(),
    loadAverageAfter: [],
  };
}

function scenarios(settings: Settings): Scenario[] {
  const all: Scenario[] = settings.algorithms.flatMap((algorithm) =>
    settings.connections.flatMap((connections) => settings.batches.map((batch) => ({ algorithm, connections, batch }))),
  );
  if (!settings.cascade) return all;
  // Cascade's shape (issue 18), after the grid, unless the grid has it already.
  for (const algorithm of CASCADE_ALGORITHMS) {
    if (!settings.algorithms.includes(algorithm)) continue;
    if (all.some((s) => s.algorithm === algorithm && s.connections === CASCADE_CONNECTIONS && s.batch === 1)) continue;
    all.push({ algorithm, connections: CASCADE_CONNECTIONS, batch: 1 });
  }
  return all;
}

/** How this run was started, as a person would type it again. */
function commandLine(argv: string[]): string {
  const args = argv.map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(" ");
  if (process.env.npm_lifecycle_event === "bench") return args === "" ? "npm run bench" : `npm run bench -- ${args}`;
  return `node dist/bench/run.js ${args}`.trim();
}

const describe = (s: Scenario) => `${s.algorithm}, ${s.connections} conn, batch ${s.batch}`;
const log = (line: string) => process.stderr.write(`bench: ${line}\n`);

/** Keys are made once, through the first relay, and shared by every mode and by the direct runs. */
async function startRelay(token: SoftHsmToken, isolation: Isolation, pkcs11: string[], profileDir?: string, workers = 1): Promise<RunningRelay> {
  const env = { ...token.env };
  if (profileDir !== undefined) {
    env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? ""} --import ${join(HERE, "cpu-profile-hook.js")}`.trim();
    env.KMIP2PKCS11_CPU_PROFILE_DIR = profileDir;
  }
  // Every connection of the run comes from 127.0.0.1: the per-peer share
  // (256 by default) would refuse the idle-connections measurement's 1,000.
  const server = [`workers = ${workers}`, "max-connections = 4096", "max-connections-per-peer = 4096"];
  return startRelayProcess({ token, pkcs11: [`isolation = "${isolation}"`, ...pkcs11], server, env });
}

function modulePidOf(parent: number, isolation: Isolation): number | undefined {
  if (isolation === "in-process") return undefined;
  const [pid, ...others] = childPids(parent);
  if (pid === undefined || others.length > 0) throw new Error(`expected one module process under ${parent}, found ${others.length + (pid === undefined ? 0 : 1)}`);
  return pid;
}

/** The relay's processes: itself, or with workers its supervisor, the workers, and their module processes. */
function pidsOf(relay: RunningRelay, isolation: Isolation, workers: number): MeasuredPids {
  const relayPid = relay.process.pid!;
  if (workers === 1) return { relayPid, modulePid: modulePidOf(relayPid, isolation) };
  const workerPids = childPids(relayPid);
  if (workerPids.length !== workers) throw new Error(`expected ${workers} workers under the relay, found ${workerPids.length}`);
  const [modulePid, ...otherModulePids] = workerPids.map((pid) => modulePidOf(pid, isolation)).filter((pid) => pid !== undefined);
  return { relayPid, workerPids, modulePid, otherModulePids };
}

/** Every relay variant measured: each isolation mode with each worker count. */
function variants(settings: Settings): { isolation: Isolation; workers: number }[] {
  return settings.isolations.flatMap((isolation) => settings.workers.map((workers) => ({ isolation, workers })));
}

/** The relay's generated TLS identity for "localhost", which the floor server borrows. */
function tlsFiles(relay: RunningRelay): { certPath: string; keyPath: string } {
  return { certPath: join(relay.dir, "state/tls/cert.pem"), keyPath: join(relay.dir, "state/tls/key.pem") };
}

/** A load generator connected to `server` (a relay, or the floor server with the relay's certificate). */
async function loadWorker(server: { host: string; port: number; certPath: string }, token: SoftHsmToken, connections: number) {
  const load = startWorker<LoadMethods>(join(HERE, "load.js"), process.env, "load generator");
  await load.call("connect", {
    host: server.host,
    port: server.port,
    ca: await readFile(server.certPath, "utf8"),
    username: token.label,
    password: token.pin,
    count: connections,
  });
  return load;
}

/** Creates the benchmark's keys through a relay; resolves to their private keys' Unique Identifiers. */
async function createKeys(token: SoftHsmToken, algorithms: AlgorithmName[]): Promise<Record<string, string>> {
  const relay = await startRelay(token, "in-process", []);
  try {
    const load = await loadWorker({ ...relay, ...tlsFiles(relay) }, token, 1);
    try {
      return await load.call("createKeys", algorithms);
    } finally {
      await load.close();
    }
  } finally {
    await relay.stop();
  }
}

/** A relay under test: its process, the load generator driving it, and what was measured. */
interface RelayUnderTest {
  readonly isolation: Isolation;
  readonly workers: number;
  readonly relay: RunningRelay;
  readonly pids: MeasuredPids;
  readonly load: Worker<LoadMethods>;
  readonly idle: IdleResult;
  readonly rows: ModeResults["rows"];
}

/**
 * Every measurement but the codec's. All the processes are started first
 * (each relay's idle connections measured while it is fresh), then each
 * scenario runs on direct, the floor and every relay back to back, so that
 * the ratios compare figures taken seconds apart: on a shared machine the
 * speed drifts over minutes. Fairness runs last, relay by relay.
 */
async function measureAll(
  token: SoftHsmToken,
  settings: Settings,
  keys: Record<string, string>,
): Promise<Pick<BenchResults, "direct" | "floor" | "modes">> {
  const stops: (() => Promise<unknown>)[] = [];
  try {
    const relays: RelayUnderTest[] = [];
    for (const { isolation, workers } of variants(settings)) {
      const relay = await startRelay(token, isolation, settings.pkcs11, undefined, workers);
      stops.push(() => relay.stop());
      const pids = pidsOf(relay, isolation, workers);
      const load = await loadWorker({ ...relay, ...tlsFiles(relay) }, token, 0);
      stops.push(() => load.close());
      // First, on the fresh relay: after the load scenarios its heap has grown and would blur what connections cost.
      const idle = await load.call("idle", { ...pids, count: settings.idleConnections });
      log(`${modeName({ isolation, workers })}: ${idle.connections} idle connections: relay RSS ${(idle.relayRssAfter / 2 ** 20).toFixed(0)} MiB`);
      relays.push({ isolation, workers, relay, pids, load, idle, rows: [] });
    }

    const tokenArgs = { modulePath: token.modulePath, tokenLabel: token.label, pin: token.pin };
    const direct = startWorker<DirectMethods>(join(HERE, "direct.js"), token.env, "direct pkcs11js");
    stops.push(() => direct.close());
    await direct.call("open", tokenArgs);
    stops.push(() => direct.call("close", undefined));

    // The floor answers with the relay's own replies; any relay gives the same bytes.
    const sampler = relays[0]!;
    const replies: Uint8Array[] = [];
    for (const scenario of scenarios(settings)) replies.push(await sampler.load.call("sample", { scenario, keyId: keys[scenario.algorithm]! }));
    const files = tlsFiles(sampler.relay);
    const floor = startWorker<FloorMethods>(join(HERE, "floor.js"), token.env, "floor server");
    stops.push(() => floor.close());
    const port = await floor.call("start", { ...files, token: tokenArgs });
    stops.push(() => floor.call("stop", undefined));
    const floorLoad = await loadWorker({ host: "127.0.0.1", port, certPath: files.certPath }, token, 0);
    stops.push(() => floorLoad.close());

    const results: Pick<BenchResults, "direct" | "floor"> = { direct: [], floor: [] };
    for (const [index, scenario] of scenarios(settings).entries()) {
      const keyId = keys[scenario.algorithm]!;
      const window = { warmupMs: settings.warmupMs, measureMs: settings.measureMs };
      const d = await direct.call("run", { scenario, keyId, ...window });
      results.direct.push({ scenario, result: d });
      await floor.call("configure", { reply: replies[index]!, algorithm: scenario.algorithm, keyId, batch: scenario.batch, connections: scenario.connections, form: d.mode });
      const f = await floorLoad.call("run", { relayPid: floor.pid, scenario, keyId, ...window });
      results.floor.push({ scenario, result: f });
      const line = [`direct ${Math.round(d.opsPerSecond)} signs/s (${d.mode}) p50 ${Math.round(d.p50Us)} us`, `floor ${Math.round(f.opsPerSecond)} / ${Math.round(f.p50Us)} us`];
      for (const r of relays) {
        const result = await r.load.call("run", { ...r.pids, scenario, keyId, ...window });
        r.rows.push({ scenario, relay: result });
        line.push(`${r.isolation}/${r.workers}w ${Math.round(result.opsPerSecond)} / ${Math.round(result.p50Us)} us`);
      }
      log(`${describe(scenario)}: ${line.join("; ")}`);
    }

    const modes: ModeResults[] = [];
    for (const r of relays) {
      const fairness = await r.load.call("fairness", { ...r.pids, ...settings.fairness, keyId: keys["ECDSA P-256"]!, warmupMs: settings.warmupMs, measureMs: settings.measureMs });
      const p99s = fairness.rounds.map((round) => `${Math.round(round.baseline.p99Us)} -> ${Math.round(round.duringKeyGeneration.p99Us)}`);
      log(`${modeName(r)}: fairness: p99 alone -> during key generation, us: ${p99s.join(", ")}`);
      modes.push({ isolation: r.isolation, workers: r.workers, rows: r.rows, fairness, idle: r.idle });
    }
    return { ...results, modes };
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  }
}

function codecTable(): string {
  return execFileSync(process.execPath, [join(HERE, "codec.js")], { encoding: "utf8" }).trim();
}

/**
 * --profile DIR: the relay under ECDSA P-256 load (batches of 32 over the
 * largest connection count) with V8's sampling profiler, per isolation mode;
 * writes the .cpuprofile files and a summary of each to DIR.
 */
async function profile(token: SoftHsmToken, settings: Settings, keys: Record<string, string>, dir: string): Promise<void> {
  for (const { isolation, workers } of variants(settings)) {
    const profileDir = join(dir, workers === 1 ? isolation : `${isolation}-${workers}-workers`);
    await mkdir(profileDir, { recursive: true });
    const relay = await startRelay(token, isolation, settings.pkcs11, profileDir, workers);
    const scenario: Scenario = { algorithm: "ECDSA P-256", connections: Math.max(...settings.connections), batch: Math.max(...settings.batches) };
    let window: [number, number];
    try {
      const pids = pidsOf(relay, isolation, workers);
      const load = await loadWorker({ ...relay, ...tlsFiles(relay) }, token, scenario.connections);
      try {
        const result = await load.call("run", { ...pids, scenario, keyId: keys[scenario.algorithm]!, warmupMs: settings.warmupMs, measureMs: settings.measureMs });
        log(`profile ${modeName({ isolation, workers })}: ${describe(scenario)}: ${Math.round(result.opsPerSecond)} signs/s under the profiler`);
        window = result.windowUs;
      } finally {
        await load.close();
      }
    } finally {
      await relay.stop();
    }
    for (const file of (await readdir(profileDir)).filter((f) => f.endsWith(".cpuprofile"))) {
      const summary = formatProfileSummary(summarizeCpuProfile(join(profileDir, file), 25, window));
      const title = `# ${modeName({ isolation, workers })}: ${file}, ${describe(scenario)}, the measured ${settings.measureMs} ms only`;
      await writeFile(join(profileDir, file.replace(/\.cpuprofile$/, ".md")), `${title}\n\n${summary}\n`);
      log(`profile: ${join(profileDir, file)} (summary next to it, .md)`);
    }
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const { values, quick, settings } = parseCommandLine(argv);
  if (values.help) {
    process.stdout.write(
      "usage: node dist/bench/run.js [--quick] [--seconds S] [--out DIR] [--profile DIR] [--isolation in-process,process]\n" +
        '       [--algorithms "ECDSA P-256,Ed25519,RSA-2048"] [--connections 1,4,16] [--batches 1,32] [--idle-connections N]\n' +
        '       [--workers 1,2] [--cascade on|off] [--pkcs11 "KEY = VALUE" ...]\n',
    );
    return;
  }
  const started = process.hrtime.bigint();
  const machine = await machineFacts();
  const token = await createSoftHsmToken({ label: "kmip2pkcs11-bench" });
  try {
    const keys = await createKeys(token, ALGORITHM_NAMES.filter((name) => settings.algorithms.includes(name) || name === "ECDSA P-256"));
    if (values.profile !== undefined) {
      await profile(token, settings, keys, resolve(values.profile));
      return;
    }
    const { direct, floor, modes } = await measureAll(token, settings, keys);
    const results: BenchResults = {
      command: commandLine(argv),
      startedAt: new Date().toISOString(),
      durationSeconds: 0,
      quick,
      settings,
      machine,
      direct,
      floor,
      modes,
    };
    if (!quick) results.codec = codecTable();
    machine.loadAverageAfter = loadavg();
    results.durationSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    const out = values.out !== undefined ? resolve(values.out) : quick ? await mkdtemp(join(tmpdir(), "kmip2pkcs11-bench-")) : join(REPO, "bench/results");
    await mkdir(out, { recursive: true });
    const report = markdownReport(results);
    await writeFile(join(out, "results.json"), JSON.stringify(results, null, 2) + "\n");
    await writeFile(join(out, "report.md"), report);
    await writeFile(join(out, "chart.svg"), svgChart(results));
    process.stdout.write(report);
    log(`wrote ${join(out, "report.md")}, chart.svg and results.json in ${results.durationSeconds.toFixed(0)} s`);
  } finally {
    await token.cleanup();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
