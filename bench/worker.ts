// The benchmark's helper processes (load generator, direct pkcs11js) are
// forked Node processes that serve named methods over IPC: the orchestrator
// calls `worker.call("run", args)` and awaits the result. Each runs in its own
// process so that its CPU time is its own and it cannot slow the event loop
// of the process it measures.
import { fork, type ChildProcess } from "node:child_process";

type Request = { id: number; method: string; args: unknown };
type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };

export type Methods = Record<string, (args: never) => Promise<unknown>>;

/** In the child: answers calls with `methods` until the parent disconnects. */
export function serveMethods(methods: Methods): void {
  process.on("message", (message: Request) => {
    const method = methods[message.method];
    const reply = (r: Reply) => process.send!(r);
    if (method === undefined) {
      reply({ id: message.id, ok: false, error: `no method ${message.method}` });
      return;
    }
    method(message.args as never).then(
      (value) => reply({ id: message.id, ok: true, value }),
      (error: unknown) => reply({ id: message.id, ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
    );
  });
  process.on("disconnect", () => process.exit(0));
}

export interface Worker<M extends Methods> {
  readonly pid: number;
  call<K extends keyof M & string>(method: K, args: Parameters<M[K]>[0]): ReturnType<M[K]>;
  /** Disconnects; the child exits. */
  close(): Promise<void>;
}

/** Forks `modulePath` (a compiled .js that calls serveMethods) with `env`. */
export function startWorker<M extends Methods>(modulePath: string, env: NodeJS.ProcessEnv, name: string): Worker<M> {
  const child: ChildProcess = fork(modulePath, [], { env, serialization: "advanced", stdio: ["ignore", "inherit", "inherit", "ipc"] });
  let nextId = 0;
  const pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.on("message", (reply: Reply) => {
    const waiter = pending.get(reply.id);
    pending.delete(reply.id);
    if (reply.ok) waiter?.resolve(reply.value);
    else waiter?.reject(new Error(`${name}: ${reply.error}`));
  });
  child.once("exit", (code, signal) => {
    for (const waiter of pending.values()) waiter.reject(new Error(`${name} process exited (${signal ?? code}) during a call`));
    pending.clear();
  });
  return {
    pid: child.pid!,
    call(method, args) {
      return new Promise((resolve, reject) => {
        const id = ++nextId;
        pending.set(id, { resolve, reject });
        child.send({ id, method, args } satisfies Request);
      }) as ReturnType<M[typeof method]>;
    },
    async close() {
      if (child.connected) child.disconnect();
      await exited;
    },
  };
}
