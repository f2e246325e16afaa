// Running the relay: config, logger, start, privilege drop, signals, shutdown.
import { existsSync } from "node:fs";
import { constants } from "node:os";
import { join } from "node:path";
import { loadConfig, type Config } from "../config/config.js";
import { ConfigError } from "../config/table-reader.js";
import { createLogger, type RootLogger } from "../log/logger.js";
import { inheritedListenFd } from "../server/listen-fds.js";
import type { RelayHandle, StartOptions } from "../server/relay.js";
import { applyOverrides, type CliOptions } from "./args.js";
import { preflight } from "./preflight.js";
import { Report } from "./report.js";
import { notifySystemd, takeNotifySocket } from "./sd-notify.js";
import { handOverFiles, resolveRunAs } from "./run-as.js";
import { dropPrivileges, isDaemonChild, removePidFile, removePidFileAtExit, reportToParent, spawnDaemon, writePidFile } from "./daemon.js";
import { coreDumpWarning } from "./core-dumps.js";

export type StartRelay = (config: Config, logger: RootLogger, options?: StartOptions) => Promise<RelayHandle>;

/** The process's signals, or a stand-in in tests. */
export interface SignalSource {
  on(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
  off(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
}

export interface ServeDeps {
  readonly stderr: NodeJS.WritableStream;
  readonly startRelay: StartRelay;
  readonly signals: SignalSource;
  /** Ends the process at once (a second stop signal). */
  readonly exit: (status: number) => never;
}

const STOP_SIGNALS: readonly NodeJS.Signals[] = ["SIGTERM", "SIGINT"];

/**
 * Runs the relay until SIGTERM or SIGINT; resolves to the exit status.
 * `argv` is the command line, handed on unchanged when daemonizing.
 */
export async function serve(argv: string[], options: CliOptions, deps: ServeDeps): Promise<number> {
  const { stderr } = deps;
  const daemonChild = isDaemonChild();
  let config: Config;
  try {
    config = applyOverrides(await loadConfig(options.configPath), options);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    stderr.write(`kmip2pkcs11: ${err.message}\n`);
    if (daemonChild) await reportToParent({ type: "error", message: err.message });
    return 1;
  }
  if (options.checkConfig) {
    // Every check of start-up that needs no module, so that a config that
    // passes here is one the relay starts with.
    const report = new Report(stderr, false);
    await preflight(config, report, { libPath: true });
    report.printFindings();
    const problems = report.problems;
    stderr.write(`kmip2pkcs11: ${options.configPath}: ${problems === 0 ? "configuration is valid" : `${problems} problem${problems === 1 ? "" : "s"} found`}\n`);
    return problems === 0 ? 0 : 1;
  }

  // Taken before anything else, in the process systemd started (LISTEN_PID).
  const listenFd = inheritedListenFd();
  takeNotifySocket();
  if (config.daemon.daemonize && !daemonChild) {
    if (listenFd !== undefined) {
      stderr.write("kmip2pkcs11: a socket-activated relay cannot daemonize: systemd already runs it in the background; remove -d / daemonize\n");
      return 1;
    }
    if (config.daemon.logTarget.type === "stderr") {
      stderr.write("kmip2pkcs11: warning: a daemon has no stderr, so its log is discarded; set [daemon] log-target or use -l\n");
    }
    return spawnDaemon(argv, stderr);
  }
  // Relative paths were resolved when the config was loaded.
  if (daemonChild) process.chdir("/");

  let logger: RootLogger | undefined;
  /** One clear line in the log, on stderr, and to a waiting daemon parent. */
  const fatal = async (err: unknown): Promise<number> => {
    const message = err instanceof Error ? err.message : String(err);
    if (logger !== undefined) {
      logger.error(err instanceof Error ? { err } : {}, message);
      await logger.close();
    }
    if (logger === undefined || config.daemon.logTarget.type !== "stderr") stderr.write(`kmip2pkcs11: ${message}\n`);
    if (daemonChild) await reportToParent({ type: "error", message });
    return 1;
  };

  try {
    logger = createLogger({ level: config.daemon.logLevel, target: config.daemon.logTarget });
  } catch (err) {
    return fatal(err);
  }
  const log = logger;
  // A bug that escapes every handler: say so where the operator looks (the
  // log, also for a daemon without stderr) and exit, since the relay's state
  // can no longer be trusted; a service manager restarts it.
  const onCrash = (err: unknown) => {
    const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
    log.fatal(`internal error, exiting: ${detail}`);
    void log.close().finally(() => deps.exit(70));
  };
  process.on("uncaughtException", onCrash);
  process.on("unhandledRejection", onCrash);

  // Stop signals count from here: one during start-up stops the relay as
  // soon as it is up; a second one ends the process at once (128 + signal).
  let stopRequested: ((signal: NodeJS.Signals) => void) | undefined;
  const stopSignal = new Promise<NodeJS.Signals>((resolve) => (stopRequested = resolve));
  let stopping = false;
  const onStop = (signal: NodeJS.Signals) => {
    if (stopping) deps.exit(128 + constants.signals[signal]);
    stopping = true;
    stopRequested?.(signal);
  };
  let reopenWorkerLogs: (() => void) | undefined;
  const onHangUp = () => {
    log.reopen();
    reopenWorkerLogs?.();
    if (config.daemon.logTarget.type === "file") log.info("log file reopened (SIGHUP)");
  };
  for (const s of STOP_SIGNALS) deps.signals.on(s, onStop);
  deps.signals.on("SIGHUP", onHangUp);
  const status = await run();
  for (const s of STOP_SIGNALS) deps.signals.off(s, onStop);
  deps.signals.off("SIGHUP", onHangUp);
  return status;

  async function run(): Promise<number> {
    const pidFile = daemonChild ? config.daemon.pidFile : undefined;
    let handle: RelayHandle;
    const coreDumps = coreDumpWarning();
    if (coreDumps !== undefined) log.warn(coreDumps);
    // A state directory made by this start (for the generated TLS identity) is the service user's too.
    const stateDirMade = config.server.identity === undefined && !existsSync(config.server.stateDir);
    try {
      if (pidFile !== undefined) await writePidFile(pidFile);
      handle = await deps.startRelay(config, log, listenFd === undefined ? {} : { listenFd });
      reopenWorkerLogs = handle.reopenLog;
    } catch (err) {
      if (pidFile !== undefined) await removePidFile(pidFile);
      return fatal(err);
    }
    try {
      // Only once the port is bound and the module loaded (both may need root).
      if (config.daemon.identity !== undefined) {
        if (process.getuid?.() === 0) {
          handOverFiles(filesMadeAtStart(config, stateDirMade), resolveRunAs(config.daemon.identity));
          if (pidFile !== undefined) removePidFileAtExit(pidFile);
        }
        dropPrivileges(config.daemon.identity, handle, log);
        await handle.credentialsFollowed?.();
      }
    } catch (err) {
      await handle.close("start-up failed");
      if (pidFile !== undefined) await removePidFile(pidFile);
      return fatal(err);
    }
    if (daemonChild) await reportToParent({ type: "ready", address: handle.address });
    // Type=notify: `systemctl start` returns now, not before the relay listens.
    const notified = await notifySystemd(["READY=1", `STATUS=Listening on ${handle.address}`]);
    if (notified !== undefined) log.warn(notified);

    const signal = await stopSignal;
    void notifySystemd(["STOPPING=1"]);
    await handle.close(signal);
    if (pidFile !== undefined) await removePidFile(pidFile);
    await log.close();
    return 0;
  }
}

/**
 * What start-up may have made as root: the log file, the generated TLS
 * identity, and the state directory when this start made it (one that was
 * there before keeps its owner).
 */
function filesMadeAtStart(config: Config, stateDirMade: boolean): string[] {
  const files = config.daemon.logTarget.type === "file" ? [config.daemon.logTarget.path] : [];
  if (config.server.identity === undefined) {
    const tls = join(config.server.stateDir, "tls");
    if (stateDirMade) files.push(config.server.stateDir);
    files.push(tls, join(tls, "cert.pem"), join(tls, "key.pem"));
  }
  return files;
}
