// The relay's structured logger (pino). Layers receive a Logger from their
// caller; none keeps a global one.
import type { Logger as PinoLogger } from "pino";

export type Logger = PinoLogger;
