// Rate-limited log lines, per peer. A client that sends garbage or wrong
// credentials as fast as it can would otherwise make the relay write a line
// per request (thousands a second), filling the disk and drowning the lines
// that matter. Each peer gets LINES_PER_SECOND lines a second of one kind;
// the rest are counted, and one line says how many were left out.
import type { Logger } from "./logger.js";

/** Lines of one kind logged per peer and second before the rest are counted instead. */
export const LINES_PER_SECOND = 5;
const WINDOW_MS = 1000;
/** Peers remembered at once; beyond this the oldest are forgotten (and may log again). */
const MAX_PEERS = 10_000;

interface PeerWindow {
  start: number;
  logged: number;
  suppressed: number;
  /** The logger of the last suppressed line, for the summary (it carries the connection's fields). */
  logger?: Logger;
  timer?: NodeJS.Timeout;
}

export class PeerLogLimiter {
  private readonly peers = new Map<string, PeerWindow>();

  constructor(
    /** What the lines are about, for the summary line ("lines about refused requests"). */
    private readonly what: string,
    private readonly perSecond = LINES_PER_SECOND,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Counts one line about `peer`: returns `logger` when the line may be
   * written, undefined when it is to be left out. A peer of undefined (not
   * known) is never limited.
   */
  take(peer: string | undefined, logger: Logger): Logger | undefined {
    if (peer === undefined) return logger;
    const now = this.now();
    let window = this.peers.get(peer);
    if (window === undefined || now - window.start >= WINDOW_MS) {
      if (window !== undefined) this.summarize(peer, window);
      window = { start: now, logged: 0, suppressed: 0 };
      this.peers.delete(peer);
      if (this.peers.size >= MAX_PEERS) this.forgetOldest();
      this.peers.set(peer, window);
    }
    if (window.logged < this.perSecond) {
      window.logged++;
      return logger;
    }
    window.suppressed++;
    window.logger = logger;
    // The summary comes when the window ends, also when the peer goes quiet.
    window.timer ??= setTimeout(() => {
      if (this.peers.get(peer) === window) this.peers.delete(peer);
      this.summarize(peer, window);
    }, WINDOW_MS - (now - window.start)).unref();
    return undefined;
  }

  private summarize(peer: string, window: PeerWindow): void {
    clearTimeout(window.timer);
    window.timer = undefined;
    if (window.suppressed === 0 || window.logger === undefined) return;
    window.logger.warn(
      { suppressed: window.suppressed },
      `${window.suppressed} more ${this.what} from ${peer} suppressed (at most ${this.perSecond} a second per peer)`,
    );
    window.suppressed = 0;
  }

  private forgetOldest(): void {
    const [peer, window] = this.peers.entries().next().value!;
    this.peers.delete(peer);
    this.summarize(peer, window);
  }
}
