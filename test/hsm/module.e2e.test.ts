// Start-up: loading the module, with fake PKCS#11 modules compiled here with
// gcc to produce the failures SoftHSM never shows (doc/compatibility.md#start-up).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pino from "pino";
import { HsmError } from "../../src/hsm/hsm-error.js";
import { openPkcs11Backend } from "../../src/hsm/pkcs11-backend.js";

const execFileAsync = promisify(execFile);

// A module whose functions all answer CKR_SESSION_HANDLE_INVALID (so the
// load-time probes see them implemented), except C_Initialize (INIT_RV),
// C_Finalize, C_GetInfo, and the entries listed in STUBS, which answer
// CKR_FUNCTION_NOT_SUPPORTED. Indices are positions in CK_FUNCTION_LIST
// (PKCS#11 v2.40 pkcs11f.h order).
const FAKE_MODULE = String.raw`
#include <string.h>
typedef unsigned long CK_RV;
struct info { unsigned char cryptoki[2]; char manufacturer[32]; unsigned long flags; char description[32]; unsigned char library[2]; };
static CK_RV implemented(void) { return 0xB3; }
static CK_RV unsupported(void) { return 0x54; }
static CK_RV initialize(void *args) { (void)args; return INIT_RV; }
static CK_RV finalize(void *reserved) { (void)reserved; return 0; }
static CK_RV get_info(struct info *i) {
  i->cryptoki[0] = 2; i->cryptoki[1] = 40; i->flags = 0; i->library[0] = 1; i->library[1] = 2;
  memset(i->manufacturer, ' ', 32); memcpy(i->manufacturer, "Fake Vendor", 11);
  memset(i->description, ' ', 32); memcpy(i->description, "Fake module", 11);
  return 0;
}
static struct { unsigned char version[2]; void *functions[68]; } list;
CK_RV C_GetFunctionList(void **out) {
  static const int stubs[] = { STUBS -1 };
  list.version[0] = 2; list.version[1] = 40;
  for (int i = 0; i < 68; i++) list.functions[i] = (void *)implemented;
  for (int i = 0; stubs[i] >= 0; i++) list.functions[stubs[i]] = (void *)unsupported;
  list.functions[0] = (void *)initialize; list.functions[1] = (void *)finalize; list.functions[2] = (void *)get_info;
  list.functions[3] = (void *)C_GetFunctionList;
  *out = &list;
  return 0;
}
`;
const C_DESTROY_OBJECT = 22;
const C_SIGN_INIT = 42;
const C_GENERATE_KEY_PAIR = 59;

describe("loading the module", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "kmip2pkcs11-fake-module-"));
    await writeFile(join(dir, "fake.c"), FAKE_MODULE);
    await writeFile(join(dir, "not-pkcs11.c"), "int not_a_pkcs11_module = 1;\n");
  });
  after(() => rm(dir, { recursive: true, force: true }));

  async function build(name: string, initRv: number, stubs: number[]): Promise<string> {
    const path = join(dir, `${name}.so`);
    const stubList = stubs.map((s) => `${s},`).join("");
    await execFileAsync("gcc", ["-shared", "-fPIC", "-o", path, `-DINIT_RV=${initRv}`, `-DSTUBS=${stubList}`, join(dir, "fake.c")]);
    return path;
  }

  /** A logger that keeps its lines. */
  function recorder(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: "info" }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    return { logger, lines };
  }

  /** A start-up error: a plain Error (not an HsmError) whose message names the path and says `what`. */
  const startupError = (path: string, what: RegExp) => (err: unknown) =>
    err instanceof Error && !(err instanceof HsmError) && err.message.includes(path) && what.test(err.message);

  test("a missing library is a start-up error naming the path", async () => {
    const path = join(dir, "missing.so");
    await assert.rejects(openPkcs11Backend({ libPath: path }, recorder().logger), startupError(path, /cannot load the library/));
  });

  test("a library without C_GetFunctionList is a start-up error naming the path", async () => {
    const path = join(dir, "not-pkcs11.so");
    await execFileAsync("gcc", ["-shared", "-fPIC", "-o", path, join(dir, "not-pkcs11.c")]);
    await assert.rejects(openPkcs11Backend({ libPath: path }, recorder().logger), startupError(path, /C_GetFunctionList/));
  });

  test("CKR_ARGUMENTS_BAD from C_Initialize hints at the vendor's environment and config", async () => {
    const path = await build("arguments-bad", 0x7, []);
    await assert.rejects(
      openPkcs11Backend({ libPath: path }, recorder().logger),
      startupError(path, /vendor environment variables.*CKR_ARGUMENTS_BAD/),
    );
  });

  test("other C_Initialize failures name the CKR", async () => {
    const path = await build("device-error", 0x30, []);
    await assert.rejects(openPkcs11Backend({ libPath: path }, recorder().logger), startupError(path, /C_Initialize failed: CKR_DEVICE_ERROR/));
  });

  test("a module lacking functions the relay needs is a start-up error listing them", async () => {
    const path = await build("no-sign", 0, [C_SIGN_INIT, C_GENERATE_KEY_PAIR]);
    await assert.rejects(
      openPkcs11Backend({ libPath: path }, recorder().logger),
      startupError(path, /lacks functions the relay needs: C_GenerateKeyPair, C_SignInit/),
    );
  });

  test("a module lacking only optional functions loads, logs its identity and warns", async () => {
    const path = await build("no-destroy", 0, [C_DESTROY_OBJECT]);
    const { logger, lines } = recorder();
    const backend = await openPkcs11Backend({ libPath: path }, logger);
    assert.deepEqual(backend.module, {
      path,
      manufacturer: "Fake Vendor",
      libraryDescription: "Fake module",
      libraryVersion: "1.2",
      cryptokiVersion: "2.40",
    });
    assert.equal(await backend.ping(), true);
    await backend.close();
    const messages = lines.map((l) => `${String(l.level)} ${String(l.msg)}`);
    assert.ok(messages.includes(`30 Loading PKCS#11 module ${path}`), messages.join("\n"));
    assert.ok(messages.includes("30 PKCS#11 module: manufacturer Fake Vendor, library version 1.2, Cryptoki version 2.40, description Fake module"));
    assert.ok(messages.some((m) => m.startsWith("40 ") && m.includes("C_DestroyObject")));
  });

  test("option values are checked", async () => {
    await assert.rejects(openPkcs11Backend({ libPath: "/nonexistent.so", maxSessionsPerSlot: 0 }, recorder().logger), /maxSessionsPerSlot/);
  });
});
