// Daemon mode (doc/compatibility.md#daemon-mode): the command re-runs
// itself as a detached child in a new session, with no terminal, and waits
// until the child reports over IPC that it is listening (exit 0) or that it
// failed (its message, exit 1). So `kmip2pkcs11 -d && next-step` only goes on
// once the relay accepts connections, and start-up errors still reach the
// operator's terminal.
import { spawn } from "node:child_process";
import type { Socket } from "node:net";
import { readFile, unlink } from "node:fs/promises";
import { readFileSync, unlinkSync } from "node:fs";
import type { RunAs } from "../config/daemon.js";
import { writeFileAtomically } from "../config/state-files.js";
import type { Logger } from "../log/logger.js";
import { resolveRunAs } from "./run-as.js";

/** Set in the environment of the detached child. */
const DAEMON_CHILD_ENV = "KMIP2PKCS11_DAEMON_CHILD";

/** What the child tells the waiting parent. */
type DaemonReport = { type: "ready"; address: string } | { type: "error"; message: string };

/**
 * True in the detached child. The marker is removed from the environment so
 * that processes the relay starts do not inherit it.
 */
export function isDaemonChild(env: NodeJS.ProcessEnv = process.env): boolean {
  const marked = env[DAEMON_CHILD_ENV] === "1";
  delete env[DAEMON_CHILD_ENV];
  return marked;
}

/**
 * Starts the detached child with the same command line and resolves to the
 * parent's exit status once the child reported.
 */
export async function spawnDaemon(argv: string[], stderr: NodeJS.WritableStream): Promise<number> {
  const script = process.argv[1] as string;
  const child = spawn(process.execPath, [...process.execArgv, script, ...argv], {
    detached: true,
    stdio: ["ignore", "ignore", "ignore", "ipc"],
    env: { ...process.env, [DAEMON_CHILD_ENV]: "1" },
  });
  const status = await new Promise<number>((resolve) => {
    let settled = false;
    const settle = (status: number, message?: string) => {
      if (settled) return;
      settled = true;
      if (message !== undefined) stderr.write(`kmip2pkcs11: ${message}\n`);
      resolve(status);
    };
    child.on("message", (report: DaemonReport) => {
      if (report.type === "ready") settle(0);
      else settle(1, report.message);
    });
    child.on("error", (err) => settle(1, `cannot start the daemon: ${err.message}`));
    // The exit can be seen before the last message is read: wait for the
    // IPC channel to close too before concluding that no report came.
    let exited: string | undefined;
    const settleExited = () => {
      if (exited !== undefined && !child.connected) settle(1, `the daemon exited (${exited}) before it was listening`);
    };
    child.on("exit", (code, signal) => {
      exited = signal ?? `status ${code}`;
      settleExited();
    });
    child.on("disconnect", settleExited);
  });
  if (child.connected) child.disconnect();
  child.unref();
  return status;
}

/** In the child: tells the parent how start-up went, then lets it go. */
export async function reportToParent(report: DaemonReport): Promise<void> {
  const send = process.send?.bind(process);
  if (send === undefined || !process.connected) return;
  // Resolved once sent, so that an exit right after cannot lose the report.
  await new Promise<void>((resolve) => send(report, () => resolve()));
  process.disconnect();
}

/**
 * Writes our pid to `path` (atomically). A pid file naming a live process
 * refuses the start; one left behind by a process that is gone is replaced.
 * The file is removed when the process exits.
 */
export async function writePidFile(path: string): Promise<void> {
  let existing: string | undefined;
  try {
    existing = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new Error(`cannot read pid file ${path}: ${(err as Error).message}`);
    }
  }
  const pid = Number(existing?.trim());
  if (existing !== undefined && Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
    throw new Error(`pid file ${path} names process ${pid}, which is running: is kmip2pkcs11 already running? (if not, remove the file)`);
  }
  try {
    await writeFileAtomically(path, `${process.pid}\n`, 0o644);
  } catch (err) {
    throw new Error(`cannot write pid file ${path}: ${(err as Error).message}`);
  }
  // "exit" handlers run on process.exit() too, but must be synchronous.
  process.once("exit", () => removePidFileSync(path));
}

/** Removes the pid file if it still names this process. */
export async function removePidFile(path: string): Promise<void> {
  try {
    if (Number((await readFile(path, "utf8")).trim()) === process.pid) await unlink(path);
  } catch {
    // Gone already, or not ours to remove (see removePidFileSync).
  }
}

function removePidFileSync(path: string): void {
  try {
    if (Number(readFileSync(path, "utf8").trim()) === process.pid) unlinkSync(path);
  } catch {
    // After dropping privileges the pid file's directory (/run) is usually
    // not writable any more; the next start replaces the stale file.
  }
}

/** kill(pid, 0): EPERM means the process exists but belongs to another user. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Switches to `identity` (`[daemon] identity`): supplementary groups, then
 * group, then user, so that no step is taken without the privilege it needs;
 * then the module processes the relay started follow. A no-op when already
 * running as that user and group.
 */
export function dropPrivileges(identity: RunAs, relay: { followCredentials(): void }, logger: Logger): void {
  const { name, uid, gid } = resolveRunAs(identity);
  const current = { uid: process.getuid?.(), gid: process.getgid?.() };
  if (current.uid === uid && current.gid === gid) return;
  if (current.uid !== 0) {
    throw new Error(`daemon.identity = "${name}": only root can switch user and group (running as uid ${current.uid})`);
  }
  try {
    // Missing from @types/node 20, present in node on POSIX systems.
    (process as { initgroups?: (user: string, extraGroup: number) => void }).initgroups?.(identity.user, gid);
    process.setgid?.(gid);
    process.setuid?.(uid);
  } catch (err) {
    throw new Error(`daemon.identity = "${name}": cannot switch: ${(err as Error).message}`);
  }
  relay.followCredentials();
  logger.info({ uid, gid }, `Running as ${name}`);
}

/**
 * Once the relay has switched to a user that may not write the pid file's
 * directory (/run is root's), it cannot remove its pid file on exit. A small
 * shell, started as root before the switch and no child of the relay, waits
 * for the relay's end of a socket pair to close (at any exit, SIGKILL
 * included) and then removes the file if it still names the relay.
 */
export function removePidFileAtExit(path: string): void {
  const script = '(read -r _ <&3; [ "$(cat -- "$1" 2>/dev/null)" = "$2" ] && rm -f -- "$1") 3<&3 >/dev/null 2>&1 &';
  const shell = spawn("/bin/sh", ["-c", script, "sh", path, String(process.pid)], { stdio: ["ignore", "ignore", "ignore", "pipe"] });
  // Our end stays open, unread and unreferenced, until this process ends.
  (shell.stdio[3] as Socket).unref();
  shell.unref();
}
