// A worker process (`[server] workers` > 1): its own TLS, codec, dispatch and
// module access (its own backend, so with isolation = "process" a module
// process of its own), serving the client sockets the supervisor
// (supervisor.ts) accepts and hands over. Started by the supervisor with
// fork(); everything it needs comes in the "start" message, so that a worker
// restarted after the relay dropped its privileges needs no file only root
// may read (the TLS key was read once, by the supervisor).
import type { Socket } from "node:net";
import { createLogger, type RootLogger } from "../../log/logger.js";
import { dropPrivileges } from "../../cli/daemon.js";
import { startRelay, type RelayHandle } from "../relay.js";
import type { FromWorker, ToWorker } from "./protocol.js";
import { WorkerLoginThrottle } from "./worker-login-throttle.js";

let logger: RootLogger | undefined;
let relay: RelayHandle | undefined;
let stopping: Promise<void> | undefined;
const send = (message: FromWorker): void => {
  if (process.connected) process.send?.(message);
};
const throttle = new WorkerLoginThrottle(send);

// Stop signals are the supervisor's to act on: a terminal's Ctrl-C and
// systemd's stop (KillMode=control-group) reach every process of the group,
// and a worker that left on its own would only be restarted.
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => {});

async function stop(reason: string | undefined, status: number): Promise<void> {
  stopping ??= (async () => {
    await relay?.close(reason);
    await logger?.close();
    process.exit(status);
  })();
  return stopping;
}

function crash(error: unknown): void {
  const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
  if (logger === undefined) process.stderr.write(`kmip2pkcs11: worker: internal error, exiting: ${detail}\n`);
  else logger.fatal(`internal error, worker exiting: ${detail}`);
  void (logger?.close() ?? Promise.resolve()).finally(() => process.exit(70));
}
process.on("uncaughtException", crash);
process.on("unhandledRejection", crash);

// The supervisor is gone (killed): nobody hands out sockets or restarts
// anything any more; finish what is in progress and leave.
process.on("disconnect", () => void stop("the supervisor is gone", 0));

process.on("message", (message: ToWorker, handle: unknown) => {
  switch (message.t) {
    case "start":
      void start(message);
      return;
    case "connection": {
      const socket = handle as Socket | undefined;
      if (socket === undefined) return;
      socket.once("close", () => send({ t: "closed", id: message.id }));
      if (relay === undefined || stopping !== undefined) socket.destroy();
      else relay.accept?.(socket);
      return;
    }
    case "stop":
      void stop(message.reason, 0);
      return;
    case "reopen-log":
      logger?.reopen();
      return;
    case "follow-credentials": {
      const identity = relayConfig?.daemon.identity;
      if (identity !== undefined && relay !== undefined && logger !== undefined) dropPrivileges(identity, relay, logger);
      send({ t: "credentials-followed" });
      return;
    }
    case "metrics":
      void (relay?.metricsJson?.() ?? Promise.resolve([])).then((metrics) => send({ t: "metrics", id: message.id, metrics }));
      return;
    case "ping":
      void (relay?.ping?.() ?? Promise.resolve(false)).then((alive) => send({ t: "ping", id: message.id, alive }));
      return;
    case "login-admitted":
      throttle.answered(message.id, message.refused);
      return;
  }
});

let relayConfig: Extract<ToWorker, { t: "start" }>["config"] | undefined;

async function start(message: Extract<ToWorker, { t: "start" }>): Promise<void> {
  const { config } = message;
  relayConfig = config;
  try {
    logger = createLogger({ level: config.daemon.logLevel, target: config.daemon.logTarget });
    const log = logger.child({ worker: message.index });
    relay = await startRelay(config, log, { worker: { identity: message.identity, clientCa: message.clientCa, loginThrottle: throttle } });
    send({ t: "ready" });
  } catch (error) {
    send({ t: "start-failed", message: error instanceof Error ? error.message : String(error) });
    await logger?.close();
    process.exit(1);
  }
}
