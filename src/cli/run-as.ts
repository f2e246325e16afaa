// `[daemon] identity = "user:group"`: the user and group ids it names, and
// running a few file checks with that user's permissions (for `check`).
import { execFileSync } from "node:child_process";
import { chownSync, statSync } from "node:fs";
import type { RunAs } from "../config/daemon.js";

export interface RunAsIds {
  /** "user" or "user:group", as the config file says it. */
  readonly name: string;
  readonly user: string;
  readonly uid: number;
  readonly gid: number;
}

/** The ids of `identity`; an Error naming the unknown user or group. */
export function resolveRunAs(identity: RunAs): RunAsIds {
  const name = identity.group === undefined ? identity.user : `${identity.user}:${identity.group}`;
  const uid = lookUpId(["id", "-u", "--", identity.user], `unknown user '${identity.user}'`);
  const gid =
    identity.group === undefined
      ? lookUpId(["id", "-g", "--", identity.user], `unknown user '${identity.user}'`)
      : /^\d+$/.test(identity.group)
        ? Number(identity.group)
        : lookUpId(["getent", "group", "--", identity.group], `unknown group '${identity.group}'`, 2);
  return { name, user: identity.user, uid, gid };
}

/** Runs id(1) or getent(1) (both consult NSS) and takes a numeric field. */
function lookUpId(command: string[], notFound: string, field = 0): number {
  let output: string;
  try {
    output = execFileSync(command[0] as string, command.slice(1), { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  } catch {
    throw new Error(`daemon.identity: ${notFound}`);
  }
  const value = output.trim().split(":")[field];
  if (value === undefined || !/^\d+$/.test(value)) throw new Error(`daemon.identity: ${notFound}`);
  return Number(value);
}

type Credentials = typeof process & {
  // Missing from @types/node 20, present in node on POSIX systems.
  initgroups?: (user: string, extraGroup: number) => void;
};

/**
 * Runs `body` with the effective user, group and supplementary groups of
 * `ids`, then switches back (the real user stays root, so it can). `body`
 * must be synchronous: the switch is process-wide, and an asynchronous file
 * operation would run in the thread pool at an unknown time. Root only.
 */
export function withEffectiveIds<T>(ids: RunAsIds, body: () => T): T {
  const p = process as Credentials;
  const groups = p.getgroups?.() ?? [];
  const egid = p.getegid?.() ?? 0;
  p.initgroups?.(ids.user, ids.gid);
  p.setegid?.(ids.gid);
  p.seteuid?.(ids.uid);
  try {
    return body();
  } finally {
    p.seteuid?.(0);
    p.setegid?.(egid);
    p.setgroups?.(groups);
  }
}

/**
 * Gives the files the relay made as root before switching to `ids` (the log
 * file, the generated TLS certificate and key and their directory) to that
 * user, so that it can reopen the log after logrotate and the next start as
 * that user reads them. Files owned by anyone else than root are left alone:
 * someone chose their owner.
 */
export function handOverFiles(paths: readonly string[], ids: RunAsIds): void {
  for (const path of paths) {
    try {
      if (statSync(path).uid === 0) chownSync(path, ids.uid, ids.gid);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw new Error(`cannot give ${path} to ${ids.name}: ${(err as Error).message}`);
    }
  }
}
