// The compiled test files to run, from the test sources (so a test file that
// was moved or deleted, but whose old build output is still in dist/, is not
// run). `unit` leaves out the end-to-end tests; `all` (the default) lists every
// test.
//
// The rule, by place and name, so that no list needs keeping: a test is
// end-to-end when it lives under test/e2e/ or its name ends in .e2e.test.ts.
// End-to-end tests need what a unit test must not: a real PKCS#11 module
// (SoftHSM), a relay process, a C compiler, or another Debian package.
// Everything else is a unit test: node and the npm packages only, no root, no
// network beyond loopback sockets of its own.
import { readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(import.meta.dirname, "..");

/** Every `*.test.ts` under `dir`, relative to the project root, sorted. */
export function testSources(dir = join(ROOT, "test")) {
  const found = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...testSources(path));
    else if (entry.name.endsWith(".test.ts")) found.push(relative(ROOT, path));
  }
  return found.sort();
}

/** Whether a test source (relative path) is end-to-end. */
export function isEndToEnd(source) {
  return source.startsWith("test/e2e/") || source.endsWith(".e2e.test.ts");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const which = process.argv[2] ?? "all";
  if (which !== "unit" && which !== "all") {
    console.error("usage: node scripts/test-files.mjs [unit|all]");
    process.exit(2);
  }
  const sources = testSources().filter((s) => which === "all" || !isEndToEnd(s));
  for (const source of sources) console.log(join("dist", source.replace(/\.ts$/, ".js")));
}
