// The supervisor of `[server] workers` > 1: it owns the listening socket
// (server.addr, or systemd's), accepts each TCP connection and hands the
// socket to the worker with the fewest open connections (worker-main.ts does
// TLS, KMIP and the module); it restarts a worker that dies, with backoff,
// while the others keep serving; it holds what must be counted once for the
// whole relay: server.max-connections, the per-peer connection share, the
// login throttle; and it serves [metrics] as the sum over its workers.
//
// Accepting here rather than letting every worker accept on the shared socket
// (node:cluster's SCHED_NONE) is measured in bench/README.md: the kernel
// hands a shared socket's connections to whichever worker is awake, so a
// signer's pool of ten connections opened at once can land mostly on one
// worker, and a worker cannot see the other workers' connections to count them.
import { fork, type ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { AggregatorRegistry, Counter, Registry } from "prom-client";
import type { Config } from "../../config/config.js";
import { resolveWorkers } from "../../config/server.js";
import type { Logger } from "../../log/logger.js";
import { PeerLogLimiter } from "../../log/rate-limit.js";
import type { LoginAttempt } from "../login-throttle.js";
import { serveMetrics, type MetricsServer } from "../metrics.js";
import { peerOfAddress } from "../peer-limits.js";
import { createLoginThrottle, listen, type RelayHandle, type StartOptions } from "../relay.js";
import { loadTlsIdentity } from "../tls-identity.js";
import type { FromWorker, ToWorker } from "./protocol.js";

/** One worker's metrics as prom-client's getMetricsAsJSON() gives them. */
type Metrics = Awaited<ReturnType<Registry["getMetricsAsJSON"]>>;

const WORKER_MAIN = new URL("./worker-main.js", import.meta.url);
/** Restart delays: doubled per quick death, from the first to the last. */
const FIRST_BACKOFF_MS = 500;
const LAST_BACKOFF_MS = 30_000;
/** A worker that lived this long before dying is restarted after the first delay again. */
const STABLE_MS = 60_000;
/** How long /metrics and /healthz wait for a worker's answer. */
const ASK_TIMEOUT_MS = 5_000;

interface Worker {
  readonly index: number;
  child: ChildProcess | undefined;
  ready: boolean;
  startedAt: number;
  backoffMs: number;
  restartTimer: NodeJS.Timeout | undefined;
  /** Sockets handed to it and not yet closed, by id: their peer. */
  readonly sockets: Map<number, string>;
  /** Login attempts the supervisor admitted for it, by the worker's id. */
  readonly attempts: Map<number, LoginAttempt>;
  /** Answers to "metrics" and "ping" awaited, by id. */
  readonly asked: Map<number, (message: FromWorker) => void>;
  exited: Promise<void>;
}

export async function startSupervisor(config: Config, logger: Logger, options: StartOptions = {}): Promise<RelayHandle> {
  const s = config.server;
  const count = resolveWorkers(s.workers);
  const identity = await loadTlsIdentity(config, logger);
  const clientCa = s.clientCaPath === undefined ? undefined : await readFile(s.clientCaPath, "utf8");
  const throttle = createLoginThrottle(config);
  const own = new Registry();
  const restarts = new Counter({
    name: "kmip2pkcs11_worker_restarts_total",
    help: "Times a worker process was restarted after it died ([server] workers)",
    registers: [own],
  });
  const peers = new Map<string, number>();
  const refusals = new PeerLogLimiter("refused connections");
  let refusedSinceLog = 0;
  let stopping = false;
  /** Set once every worker of the start is up. */
  let serving = false;
  let nextSocketId = 1;
  let nextAskId = 1;
  const workers: Worker[] = Array.from({ length: count }, (_, index) => ({
    index,
    child: undefined,
    ready: false,
    startedAt: 0,
    backoffMs: FIRST_BACKOFF_MS,
    restartTimer: undefined,
    sockets: new Map(),
    attempts: new Map(),
    asked: new Map(),
    exited: Promise.resolve(),
  }));

  /** Starts (or restarts) `worker`; resolves once it serves, rejects with its start-up error. */
  const spawn = (worker: Worker): Promise<void> => {
    const child = fork(WORKER_MAIN, [], { serialization: "advanced" });
    worker.child = child;
    worker.startedAt = Date.now();
    const send = (message: ToWorker, handle?: Socket) => {
      if (child.connected) child.send(message, handle as never, (error) => error && handle?.destroy());
      else handle?.destroy();
    };
    worker.exited = new Promise((resolve) => child.once("exit", () => resolve()));
    const started = new Promise<void>((resolve, reject) => {
      child.on("message", (message: FromWorker) => {
        switch (message.t) {
          case "ready":
            worker.ready = true;
            logger.debug({ worker: worker.index, pid: child.pid }, "worker ready");
            resolve();
            return;
          case "start-failed":
            reject(new Error(message.message));
            return;
          case "closed":
            release(worker, message.id);
            return;
          case "metrics":
          case "ping":
            worker.asked.get(message.id)?.(message);
            worker.asked.delete(message.id);
            return;
          case "login-admit": {
            // The digest is taken before admit's first await, so the bytes can go at once.
            const pin = Buffer.from(message.pin, "hex");
            const admitted = throttle.admit(message.slotId, message.client, pin);
            pin.fill(0);
            admitted.then(
              (attempt) => {
                worker.attempts.set(message.id, attempt);
                send({ t: "login-admitted", id: message.id });
              },
              (error: Error & { code?: string }) => send({ t: "login-admitted", id: message.id, refused: { code: error.code ?? "GENERAL", message: error.message } }),
            );
            return;
          }
          case "login-outcome": {
            const attempt = worker.attempts.get(message.id);
            worker.attempts.delete(message.id);
            attempt?.[message.outcome]();
            return;
          }
        }
      });
      child.once("exit", (code, signal) => {
        reject(new Error(`worker exited (${signal ?? `status ${code}`}) while starting`));
        onExit(worker, child, code, signal);
      });
    });
    send({ t: "start", index: worker.index, config, identity, clientCa });
    return started;
  };

  const onExit = (worker: Worker, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null) => {
    if (worker.child !== child) return;
    const wasReady = worker.ready;
    worker.child = undefined;
    worker.ready = false;
    // Its connections died with it; what it had admitted says nothing about a PIN.
    const lost = worker.sockets.size;
    for (const id of [...worker.sockets.keys()]) release(worker, id);
    for (const attempt of worker.attempts.values()) attempt.abandoned();
    worker.attempts.clear();
    for (const answer of worker.asked.values()) answer({ t: "ping", id: 0, alive: false });
    worker.asked.clear();
    // A worker that fails at the relay's start fails the start; one that
    // fails to come back later is tried again, with a longer delay each time.
    if (stopping || !serving) return;
    if (Date.now() - worker.startedAt >= STABLE_MS) worker.backoffMs = FIRST_BACKOFF_MS;
    const delay = worker.backoffMs;
    worker.backoffMs = Math.min(worker.backoffMs * 2, LAST_BACKOFF_MS);
    logger.error(
      { worker: worker.index, pid: child.pid },
      `worker ${worker.index} (pid ${child.pid}) exited (${signal ?? `status ${code}`})${wasReady ? `; its ${lost} connections are closed` : " while starting"}; the other workers go on serving; restarting it in ${delay / 1000} s`,
    );
    worker.restartTimer = setTimeout(() => {
      worker.restartTimer = undefined;
      if (stopping) return;
      restarts.inc();
      spawn(worker).then(
        () => logger.info({ worker: worker.index, pid: worker.child?.pid }, `worker ${worker.index} restarted`),
        (error: Error) => logger.error({ worker: worker.index }, `worker ${worker.index} failed to restart: ${error.message}`),
      );
    }, delay);
  };

  const release = (worker: Worker, id: number) => {
    const peer = worker.sockets.get(id);
    if (peer === undefined) return;
    worker.sockets.delete(id);
    const n = (peers.get(peer) ?? 1) - 1;
    if (n <= 0) peers.delete(peer);
    else peers.set(peer, n);
  };

  const open = () => workers.reduce((sum, w) => sum + w.sockets.size, 0);

  const onConnection = (socket: Socket) => {
    if (open() >= s.maxConnections) {
      if (refusedSinceLog++ === 0) logger.warn(`refusing connections: ${s.maxConnections} are open (server.max-connections)`);
      socket.destroy();
      return;
    }
    if (refusedSinceLog > 0) {
      logger.info(`accepting connections again; ${refusedSinceLog} were refused (server.max-connections)`);
      refusedSinceLog = 0;
    }
    const peer = peerOfAddress(socket.remoteAddress);
    if (peer === undefined) {
      socket.destroy();
      return;
    }
    const held = peers.get(peer) ?? 0;
    if (held >= s.maxConnectionsPerPeer) {
      refusals.take(peer, logger)?.warn(`refusing a connection: ${held} connections of ${peer} are open (server.max-connections-per-peer)`);
      socket.destroy();
      return;
    }
    // The fewest open connections; among equals the one started first.
    let chosen: Worker | undefined;
    for (const w of workers) if (w.ready && (chosen === undefined || w.sockets.size < chosen.sockets.size)) chosen = w;
    if (chosen?.child === undefined) {
      socket.destroy();
      return;
    }
    const id = nextSocketId++;
    chosen.sockets.set(id, peer);
    peers.set(peer, held + 1);
    const target = chosen;
    target.child!.send({ t: "connection", id } satisfies ToWorker, socket, (error) => {
      if (error === null) return;
      release(target, id);
      socket.destroy();
    });
  };

  const listener: Server = createServer({ pauseOnConnect: true }, onConnection);
  try {
    await Promise.all(workers.map((w) => spawn(w)));
    serving = true;
  } catch (error) {
    stopping = true;
    for (const w of workers) w.child?.kill("SIGKILL");
    await Promise.all(workers.map((w) => w.exited));
    throw error;
  }

  let address: string;
  let metricsServer: MetricsServer | undefined;
  const ask = (worker: Worker, t: "metrics" | "ping"): Promise<FromWorker | undefined> =>
    new Promise((resolve) => {
      if (!worker.ready || worker.child?.connected !== true) return resolve(undefined);
      const id = nextAskId++;
      const timer = setTimeout(() => {
        worker.asked.delete(id);
        resolve(undefined);
      }, ASK_TIMEOUT_MS);
      worker.asked.set(id, (message) => {
        clearTimeout(timer);
        resolve(message);
      });
      worker.child.send({ t, id } satisfies ToWorker);
    });
  try {
    address = await listen(listener, config, options, logger);
    if (config.metrics.addr !== undefined) {
      const registry = {
        contentType: Registry.PROMETHEUS_CONTENT_TYPE,
        metrics: async (): Promise<string> => {
          const answers = await Promise.all(workers.map((w) => ask(w, "metrics")));
          const each = answers.flatMap((a) => (a?.t === "metrics" ? [a.metrics as Metrics] : []));
          return AggregatorRegistry.aggregate([...each, await own.getMetricsAsJSON()]).metrics();
        },
      };
      // Healthy while every worker is up and its module answers.
      const ping = async (): Promise<boolean> => (await Promise.all(workers.map((w) => ask(w, "ping")))).every((a) => a?.t === "ping" && a.alive);
      metricsServer = await serveMetrics(config.metrics.addr, { registry }, { ping }, logger);
    }
  } catch (error) {
    listener.close();
    await stopWorkers("start-up failed");
    throw error;
  }
  logger.info(`${count} workers serving`);
  logger.info(`Listening on ${address}`);

  async function stopWorkers(reason: string | undefined): Promise<void> {
    stopping = true;
    for (const w of workers) {
      clearTimeout(w.restartTimer);
      if (w.child?.connected) w.child.send({ t: "stop", reason } satisfies ToWorker);
    }
    // Each worker drains within server.shutdown-timeout; one that does not
    // leave well after that is hung.
    const hung = setTimeout(() => {
      for (const w of workers) w.child?.kill("SIGKILL");
    }, (s.shutdownTimeout + 10) * 1000);
    await Promise.all(workers.map((w) => w.exited));
    clearTimeout(hung);
  }

  let closing: Promise<void> | undefined;
  let followed: Promise<void> = Promise.resolve();
  return {
    address,
    followCredentials: () => {
      followed = Promise.all(
        workers.map((w) => {
          const child = w.child;
          if (child?.connected !== true) return undefined;
          const done = new Promise<void>((resolve) => {
            const onMessage = (message: FromWorker) => {
              if (message.t !== "credentials-followed") return;
              child.off("message", onMessage);
              resolve();
            };
            child.on("message", onMessage);
            child.once("exit", () => resolve());
          });
          child.send({ t: "follow-credentials" } satisfies ToWorker);
          return done;
        }),
      ).then(() => undefined);
    },
    credentialsFollowed: () => followed,
    reopenLog: () => {
      for (const w of workers) if (w.child?.connected) w.child.send({ t: "reopen-log" } satisfies ToWorker);
    },
    close(reason?: string) {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => listener.close(() => resolve()));
        logger.info(`shutting down${reason ? ` (${reason})` : ""}: no new connections; ${open()} open connections on ${count} workers finish their requests (server.shutdown-timeout ${s.shutdownTimeout} s)`);
        await stopWorkers(reason);
        await stopped;
        await metricsServer?.close();
        logger.info("stopped");
      })();
      return closing;
    },
  };
}
