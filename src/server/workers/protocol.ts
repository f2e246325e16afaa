// The messages between the supervisor (supervisor.ts) and its worker
// processes (worker-main.ts), over the IPC channel node:child_process opens
// with fork(). Accepted client sockets travel as the handle of a
// "connection" message.
import type { Config } from "../../config/config.js";
import type { TlsIdentity } from "../tls-identity.js";

/** How an admitted login attempt ended (login-throttle.ts LoginAttempt). */
export type LoginOutcome = "succeeded" | "failed" | "abandoned";

/** Supervisor to worker. */
export type ToWorker =
  | { readonly t: "start"; readonly index: number; readonly config: Config; readonly identity: TlsIdentity; readonly clientCa: string | undefined }
  | { readonly t: "connection"; readonly id: number }
  | { readonly t: "stop"; readonly reason: string | undefined }
  | { readonly t: "reopen-log" }
  | { readonly t: "follow-credentials" }
  | { readonly t: "metrics"; readonly id: number }
  | { readonly t: "ping"; readonly id: number }
  | { readonly t: "login-admitted"; readonly id: number; readonly refused?: { readonly code: string; readonly message: string } };

/** Worker to supervisor. */
export type FromWorker =
  | { readonly t: "ready" }
  | { readonly t: "credentials-followed" }
  | { readonly t: "start-failed"; readonly message: string }
  | { readonly t: "closed"; readonly id: number }
  | { readonly t: "metrics"; readonly id: number; readonly metrics: object[] }
  | { readonly t: "ping"; readonly id: number; readonly alive: boolean }
  | { readonly t: "login-admit"; readonly id: number; readonly slotId: string; readonly client: string; /** hex */ readonly pin: string }
  | { readonly t: "login-outcome"; readonly id: number; readonly outcome: LoginOutcome };
