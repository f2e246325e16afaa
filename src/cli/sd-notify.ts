// Readiness notification for systemd's Type=notify (sd_notify(3)): a
// datagram "READY=1" to the Unix socket named by NOTIFY_SOCKET. Node has no
// Unix datagram sockets, and the npm packages for it are native bindings to
// libsystemd; systemd-notify(1), part of systemd itself and so present
// wherever NOTIFY_SOCKET is set, sends it in about 10 ms. It waits until the
// service manager has read the message (BARRIER=1), so the message is not
// lost when systemd-notify exits first; with --pid it names the relay as the
// sender (the unit still says NotifyAccess=all: an unprivileged process
// cannot claim another pid, and systemd then sees systemd-notify's own).
import { execFile } from "node:child_process";

/** The service manager's socket, taken from the environment so that the module's process does not see it. */
let notifySocket: string | undefined;

/** Call once at start-up, before any child process is started. */
export function takeNotifySocket(env: NodeJS.ProcessEnv = process.env): void {
  notifySocket = env.NOTIFY_SOCKET;
  delete env.NOTIFY_SOCKET;
}

/**
 * Sends `assignments` ("READY=1", "STATUS=...", "STOPPING=1") when systemd
 * asked for notifications; resolves to an error message on failure (the
 * relay runs on without), undefined otherwise.
 */
export function notifySystemd(assignments: readonly string[]): Promise<string | undefined> {
  const socket = notifySocket;
  if (socket === undefined || socket === "") return Promise.resolve(undefined);
  return new Promise((resolve) => {
    execFile(
      "systemd-notify",
      [`--pid=${process.pid}`, ...assignments],
      { env: { ...process.env, NOTIFY_SOCKET: socket }, timeout: 10_000 },
      (err, _stdout, stderr) => resolve(err === null ? undefined : `systemd-notify ${assignments.join(" ")} failed: ${stderr.trim() || err.message}`),
    );
  });
}
