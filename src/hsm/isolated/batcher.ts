// Coalesces the calls (relay side) and the answers (module process side) of
// the isolated backend into one IPC message per turn of the event loop.
//
// Each process.send / child.send is a V8 serialisation and a write(2), and
// each message received is a read and an event: the cost is per message, not
// per byte, so a batch of 32 Sign items, or requests from 16 connections read
// in one poll phase, would otherwise cost 32 or 16 messages each way
// (measured in bench/README.md#one-ipc-message-per-turn-of-the-event-loop).
//
// Why setImmediate: it runs in the check phase, after the poll phase has
// handled every socket that was readable and after all microtasks, so by
// construction it gathers whatever that turn produced (every connection's
// requests; every P-256 signature of a batch, which the module process makes
// synchronously in microtasks), and it adds no timer delay. process.nextTick
// and queueMicrotask run before the poll phase reaches the next socket.
export class MessageBatcher<T> {
  private queue: T[] = [];
  private immediate: NodeJS.Immediate | undefined;

  constructor(private readonly sendBatch: (batch: T[]) => void) {}

  /** Queues `item`; it is sent with the others of this turn. */
  push(item: T): void {
    this.queue.push(item);
    this.immediate ??= setImmediate(this.flush);
  }

  /** Sends the queued items now: before a control message, which must not overtake them. */
  readonly flush = (): void => {
    if (this.immediate !== undefined) {
      clearImmediate(this.immediate);
      this.immediate = undefined;
    }
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    this.sendBatch(batch);
  };
}
