// The child process of the isolated backend: loads the PKCS#11 module through
// the in-process backend and serves its methods over the IPC channel (see
// protocol.ts). Started by module-process.ts with child_process.fork; never
// run by hand.
//
// Stdout and stderr belong to the module: the relay logs whatever appears
// there as module output. This process's own log records therefore travel
// over IPC, and nothing here writes to stdout.
import pino from "pino";
import type { HsmBackend } from "../backend.js";
import { openPkcs11Backend } from "../pkcs11-backend.js";
import { MessageBatcher } from "./batcher.js";
import { serializeError, WRITES, type BackendMethod, type CallRequest, type CallResponse, type ChildMessage, type ParentMessage } from "./protocol.js";

const sendOnChannel = process.send?.bind(process);
if (sendOnChannel === undefined) {
  process.stderr.write("kmip2pkcs11: src/hsm/isolated/child.js is started by the relay with an IPC channel, not by hand\n");
  process.exit(2);
}
/** Nothing goes out once the relay is gone (the calls still finish, see "disconnect" below). */
const send = (message: ChildMessage, sent?: () => void): void => {
  if (process.connected) sendOnChannel(message, undefined, undefined, sent);
};
/** Answers to calls go out together, once per turn of the event loop. */
const answers = new MessageBatcher<CallResponse>((batch) => send(batch));
/** Sends a message other than an answer, after the answers queued before it. */
const post = (message: Exclude<ChildMessage, CallResponse[]>, sent?: () => void): void => {
  answers.flush();
  send(message, sent);
};

let logger: pino.Logger | undefined;
let backend: HsmBackend | undefined;
let inFlight = 0;
let drained: (() => void)[] = [];
/** Calls received and not yet started, in order (startCalls). */
let received: CallRequest[] = [];
let nextTurn: NodeJS.Immediate | undefined;

async function serve([id, method, args]: CallRequest): Promise<void> {
  if (backend === undefined) {
    answers.push([id, false, { message: "the HSM module process received a call before the module was opened" }]);
    return;
  }
  inFlight++;
  // Said before the call, which may keep this thread: the relay then knows a write is under way.
  if (WRITES.has(method)) post({ kind: "started", id });
  let response: CallResponse;
  try {
    const fn = (backend as unknown as Record<BackendMethod, (...args: unknown[]) => Promise<unknown>>)[method];
    response = [id, true, await fn.apply(backend, args)];
  } catch (error) {
    response = [id, false, serializeError(error)];
  } finally {
    // The PIN's bytes (see HsmBackend.authenticate): not kept past the call.
    if (method === "authenticate" || method === "adoptPin") (args[1] as Uint8Array).fill(0);
  }
  answers.push(response);
  // A write's answer leaves at once (see startCalls).
  if (WRITES.has(method)) answers.flush();
  if (--inFlight === 0 && received.length === 0) {
    for (const resolve of drained) resolve();
    drained = [];
  }
}

async function open(options: Extract<ParentMessage, { kind: "open" }>): Promise<void> {
  logger = pino(
    { level: options.logLevel, base: null, timestamp: false },
    { write: (line: string) => post({ kind: "log", line }) },
  );
  let opened: HsmBackend;
  try {
    opened = await openPkcs11Backend(options.options, logger);
  } catch (error) {
    post({ kind: "open-failed", error: serializeError(error) }, () => process.exit(1));
    return;
  }
  backend = opened;
  post({ kind: "ready", module: opened.module });
}

async function close(): Promise<void> {
  await drain();
  try {
    await backend?.close();
  } catch (error) {
    logger?.error({ err: error }, "closing the HSM module failed");
  }
  // Exit once every message before this one has been written to the channel.
  post({ kind: "closed" }, () => process.exit(0));
}

/** Resolves once no call is running or waiting to start. */
async function drain(): Promise<void> {
  if (inFlight > 0 || received.length > 0) await new Promise<void>((resolve) => drained.push(resolve));
}

/**
 * Takes the relay's credentials after it dropped privileges: groups first,
 * user last, since setuid gives up the right to change the others. A process
 * that cannot must not serve with more rights than the relay: it exits, and
 * the relay starts a new one, which inherits the relay's own credentials.
 */
function setCredentials({ uid, gid, groups }: Extract<ParentMessage, { kind: "set-credentials" }>): void {
  if (process.getuid?.() === uid && process.getgid?.() === gid) return;
  try {
    process.setgroups?.(groups);
    process.setgid?.(gid);
    process.setuid?.(uid);
  } catch (error) {
    const line = JSON.stringify({ level: 50, msg: `the HSM module process cannot switch to uid ${uid} gid ${gid}: ${(error as Error).message}; exiting` });
    post({ kind: "log", line }, () => process.exit(1));
  }
}


/**
 * Starts the calls received, in order; after a write, the calls received
 * so far and until the next turn of the event loop wait for that turn. Most
 * PKCS#11 calls run synchronously on this thread, between microtasks, so a
 * later call that hangs (a module stuck in C_SignInit) would otherwise stop
 * a write that is under way from finishing, or its answer from leaving this
 * process, and the relay would take the write for a hung one and kill the
 * module with it in flight (supervisor.ts, "When a module counts as
 * hung"). By the next turn a write that runs on this thread is done and
 * its answer sent (serve).
 */
function startCalls(): void {
  nextTurn = undefined;
  let call: CallRequest | undefined;
  while ((call = received.shift()) !== undefined) {
    void serve(call);
    if (WRITES.has(call[1])) {
      nextTurn = setImmediate(startCalls);
      return;
    }
  }
}

process.on("message", (message: ParentMessage) => {
  if (Array.isArray(message)) {
    for (const call of message) received.push(call);
    if (nextTurn === undefined) startCalls();
  } else if (message.kind === "open") void open(message);
  else if (message.kind === "set-credentials") setCredentials(message);
  else void close();
});
// The relay is gone (it exited or was killed): there is nobody left to
// serve, but the calls already started finish first, since a module killed
// in the middle of a write can leave an object file or the token's own file
// truncated. Then the module is finalised and the process exits.
process.on("disconnect", () => {
  // Calls not started yet are dropped: nobody is left to tell their outcome.
  clearImmediate(nextTurn);
  received = [];
  void drain()
    .then(() => backend?.close())
    .catch(() => undefined)
    .finally(() => process.exit(0));
});
// Ctrl-C in a terminal and systemd's stop (KillMode=control-group) signal the
// whole process group; the relay then closes this process itself, after
// answering the calls in flight.
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => {});
