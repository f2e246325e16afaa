#!/usr/bin/env node
// Builds the man pages: doc/man/<page>.in -> dist/man/<page>. Run after tsc
// (`npm run build`), since it reads the compiled config and metrics modules.
//
// The sources are roff with these fields filled in here:
//   @VERSION@              package.json "version"
//   @DATE@                 SOURCE_DATE_EPOCH (reproducible builds) or today, YYYY-MM-DD
//   @DEFAULT section.key@  DEFAULTS in src/config/defaults.ts, as TOML ("key-name" in
//                          kebab case, as in the config file)
//   @METRICS@              the relay's metrics (src/server/metrics.ts): name, type, labels, help
// so that the documented defaults and metrics cannot drift from the code: a
// field naming no default, or a default that no page documents, fails the build.
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { URL } from "node:url";

const root = new URL("../", import.meta.url);
const { DEFAULTS } = await import(new URL("dist/src/config/defaults.js", root).href);
const { RelayMetrics } = await import(new URL("dist/src/server/metrics.js", root).href);
const { version } = JSON.parse(await readFile(new URL("package.json", root), "utf8"));

const epoch = process.env.SOURCE_DATE_EPOCH;
const date = (epoch === undefined ? new Date() : new Date(Number(epoch) * 1000)).toISOString().slice(0, 10);

/** Text for roff: backslashes and hyphens escaped (a "-" in roff may print as a hyphen, not a minus). */
function roff(text) {
  return text.replaceAll("\\", "\\e").replaceAll("-", "\\-");
}

/** A default as it is written in the config file. */
function toml(value) {
  if (typeof value === "string") return `"${value}"`;
  if (Array.isArray(value)) return `[${value.map(toml).join(", ")}]`;
  if (typeof value === "object" && value !== null) {
    return `{ ${Object.entries(value)
      .map(([k, v]) => `${k} = ${toml(v)}`)
      .join(", ")} }`;
  }
  return String(value);
}

/** Every documented leaf of DEFAULTS: "pkcs11.call-timeout" -> 60. A table of values (log-target) is one leaf. */
function leaves(table, prefix = "") {
  const out = new Map();
  for (const [key, value] of Object.entries(table)) {
    const name = prefix + key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    const isSection = typeof value === "object" && value !== null && !Array.isArray(value) && !("type" in value);
    if (isSection) for (const [k, v] of leaves(value, `${name}.`)) out.set(k, v);
    else out.set(name, value);
  }
  return out;
}

function metricsList() {
  return new RelayMetrics().registry
    .getMetricsAsArray()
    .map((m) => {
      const labels = m.labelNames.length === 0 ? "" : `; labels: ${m.labelNames.join(", ")}`;
      return `.TP\n.B ${roff(m.name)}\n(${roff(m.type + labels)})\n${roff(m.help)}.`;
    })
    .join("\n");
}

const defaults = leaves(DEFAULTS);
const used = new Set();
const problems = [];
const sources = (await readdir(new URL("doc/man/", root))).filter((f) => f.endsWith(".in"));
await mkdir(new URL("dist/man/", root), { recursive: true });
for (const source of sources) {
  const text = await readFile(new URL(`doc/man/${source}`, root), "utf8");
  const page = text.replace(/@([A-Z]+)(?: ([a-z0-9.-]+))?@/g, (field, name, key) => {
    if (name === "VERSION") return roff(version);
    if (name === "DATE") return date;
    if (name === "METRICS") return metricsList();
    if (name === "DEFAULT" && defaults.has(key)) {
      used.add(key);
      return `\\fB${roff(toml(defaults.get(key)))}\\fP`;
    }
    problems.push(`${source}: ${field} names nothing known`);
    return field;
  });
  await writeFile(new URL(`dist/man/${source.slice(0, -".in".length)}`, root), page);
}
for (const key of defaults.keys()) {
  if (!used.has(key)) problems.push(`the default of ${key} (DEFAULTS in src/config/defaults.ts) is in no man page: add @DEFAULT ${key}@`);
}
if (problems.length > 0) {
  process.stderr.write(`build-man: ${problems.join("\nbuild-man: ")}\n`);
  process.exit(1);
}
