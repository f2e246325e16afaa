// Summarises a V8 .cpuprofile (what `node --cpu-prof` and
// cpu-profile-hook.ts write): the functions with the most self time, and the
// relay's own functions with the most inclusive time (each function counted
// once per sample, so recursion such as the TTLV decoder's is not counted
// twice). Run: node dist/bench/profile.js FILE.cpuprofile [TOP]
import { readFileSync } from "node:fs";
import { relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}

interface CpuProfile {
  /** Microseconds of the monotonic clock, the one process.hrtime reads. */
  readonly startTime: number;
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

const REPO = fileURLToPath(new URL("../..", import.meta.url));

/** "name (file:line)", with file paths relative to the repository and dist/ dropped. */
function frameName(node: ProfileNode): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const name = functionName === "" ? "(anonymous)" : functionName;
  if (url === "") return name;
  const file = url.startsWith("file://") ? relative(REPO, fileURLToPath(url)).replace(/^dist\//, "").replace(/\.js$/, ".ts") : url;
  // lineNumber is 0-based; compiled line numbers, which stay close to the .ts ones.
  return `${name} (${file}:${lineNumber + 1})`;
}

export interface ProfileSummary {
  /** Sampled milliseconds, idle included. */
  readonly totalMs: number;
  readonly idleMs: number;
  /** [frame, milliseconds] by self time, highest first. */
  readonly self: [string, number][];
  /** [frame, milliseconds] of the project's own functions (src/), by inclusive time. */
  readonly inclusive: [string, number][];
}

/**
 * `window`: [start, end] in microseconds of the monotonic clock (process.hrtime
 * in any process of the machine); only samples taken in it count, so that
 * start-up and shutdown do not blur a measured scenario.
 */
export function summarizeCpuProfile(path: string, top = 25, window?: readonly [number, number]): ProfileSummary {
  const profile = JSON.parse(readFileSync(path, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const names = new Map(profile.nodes.map((node) => [node.id, frameName(node)]));

  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    const us = profile.timeDeltas[i] ?? 0;
    at += us;
    if (window !== undefined && (at < window[0] || at > window[1])) continue;
    totalUs += us;
    const name = names.get(id)!;
    if (byId.get(id)!.callFrame.functionName === "(idle)") idleUs += us;
    self.set(name, (self.get(name) ?? 0) + us);
    const seen = new Set<string>();
    for (let node: number | undefined = id; node !== undefined; node = parent.get(node)) {
      const frame = names.get(node)!;
      if (!frame.includes("(src/") || seen.has(frame)) continue;
      seen.add(frame);
      inclusive.set(frame, (inclusive.get(frame) ?? 0) + us);
    }
  }
  const ranked = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]): [string, number] => [name, us / 1000]);
  return { totalMs: totalUs / 1000, idleMs: idleUs / 1000, self: ranked(self), inclusive: ranked(inclusive) };
}

/** The summary as two markdown tables, shares of the busy (non-idle) time. */
export function formatProfileSummary(summary: ProfileSummary): string {
  const busy = summary.totalMs - summary.idleMs;
  const share = (ms: number) => `${((100 * ms) / busy).toFixed(1)}%`;
  const table = (title: string, rows: [string, number][]) =>
    [`| ${title} | ms | share of busy |`, "|---|---:|---:|", ...rows.map(([name, ms]) => `| ${name.replace(/\|/g, "\\|")} | ${ms.toFixed(0)} | ${share(ms)} |`)].join("\n");
  return [
    `Sampled ${summary.totalMs.toFixed(0)} ms, of which idle ${summary.idleMs.toFixed(0)} ms (busy ${busy.toFixed(0)} ms).`,
    "",
    table("self time", summary.self),
    "",
    table("inclusive time, project functions", summary.inclusive),
  ].join("\n");
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [path, top] = process.argv.slice(2);
  if (path === undefined) {
    process.stderr.write("usage: node dist/bench/profile.js FILE.cpuprofile [TOP]\n");
    process.exit(2);
  }
  console.log(formatProfileSummary(summarizeCpuProfile(path, top === undefined ? 25 : Number(top))));
}
