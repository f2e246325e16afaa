// The supervisor of the isolated backend (isolated-backend.ts): it owns the
// child processes that run the PKCS#11 module (module-process.ts), sends
// each call to the one serving and hands back its answer. When the child dies
// or stops answering (see "When a module counts as hung" below), the calls in
// flight fail with MODULE_FAILED, the failure is logged, and a new child is
// started with exponential backoff; calls that arrive meanwhile wait for it.
// It also kills the children when the relay exits without closing the
// backend.
//
// When a module counts as hung. Killing the module in the middle of a write
// destroys data: SoftHSM rewrites object files in place (on
// C_SetAttributeValue, C_DestroyObject, and its token file on every
// C_Login), so a kill there leaves a truncated key or a whole token
// unreadable, of whichever token was writing, not only the one whose call was
// slow. Hence:
// - A call is timed from when it can have started, not from when it was
//   queued: the module runs the calls it has in some order, on a few sessions
//   and threads, so a call waiting behind others has not started. What this
//   side can see is progress: the clock runs from the later of the oldest
//   unanswered call's sending and the module's last answer. A module that
//   answers something at least every callTimeoutMs is working through its
//   queue, however long the queue is.
// - While any write (WRITES) is under way, the limit is writeTimeoutMs, much
//   longer: the module is killed only when even a write has made no progress
//   for that long, and the log then names every write in flight and the
//   objects it may have damaged. A write is under way once the module
//   process says it started it (child.ts sends "started" before the
//   PKCS#11 call): a write sent but queued behind a call that hangs has
//   not started and damages nothing, so it does not hold the kill of a
//   hung read back for writeTimeoutMs.
// - Each slot has at most maxQueuedCalls unanswered calls, of which at most
//   maxQueuedWrites writes; beyond that a call fails at once with BUSY, so
//   a client flooding one token cannot make the queue, and with it every
//   other token's wait, arbitrarily long.
// - When the relay exits without closing the backend, a child with a write
//   in flight is not killed: it notices the relay is gone, finishes its calls
//   and exits by itself (child.ts).
import { performance } from "node:perf_hooks";
import { DEFAULTS } from "../../config/defaults.js";
import type { Logger } from "../../log/logger.js";
import type { ModuleInfo } from "../backend.js";
import { HsmError } from "../hsm-error.js";
import type { Pkcs11BackendOptions } from "../pkcs11-backend.js";
import { ModuleProcess } from "./module-process.js";
import { describeCall, describeWrite, type PendingCall } from "./pending-call.js";
import { deserializeError, WRITES, type BackendMethod, type SerializedError, type CallResponse, type ParentMessage } from "./protocol.js";

export interface SupervisorOptions extends Pkcs11BackendOptions {
  /**
   * The module answering nothing for this long while calls are waiting, none
   * of them a write: the child is killed (SIGKILL) and restarted.
   */
  callTimeoutMs: number;
  /** The same while a write is waiting (WRITES). Default DEFAULT_WRITE_TIMEOUT_MS. */
  writeTimeoutMs?: number;
  /** Unanswered calls per slot; more fail at once with BUSY. Default DEFAULT_MAX_QUEUED_CALLS. */
  maxQueuedCalls?: number;
  /** Unanswered writes per slot, among maxQueuedCalls. Default DEFAULT_MAX_QUEUED_WRITES. */
  maxQueuedWrites?: number;
  /** Extra environment for the module's process only (vendor variables). */
  env?: Record<string, string>;
  /**
   * Delay before restarting a failed child: initialMs, doubled after each
   * further failure up to maxMs. A child that served for maxMs or longer
   * before failing counts as stable, and the delay starts again at initialMs.
   * Default { initialMs: 100, maxMs: 30000 }.
   */
  restartBackoff?: { initialMs: number; maxMs: number };
  /** How long a child may take to load the module and C_Initialize it. Default 30000. */
  startTimeoutMs?: number;
  /** Called each time a restarted child serves again (for the module restarts metric). */
  onRestart?: () => void;
}

const DEFAULT_RESTART_BACKOFF = { initialMs: 100, maxMs: 30_000 };
// The config file's [pkcs11] defaults (src/config/defaults.ts), for callers that give none.
const DEFAULT_START_TIMEOUT_MS = DEFAULTS.pkcs11.startTimeout * 1000;
const DEFAULT_WRITE_TIMEOUT_MS = DEFAULTS.pkcs11.writeTimeout * 1000;
const DEFAULT_MAX_QUEUED_CALLS = DEFAULTS.pkcs11.maxQueuedCalls;
const DEFAULT_MAX_QUEUED_WRITES = DEFAULTS.pkcs11.maxQueuedWrites;

/** The methods whose first argument is not a slot id. */
const SLOTLESS: ReadonlySet<BackendMethod> = new Set(["listSlots", "resolveSlot", "ping"]);

interface RestartWaiter {
  resolve(): void;
  reject(error: Error): void;
  readonly timer: NodeJS.Timeout;
}

/** What the isolated backend learns from the supervisor, to drop what it keeps about the serving child. */
export interface SupervisorHooks {
  /** The serving child failed (crash, timeout): a new one has no login. */
  onChildFailed(): void;
  /** A call on a slot failed with this error. */
  onSlotCallFailed(slotId: string, error: SerializedError): void;
}

export class ModuleSupervisor {
  module!: ModuleInfo;
  /** What the module process is opened with; the backend's PIN checks (pin-check.ts) take them too. */
  readonly pkcs11Options: Pkcs11BackendOptions;
  readonly env: Record<string, string> | undefined;
  /** At least callTimeoutMs. */
  readonly writeTimeoutMs: number;

  private readonly callTimeoutMs: number;
  private readonly maxQueuedCalls: number;
  private readonly maxQueuedWrites: number;
  private readonly backoff: { initialMs: number; maxMs: number };
  private readonly startTimeoutMs: number;
  private readonly onRestart: (() => void) | undefined;

  /** The child serving calls; undefined while restarting. */
  private serving: ModuleProcess | undefined;
  /** A child being started, not yet serving. */
  private starting: ModuleProcess | undefined;
  /**
   * Every child of this supervisor that has not exited, for killOnExit: one
   * that failed or is stopping may still be running.
   */
  private readonly live = new Set<ModuleProcess>();
  /** Calls sent to `serving`, oldest first (Map keeps insertion order). */
  private readonly pending = new Map<number, PendingCall>();
  private nextId = 0;
  /** Unanswered calls and writes per slot, for maxQueuedCalls and maxQueuedWrites. */
  private readonly queued = new Map<string, { calls: number; writes: number }>();
  /** Writes the module process started and has not answered, of all slots: while there is one, writeTimeoutMs applies. */
  private writesPending = 0;
  /** performance.now() of the serving child's last answer (or of its start). */
  private lastAnswerAt = 0;
  /** One timer for all calls: it checks the oldest pending call. */
  private watchdog: NodeJS.Timeout | undefined;
  private readonly waiters = new Set<RestartWaiter>();
  private restartTimer: NodeJS.Timeout | undefined;
  private restartDelayMs: number;
  private lastFailure = "";
  private failedAt = 0;
  private closing: Promise<void> | undefined;

  constructor(
    options: SupervisorOptions,
    private readonly logger: Logger,
    private readonly hooks: SupervisorHooks,
  ) {
    const { callTimeoutMs, writeTimeoutMs, maxQueuedCalls, maxQueuedWrites, env, restartBackoff, startTimeoutMs, onRestart, ...pkcs11Options } = options;
    this.callTimeoutMs = callTimeoutMs;
    this.writeTimeoutMs = Math.max(writeTimeoutMs ?? DEFAULT_WRITE_TIMEOUT_MS, callTimeoutMs);
    this.maxQueuedCalls = maxQueuedCalls ?? DEFAULT_MAX_QUEUED_CALLS;
    this.maxQueuedWrites = maxQueuedWrites ?? DEFAULT_MAX_QUEUED_WRITES;
    this.env = env;
    this.onRestart = onRestart;
    this.backoff = restartBackoff ?? DEFAULT_RESTART_BACKOFF;
    this.startTimeoutMs = startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    this.pkcs11Options = pkcs11Options;
    this.restartDelayMs = this.backoff.initialMs;
  }

  async start(): Promise<void> {
    process.on("exit", this.killOnExit);
    try {
      this.serving = await this.startProcess();
    } catch (error) {
      process.off("exit", this.killOnExit);
      throw error;
    }
    this.lastAnswerAt = performance.now();
    this.module = this.serving.module;
  }

  /**
   * When the relay exits without closing the backend (a second stop signal,
   * a crash), its module processes are killed: a module hung inside a call
   * blocks its process's event loop, so it would never notice that the
   * relay is gone and would linger. ("exit" listeners must be synchronous.)
   */
  private readonly killOnExit = (): void => {
    for (const child of this.live) {
      // A write may be under way: the child finishes it and exits by itself
      // once it sees the relay gone (child.ts), rather than leave a damaged file.
      if (child === this.serving && this.writesPending > 0) continue;
      child.kill();
    }
  };

  /**
   * Called once the relay has switched user and group ([daemon] identity): the
   * module processes started before, as root, switch to the relay's new
   * credentials. (Processes started afterwards inherit them.) The message goes
   * ahead of any later call on the same channel, so no call runs with the old
   * credentials.
   */
  followCredentials(): void {
    const message: ParentMessage = {
      kind: "set-credentials",
      uid: process.getuid?.() ?? 0,
      gid: process.getgid?.() ?? 0,
      groups: process.getgroups?.() ?? [],
    };
    this.serving?.send(message);
    this.starting?.send(message);
  }

  /**
   * Asks the child to finish the calls in flight, C_Finalize and exit; kills
   * it if it has not exited within callTimeoutMs. Later calls fail at once.
   */
  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  /**
   * Sends a call to the serving child (after a restart, to the next one);
   * BUSY at once when its slot's queue is full. `onSuccess` runs when it
   * succeeds, in the order the child answered, before the caller resumes.
   */
  call<T>(method: BackendMethod, args: unknown[], onSuccess?: (value: unknown) => void): Promise<T> {
    const child = this.serving;
    if (child === undefined) return this.callAfterRestart(method, args, onSuccess);
    const slotId = SLOTLESS.has(method) ? undefined : (args[0] as string);
    const write = WRITES.has(method);
    if (slotId !== undefined) {
      const queued = this.queued.get(slotId) ?? { calls: 0, writes: 0 };
      if (queued.calls >= this.maxQueuedCalls || (write && queued.writes >= this.maxQueuedWrites)) {
        const what = write ? `${queued.writes} writes` : `${queued.calls} calls`;
        return Promise.reject(new HsmError("BUSY", `busy: ${what} queued for slot ${slotId}; try again later`));
      }
      queued.calls++;
      if (write) queued.writes++;
      this.queued.set(slotId, queued);
    }
    if (this.pending.size === 0) this.lastAnswerAt = performance.now();
    return new Promise<T>((resolve, reject) => {
      const id = ++this.nextId;
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject, method, args, startedAt: performance.now(), write, started: false, slotId, onSuccess });
      child.call([id, method, args]);
      this.watchdog ??= setTimeout(this.checkTimeouts, this.callTimeoutMs);
    });
  }

  /** A call left `pending`: it no longer counts against its slot's queue. */
  private settled(call: PendingCall): void {
    if (call.started) this.writesPending--;
    if (call.slotId === undefined) return;
    const queued = this.queued.get(call.slotId);
    if (queued === undefined) return;
    queued.calls--;
    if (call.write) queued.writes--;
    if (queued.calls === 0) this.queued.delete(call.slotId);
  }

  private async callAfterRestart<T>(method: BackendMethod, args: unknown[], onSuccess?: (value: unknown) => void): Promise<T> {
    await this.waitForRestart();
    return this.call(method, args, onSuccess);
  }

  private waitForRestart(): Promise<void> {
    if (this.closing !== undefined) return Promise.reject(closedError());
    return new Promise((resolve, reject) => {
      const waiter: RestartWaiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          reject(
            new HsmError(
              "MODULE_FAILED",
              `the HSM module failed: ${this.lastFailure}; it has not restarted within ${this.callTimeoutMs / 1000} s (call-timeout)`,
            ),
          );
        }, this.callTimeoutMs),
      };
      this.waiters.add(waiter);
    });
  }

  /** See "When a module counts as hung" at the top of this file. */
  private readonly checkTimeouts = (): void => {
    this.watchdog = undefined;
    const oldest = this.pending.values().next().value;
    if (oldest === undefined || this.serving === undefined) return;
    const limit = this.writesPending > 0 ? this.writeTimeoutMs : this.callTimeoutMs;
    const silent = performance.now() - Math.max(oldest.startedAt, this.lastAnswerAt);
    if (silent < limit) {
      this.watchdog = setTimeout(this.checkTimeouts, Math.ceil(Math.min(limit - silent, this.callTimeoutMs)));
      return;
    }
    const failed = this.serving;
    const writes = [...this.pending.values()].filter((call) => call.started);
    const kind = writes.length > 0 ? "a write" : "a call";
    if (writes.length > 0) {
      this.logger.error(
        { modulePid: failed.pid, writes: writes.map(describeWrite) },
        `the HSM module has answered nothing for ${Math.round(silent)} ms with ${writes.length} write${writes.length === 1 ? "" : "s"} in flight; killing it may damage: ${writes.map(describeWrite).join("; ")}`,
      );
    }
    this.childFailed(failed, `timeout: no answer for ${Math.round(silent)} ms with ${kind} in flight, the oldest ${describeCall(oldest)} (limit ${limit} ms)`);
    failed.kill();
  };

  /** The module process started a write: from now on the write bound applies. */
  private readonly onWriteStarted = (id: number): void => {
    const call = this.pending.get(id);
    if (call === undefined || !call.write || call.started) return;
    call.started = true;
    this.writesPending++;
    this.lastAnswerAt = performance.now();
  };

  private readonly onResponse = (message: CallResponse): void => {
    const id = message[0];
    const call = this.pending.get(id);
    // Absent: the call already failed (timeout, crash) and was answered.
    if (call === undefined) return;
    this.pending.delete(id);
    this.settled(call);
    this.lastAnswerAt = performance.now();
    if (message[1]) {
      call.onSuccess?.(message[2]);
      call.resolve(message[2]);
    } else {
      if (call.slotId !== undefined) this.hooks.onSlotCallFailed(call.slotId, message[2]);
      call.reject(deserializeError(message[2]));
    }
  };

  private readonly onExit = (child: ModuleProcess, how: string): void => {
    this.live.delete(child);
    if (this.closing !== undefined && this.live.size === 0) process.off("exit", this.killOnExit);
    if (child !== this.serving) return;
    const oldest = this.pending.values().next().value;
    const during = oldest === undefined ? "while no call was in flight" : `during ${describeCall(oldest)}`;
    this.childFailed(child, `${how} ${during}`);
  };

  /** The serving child failed: fail its calls, log, and schedule a restart. */
  private childFailed(child: ModuleProcess, reason: string): void {
    this.serving = undefined;
    this.hooks.onChildFailed();
    const calls = this.pending.size;
    this.failPending(new HsmError("MODULE_FAILED", `the HSM module failed: ${reason}`));
    if (this.closing !== undefined) return;
    this.lastFailure = reason;
    this.failedAt = performance.now();
    if (performance.now() - child.readyAt >= this.backoff.maxMs) this.restartDelayMs = this.backoff.initialMs;
    const delay = this.nextRestartDelay();
    this.logger.error(
      { modulePid: child.pid, callsFailed: calls },
      `the HSM module process ${child.pid} failed: ${reason}; ${calls} call${calls === 1 ? "" : "s"} in flight failed; restarting it in ${delay} ms`,
    );
    this.scheduleRestart(delay);
  }

  private failPending(error: HsmError): void {
    const calls = [...this.pending.values()];
    this.pending.clear();
    for (const call of calls) {
      this.settled(call);
      call.reject(error);
    }
  }

  private nextRestartDelay(): number {
    const delay = this.restartDelayMs;
    this.restartDelayMs = Math.min(delay * 2, this.backoff.maxMs);
    return delay;
  }

  private scheduleRestart(delay: number): void {
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      void this.restart();
    }, delay);
  }

  private async restart(): Promise<void> {
    let child: ModuleProcess;
    try {
      child = await this.startProcess();
    } catch (error) {
      if (this.closing !== undefined) return;
      const delay = this.nextRestartDelay();
      this.logger.error(
        `the HSM module process could not be restarted: ${(error as Error).message}; next attempt in ${delay} ms`,
      );
      this.scheduleRestart(delay);
      return;
    }
    if (this.closing !== undefined) {
      child.kill();
      return;
    }
    this.serving = child;
    this.lastAnswerAt = performance.now();
    this.logger.info(
      { modulePid: child.pid },
      `the HSM module process ${child.pid} is serving again, ${Math.round(performance.now() - this.failedAt)} ms after the failure`,
    );
    this.onRestart?.();
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.resolve();
    }
    this.waiters.clear();
  }

  /** Forks a child and resolves once it has opened the module. */
  private async startProcess(): Promise<ModuleProcess> {
    const child = new ModuleProcess(this.env, this.logger, this.onResponse, this.onExit, this.onWriteStarted);
    this.live.add(child);
    this.starting = child;
    const tooSlow = `the HSM module process did not load ${this.pkcs11Options.libPath} within ${this.startTimeoutMs / 1000} s (start-timeout)`;
    const timer = setTimeout(() => child.failStart(new HsmError("MODULE_FAILED", tooSlow)), this.startTimeoutMs);
    try {
      child.send({ kind: "open", options: this.pkcs11Options, logLevel: this.logger.level });
      await child.opened;
      return child;
    } catch (error) {
      child.kill();
      throw error;
    } finally {
      clearTimeout(timer);
      this.starting = undefined;
    }
  }

  private async shutDown(): Promise<void> {
    clearTimeout(this.restartTimer);
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(closedError());
    }
    this.waiters.clear();
    this.starting?.failStart(closedError());
    // New calls now take the restart path, which fails once closing is set.
    const child = this.serving;
    this.serving = undefined;
    await child?.stop(this.writesPending > 0 ? this.writeTimeoutMs : this.callTimeoutMs);
    clearTimeout(this.watchdog);
    this.failPending(closedError());
    // A child killed just before (a timeout, a failed start) may not have
    // exited yet: the hook stays until none is left.
    if (this.live.size === 0) process.off("exit", this.killOnExit);
  }
}

function closedError(): HsmError {
  return new HsmError("MODULE_FAILED", "the HSM backend is closed");
}
