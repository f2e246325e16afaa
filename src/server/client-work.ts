// A client's share of a token's work: how many batch items one client may
// have in progress on one slot at once.
//
// Each slot's queue to the module is bounded (pkcs11.max-queued-calls,
// max-queued-writes, src/hsm/isolated/supervisor.ts); past it a call
// fails at once with "busy". Without a share per client, one client of a
// token (a few connections, each with max-requests-in-flight requests, or one
// batch of hundreds of items) fills that queue alone, and every other client
// of the token is told "busy". Here a client, known as the login throttle
// knows it (its address, and its certificate when it has one), has at most
// `items` items in progress per slot, of which at most `writes` change state
// (an operation that is not read-only). Its further items wait here, in the
// relay, in the order they came, and a client that goes away takes its
// waiting items with it (the `cancel` signals of acquire): they never reach
// the module. An item makes its module calls one after another, so an item
// in progress is at most one call in the module's queue.

export interface WorkShare {
  /** Items of one client in progress on one slot. */
  readonly items: number;
  /** Of those, items that change state. */
  readonly writes: number;
}

/** Gives back an item's place; called once, when the item is done. */
export type Release = () => void;

interface Waiter {
  readonly write: boolean;
  readonly grant: (release: Release) => void;
}

interface ClientState {
  items: number;
  writes: number;
  readonly waiting: Waiter[];
}

export class ClientWork {
  /** Per "client slot": only clients with an item in progress or waiting are kept. */
  private readonly clients = new Map<string, ClientState>();

  constructor(private readonly share: WorkShare) {}

  /**
   * The item's Release once it may start: at once (not a promise) when the
   * client has room, else a promise of it, resolved when an item of the
   * client ends. Rejects with the signal's reason when one of `cancel`
   * aborts first (also when one already has): the item has not started and
   * takes no place.
   */
  acquire(client: string, slotId: string, write: boolean, cancel: readonly (AbortSignal | undefined)[] = []): Release | Promise<Release> {
    const key = `${client}\n${slotId}`;
    const aborted = cancel.find((signal) => signal?.aborted);
    if (aborted !== undefined) return Promise.reject(aborted.reason);
    let state = this.clients.get(key);
    if (state === undefined) {
      state = { items: 0, writes: 0, waiting: [] };
      this.clients.set(key, state);
    }
    // Whoever waits does not fit (a freed place goes to the waiting first, grantWaiting), so one that fits now takes nobody's turn.
    if (this.fits(state, write)) return this.take(key, state, write);
    const own = state;
    return new Promise<Release>((resolve, reject) => {
      const stop = () => {
        const at = own.waiting.indexOf(waiter);
        if (at >= 0) own.waiting.splice(at, 1);
        this.forget(key, own);
        done();
        reject(cancel.find((signal) => signal?.aborted)?.reason);
      };
      const done = () => {
        for (const signal of cancel) signal?.removeEventListener("abort", stop);
      };
      const waiter: Waiter = {
        write,
        grant: (release) => {
          done();
          resolve(release);
        },
      };
      own.waiting.push(waiter);
      for (const signal of cancel) signal?.addEventListener("abort", stop, { once: true });
    });
  }

  /** Items in progress and waiting, for tests and metrics. */
  usage(client: string, slotId: string): { items: number; writes: number; waiting: number } {
    const state = this.clients.get(`${client}\n${slotId}`);
    return { items: state?.items ?? 0, writes: state?.writes ?? 0, waiting: state?.waiting.length ?? 0 };
  }

  private fits(state: ClientState, write: boolean): boolean {
    return state.items < this.share.items && (!write || state.writes < this.share.writes);
  }

  private take(key: string, state: ClientState, write: boolean): Release {
    state.items++;
    if (write) state.writes++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      state.items--;
      if (write) state.writes--;
      this.grantWaiting(key, state);
    };
  }

  /**
   * Starts waiting items that now fit, in order; an item that does not fit
   * (a write while the client's writes are all taken) lets those behind it
   * that do fit go first.
   */
  private grantWaiting(key: string, state: ClientState): void {
    for (let i = 0; i < state.waiting.length && state.items < this.share.items; ) {
      const waiter = state.waiting[i]!;
      if (!this.fits(state, waiter.write)) {
        i++;
        continue;
      }
      state.waiting.splice(i, 1);
      waiter.grant(this.take(key, state, waiter.write));
    }
    this.forget(key, state);
  }

  private forget(key: string, state: ClientState): void {
    if (state.items === 0 && state.waiting.length === 0 && this.clients.get(key) === state) this.clients.delete(key);
  }
}
