// Several relay processes on one SoftHSM token behind HAProxy, on loopback,
// configured with deploy/haproxy/haproxy.cfg itself plus one `server` line
// per relay (as that file asks). Used by the HA tests (test/e2e/ha.test.ts)
// and the HA benchmark (bench/ha.ts).
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { KmipClient, type KmipClientOptions } from "../src/client/kmip-client.js";
import { startRelayProcess, type RunningRelay } from "../test/helpers/relay.js";
import { createSoftHsmToken, type SoftHsmToken } from "../test/helpers/softhsm.js";
import { makeTestCertificate } from "../test/helpers/tls-certificate.js";

/** deploy/haproxy/haproxy.cfg, from dist/bench/ha-pool.js. */
export const HAPROXY_CONFIG = resolve(dirname(fileURLToPath(import.meta.url)), "../../deploy/haproxy/haproxy.cfg");

/** How HAProxy checks the relays (haproxy.cfg, KMIP2PKCS11_HEALTH_CHECK). */
export type HealthCheck = "kmip" | "healthz";

export interface HaproxyServer {
  /** The server's name in HAProxy (`relay1`, ...). */
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** The relay's [metrics] port, for the "healthz" check (loopback relays each have their own). */
  readonly healthPort?: number;
}

export interface HaproxyOptions {
  readonly servers: readonly HaproxyServer[];
  /** PEM file of the relays' certificate, which the "kmip" check verifies. */
  readonly caPath: string;
  /** Default "healthz", as in haproxy.cfg. */
  readonly healthCheck?: HealthCheck;
  /** Time between checks (HAProxy time format); default "500ms", to notice a failover quickly. */
  readonly checkInterval?: string;
}

/** One server's line of the runtime API's `show stat`. */
export interface ServerStat {
  readonly name: string;
  /** "UP", "DOWN", "UP 1/2" (going down), "DOWN 1/2" (coming up), "MAINT", ... */
  readonly status: string;
  /** Result of the last check: "L7OK", "L4CON", ... */
  readonly checkStatus: string;
  /** Connections open now, and since HAProxy started. */
  readonly currentSessions: number;
  readonly totalSessions: number;
}

export interface RunningHaproxy {
  readonly host: string;
  /** The frontend port clients connect to. */
  readonly port: number;
  readonly pid: number;
  /** What HAProxy logged (connections, server state changes). */
  output(): string;
  /** One command of HAProxy's runtime API (management.txt section 9.3); resolves to its answer. */
  command(line: string): Promise<string>;
  servers(): Promise<ServerStat[]>;
  /** Resolves once `predicate` holds for the server `name`, polling the runtime API. */
  waitForServer(name: string, predicate: (stat: ServerStat) => boolean, what: string, timeoutMs?: number): Promise<ServerStat>;
  /** Stops HAProxy and removes its files. */
  stop(): Promise<void>;
}

/** A loopback port that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolveListen) => server.listen(0, "127.0.0.1", resolveListen));
  const { port } = server.address() as { port: number };
  await new Promise((resolveClose) => server.close(resolveClose));
  return port;
}

function serverLine(server: HaproxyServer, healthCheck: HealthCheck): string {
  if (healthCheck === "healthz" && server.healthPort === undefined) throw new Error(`server ${server.name}: the healthz check needs its [metrics] port`);
  return `    server ${server.name} ${server.host}:${server.port}${healthCheck === "healthz" ? ` port ${server.healthPort}` : ""}`;
}

/** Starts HAProxy with deploy/haproxy/haproxy.cfg and these servers; resolves once every server has passed a check. */
export async function startHaproxy(options: HaproxyOptions): Promise<RunningHaproxy> {
  const healthCheck = options.healthCheck ?? "healthz";
  const dir = await mkdtemp(join(tmpdir(), "kmip2pkcs11-haproxy-"));
  const configPath = join(dir, "haproxy.cfg");
  const socket = join(dir, "admin.sock");
  const config = await readFile(HAPROXY_CONFIG, "utf8");
  await writeFile(configPath, `${config}${options.servers.map((s) => serverLine(s, healthCheck)).join("\n")}\n`);
  const port = await freePort();
  const child = spawn("haproxy", ["-db", "-f", configPath], {
    env: {
      ...process.env,
      KMIP2PKCS11_LISTEN: `127.0.0.1:${port}`,
      KMIP2PKCS11_HEALTH_CHECK: healthCheck,
      KMIP2PKCS11_RELAY_CA: options.caPath,
      KMIP2PKCS11_CHECK_INTERVAL: options.checkInterval ?? "500ms",
      KMIP2PKCS11_HAPROXY_LOG: "stderr",
      KMIP2PKCS11_HAPROXY_SOCKET: socket,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  const exited = new Promise<void>((resolveExit) => child.once("exit", () => resolveExit()));
  const spawned = new Promise<void>((resolveSpawn, reject) => {
    child.once("spawn", resolveSpawn);
    child.once("error", (error) => reject(new Error(`cannot run haproxy (apt-get install haproxy): ${error.message}`)));
  });

  const command = (line: string) =>
    new Promise<string>((resolveCommand, reject) => {
      let answer = "";
      // HAProxy answers one command and closes the connection (non-interactive mode).
      const connection = createConnection(socket, () => connection.end(`${line}\n`));
      connection.setEncoding("utf8");
      connection.on("data", (chunk: string) => (answer += chunk));
      connection.once("error", reject);
      connection.once("close", () => resolveCommand(answer));
    });

  const servers = async (): Promise<ServerStat[]> => {
    const [header, ...rows] = (await command("show stat")).trim().split("\n");
    const columns = (header ?? "").replace(/^# /, "").split(",");
    const field = (row: string[], name: string) => row[columns.indexOf(name)] ?? "";
    return rows
      .map((row) => row.split(","))
      .filter((row) => field(row, "pxname") === "kmip2pkcs11" && !["FRONTEND", "BACKEND"].includes(field(row, "svname")))
      .map((row) => ({
        name: field(row, "svname"),
        status: field(row, "status"),
        checkStatus: field(row, "check_status"),
        currentSessions: Number(field(row, "scur")),
        totalSessions: Number(field(row, "stot")),
      }));
  };

  const waitForServer = async (name: string, predicate: (stat: ServerStat) => boolean, what: string, timeoutMs = 15_000) => {
    const deadline = Date.now() + timeoutMs;
    let last: ServerStat | undefined;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`haproxy exited (${child.exitCode}):\n${output}`);
      try {
        last = (await servers()).find((stat) => stat.name === name);
        if (last !== undefined && predicate(last)) return last;
      } catch {
        // The runtime API socket is not there yet.
      }
      await new Promise((wake) => setTimeout(wake, 100));
    }
    throw new Error(`HAProxy server ${name} is not ${what} after ${timeoutMs} ms (last: ${JSON.stringify(last)}):\n${output}`);
  };

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
    await rm(dir, { recursive: true, force: true });
  };

  try {
    await spawned;
    for (const server of options.servers) await waitForServer(server.name, passedCheck, "up and checked");
  } catch (error) {
    await stop();
    throw error;
  }
  return { host: "127.0.0.1", port, pid: child.pid!, output: () => output, command, servers, waitForServer, stop };
}

/** Up, and its last health check succeeded (not merely "up" because no check has run yet). */
export const passedCheck = (stat: ServerStat): boolean => stat.status === "UP" && stat.checkStatus.endsWith("OK");

export interface PoolOptions {
  /** How many relays (default 2). */
  readonly relays?: number;
  /** A token to serve (default: a new one, removed on close). */
  readonly token?: SoftHsmToken;
  /** Default "healthz": each relay then gets a [metrics] address. */
  readonly healthCheck?: HealthCheck;
  readonly checkInterval?: string;
  readonly logLevel?: string;
  /** Extra TOML lines for each relay's [pkcs11] (e.g. `isolation = "in-process"`). */
  readonly pkcs11?: string[];
}

export interface RelayPool {
  readonly token: SoftHsmToken;
  /** The relays' shared certificate, PEM: what a client trusts; and its file. */
  readonly ca: string;
  readonly caPath: string;
  /** The relays, by index; relay i is HAProxy's server `relay${i + 1}`. */
  readonly relays: RunningRelay[];
  readonly haproxy: RunningHaproxy;
  /** Options for KmipClient.connect through HAProxy, with the token's credential. */
  clientOptions(overrides?: Partial<KmipClientOptions>): KmipClientOptions;
  connect(overrides?: Partial<KmipClientOptions>): Promise<KmipClient>;
  /** SIGKILLs relay `index` (a crash: no shutdown, no goodbye to its clients). */
  kill(index: number): Promise<void>;
  /** Starts relay `index` again on its port, with its config. */
  restart(index: number): Promise<void>;
  /** HAProxy's server name of relay `index`. */
  serverName(index: number): string;
  /** The relays as HAProxy servers, for another HAProxy in front of (some of) them. */
  servers(): HaproxyServer[];
  close(): Promise<void>;
}

/**
 * Starts `relays` relay processes on one token, all with one TLS identity
 * ([server.identity]) and, for the healthz check, a [metrics] address each,
 * then HAProxy in front of them.
 */
export async function startRelayPool(options: PoolOptions = {}): Promise<RelayPool> {
  const count = options.relays ?? 2;
  const healthCheck = options.healthCheck ?? "healthz";
  const ownToken = options.token === undefined;
  const token = options.token ?? (await createSoftHsmToken());
  const dir = await mkdtemp(join(tmpdir(), "kmip2pkcs11-pool-"));
  const relays: RunningRelay[] = [];
  const healthPorts: (number | undefined)[] = [];
  let haproxy: RunningHaproxy | undefined;

  const close = async () => {
    await haproxy?.stop();
    await Promise.all(relays.map((relay) => relay.cleanup()));
    await rm(dir, { recursive: true, force: true });
    if (ownToken) await token.cleanup();
  };

  try {
    const identity = await makeTestCertificate();
    const certPath = join(dir, "cert.pem");
    const keyPath = join(dir, "key.pem");
    await writeFile(certPath, identity.cert);
    await writeFile(keyPath, identity.key, { mode: 0o600 });

    const start = async (index: number, port?: number) => {
      const metrics = healthPorts[index] === undefined ? "" : `[metrics]\naddr = "127.0.0.1:${healthPorts[index]}"\n`;
      relays[index] = await startRelayProcess({
        token,
        ...(port === undefined ? {} : { port }),
        logLevel: options.logLevel ?? "info",
        ...(options.pkcs11 === undefined ? {} : { pkcs11: options.pkcs11 }),
        extra: `[server.identity]\ncert-path = "${certPath}"\nkey-path = "${keyPath}"\n${metrics}`,
      });
    };
    for (let i = 0; i < count; i++) healthPorts.push(healthCheck === "healthz" ? await freePort() : undefined);
    await Promise.all(Array.from({ length: count }, (_, i) => start(i)));
    const serverName = (index: number) => `relay${index + 1}`;
    const servers = () => relays.map((relay, i) => ({ name: serverName(i), host: relay.host, port: relay.port, healthPort: healthPorts[i] }));
    const running = await startHaproxy({
      servers: servers(),
      caPath: certPath,
      healthCheck,
      ...(options.checkInterval === undefined ? {} : { checkInterval: options.checkInterval }),
    });
    haproxy = running;

    const clientOptions = (overrides: Partial<KmipClientOptions> = {}): KmipClientOptions => ({
      host: running.host,
      port: running.port,
      ca: identity.cert,
      servername: "localhost",
      username: token.label,
      password: token.pin,
      ...overrides,
    });
    return {
      token,
      ca: identity.cert,
      caPath: certPath,
      relays,
      haproxy: running,
      clientOptions,
      connect: (overrides) => KmipClient.connect(clientOptions(overrides)),
      async kill(index) {
        const relay = relays[index]!;
        relay.process.kill("SIGKILL");
        await relay.stop();
      },
      async restart(index) {
        const old = relays[index]!;
        await old.cleanup();
        await start(index, old.port);
      },
      serverName,
      servers,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
