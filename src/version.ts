// The relay's version, from package.json. Compiled, this file is
// dist/src/version.js, two folders below the package root.
import { readFileSync } from "node:fs";

let version: string | undefined;

export function relayVersion(): string {
  version ??= (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;
  return version;
}
