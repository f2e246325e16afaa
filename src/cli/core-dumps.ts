// Core dumps carry whatever the process holds in memory, a client's PIN
// among it (every KMIP request carries one). Node has no setrlimit() and no
// prctl(PR_SET_DUMPABLE), and an npm dependency only for that is not worth
// its native build, so the limit is set where the process starts: LimitCORE=0
// in the systemd unit, `ulimit -c 0` in scripts/start.sh. Here the relay
// checks at start-up that it holds (RLIMIT_CORE, getrlimit(2), as Linux
// shows it in /proc/self/limits) and says so when it does not; the module
// process inherits the limit.
import { readFileSync } from "node:fs";

/** The soft RLIMIT_CORE from the text of /proc/<pid>/limits: a number of bytes, "unlimited", or undefined when absent. */
export function coreLimit(limits: string): string | undefined {
  return /^Max core file size\s+(\S+)/m.exec(limits)?.[1];
}

/** A warning to log when this process may dump core, or undefined. */
export function coreDumpWarning(read: () => string = () => readFileSync("/proc/self/limits", "utf8")): string | undefined {
  let limit: string | undefined;
  try {
    limit = coreLimit(read());
  } catch {
    return undefined; // Not Linux: nothing to check here.
  }
  if (limit === undefined || limit === "0") return undefined;
  return `core dumps are enabled (RLIMIT_CORE ${limit}); a core dump would hold PINs from client requests: set LimitCORE=0 (systemd) or run "ulimit -c 0" before starting the relay`;
}
