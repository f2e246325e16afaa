// The relay as `[server] workers` asks: in this process (1), or as a
// supervisor of worker processes (more).
import type { Config } from "../../config/config.js";
import { resolveWorkers } from "../../config/server.js";
import type { Logger } from "../../log/logger.js";
import { startRelay, type RelayHandle, type StartOptions } from "../relay.js";
import { startSupervisor } from "./supervisor.js";

export function startRelayOrWorkers(config: Config, logger: Logger, options: StartOptions = {}): Promise<RelayHandle> {
  return resolveWorkers(config.server.workers) > 1 ? startSupervisor(config, logger, options) : startRelay(config, logger, options);
}
