import { test } from "node:test";
import assert from "node:assert/strict";
import { inheritedListenFd } from "../../src/server/listen-fds.js";

test("a socket meant for this process is fd 3, and the variables are removed", () => {
  const env: NodeJS.ProcessEnv = { LISTEN_PID: "1234", LISTEN_FDS: "1", LISTEN_FDNAMES: "kmip", PATH: "/bin" };
  assert.equal(inheritedListenFd(env, 1234), 3);
  assert.deepEqual(env, { PATH: "/bin" });
});

test("several sockets: the first", () => {
  assert.equal(inheritedListenFd({ LISTEN_PID: "7", LISTEN_FDS: "2" }, 7), 3);
});

test("no socket: absent, meant for another process, zero or malformed", () => {
  const cases: NodeJS.ProcessEnv[] = [
    {},
    { LISTEN_FDS: "1" },
    { LISTEN_PID: "1234" },
    { LISTEN_PID: "999", LISTEN_FDS: "1" },
    { LISTEN_PID: "1234", LISTEN_FDS: "0" },
    { LISTEN_PID: "1234", LISTEN_FDS: "one" },
    { LISTEN_PID: "1234x", LISTEN_FDS: "1" },
  ];
  for (const env of cases) {
    assert.equal(inheritedListenFd(env, 1234), undefined, JSON.stringify(env));
    assert.deepEqual(env, {}, "variables removed");
  }
});

test("defaults to process.env and process.pid", () => {
  process.env.LISTEN_PID = String(process.pid);
  process.env.LISTEN_FDS = "1";
  assert.equal(inheritedListenFd(), 3);
  assert.equal(process.env.LISTEN_PID, undefined);
  assert.equal(process.env.LISTEN_FDS, undefined);
});
