// PeerLogLimiter: a peer's lines beyond the limit are counted, not written,
// and one line says how many were left out; other peers are not affected.
import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import pino from "pino";
import { PeerLogLimiter } from "../../src/log/rate-limit.js";

test("at most N lines a second per peer, then one summary line", async () => {
  const lines: string[] = [];
  const logger = pino({ level: "info" }, { write: (line: string) => lines.push((JSON.parse(line) as { msg: string }).msg) });
  const limiter = new PeerLogLimiter("lines about refused requests", 3);
  for (let i = 0; i < 1000; i++) limiter.take("127.0.0.2", logger)?.info(`authentication failed ${i}`);
  limiter.take("127.0.0.1", logger)?.info("another peer");
  assert.deepEqual(lines, ["authentication failed 0", "authentication failed 1", "authentication failed 2", "another peer"]);
  // The summary comes when the second ends, even if the peer has gone quiet.
  await sleep(1200);
  assert.deepEqual(lines.slice(4), ["997 more lines about refused requests from 127.0.0.2 suppressed (at most 3 a second per peer)"]);
  limiter.take("127.0.0.2", logger)?.info("next second");
  assert.equal(lines.at(-1), "next second");
});
