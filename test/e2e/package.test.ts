// The npm package as a user gets it. SLOW (30-60 s) and needs the npm
// registry for the dependencies: `npm pack`, then a global install of the
// tarball into an empty prefix, which must build pkcs11js's native addon,
// then the installed command: --version, its man pages, and a real start on
// SoftHSM answering a KMIP client. Set KMIP2PKCS11_SKIP_PACKAGE_TEST=1 to skip
// it (offline machines).
//
// npm 11 runs dependency install scripts but warns about those that no
// allowScripts policy covers, and npm 12 blocks them; a global install has no
// project package.json for that policy, so the install names pkcs11js with
// --allow-scripts, as the README tells users to.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { access, copyFile, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { createSoftHsmToken } from "../helpers/softhsm.js";

const run = promisify(execFile);
const ROOT = new URL("../../../", import.meta.url).pathname;
const skip = process.env.KMIP2PKCS11_SKIP_PACKAGE_TEST === "1" && "KMIP2PKCS11_SKIP_PACKAGE_TEST=1";

test("npm pack, a global install into an empty prefix, and the installed relay starts (slow)", { skip, timeout: 300_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), "kmip2pkcs11-package-"));
  const token = await createSoftHsmToken({ label: "packaged" });
  try {
    // The man pages are part of `npm run build`; the test build (tsc alone) may not have made them.
    await run(process.execPath, [join(ROOT, "scripts/build-man.mjs")], { cwd: ROOT });
    // --ignore-scripts: no prepack build here, which would rewrite dist/ under the tests running
    // from it at the same time; the next test packs an unbuilt copy, where prepack builds.
    const { stdout: packed } = await run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", dir], { cwd: ROOT, maxBuffer: 16 << 20 });
    const [{ filename, files, version }] = JSON.parse(packed) as [{ filename: string; version: string; files: { path: string }[] }];
    const paths = files.map((f) => f.path);
    for (const needed of [
      "dist/src/cli/main.js",
      "dist/src/hsm/isolated/child.js",
      "dist/man/kmip2pkcs11.1",
      "dist/man/kmip2pkcs11-config.toml.5",
      "etc/kmip2pkcs11.toml",
      "deploy/systemd/kmip2pkcs11.service",
      "deploy/systemd/kmip2pkcs11.socket",
      "README.md",
      "package.json",
    ]) {
      assert.ok(paths.includes(needed), `${needed} is in the package`);
    }
    assert.deepEqual(
      paths.filter((p) => /^(src|test|bench|dist\/test|dist\/bench)\/|\.(ts|map)$/.test(p)),
      [],
      "no sources, tests, benchmarks or source maps",
    );

    const prefix = join(dir, "prefix");
    // From the temp dir, so that no project config applies; the user's npm cache is reused.
    await run("npm", ["install", "--global", "--prefix", prefix, "--allow-scripts=pkcs11js", "--no-audit", "--no-fund", join(dir, filename)], {
      cwd: dir,
      maxBuffer: 16 << 20,
    });
    const installed = join(prefix, "lib", "node_modules", "kmip2pkcs11");
    await access(join(installed, "node_modules", "pkcs11js", "build", "Release", "pkcs11.node"));
    const bin = join(prefix, "bin", "kmip2pkcs11");
    assert.equal((await run(bin, ["--version"])).stdout, `kmip2pkcs11 ${version}\n`);
    assert.deepEqual(await readdir(join(prefix, "share", "man", "man1")), ["kmip2pkcs11.1"]);
    assert.deepEqual(await readdir(join(prefix, "share", "man", "man5")), ["kmip2pkcs11-config.toml.5"]);

    // A real start on SoftHSM, from the installed files only.
    const config = join(dir, "config.toml");
    await writeFile(config, `version = "v1"\n[pkcs11]\nlib-path = "${token.modulePath}"\n[server]\naddr = "127.0.0.1:0"\nstate-dir = "${join(dir, "state")}"\n`);
    const relay = spawn(bin, ["-c", config], { env: token.env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    relay.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const exited = once(relay, "exit");
    try {
      for (let i = 0; i < 400 && !/Listening on \S+/.test(output) && relay.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50));
      const port = /Listening on 127\.0\.0\.1:(\d+)/.exec(output)?.[1];
      assert.ok(port !== undefined, output);
      assert.match(output, new RegExp(`Loading PKCS#11 module ${token.modulePath}`));
      const { stdout } = await run(bin, ["client", "-s", `127.0.0.1:${port}`, "--ca", join(dir, "state", "tls", "cert.pem"), "-u", token.label, "query"], {
        env: { ...token.env, KMIP2PKCS11_PASSWORD: token.pin },
      });
      assert.match(stdout, new RegExp(`^Server: +kmip2pkcs11 ${version.replaceAll(".", "\\.")}; token "packaged"`, "m"));
    } finally {
      relay.kill("SIGTERM");
      await exited;
    }
    assert.equal(relay.exitCode, 0, output);
    assert.match(await readFile(join(installed, "package.json"), "utf8"), /"name": "kmip2pkcs11"/);
  } finally {
    await rm(dir, { recursive: true, force: true });
    await token.cleanup();
  }
});

test("npm pack in a checkout that was never built ships dist/: prepack builds it (slow)", { timeout: 300_000 }, async () => {
  // The files of the checkout (tracked, or new and not ignored) as a fresh clone has them: no dist/.
  const dir = await mkdtemp(join(tmpdir(), "kmip2pkcs11-clone-"));
  try {
    const { stdout: listed } = await run("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: ROOT, maxBuffer: 16 << 20 });
    for (const path of new Set(listed.split("\0").filter((p) => p !== ""))) {
      await mkdir(dirname(join(dir, path)), { recursive: true });
      // A file deleted in the work tree but still in the index is not part of the clone.
      await copyFile(join(ROOT, path), join(dir, path)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== "ENOENT") throw err;
      });
    }
    await assert.rejects(access(join(dir, "dist")), { code: "ENOENT" });
    // What `npm ci` would install, without the registry.
    await symlink(join(ROOT, "node_modules"), join(dir, "node_modules"));
    const { stdout } = await run("npm", ["pack", "--dry-run", "--json"], { cwd: dir, maxBuffer: 16 << 20 });
    const [{ files }] = JSON.parse(stdout) as [{ files: { path: string }[] }];
    const paths = files.map((f) => f.path);
    for (const needed of ["dist/src/cli/main.js", "dist/src/hsm/isolated/child.js", "dist/man/kmip2pkcs11.1", "dist/man/kmip2pkcs11-config.toml.5", "LICENSE"]) {
      assert.ok(paths.includes(needed), `${needed} is in the package: ${paths.join(" ")}`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
