// Connection tracking: every accepted TCP socket (handshake or not) and every
// client connection, so that shutdown can drain or close them; the refusals
// over server.max-connections, logged once per burst; the open-connections
// gauge of the metrics.
import type { Server, Socket } from "node:net";
import type { Logger } from "../log/logger.js";
import type { Connection } from "./connection.js";

/** The open-connections gauge ([metrics]), when metrics are on. */
export interface ConnectionGauge {
  inc(): void;
  dec(): void;
}

export class ConnectionTracker {
  private readonly connections = new Set<Connection>();
  /** Every accepted TCP connection, handshake or not, for shutdown. */
  private readonly sockets = new Set<Socket>();
  private refusedSinceLog = 0;

  constructor(
    server: Server,
    maxConnections: number,
    logger: Logger,
    private readonly gauge?: ConnectionGauge,
  ) {
    server.on("drop", () => {
      // Logged once per burst, not once per refused socket.
      if (this.refusedSinceLog++ === 0) {
        logger.warn(`refusing connections: ${maxConnections} are open (server.max-connections)`);
      }
    });
    server.on("connection", (socket: Socket) => {
      if (this.refusedSinceLog > 0) {
        logger.info(`accepting connections again; ${this.refusedSinceLog} were refused (server.max-connections)`);
        this.refusedSinceLog = 0;
      }
      this.sockets.add(socket);
      socket.once("close", () => this.sockets.delete(socket));
    });
  }

  /** Client connections open. */
  get size(): number {
    return this.connections.size;
  }

  /** Tracks a client connection until it closes. */
  add(connection: Connection): void {
    this.connections.add(connection);
    this.gauge?.inc();
    void connection.closed.then(() => {
      this.connections.delete(connection);
      this.gauge?.dec();
    });
  }

  /** Every connection reads no more requests; resolves once all have written their answers and closed. */
  drain(): Promise<void> {
    return Promise.all([...this.connections].map((c) => c.drain())).then(() => undefined);
  }

  /** Closes every client connection now, requests in progress or not. */
  destroyConnections(): void {
    for (const c of this.connections) c.destroy();
  }

  /** Closes every socket left, those still in their handshake included. */
  destroySockets(): void {
    for (const socket of this.sockets) socket.destroy();
  }
}
