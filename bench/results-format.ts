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
  /** `[server] workers` of the relays measured: every isolation mode with each count. */
  readonly workers: number[];
  /** Whether the Cascade-shaped scenarios ran: batch 1 over 10 connections, ECDSA P-256 and RSA-2048. */
  readonly cascade: boolean;
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
  /** `[server] workers` (1: no supervisor, the relay of old). */
  readonly workers: number;
  readonly rows: { scenario: Scenario; relay: RelayResult }[];
  readonly fairness: FairnessResult;
  readonly idle: IdleResult;
}

/** How a relay variant is named in the report and the log. */
export function modeName(mode: { isolation: Isolation; workers: number }): string {
  return `isolation = "${mode.isolation}", workers = ${mode.workers}`;
}

/** Cascade's shape: its signer sends one Sign per request over a pool of 10 connections. */
export const CASCADE_CONNECTIONS = 10;
export const CASCADE_ALGORITHMS = ["ECDSA P-256", "RSA-2048"] as const;

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
