// The login throttle seen from a worker process. The failure counts live in
// the supervisor (one ClientLoginThrottle for all workers), so that a client
// whose connections land on several workers, or that reconnects until it
// lands on another, has one count, not one per worker. Asking the
// supervisor costs an IPC round trip, so a worker asks only for a PIN it
// has not seen accepted on the slot: a request with the slot's accepted PIN
// passes every limit of the throttle anyway, and the signer's requests,
// which all carry it, stay within the worker.
import { randomBytes, timingSafeEqual } from "node:crypto";
import { HsmError, type HsmErrorCode } from "../../hsm/hsm-error.js";
import { pinDigest } from "../../hsm/login.js";
import type { ClientLoginThrottle, LoginAttempt } from "../login-throttle.js";
import type { FromWorker, LoginOutcome } from "./protocol.js";

const IGNORE = (): void => {};

export class WorkerLoginThrottle implements Pick<ClientLoginThrottle, "admit"> {
  /** Keyed digests (key drawn per worker) of the PIN last accepted per slot. */
  private readonly key = randomBytes(32);
  private readonly accepted = new Map<string, Buffer>();
  private readonly waiting = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
  private nextId = 1;

  constructor(private readonly send: (message: FromWorker) => void) {}

  async admit(slotId: string, client: string, pin: Uint8Array): Promise<LoginAttempt> {
    const digest = pinDigest(this.key, pin);
    const known = this.accepted.get(slotId);
    if (known !== undefined && timingSafeEqual(known, digest)) {
      return {
        succeeded: IGNORE,
        abandoned: IGNORE,
        // The accepted PIN was refused (changed, or the token reset): the
        // supervisor counts the failure, and the next request asks it.
        failed: () => {
          this.accepted.delete(slotId);
          this.ask(slotId, client, pin).then((attempt) => attempt.failed(), IGNORE);
        },
      };
    }
    const attempt = await this.ask(slotId, client, pin);
    return {
      succeeded: () => {
        this.accepted.set(slotId, digest);
        attempt.succeeded();
      },
      failed: () => attempt.failed(),
      abandoned: () => attempt.abandoned(),
    };
  }

  /** The supervisor's answer to a "login-admit" (protocol.ts). */
  answered(id: number, refused: { code: string; message: string } | undefined): void {
    const waiter = this.waiting.get(id);
    if (waiter === undefined) return;
    this.waiting.delete(id);
    if (refused === undefined) waiter.resolve();
    else waiter.reject(new HsmError(refused.code as HsmErrorCode, refused.message));
  }

  private async ask(slotId: string, client: string, pin: Uint8Array): Promise<LoginAttempt> {
    const id = this.nextId++;
    await new Promise<void>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      // IPC carries JSON: the PIN goes as hex, once per slot until it is accepted in this worker.
      this.send({ t: "login-admit", id, slotId, client, pin: Buffer.from(pin).toString("hex") });
    });
    let done = false;
    const end = (outcome: LoginOutcome) => () => {
      if (done) return;
      done = true;
      this.send({ t: "login-outcome", id, outcome });
    };
    return { succeeded: end("succeeded"), failed: end("failed"), abandoned: end("abandoned") };
  }
}
