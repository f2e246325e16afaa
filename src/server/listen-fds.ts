// systemd socket activation (sd_listen_fds(3)): systemd binds the listening
// socket itself and passes it as file descriptor 3 (SD_LISTEN_FDS_START),
// announcing it in LISTEN_FDS (the count) and LISTEN_PID (the process meant
// to take them; a child that inherited the environment is not).
import { spawnSync } from "node:child_process";
import { readlinkSync } from "node:fs";

/** SD_LISTEN_FDS_START in sd-daemon.h. */
const SD_LISTEN_FDS_START = 3;

/**
 * The listening socket systemd handed over, if any. The variables are removed
 * from `env` either way, as sd_listen_fds(unset_environment=1) does, so that
 * child processes (the PKCS#11 module host) do not take them for their own.
 * With several sockets only the first is used: the relay has one listener.
 */
export function inheritedListenFd(env: NodeJS.ProcessEnv = process.env, pid: number = process.pid): number | undefined {
  const listenPid = env.LISTEN_PID;
  const listenFds = env.LISTEN_FDS;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  if (listenPid === undefined || listenFds === undefined) return undefined;
  if (!/^\d+$/.test(listenPid) || Number(listenPid) !== pid) return undefined;
  if (!/^\d+$/.test(listenFds) || Number(listenFds) < 1) return undefined;
  return SD_LISTEN_FDS_START;
}

/**
 * The backlog the listening socket `fd` was given (systemd's Backlog=), so
 * that taking it over keeps it: Node listens again on an inherited socket,
 * with 511 unless told otherwise. Only netlink's sock_diag reports a
 * listener's backlog (as Send-Q), so ss(8) is asked, by the socket's inode.
 * Undefined when it cannot tell.
 */
export function listenBacklog(fd: number): number | undefined {
  let inode: string | undefined;
  try {
    inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1];
  } catch {
    return undefined;
  }
  if (inode === undefined) return undefined;
  const ss = spawnSync("ss", ["-Hltne"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 5000 });
  if (ss.status !== 0 || typeof ss.stdout !== "string") return undefined;
  for (const line of ss.stdout.split("\n")) {
    if (!new RegExp(`\\bino:${inode}\\b`).test(line)) continue;
    // State Recv-Q Send-Q Local Peer ...: for a listener, Send-Q is the backlog.
    const backlog = Number(line.trim().split(/\s+/)[2]);
    return Number.isInteger(backlog) && backlog > 0 ? backlog : undefined;
  }
  return undefined;
}
