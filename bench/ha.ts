// The HA benchmark (issue #8): Sign throughput through HAProxy with one and
// with two relays behind it, as ratios to one relay without HAProxy, all in
// the same run. Two relays on one token serve three targets at once:
//
//   direct  clients connect to relay 1 itself
//   ha-1    HAProxy (deploy/haproxy/haproxy.cfg) with relay 1 alone
//   ha-2    HAProxy with relays 1 and 2 (leastconn spreads the connections)
//
// Each scenario runs on the three targets in turn, `rounds` times, rotating
// the order; the median of the rounds is reported. The load generator is
// bench/load.ts in its own process, one per target. HAProxy's CPU time per
// 1,000 signatures is reported too.
//
//   node dist/bench/ha.js [--quick] [--seconds S] [--rounds N] [--connections C]
//       [--batches 1,32] [--algorithms "ECDSA P-256,RSA-2048"] [--out DIR]
import { execFileSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { cpus } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createSoftHsmToken } from "../test/helpers/softhsm.js";
import { ALGORITHM_NAMES, median, type AlgorithmName, type MeasuredPids, type Scenario } from "./common.js";
import { startHaproxy, startRelayPool } from "./ha-pool.js";
import type { LoadMethods } from "./load.js";
import { startWorker, type Worker } from "./worker.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const TARGETS = ["direct", "ha-1", "ha-2"] as const;
type TargetName = (typeof TARGETS)[number];

interface Target {
  readonly name: TargetName;
  readonly load: Worker<LoadMethods>;
  /** The process whose CPU time is read: the relay (direct) or HAProxy. */
  readonly pids: MeasuredPids;
}

export interface HaRow {
  readonly scenario: Scenario;
  /** Median signatures per second over the rounds, per target. */
  readonly opsPerSecond: Record<TargetName, number>;
  /** Every round's figure, per target, to judge the noise by. */
  readonly samples: Record<TargetName, number[]>;
  /** Median CPU milliseconds of HAProxy per 1,000 signatures (ha-1, ha-2). */
  readonly haproxyCpuMsPer1000: Record<"ha-1" | "ha-2", number>;
}

const log = (line: string) => process.stderr.write(`bench ha: ${line}\n`);

function parseCommandLine(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: "boolean", default: false },
      seconds: { type: "string" },
      rounds: { type: "string" },
      connections: { type: "string" },
      batches: { type: "string" },
      algorithms: { type: "string" },
      out: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const positive = (value: string | undefined, fallback: number, name: string) => {
    const n = value === undefined ? fallback : Number(value);
    if (!(n > 0)) throw new Error(`--${name}: "${value}" is not a positive number`);
    return n;
  };
  const algorithms = (values.algorithms?.split(",").map((s) => s.trim()) ?? ["ECDSA P-256", "RSA-2048"]) as AlgorithmName[];
  for (const a of algorithms) if (!ALGORITHM_NAMES.includes(a)) throw new Error(`--algorithms: "${a}" is not one of ${ALGORITHM_NAMES.join(", ")}`);
  return {
    help: values.help,
    out: values.out,
    warmupMs: values.quick ? 200 : 500,
    measureMs: Math.round(positive(values.seconds, values.quick ? 0.5 : 2, "seconds") * 1000),
    rounds: Math.round(positive(values.rounds, values.quick ? 1 : 3, "rounds")),
    // Enough connections that two relays each get several (leastconn splits them evenly).
    connections: Math.round(positive(values.connections, 8, "connections")),
    batches: (values.batches ?? "1,32").split(",").map((b) => Math.round(positive(b, 1, "batches"))),
    algorithms,
  };
}

function haproxyVersion(): string {
  return /version (\S+)/.exec(execFileSync("haproxy", ["-v"], { encoding: "utf8" }))?.[1] ?? "unknown";
}

function markdown(rows: HaRow[], settings: ReturnType<typeof parseCommandLine>, seconds: number): string {
  const ratio = (row: HaRow, target: TargetName) => (row.opsPerSecond[target] / row.opsPerSecond.direct).toFixed(2);
  const lines = [
    "# Sign throughput behind HAProxy",
    "",
    `${cpus().length} cores (${cpus()[0]?.model ?? "unknown CPU"}), Node ${process.version}, HAProxy ${haproxyVersion()}; ` +
      `${settings.connections} connections, median of ${settings.rounds} round(s) of ${settings.measureMs / 1000} s; run took ${seconds.toFixed(0)} s.`,
    "Ratios are to one relay without HAProxy (direct). HAProxy CPU is milliseconds per 1,000 signatures.",
    "",
    "| algorithm | batch | direct signs/s | HAProxy + 1 relay | ratio | HAProxy + 2 relays | ratio | HAProxy CPU (1 / 2 relays) |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
    ...rows.map(
      (row) =>
        `| ${row.scenario.algorithm} | ${row.scenario.batch} | ${Math.round(row.opsPerSecond.direct)} | ${Math.round(row.opsPerSecond["ha-1"])} | ${ratio(row, "ha-1")} | ` +
        `${Math.round(row.opsPerSecond["ha-2"])} | ${ratio(row, "ha-2")} | ${row.haproxyCpuMsPer1000["ha-1"].toFixed(1)} / ${row.haproxyCpuMsPer1000["ha-2"].toFixed(1)} |`,
    ),
    "",
  ];
  return lines.join("\n");
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const settings = parseCommandLine(argv);
  if (settings.help) {
    process.stdout.write(
      'usage: node dist/bench/ha.js [--quick] [--seconds S] [--rounds N] [--connections C] [--batches 1,32] [--algorithms "ECDSA P-256,RSA-2048"] [--out DIR]\n',
    );
    return;
  }
  const started = process.hrtime.bigint();
  const token = await createSoftHsmToken({ label: "kmip2pkcs11-bench-ha" });
  const pool = await startRelayPool({ relays: 2, token, checkInterval: "2s" });
  const [relay1] = pool.relays;
  const alone = await startHaproxy({ servers: pool.servers().slice(0, 1), caPath: pool.caPath, checkInterval: "2s" });
  const targets: Target[] = [];
  try {
    const endpoints: Record<TargetName, { port: number; pid: number }> = {
      direct: { port: relay1!.port, pid: relay1!.process.pid! },
      "ha-1": { port: alone.port, pid: alone.pid },
      "ha-2": { port: pool.haproxy.port, pid: pool.haproxy.pid },
    };
    for (const name of TARGETS) {
      const load = startWorker<LoadMethods>(join(HERE, "load.js"), process.env, `load generator (${name})`);
      targets.push({ name, load, pids: { relayPid: endpoints[name].pid } });
      await load.call("connect", {
        host: "127.0.0.1",
        port: endpoints[name].port,
        ca: pool.ca,
        username: token.label,
        password: token.pin,
        count: settings.connections,
      });
    }
    const keys = await targets[0]!.load.call("createKeys", settings.algorithms);

    // One untimed run per target first: the relays' JIT and the TLS sessions warm up before anything is measured.
    for (const target of targets) {
      const scenario: Scenario = { algorithm: settings.algorithms[0]!, connections: settings.connections, batch: settings.batches[0]! };
      await target.load.call("run", { ...target.pids, scenario, keyId: keys[scenario.algorithm]!, warmupMs: 0, measureMs: settings.warmupMs * 2 });
    }

    const rows: HaRow[] = [];
    for (const algorithm of settings.algorithms) {
      for (const batch of settings.batches) {
        const scenario: Scenario = { algorithm, connections: settings.connections, batch };
        const ops: Record<TargetName, number[]> = { direct: [], "ha-1": [], "ha-2": [] };
        const cpu: Record<"ha-1" | "ha-2", number[]> = { "ha-1": [], "ha-2": [] };
        for (let round = 0; round < settings.rounds; round++) {
          // Rotate the order, so that no target always runs first (or right after another's load).
          for (let k = 0; k < targets.length; k++) {
            const target = targets[(round + k) % targets.length]!;
            const result = await target.load.call("run", {
              ...target.pids,
              scenario,
              keyId: keys[algorithm]!,
              warmupMs: settings.warmupMs,
              measureMs: settings.measureMs,
            });
            ops[target.name].push(result.opsPerSecond);
            if (target.name !== "direct") cpu[target.name].push((result.cpu.relay * 1e6) / (result.opsPerSecond * result.seconds));
          }
        }
        const row: HaRow = {
          scenario,
          opsPerSecond: { direct: median(ops.direct), "ha-1": median(ops["ha-1"]), "ha-2": median(ops["ha-2"]) },
          samples: ops,
          haproxyCpuMsPer1000: { "ha-1": median(cpu["ha-1"]), "ha-2": median(cpu["ha-2"]) },
        };
        log(
          `${algorithm}, batch ${batch}: direct ${Math.round(row.opsPerSecond.direct)}, ha-1 ${Math.round(row.opsPerSecond["ha-1"])}, ` +
            `ha-2 ${Math.round(row.opsPerSecond["ha-2"])} signs/s`,
        );
        rows.push(row);
      }
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const report = markdown(rows, settings, seconds);
    process.stdout.write(report);
    if (settings.out !== undefined) {
      const out = resolve(settings.out);
      await mkdir(out, { recursive: true });
      await writeFile(join(out, "ha.md"), report);
      await writeFile(join(out, "ha.json"), JSON.stringify({ command: `node dist/bench/ha.js ${argv.join(" ")}`.trim(), settings, seconds, rows }, null, 2) + "\n");
      log(`wrote ${join(out, "ha.md")} and ha.json`);
    }
  } finally {
    await Promise.all(targets.map((target) => target.load.close()));
    await alone.stop();
    await pool.close();
    await token.cleanup();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench ha: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
