// The shape of a benchmark run's results (bench/results/results.json): what
// run.ts measures and report.ts turns into tables and a chart.
import type { AlgorithmName, DirectResult, RelayResult, Scenario } from "./common.js";
import type { FairnessResult, IdleResult } from "./load.js";

export const ISOLATIONS = ["in-process", "process"] as const;
export type Isolation = (typeof ISOLATIONS)[number];

export interface Settings {
  readonly warmupMs: number;
  readonly measureMs: number;
  readonly algorithms: AlgorithmName[];
  readonly connections: number[];
  readonly batches: number[];
  readonly isolations: Isolation[];
  readonly fairness: { connections: number; ratePerConnection: number; keyGenerationBits: number; rounds: number };
  readonly idleConnections: number;
  /** Extra lines for the relays' [pkcs11] table (--pkcs11, repeatable), e.g. `sign-threads = 0`. */
  readonly pkcs11: string[];
}

export interface MachineFacts {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly kernel: string;
  readonly node: string;
  readonly softhsm: string;
  readonly pkcs11js: string;
  readonly commit: string;
  readonly uvThreadpoolSize: string;
  readonly loadAverageBefore: number[];
  loadAverageAfter: number[];
}

export interface ModeResults {
  readonly isolation: Isolation;
  readonly rows: { scenario: Scenario; relay: RelayResult }[];
  readonly fairness: FairnessResult;
  readonly idle: IdleResult;
}

export interface BenchResults {
  readonly command: string;
  readonly startedAt: string;
  durationSeconds: number;
  readonly quick: boolean;
  readonly settings: Settings;
  readonly machine: MachineFacts;
  readonly direct: { scenario: Scenario; result: DirectResult }[];
  /** The floor server (floor.ts) per scenario: the process boundary, TLS and the client, no KMIP work. */
  readonly floor: { scenario: Scenario; result: RelayResult }[];
  readonly modes: ModeResults[];
  /** The codec benchmark's table (bench/codec.ts), when it ran. */
  codec?: string;
}
