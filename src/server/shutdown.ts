// Shutdown: stop accepting, let the requests in progress finish within
// server.shutdown-timeout, then close what is left, the metrics endpoint and
// the module, in that order.
import type { Server } from "node:net";
import type { HsmBackend } from "../hsm/backend.js";
import type { Logger } from "../log/logger.js";
import type { ConnectionTracker } from "./connection-tracker.js";
import type { MetricsServer } from "./metrics.js";

export interface RelayParts {
  readonly server: Server;
  readonly tracker: ConnectionTracker;
  readonly metricsServer: MetricsServer | undefined;
  readonly backend: HsmBackend;
  /** server.shutdown-timeout, in seconds. */
  readonly shutdownTimeout: number;
  readonly logger: Logger;
}

export async function shutdown(parts: RelayParts, reason?: string): Promise<void> {
  const { server, tracker, logger, shutdownTimeout } = parts;
  // The listener closes before the line is logged: whoever reads the
  // line may rely on new connections being refused.
  const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
  const drained = tracker.drain();
  logger.info(
    `shutting down${reason ? ` (${reason})` : ""}: no new connections; ${tracker.size} open connections finish their requests (server.shutdown-timeout ${shutdownTimeout} s)`,
  );
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), shutdownTimeout * 1000);
  });
  if ((await Promise.race([drained, timeout])) === "timeout") {
    logger.warn(`requests still in progress after ${shutdownTimeout} s (server.shutdown-timeout); closing their connections`);
    tracker.destroyConnections();
  }
  clearTimeout(timer);
  // What is left has not finished its handshake and has no request.
  tracker.destroySockets();
  await stopped;
  await parts.metricsServer?.close();
  await parts.backend.close();
  logger.info("stopped");
}
