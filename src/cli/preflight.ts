// What start-up needs before it touches the module, checked without starting:
// the TLS certificate and key (readable, parsable, belonging together, not
// expired), the client CA file, the [daemon] identity, the state directory,
// the log file and the pid file (writable by the user starting the relay, who
// makes them; the log's directory also by the [daemon] identity, who makes the
// file anew after it is rotated), the listening ports (free to bind), and the
// PIN of every [clients] entry (readable, not readable by group or others).
// `check` and `--check-config` both run it, so that a config they pass is one
// the relay starts with.
import { X509Certificate } from "node:crypto";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { userInfo } from "node:os";
import { connect } from "node:tls";
import { dirname, join } from "node:path";
import type { Config } from "../config/config.js";
import { parseHostPort } from "../config/host-port.js";
import { DEFAULT_SYSLOG_SOCKET } from "../log/syslog.js";
import { describePinSource, PinSourceError, readPin } from "../server/client-identity.js";
import { readIdentity, type TlsIdentity } from "../server/tls-identity.js";
import { isAlive } from "./daemon.js";
import type { FindingSink } from "./report.js";
import { resolveRunAs, withEffectiveIds, type RunAsIds } from "./run-as.js";

/**
 * Set (to any value) in the service's environment when systemd holds the
 * listening socket (deploy/systemd/socket-activation.conf): [server] addr is
 * then not the relay's to bind.
 */
export const SOCKET_ACTIVATION_ENV = "KMIP2PKCS11_SOCKET_ACTIVATION";

/** A certificate that ends within this many days is worth a warning. */
const EXPIRY_WARNING_DAYS = 30;

export interface PreflightOptions {
  /** Check that [pkcs11] lib-path names a readable file (`check` loads the module instead). */
  readonly libPath: boolean;
  readonly env?: NodeJS.ProcessEnv;
}

export async function preflight(config: Config, report: FindingSink, options: PreflightOptions): Promise<void> {
  const env = options.env ?? process.env;
  if (options.libPath) checkLibPath(config.pkcs11.libPath, report);
  const runAs = checkRunAs(config, report);
  const tls = await checkTlsIdentity(config, report);
  await checkClientCa(config, report);
  checkClients(config, report, env);
  // The generated TLS certificate is made and read at start, before any
  // [daemon] identity takes effect: by the user starting the relay (under
  // systemd's User=, the service user), who is the one checked here.
  if (config.server.identity === undefined) checkWritableDir(config.server.stateDir, "server.state-dir", "the relay keeps its generated TLS certificate there", report);
  checkLogTarget(config, runAs, report);
  checkPidFile(config, report);
  const socketActivated = env[SOCKET_ACTIVATION_ENV] !== undefined;
  if (socketActivated) report.line("listen", `server.addr not bound here: systemd passes the listening socket (${SOCKET_ACTIVATION_ENV} is set)`);
  else await checkPort("server.addr", config.server.addr, tls, report);
  if (config.metrics.addr !== undefined) await checkPort("metrics.addr", config.metrics.addr, undefined, report);
}

function checkLibPath(libPath: string, report: FindingSink): void {
  // A bare name is left to the dynamic linker's search path.
  if (!libPath.includes("/")) return;
  try {
    closeSync(openSync(libPath, "r"));
  } catch (err) {
    report.problem(`pkcs11.lib-path: cannot read ${libPath}: ${errorCode(err)}`, `install the vendor's PKCS#11 module or correct lib-path (\`ls -l ${libPath}\`)`);
  }
}

/** The ids of [daemon] identity, or undefined when it is not set or unknown (then a problem). */
function checkRunAs(config: Config, report: FindingSink): RunAsIds | undefined {
  const identity = config.daemon.identity;
  if (identity === undefined) return undefined;
  let ids: RunAsIds;
  try {
    ids = resolveRunAs(identity);
  } catch (err) {
    report.problem((err as Error).message, "create the user (e.g. with systemd-sysusers or useradd --system) or correct [daemon] identity");
    return undefined;
  }
  const uid = process.getuid?.();
  if (uid !== 0 && uid !== ids.uid) {
    report.problem(`daemon.identity = "${ids.name}": only root can switch user and group (this is uid ${uid})`, "start the relay as root, or remove [daemon] identity and start it as that user");
    return undefined;
  }
  report.line("identity", `runs as ${ids.name} (uid ${ids.uid}, gid ${ids.gid}) once listening`);
  return ids;
}

/** Runs `body` as the service user when there is one to switch to; a problem when the switch fails. */
function asServiceUser(ids: RunAsIds | undefined, report: FindingSink, body: () => void): void {
  if (ids === undefined || process.getuid?.() !== 0 || ids.uid === 0) return body();
  try {
    withEffectiveIds(ids, body);
  } catch (err) {
    report.problem(`cannot check files as ${ids.name}: ${(err as Error).message}`);
  }
}

async function checkTlsIdentity(config: Config, report: FindingSink): Promise<TlsIdentity | undefined> {
  const configured = config.server.identity;
  let certPath: string;
  let keyPath: string;
  if (configured !== undefined) ({ certPath, keyPath } = configured);
  else {
    certPath = join(config.server.stateDir, "tls", "cert.pem");
    keyPath = join(config.server.stateDir, "tls", "key.pem");
    try {
      statSync(certPath);
    } catch {
      report.line("tls", `no certificate yet: a self-signed one for localhost is made in ${dirname(certPath)} at the first start`);
      return undefined;
    }
  }
  let identity: TlsIdentity;
  try {
    identity = await readIdentity(certPath, keyPath, configured === undefined);
  } catch (err) {
    const fix =
      configured === undefined
        ? `remove ${certPath} and ${keyPath} to have a new pair made, or configure [server.identity]`
        : "point [server.identity] cert-path and key-path at a PEM certificate and its unencrypted PEM private key, readable by this user";
    report.problem((err as Error).message, fix);
    return undefined;
  }
  const certificate = new X509Certificate(identity.cert);
  const validTo = new Date(certificate.validTo);
  const validFrom = new Date(certificate.validFrom);
  const now = Date.now();
  report.line("tls", `${certPath}: ${certificate.subject.replace(/\n/g, ", ")}, valid until ${validTo.toISOString()}, SHA-256 ${identity.fingerprint256}`);
  if (validTo.getTime() < now) report.problem(`TLS certificate ${certPath} expired on ${validTo.toISOString()}: clients refuse it`, "install a new certificate (or, for the generated one, remove it and its key to have a new pair made)");
  else if (validFrom.getTime() > now) report.problem(`TLS certificate ${certPath} is not valid before ${validFrom.toISOString()}`, "check this machine's clock, or install a certificate valid now");
  else if (validTo.getTime() < now + EXPIRY_WARNING_DAYS * 86400_000) report.warning(`TLS certificate ${certPath} expires on ${validTo.toISOString()}`, "install a new certificate before then");
  return identity;
}

async function checkClientCa(config: Config, report: FindingSink): Promise<void> {
  const path = config.server.clientCaPath;
  if (path === undefined) return;
  try {
    new X509Certificate(await readFile(path));
  } catch (err) {
    report.problem(`server.client-ca-path: cannot use ${path}: ${errorCode(err)}`, "name a readable PEM file holding the CA certificates client certificates must chain to");
  }
}

/**
 * [clients]: each PIN source, read as start-up reads it (by the user
 * starting the relay, before [daemon] identity takes effect), and what each
 * entry matches. The PIN itself is wiped at once and never shown.
 */
function checkClients(config: Config, report: FindingSink, env: NodeJS.ProcessEnv): void {
  for (const client of config.clients) {
    const m = client.match;
    const matchers = [
      m.subject && `subject ${m.subject.map((a) => `${a.type}=${a.value}`).join(", ")}`,
      m.sanDns && `DNS name ${m.sanDns}`,
      m.sanEmail && `email ${m.sanEmail}`,
      m.sanUri && `URI ${m.sanUri}`,
      m.fingerprint && `SHA-256 ${m.fingerprint}`,
    ].filter(Boolean);
    const alias = Object.hasOwn(config.tokens, client.token) ? ` ([tokens] alias)` : "";
    report.line("clients", `${client.name}: a certificate with ${matchers.join(" and ")} uses token "${client.token}"${alias}, PIN from ${describePinSource(client.pinSource)}`);
    try {
      readPin(client, env).fill(0);
    } catch (err) {
      if (!(err instanceof PinSourceError)) throw err;
      report.problem(err.message, err.fix);
      continue;
    }
    if (client.pinSource.type === "config") {
      report.warning(
        `clients.${client.name}: the PIN is written in the config file, which is read by whoever can read the config (backups, config management, support bundles)`,
        "move it to a file of mode 0600 (pin-file), a systemd credential (pin-credential) or the service's environment (pin-env)",
      );
    }
  }
}

/**
 * `dir` exists and this user can make files in it, or does not exist yet and
 * can be made (its nearest existing parent is writable).
 */
function checkWritableDir(dir: string, key: string, why: string, report: FindingSink): void {
  let existing = dir;
  for (;;) {
    try {
      if (!statSync(existing).isDirectory()) {
        report.problem(`${key}: ${existing} is not a directory`, `make ${dir} a directory, or name another one`);
        return;
      }
      break;
    } catch {
      const parent = dirname(existing);
      if (parent === existing) break;
      existing = parent;
    }
  }
  const made = canMakeFilesIn(existing);
  if (made !== undefined) {
    const who = userName();
    report.problem(`${key}: ${existing} is not writable by ${who} (${made}); ${why}`, `give ${who} the directory: install -d -o ${who} -m 0700 ${dir}`);
  }
}

function checkLogTarget(config: Config, runAs: RunAsIds | undefined, report: FindingSink): void {
  const target = config.daemon.logTarget;
  if (target.type === "syslog") {
    const socket = target.socket ?? DEFAULT_SYSLOG_SOCKET;
    let isSocket = false;
    try {
      isSocket = statSync(socket).isSocket();
    } catch {
      // reported below
    }
    if (!isSocket) report.problem(`daemon.log-target: ${socket} is not a socket: no syslog daemon listens there`, "start a syslog daemon (rsyslog, systemd-journald), or log to stderr or a file");
    return;
  }
  if (target.type !== "file") return;
  const dir = dirname(target.path);
  // Opened before any privilege drop, by the user starting the relay.
  try {
    closeSync(openSync(target.path, "r+"));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") {
      report.problem(`daemon.log-target: cannot write to the log file ${target.path}: ${errorCode(err)}`, `let ${userName()} write it, or log elsewhere`);
      return;
    }
    // The relay makes the file, not its directory.
    if (!isDirectory(dir)) {
      report.problem(`daemon.log-target: the directory of the log file ${target.path} does not exist`, `make it: install -d -o ${runAs?.user ?? userName()} -m 0750 ${dir}`);
      return;
    }
    const made = canMakeFilesIn(dir);
    if (made !== undefined) {
      report.problem(`daemon.log-target: ${userName()} cannot make the log file ${target.path} (${made})`, `give ${userName()} the directory ${dir}, or log elsewhere`);
      return;
    }
  }
  // After `mv` and SIGHUP the relay makes the file anew, as the service user.
  asServiceUser(runAs, report, () => {
    const made = canMakeFilesIn(dir);
    if (made !== undefined) {
      report.warning(
        `daemon.log-target: ${userName()} cannot make files in ${dir} (${made}): reopening the log after it is moved away (SIGHUP) will fail`,
        `give ${userName()} the directory, or rotate with logrotate's copytruncate`,
      );
    }
  });
}

/**
 * [daemon] pid-file: written by the user starting the relay, before any
 * privilege drop, through a temporary file in its directory. A pid file
 * naming a live process refuses the start.
 */
function checkPidFile(config: Config, report: FindingSink): void {
  const path = config.daemon.pidFile;
  if (path === undefined) return;
  if (!config.daemon.daemonize) report.line("pid", `daemon.pid-file ${path}: written in daemon mode only (-d or daemonize = true)`);
  const dir = dirname(path);
  if (!isDirectory(dir)) {
    report.problem(`daemon.pid-file: the directory of ${path} does not exist`, `make it (install -d -m 0755 ${dir}), or name a pid file in an existing directory such as /run`);
    return;
  }
  const made = canMakeFilesIn(dir);
  if (made !== undefined) {
    report.problem(`daemon.pid-file: ${userName()} cannot write ${path} (${made} in ${dir})`, `start the relay as a user who may write ${dir}, or name another pid file`);
    return;
  }
  let pid: number;
  try {
    pid = Number(readFileSync(path, "utf8").trim());
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") report.problem(`daemon.pid-file: cannot read ${path}: ${errorCode(err)}`, `remove ${path}, or let ${userName()} read it`);
    return;
  }
  if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
    report.warning(`daemon.pid-file ${path} names process ${pid}, which is running: a start is refused while it runs`, "stop it first, or remove the file if that process is no relay");
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** undefined when this user can make a file in `dir`, else the error code. */
function canMakeFilesIn(dir: string): string | undefined {
  try {
    rmSync(mkdtempSync(join(dir, ".kmip2pkcs11-check-")), { recursive: true });
    return undefined;
  } catch (err) {
    return errorCode(err);
  }
}

/**
 * Binds `addr` for a moment. A port held by a relay presenting this
 * config's certificate is this relay, running: a warning, not a problem.
 */
async function checkPort(key: string, addr: string, tls: TlsIdentity | undefined, report: FindingSink): Promise<void> {
  const target = parseHostPort(addr);
  if (target === undefined) return;
  const error = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    const server = createServer();
    server.once("error", resolve);
    server.listen({ host: target.host, port: target.port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
  if (error === undefined) {
    report.line("listen", `${key} ${addr}: free`);
    return;
  }
  if (error.code === "EADDRINUSE") {
    if (tls !== undefined && (await presentedCertificate(target.host, target.port)) === tls.fingerprint256) {
      report.warning(`${key} ${addr} is in use by a relay with this config's certificate: this relay is running already`);
      return;
    }
    report.problem(`${key} ${addr} is in use by another process`, `find it with \`ss -ltnp 'sport = :${target.port}'\` and stop it, or choose another ${key}`);
  } else if (error.code === "EACCES") {
    report.problem(`${key} ${addr}: permission denied (${userName()} may not bind port ${target.port})`, "ports below 1024 need root: start the relay as root with [daemon] identity, use systemd socket activation, or choose a port from 1024");
  } else if (error.code === "EADDRNOTAVAIL" || error.code === "ENOTFOUND") {
    report.problem(`${key} ${addr}: no such address on this machine (${error.code})`, `name an address of this machine, e.g. 127.0.0.1:${target.port}`);
  } else {
    report.problem(`${key} ${addr}: cannot listen: ${error.code ?? error.message}`);
  }
}

/** The SHA-256 fingerprint of the certificate a TLS server at host:port presents, if it answers soon. */
function presentedCertificate(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, rejectUnauthorized: false, timeout: 2000 }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.destroy();
    });
    socket.once("timeout", () => {
      resolve(undefined);
      socket.destroy();
    });
    socket.once("error", () => resolve(undefined));
  });
}

/** The effective user's name (os.userInfo looks up the effective uid). */
function userName(): string {
  try {
    return userInfo().username;
  } catch {
    return `uid ${process.geteuid?.()}`;
  }
}

function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}
