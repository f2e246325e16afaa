// One child process running the PKCS#11 module (child.ts): forks it, sends
// it calls and control messages, hands its answers to the supervisor
// (supervisor.ts), logs its output and log records through the relay's
// logger, and reports how it ended. Restarts, timeouts and which child serves
// are the supervisor's business, not this file's.
import { fork, type ChildProcess } from "node:child_process";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import type { Level } from "pino";
import type { Logger } from "../../log/logger.js";
import type { ModuleInfo } from "../backend.js";
import { HsmError } from "../hsm-error.js";
import { MessageBatcher } from "./batcher.js";
import { logModuleOutput } from "./module-output.js";
import { deserializeError, type CallRequest, type CallResponse, type ChildMessage, type ParentMessage } from "./protocol.js";

const PINO_LEVELS = new Set(["fatal", "error", "warn", "info", "debug", "trace"]);

/** After the child exited, how long its IPC channel may take to deliver the last messages. */
const CHANNEL_DRAIN_MS = 1000;

const CHILD_PATH = fileURLToPath(new URL("./child.js", import.meta.url));

/** One child process running the module. */
export class ModuleProcess {
  readonly pid: number | undefined;
  /** Resolves once the child has loaded and initialised the module. */
  readonly opened: Promise<void>;
  module!: ModuleInfo;
  /** performance.now() when the child became ready. */
  readyAt = Number.POSITIVE_INFINITY;
  private readonly child: ChildProcess;
  private readonly logger: Logger;
  private readonly exited: Promise<void>;
  private settleOpen!: (error?: Error) => void;
  /** Calls go out together, once per turn of the event loop. */
  private readonly calls = new MessageBatcher<CallRequest>((batch) => this.write(batch));

  constructor(
    env: Record<string, string> | undefined,
    parentLogger: Logger,
    onResponse: (message: CallResponse) => void,
    onExit: (child: ModuleProcess, how: string) => void,
    private readonly onWriteStarted: (id: number) => void = () => undefined,
  ) {
    this.opened = new Promise<void>((resolve, reject) => {
      this.settleOpen = (error) => (error === undefined ? resolve() : reject(error));
    });
    this.child = fork(CHILD_PATH, [], {
      serialization: "advanced",
      stdio: ["ignore", "pipe", "pipe", "ipc"],
      env: env === undefined ? process.env : { ...process.env, ...env },
      // The relay's own node flags (inspector, test runner, ...) are not for the child.
      execArgv: [],
    });
    this.pid = this.child.pid;
    this.logger = parentLogger.child({ modulePid: this.pid });
    logModuleOutput(this.child.stdout!, "stdout", "info", this.logger);
    logModuleOutput(this.child.stderr!, "stderr", "warn", this.logger);
    this.child.on("message", (message: ChildMessage) => {
      if (Array.isArray(message)) for (const response of message) onResponse(response);
      else this.onControl(message);
    });
    // Sending to a child that just died: the exit event reports the failure.
    this.child.on("error", (error) => this.logger.debug({ err: error }, "HSM module process channel error"));
    this.exited = new Promise((resolve) => {
      this.child.on("exit", (code, signal) => {
        const how = signal === null ? `exited with code ${code}` : `killed by ${signal}`;
        const ended = (): void => {
          this.settleOpen(new HsmError("MODULE_FAILED", `the HSM module process ${how} while loading the module`));
          onExit(this, how);
          resolve();
        };
        // Answers the child wrote just before it ended may still be in the
        // channel, which closes after its last message: let them arrive
        // first. A process the module spawned may hold the channel open, so
        // the wait is bounded.
        if (!this.child.connected) return ended();
        const timer = setTimeout(() => {
          this.child.removeListener("disconnect", drained);
          ended();
        }, CHANNEL_DRAIN_MS);
        const drained = (): void => {
          clearTimeout(timer);
          ended();
        };
        this.child.once("disconnect", drained);
      });
    });
  }

  /** Queues a call; see batcher.ts. */
  call(request: CallRequest): void {
    this.calls.push(request);
  }

  /** Sends a control message, after the calls queued before it. */
  send(message: Exclude<ParentMessage, CallRequest[]>): void {
    this.calls.flush();
    this.write(message);
  }

  private write(message: ParentMessage): void {
    if (this.child.connected) this.child.send(message);
  }

  /** Ends a start that has not completed (timeout, close). */
  failStart(error: Error): void {
    this.settleOpen(error);
    this.kill();
  }

  kill(): void {
    this.child.kill("SIGKILL");
  }

  /** Asks the child to close the module and exit; kills it after graceMs. */
  async stop(graceMs: number): Promise<void> {
    this.send({ kind: "close" });
    const timer = setTimeout(() => this.kill(), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  private onControl(message: Exclude<ChildMessage, unknown[]>): void {
    switch (message.kind) {
      case "ready":
        this.module = message.module;
        this.readyAt = performance.now();
        this.settleOpen();
        break;
      case "open-failed":
        this.settleOpen(deserializeError(message.error));
        break;
      case "log":
        this.relayLog(message.line);
        break;
      case "started":
        this.onWriteStarted(message.id);
        break;
      case "closed":
        this.logger.debug("the HSM module process closed the module and exits");
        break;
    }
  }

  /** Logs a record of the child's pino logger through the relay's logger. */
  private relayLog(line: string): void {
    const { level, msg, ...fields } = JSON.parse(line) as { level: number; msg?: string };
    const label = this.logger.levels.labels[level];
    this.logger[label !== undefined && PINO_LEVELS.has(label) ? (label as Level) : "info"](fields, msg);
  }
}
