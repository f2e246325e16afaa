// systemd socket activation (sd_listen_fds(3)): systemd binds the listening
// socket itself and passes it as file descriptor 3 (SD_LISTEN_FDS_START),
// announcing it in LISTEN_FDS (the count) and LISTEN_PID (the process meant
// to take them; a child that inherited the environment is not).

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
