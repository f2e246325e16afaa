// What the benchmark's processes share: the algorithms signed, the scenario
// and result shapes exchanged over IPC, latency statistics and CPU times read
// from /proc.
import { readFileSync, readdirSync } from "node:fs";
import { CKM_ECDSA, CKM_EDDSA, CKM_RSA_PKCS } from "../src/hsm/mechanisms.js";
import type { CryptographicParameters } from "../src/kmip/attributes.js";
import { CryptographicAlgorithm, HashingAlgorithm, PaddingMethod } from "../src/ttlv/enums.js";

export const ALGORITHM_NAMES = ["ECDSA P-256", "Ed25519", "RSA-2048"] as const;
export type AlgorithmName = (typeof ALGORITHM_NAMES)[number];

export interface Algorithm {
  readonly name: AlgorithmName;
  /** Create Key Pair common template: Cryptographic Algorithm and Length. */
  readonly cryptographicAlgorithm: number;
  readonly cryptographicLength?: number;
  /** The Cryptographic Parameters of each Sign request, as Cascade sends them (doc/compatibility.md#what-cascade-sends). */
  readonly parameters: CryptographicParameters;
  /** The PKCS#11 mechanism the relay uses for it (doc/compatibility.md#sign), which the direct path uses too. */
  readonly mechanism: number;
  /** How the relay turns Data into what the mechanism signs. */
  readonly prepare: "sha256" | "sha256-digest-info" | "message";
}

export const ALGORITHMS: Readonly<Record<AlgorithmName, Algorithm>> = {
  "ECDSA P-256": {
    name: "ECDSA P-256",
    cryptographicAlgorithm: CryptographicAlgorithm.ECDSA,
    cryptographicLength: 256,
    parameters: { hashingAlgorithm: HashingAlgorithm.SHA256, cryptographicAlgorithm: CryptographicAlgorithm.ECDSA },
    mechanism: CKM_ECDSA,
    prepare: "sha256",
  },
  Ed25519: {
    name: "Ed25519",
    cryptographicAlgorithm: CryptographicAlgorithm.Ed25519,
    parameters: { cryptographicAlgorithm: CryptographicAlgorithm.Ed25519 },
    mechanism: CKM_EDDSA,
    prepare: "message",
  },
  "RSA-2048": {
    name: "RSA-2048",
    cryptographicAlgorithm: CryptographicAlgorithm.RSA,
    cryptographicLength: 2048,
    parameters: {
      paddingMethod: PaddingMethod.Pkcs1v15,
      hashingAlgorithm: HashingAlgorithm.SHA256,
      cryptographicAlgorithm: CryptographicAlgorithm.RSA,
    },
    mechanism: CKM_RSA_PKCS,
    prepare: "sha256-digest-info",
  },
};

/** Bytes of Data per signature: about one DNSSEC RRset with its RRSIG RDATA prefix, as Cascade signs it. */
export const DATA_LENGTH = 100;
/** Distinct messages each load loop cycles through, so no two consecutive requests are the same bytes. */
export const DISTINCT_MESSAGES = 8;

/** One load scenario: `connections` closed loops, each with one request of `batch` Sign items in flight. */
export interface Scenario {
  readonly algorithm: AlgorithmName;
  readonly connections: number;
  readonly batch: number;
}

export interface LatencySummary {
  /** Requests completed in the measured window. */
  readonly requests: number;
  /** Signatures per second. */
  readonly opsPerSecond: number;
  /** Request latency in microseconds. */
  readonly p50Us: number;
  readonly p99Us: number;
}

/** CPU seconds (user + system) of processes over the measured window. */
export interface CpuTimes {
  /** The relay process. */
  readonly relay: number;
  /** The part of `relay` spent in the kernel (system time): TLS over loopback TCP is mostly that. */
  readonly relaySystem: number;
  /** The module's child process (isolation = "process"), 0 otherwise. */
  readonly module: number;
  /** The load generator itself. */
  readonly client: number;
}

export interface RelayResult extends LatencySummary {
  readonly cpu: CpuTimes;
  /** Wall-clock seconds of the measured window. */
  readonly seconds: number;
  /** The window as [start, end] microseconds of the monotonic clock (process.hrtime), to cut profiles to it. */
  readonly windowUs: [number, number];
}

export interface DirectResult extends LatencySummary {
  /** The faster pkcs11js form for this scenario, whose figures these are. */
  readonly mode: "sync" | "async";
  /** CPU time (user + system, all threads) of the direct process per signature, in microseconds. */
  readonly cpuPerSignUs: number;
  /** Signatures per second of the other form, for the record. */
  readonly otherOpsPerSecond: number;
}

/** The middle value (the mean of the two middle ones for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Linear-interpolated percentile of sorted values (p in 0..100). */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = (p / 100) * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.min(low + 1, sorted.length - 1);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (rank - low);
}

/** Latencies of one window, appended without per-sample allocation. */
export class LatencyRecorder {
  private samples = new Float64Array(1 << 16);
  private count = 0;

  /** A latency in nanoseconds (hrtime.bigint difference). */
  add(nanoseconds: bigint): void {
    if (this.count === this.samples.length) {
      const grown = new Float64Array(this.samples.length * 2);
      grown.set(this.samples);
      this.samples = grown;
    }
    this.samples[this.count++] = Number(nanoseconds) / 1000;
  }

  get size(): number {
    return this.count;
  }

  summary(items: number, seconds: number): LatencySummary {
    const sorted = this.samples.slice(0, this.count).sort();
    return { requests: this.count, opsPerSecond: items / seconds, p50Us: percentile(sorted, 50), p99Us: percentile(sorted, 99) };
  }
}

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ on Linux, what /proc/<pid>/stat counts in

/** CPU seconds of a process and all its threads: user (utime) and kernel (stime), proc(5) /proc/<pid>/stat fields 14 and 15. */
export function processCpuSeconds(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) is in parentheses and may contain spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { user: Number(fields[11]) / CLOCK_TICKS_PER_SECOND, system: Number(fields[12]) / CLOCK_TICKS_PER_SECOND };
}

/** Resident set size of a process in bytes (VmRSS of /proc/<pid>/status). */
export function residentBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (match === null) throw new Error(`/proc/${pid}/status has no VmRSS line`);
  return Number(match[1]) * 1024;
}

/**
 * Unique set size of a process in bytes: its resident pages that no other
 * process shares (Private_Clean + Private_Dirty of /proc/<pid>/smaps_rollup).
 * The relay's RSS plus its module process's USS is their memory together,
 * without counting the Node.js binary twice.
 */
export function uniqueBytes(pid: number): number {
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
  let kB = 0;
  for (const match of rollup.matchAll(/^Private_(?:Clean|Dirty):\s+(\d+) kB$/gm)) kB += Number(match[1]);
  return kB * 1024;
}

/** Pids whose parent is `pid` (the relay's module process, when isolated). */
export function childPids(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) children.push(Number(entry));
    } catch {
      // The process ended while the list was read.
    }
  }
  return children;
}

/** The processes whose CPU time a measured window reports. */
export interface MeasuredPids {
  readonly relayPid: number;
  /** The module's child process, when the relay isolates it. */
  readonly modulePid?: number;
  /** With `[server] workers` > 1: the worker processes (counted as the relay), relayPid being their supervisor. */
  readonly workerPids?: readonly number[];
  /** With workers and isolation: the other workers' module processes. */
  readonly otherModulePids?: readonly number[];
}

/** CPU seconds of several processes together. */
function cpuSecondsOf(pids: readonly number[]): { user: number; system: number } {
  const sum = { user: 0, system: 0 };
  for (const pid of pids) {
    const { user, system } = processCpuSeconds(pid);
    sum.user += user;
    sum.system += system;
  }
  return sum;
}

/** Cumulative CPU seconds at one instant. */
interface CpuReading {
  readonly relay: number;
  readonly relaySystem: number;
  readonly module: number;
  readonly self: number;
}

/**
 * The measured window of a scenario: `warmupMs` after it is made, it starts
 * recording, and `measureMs` later it stops the loops. Timers set it and the
 * loops read it, so every loop sees the same window. CPU times of the
 * measured processes (when given) and of this process are read at both ends.
 */
export class Window {
  measuring = false;
  stopped = false;
  items = 0;
  readonly latencies = new LatencyRecorder();
  readonly done: Promise<void>;
  private startedAt = 0n;
  private endedAt = 0n;
  private cpuAtStart: CpuReading;
  private cpuAtEnd: CpuReading;

  constructor(
    private readonly pids: MeasuredPids | undefined,
    warmupMs: number,
    measureMs: number,
  ) {
    this.cpuAtStart = this.cpuAtEnd = this.cpu();
    this.done = (async () => {
      await sleep(warmupMs);
      this.cpuAtStart = this.cpu();
      this.startedAt = process.hrtime.bigint();
      this.measuring = true;
      await sleep(measureMs);
      this.measuring = false;
      this.stopped = true;
      this.endedAt = process.hrtime.bigint();
      this.cpuAtEnd = this.cpu();
    })();
  }

  /** Records a request of `items` signatures, started at `started`, that completed now, if it did so inside the window. */
  record(started: bigint, items: number): void {
    if (!this.measuring) return;
    this.latencies.add(process.hrtime.bigint() - started);
    this.items += items;
  }

  get seconds(): number {
    return Number(this.endedAt - this.startedAt) / 1e9;
  }

  summary(): LatencySummary {
    return this.latencies.summary(this.items, this.seconds);
  }

  result(): RelayResult {
    return {
      ...this.summary(),
      seconds: this.seconds,
      windowUs: [Number(this.startedAt / 1000n), Number(this.endedAt / 1000n)],
      cpu: {
        relay: this.cpuAtEnd.relay - this.cpuAtStart.relay,
        relaySystem: this.cpuAtEnd.relaySystem - this.cpuAtStart.relaySystem,
        module: this.cpuAtEnd.module - this.cpuAtStart.module,
        client: this.cpuAtEnd.self - this.cpuAtStart.self,
      },
    };
  }

  private cpu(): CpuReading {
    const self = process.cpuUsage();
    const p = this.pids;
    const relay = cpuSecondsOf(p === undefined ? [] : [p.relayPid, ...(p.workerPids ?? [])]);
    const module = cpuSecondsOf(p?.modulePid === undefined ? [] : [p.modulePid, ...(p.otherModulePids ?? [])]);
    return {
      relay: relay.user + relay.system,
      relaySystem: relay.system,
      module: module.user + module.system,
      self: (self.user + self.system) / 1e6,
    };
  }
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `op` run by `callers` loops during `ms`: how many, and the time taken (the last answers included). */
export async function slice(callers: number, ms: number, op: () => Promise<unknown> | unknown): Promise<{ count: number; ms: number }> {
  const started = performance.now();
  const end = started + ms;
  let count = 0;
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (performance.now() < end) {
        await op();
        count++;
      }
    }),
  );
  return { count, ms: performance.now() - started };
}
