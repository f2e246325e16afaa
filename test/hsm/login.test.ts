// The login guard with a fake C_Login and a fake clock: the PIN record, the
// throttle and its cooldown. (authenticate.e2e.test.ts runs the same against SoftHSM.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import pino from "pino";
import { HsmError } from "../../src/hsm/hsm-error.js";
import { LoginGuard, pinDigest, type LoginCall } from "../../src/hsm/login.js";

const silent = pino({ level: "silent" });
const THROTTLE = { limit: 3, windowMs: 1_000, cooldownMs: 10_000 };

/** A token whose PIN is `right`, counting C_Login calls. */
function fakeToken(right = "1234"): { login: LoginCall; calls: string[] } {
  const calls: string[] = [];
  const login: LoginCall = async (pin) => {
    const text = Buffer.from(pin).toString("utf8");
    calls.push(text);
    if (text !== right) throw new HsmError("AUTH_FAILED", "C_Login: CKR_PIN_INCORRECT", "C_Login", "CKR_PIN_INCORRECT");
  };
  return { login, calls };
}

const code = (expected: string) => (err: unknown) => err instanceof HsmError && err.code === expected;

test("logs in once, then checks PINs against the record without C_Login", async () => {
  const token = fakeToken();
  const guard = new LoginGuard("1", THROTTLE, silent);
  assert.equal(guard.loggedIn, false);
  await guard.authenticate(Buffer.from("1234"), token.login);
  assert.equal(guard.loggedIn, true);
  await guard.authenticate(Buffer.from("1234"), token.login);
  await assert.rejects(guard.authenticate(Buffer.from("4321"), token.login), code("AUTH_FAILED"));
  await assert.rejects(guard.authenticate(Buffer.from("12345"), token.login), code("AUTH_FAILED"));
  await assert.rejects(guard.authenticate(Buffer.from(""), token.login), code("AUTH_FAILED"));
  assert.deepEqual(token.calls, ["1234"]);
});

test("pinDigest is SHA-256 of the key followed by the PIN's UTF-8 bytes", () => {
  const key = randomBytes(32);
  for (const pin of ["1234", "", "pâss wörd ✓", "x".repeat(300)]) {
    assert.deepEqual(pinDigest(key, Buffer.from(pin)), createHash("sha256").update(key).update(Buffer.from(pin, "utf8")).digest(), pin);
  }
  assert.notDeepEqual(pinDigest(randomBytes(32), Buffer.from("1234")), pinDigest(key, Buffer.from("1234")), "another key, another digest");
});

test("PINs outside ASCII are compared by their exact UTF-8 bytes", async () => {
  const composed = "p\u00e2ss"; // "pâss" with U+00E2
  const decomposed = "pa\u0302ss"; // the same text with a combining circumflex: other bytes, another PIN
  const token = fakeToken(composed);
  const guard = new LoginGuard("1", THROTTLE, silent);
  await guard.authenticate(Buffer.from(composed), token.login);
  await guard.authenticate(Buffer.from(composed), token.login);
  await assert.rejects(guard.authenticate(Buffer.from(decomposed), token.login), code("AUTH_FAILED"));
  assert.deepEqual(token.calls, [composed]);
});

test("concurrent first requests make one C_Login", async () => {
  const token = fakeToken();
  const guard = new LoginGuard("1", THROTTLE, silent);
  const results = await Promise.allSettled([guard.authenticate(Buffer.from("1234"), token.login), guard.authenticate(Buffer.from("1234"), token.login), guard.authenticate(Buffer.from("0000"), token.login)]);
  assert.deepEqual(results.map((r) => r.status), ["fulfilled", "fulfilled", "rejected"]);
  assert.deepEqual(token.calls, ["1234"]);
});

test("forget makes the next request log in again", async () => {
  const token = fakeToken();
  const guard = new LoginGuard("1", THROTTLE, silent);
  await guard.authenticate(Buffer.from("1234"), token.login);
  guard.forget("test");
  assert.equal(guard.loggedIn, false);
  await assert.rejects(guard.authenticate(Buffer.from("0000"), token.login), code("AUTH_FAILED"));
  await guard.authenticate(Buffer.from("1234"), token.login);
  assert.deepEqual(token.calls, ["1234", "0000", "1234"]);
});

test("after `limit` refused logins within the window, logins are refused without C_Login until the cooldown ends", async () => {
  let now = 0;
  const token = fakeToken();
  const guard = new LoginGuard("1", THROTTLE, silent, () => now);
  for (let i = 0; i < 3; i++) {
    await assert.rejects(guard.authenticate(Buffer.from("0000"), token.login), code("AUTH_FAILED"));
    now += 100;
  }
  await assert.rejects(guard.authenticate(Buffer.from("1234"), token.login), code("LOGIN_COOLDOWN"));
  assert.equal(token.calls.length, 3);
  now += THROTTLE.cooldownMs;
  await guard.authenticate(Buffer.from("1234"), token.login);
  assert.deepEqual(token.calls, ["0000", "0000", "0000", "1234"]);
});

test("failures spread wider than the window do not start a cooldown", async () => {
  let now = 0;
  const token = fakeToken();
  const guard = new LoginGuard("1", THROTTLE, silent, () => now);
  for (let i = 0; i < 6; i++) {
    await assert.rejects(guard.authenticate(Buffer.from("0000"), token.login), code("AUTH_FAILED"));
    now += 600;
  }
  await guard.authenticate(Buffer.from("1234"), token.login);
});

test("failures other than a refused PIN do not count", async () => {
  let now = 0;
  const guard = new LoginGuard("1", THROTTLE, silent, () => now);
  const broken: LoginCall = async () => {
    throw new HsmError("PKCS11_ERROR", "C_Login: CKR_DEVICE_ERROR", "C_Login", "CKR_DEVICE_ERROR");
  };
  for (let i = 0; i < 5; i++) await assert.rejects(guard.authenticate(Buffer.from("1234"), broken), code("PKCS11_ERROR"));
  now += 1;
  await guard.authenticate(Buffer.from("1234"), fakeToken().login);
});

test("a refused PIN never appears in an error message or a log line", async () => {
  const lines: string[] = [];
  const logger = pino({ level: "trace" }, { write: (line: string) => void lines.push(line) });
  const token = fakeToken("correct-horse");
  const guard = new LoginGuard("1", { limit: 1, windowMs: 1_000, cooldownMs: 1_000 }, logger);
  const messages: string[] = [];
  for (const pin of ["secret-9876", "secret-5555"]) {
    await guard.authenticate(Buffer.from(pin), token.login).catch((err: Error) => messages.push(err.message));
  }
  await guard.authenticate(Buffer.from("correct-horse"), token.login).catch((err: Error) => messages.push(err.message));
  for (const text of [...messages, ...lines]) assert.doesNotMatch(text, /secret|correct-horse/);
  assert.ok(lines.length > 0);
});

test("the cooldown is logged in seconds, the unit it is configured in", async () => {
  const lines: string[] = [];
  const capture = pino({ level: "warn" }, { write: (json: string) => void lines.push((JSON.parse(json) as { msg: string }).msg) });
  const token = fakeToken();
  const guard = new LoginGuard("1", { limit: 1, windowMs: 60_000, cooldownMs: 300_000 }, capture, () => 0);
  await assert.rejects(guard.authenticate(Buffer.from("0000"), token.login), code("AUTH_FAILED"));
  assert.ok(lines.includes("Slot 1: 1 failed logins within 60 s; refusing logins for 300 s (pkcs11.login-cooldown)"), lines.join("\n"));
});
