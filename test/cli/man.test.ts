// The man pages: they build (the generator refuses a default or metric that
// drifted from the code), groff formats them without a warning, and they
// document every command line option and every config key there is.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";
import { USAGE } from "../../src/cli/args.js";
import { CHECK_USAGE } from "../../src/cli/check-command.js";
import { CLIENT_USAGE } from "../../src/cli/client-command.js";
import { KEYS_USAGE } from "../../src/cli/keys-command.js";

const run = promisify(execFile);
// Compiled to dist/test/cli/: the project root is three levels up.
const ROOT = new URL("../../../", import.meta.url);
const PAGES = ["kmip2pkcs11.1", "kmip2pkcs11-config.toml.5"];

const hasCommand = (command: string) =>
  run("sh", ["-c", `command -v ${command}`]).then(
    () => true,
    () => false,
  );
const [groff, man] = await Promise.all([hasCommand("groff"), hasCommand("man")]);

const source = (page: string) => readFile(new URL(`doc/man/${page}.in`, ROOT), "utf8");
const built = (page: string) => new URL(`dist/man/${page}`, ROOT).pathname;

test("the pages build into dist/man with every field filled in", async () => {
  await run(process.execPath, [new URL("scripts/build-man.mjs", ROOT).pathname], { cwd: ROOT.pathname });
  for (const page of PAGES) {
    const text = await readFile(built(page), "utf8");
    assert.doesNotMatch(text, /@[A-Z]+( [a-z0-9.-]+)?@/, page);
    assert.match(text, /^\.TH \S+ [15] "\d{4}-\d{2}-\d{2}" "kmip2pkcs11 \d+\.\d+\.\d+"/m, page);
  }
  const config = await readFile(built("kmip2pkcs11-config.toml.5"), "utf8");
  assert.match(config, /call\\-timeout = " seconds\n[^]*?Default: \\fB60\\fP\./);
  assert.match(config, /Default: \\fB\{ type = "stderr" \}\\fP\./);
  assert.match(await readFile(built("kmip2pkcs11.1"), "utf8"), /^\.B kmip2pkcs11_requests_total$/m);
});

test("groff formats them without a warning", { skip: !groff && "groff is not installed" }, async () => {
  for (const page of PAGES) {
    const { stdout, stderr } = await run("groff", ["-man", "-ww", "-z", built(page)]);
    assert.equal(stdout + stderr, "", page);
  }
});

test("man(1) renders them", { skip: !man && "man is not installed" }, async () => {
  const { stdout } = await run("man", ["-l", built("kmip2pkcs11.1")], { env: { ...process.env, MANWIDTH: "80", MANPAGER: "cat", PAGER: "cat" } });
  assert.match(stdout, /^NAME\n {7}kmip2pkcs11 - relay KMIP requests to a PKCS#11 module \(HSM\)$/m);
  assert.match(stdout, /^ {7}kmip2pkcs11_login_failures_total$/m);
});

test("kmip2pkcs11(1) documents every option of every command", async () => {
  const page = await source("kmip2pkcs11.1");
  const usages = { relay: USAGE, check: CHECK_USAGE, "keys list": KEYS_USAGE, client: CLIENT_USAGE };
  for (const [command, usage] of Object.entries(usages)) {
    const options = new Set([...usage.matchAll(/(?<![\w-])(--[a-z][a-z-]*)/g)].map((m) => m[1] as string));
    assert.ok(options.size > 0, command);
    for (const option of options) assert.ok(page.includes(option.replaceAll("-", "\\-")), `${command}: ${option} is not in kmip2pkcs11.1`);
  }
  for (const command of ["check", "keys list", "client", "ttlv"]) assert.match(page, new RegExp(`^\\.SS "kmip2pkcs11 ${command}`, "m"));
  for (const subcommand of ["discover", "query", "create", "get", "sign", "locate", "revoke", "destroy"]) {
    assert.match(page, new RegExp(`^\\.B ${subcommand}\\b`, "m"), `client ${subcommand}`);
  }
});

test("kmip2pkcs11-config.toml(5) documents exactly the keys of the commented sample config", async () => {
  // The sample (etc/kmip2pkcs11.toml) shows every key, commented out or not.
  const sample = new Map<string, Set<string>>();
  let table = "";
  for (const line of (await readFile(new URL("etc/kmip2pkcs11.toml", ROOT), "utf8")).split("\n")) {
    const header = /^#?\[([a-z0-9.-]+)\]/.exec(line);
    if (header) table = (header[1] as string).replace(/^(tokens|clients)\..*/, "$1.NAME");
    const key = /^#?([a-z][a-z-]*) = /.exec(line);
    if (key) sample.set(table, (sample.get(table) ?? new Set()).add(key[1] as string));
  }
  // In the page: `.SS "[table]"` headings, and keys as `.TP`/`.TQ` tags "key = ...".
  const documented = new Map<string, Set<string>>();
  for (const section of (await source("kmip2pkcs11-config.toml.5")).split(/^\.SS /m).slice(1)) {
    const heading = /^"\[([^\]]+)\]"/.exec(section);
    const name = heading === null ? "" : (heading[1] as string).replace("\\fIname\\fP", "NAME");
    for (const m of section.matchAll(/^\.T[PQ]\n\.BI? "((?:[a-z]|\\-)+) = /gm)) {
      documented.set(name, (documented.get(name) ?? new Set()).add((m[1] as string).replaceAll("\\-", "-")));
    }
  }
  const sorted = (m: Map<string, Set<string>>) => Object.fromEntries([...m].map(([k, v]) => [k, [...v].sort()]).sort());
  assert.deepEqual(sorted(documented), sorted(sample));
});
