// Every reference to a Markdown file in the code (src/, test/, bench/,
// scripts/) and every link between the docs names a file that exists in the
// repository, and its #anchor a heading of that file. So a comment cannot
// cite a rule that lives outside the repository, or a section that was
// renamed away (doc/architecture.md#tests says where the rules live).
//
// What counts as a reference: in code, any `doc/<name>.md` (in a comment or a
// string, e.g. a test's name), and any other `<path>.md` in a comment; in
// Markdown, a link target. A path with a folder is resolved from the project
// root or from the citing file's folder; a bare file name must be the name of
// some Markdown file of the repository (bench/run.ts says "report.md").
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { basename, dirname, join, normalize } from "node:path";

// Compiled to dist/test/docs/: the project root is three levels up.
const ROOT = new URL("../../../", import.meta.url).pathname;
const CODE_DIRS = ["src", "test", "bench", "scripts"];
const CODE_FILE = /\.(ts|mjs|js|sh|c|py)$/;
const THIS_FILE = "test/docs/references.test.ts";
const SKIP_DIRS = new Set(["node_modules", "dist", ".git", ".state"]);

export interface Reference {
  /** The citing file, relative to the root. */
  readonly file: string;
  readonly line: number;
  /** The path as written, e.g. "doc/compatibility.md". */
  readonly path: string;
  /** The anchor without "#", if any. */
  readonly anchor?: string;
}

const MD_PATH = /(?<![\w./-])((?:\.{1,2}\/|[\w-]+\/)*[\w.-]*\w\.md)(?:#([\w-]+))?(?![\w/])/g;
const DOC_PATH = /(?<![\w./-])(doc\/[\w./-]*\w\.md)(?:#([\w-]+))?/g;
const MD_LINK = /\]\(([^)\s#]+\.md)(?:#([\w-]+))?\)|\]\(#([\w-]+)\)/g;

/** The comment part of a line of code, or "" when it has none. */
function commentOf(line: string): string {
  const trimmed = line.trimStart();
  if (trimmed.startsWith("*") || trimmed.startsWith("/*") || trimmed.startsWith("#")) return line;
  const slashes = line.indexOf("//");
  // "https://..." and the like are not comments.
  return slashes >= 0 && line[slashes - 1] !== ":" ? line.slice(slashes) : "";
}

/** The Markdown references in one file's text. */
export function findReferences(file: string, text: string): Reference[] {
  const found: Reference[] = [];
  text.split("\n").forEach((line, index) => {
    const at = (path: string, anchor: string | undefined) => found.push({ file, line: index + 1, path, ...(anchor ? { anchor } : {}) });
    if (file.endsWith(".md")) {
      for (const m of line.matchAll(MD_LINK)) {
        if (m[3] !== undefined) at(basename(file), m[3]);
        else if (!/^[a-z]+:/.test(m[1]!)) at(m[1]!, m[2]);
      }
      return;
    }
    const seen = new Set<number>();
    for (const m of line.matchAll(DOC_PATH)) {
      seen.add(m.index);
      at(m[1]!, m[2]);
    }
    const comment = commentOf(line);
    const offset = line.length - comment.length;
    for (const m of comment.matchAll(MD_PATH)) {
      if (!seen.has(offset + m.index)) at(m[1]!, m[2]);
    }
  });
  return found;
}

/** GitHub's anchors of a Markdown text's headings: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
export function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const counts = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split("\n")) {
    if (line.startsWith("```")) fenced = !fenced;
    const heading = fenced ? null : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading === null) continue;
    const slug = heading[1]!
      .toLowerCase()
      .replace(/`/g, "")
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .replace(/\s/g, "-");
    const n = counts.get(slug) ?? 0;
    counts.set(slug, n + 1);
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return anchors;
}

/** Files under `dir` (relative to ROOT) whose name passes `keep`. */
function walk(dir: string, keep: (name: string) => boolean): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    if (SKIP_DIRS.has(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...walk(path, keep));
    else if (keep(entry.name)) out.push(path);
  }
  return out;
}

/** What is wrong with each reference, given the repository's Markdown files (relative paths). */
export function problems(references: readonly Reference[], markdownFiles: readonly string[], read: (file: string) => string): string[] {
  const files = new Set(markdownFiles.map((f) => normalize(f)));
  const names = new Set(markdownFiles.map((f) => basename(f)));
  const out: string[] = [];
  for (const ref of references) {
    const where = `${ref.file}:${ref.line}: ${ref.path}${ref.anchor ? `#${ref.anchor}` : ""}`;
    let target: string | undefined;
    if (ref.path.includes("/")) {
      target = [normalize(ref.path), normalize(join(dirname(ref.file), ref.path))].find((p) => files.has(p));
    } else {
      const beside = normalize(join(dirname(ref.file), ref.path));
      if (files.has(beside)) target = beside;
      else if (names.has(ref.path)) {
        // A bare name of a file elsewhere: it exists, but which one an anchor means is unclear.
        if (ref.anchor !== undefined) out.push(`${where}: an anchor needs the file's path, not only its name`);
        continue;
      }
    }
    if (target === undefined) {
      out.push(`${where}: no such file in the repository`);
      continue;
    }
    if (ref.anchor !== undefined && !anchorsOf(read(target)).has(ref.anchor)) {
      out.push(`${where}: ${target} has no heading with that anchor`);
    }
  }
  return out;
}

describe("references to Markdown files", () => {
  const markdown = walk(".", (name) => name.endsWith(".md"));
  const read = (file: string) => readFileSync(join(ROOT, file), "utf8");

  test("every one in src/, test/, bench/, scripts/ and the docs names a file and heading that exist", () => {
    // This file is left out: its examples of broken references are meant to be broken.
    const code = CODE_DIRS.flatMap((dir) => walk(dir, (name) => CODE_FILE.test(name) || name.endsWith(".md"))).filter((f) => f !== THIS_FILE);
    const references = [...new Set([...code, ...markdown])].flatMap((file) => findReferences(file, read(file)));
    // The code cites the docs by anchor: the scan must have found those.
    assert.ok(references.some((r) => r.path === "doc/compatibility.md" && r.anchor === "key-identifiers"), "no citation of doc/compatibility.md#key-identifiers found");
    assert.deepEqual(problems(references, markdown, read), []);
  });

  test("a citation of a file outside the repository, a missing file or a missing anchor is caught", () => {
    const text = [
      '// Kept from the Rust relay (compat.md "Object identity").',
      " * the username rule (doc/compatibility.md#no-such-section)",
      'test("the example of doc/missing.md parses", () => {});',
      "// see bench/README.md and doc/compatibility.md#key-identifiers",
      'const out = join(dir, "ha.md"); // a file the benchmark writes',
    ].join("\n");
    const references = findReferences("src/x.ts", text);
    assert.deepEqual(
      references.map((r) => `${r.line} ${r.path}${r.anchor ? `#${r.anchor}` : ""}`),
      ["1 compat.md", "2 doc/compatibility.md#no-such-section", "3 doc/missing.md", "4 doc/compatibility.md#key-identifiers", "4 bench/README.md"],
    );
    const docs = { "doc/compatibility.md": "# Title\n## Key identifiers\n", "bench/README.md": "# Bench\n" } as Record<string, string>;
    assert.deepEqual(
      problems(references, Object.keys(docs), (f) => docs[f]!),
      [
        "src/x.ts:1: compat.md: no such file in the repository",
        "src/x.ts:2: doc/compatibility.md#no-such-section: doc/compatibility.md has no heading with that anchor",
        "src/x.ts:3: doc/missing.md: no such file in the repository",
      ],
    );
  });

  test("anchors follow GitHub's rule", () => {
    const anchors = anchorsOf("# Doc\n## Where it lives in the token\n## Start-up\n```\n# not a heading\n```\n## `Sign`: the mechanism\n## Start-up\n");
    assert.deepEqual([...anchors], ["doc", "where-it-lives-in-the-token", "start-up", "sign-the-mechanism", "start-up-1"]);
  });
});
