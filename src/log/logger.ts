// The relay's structured logger (pino). Layers receive a Logger from their
// caller; none keeps a global one.
import type { Logger as PinoLogger } from "pino";

export type Logger = PinoLogger;

/** The level names of the config file and the command line (compat.md). */
export const LOG_LEVELS = ["trace", "debug", "info", "warning", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Where log lines go: `[daemon] log-target` in the config file. */
export type LogTarget =
  | { readonly type: "stderr" }
  /** `socket` defaults to /dev/log. */
  | { readonly type: "syslog"; readonly socket?: string }
  | { readonly type: "file"; readonly path: string };
