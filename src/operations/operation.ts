// What every KMIP operation implements. One file per operation in this
// folder; index.ts lists them, and that list is both the dispatch table and
// what Query answers for Query Operations, so the two cannot disagree.
import type { HsmBackend, SlotSummary } from "../hsm/backend.js";
import { KmipError } from "../kmip/errors.js";
import { ResultReason } from "../ttlv/enums.js";
import type { ProtocolVersion } from "../kmip/message.js";
import type { StructureItem } from "../ttlv/item.js";
import type { Logger } from "../log/logger.js";
import type { LifecyclePolicy } from "./managed-object.js";

/** Facts about the relay that Query reports. */
export interface ServerInfo {
  readonly productName: string;
  readonly productVersion: string;
}

/** What an operation may use while it runs one batch item. */
export interface OperationContext {
  readonly backend: HsmBackend;
  /** The slot the request's credential selected and authenticated. */
  readonly slot: SlotSummary;
  /** The protocol version of the request; responses use the same. */
  readonly version: ProtocolVersion;
  readonly server: ServerInfo;
  readonly logger: Logger;
  /**
   * The ID Placeholder of the batch (KMIP 1.x section 2.1.1 / 6.x): set by an
   * operation that creates an object, read by a later item that names no
   * Unique Identifier.
   */
  idPlaceholder: string | undefined;
  /** Aborted when the client has closed the connection: long work stops, and nothing more starts. */
  readonly signal?: AbortSignal;
  /** The room left in the response message, for operations whose answers can be large. */
  readonly responseBudget?: ResponseBudget;
  /** What KMIP leaves to the server about the object lifecycle ([lifecycle]); absent: the defaults. */
  readonly lifecycle?: LifecyclePolicy;
}

/**
 * The bytes a response message may still take (server.max-response-size, or
 * the request's smaller Maximum Response Size, KMIP 1.x 6.3). An operation
 * whose answer can be large (RNG Retrieve, Locate) reserves its size before
 * it makes the answer, so that a request for more than a client may have is
 * refused (Response Too Large) before the memory is spent. The dispatcher
 * checks the encoded response against the same limit at the end.
 */
export class ResponseBudget {
  private used = 0;

  constructor(readonly limit: number) {}

  /** Takes `bytes` of the budget; throws Response Too Large, naming `what`, when they are not there. */
  reserve(bytes: number, what: string): void {
    this.used += bytes;
    if (this.used > this.limit) {
      throw new KmipError(ResultReason.ResponseTooLarge, `${what} would make the response more than ${this.limit} bytes (server.max-response-size or the request's Maximum Response Size)`);
    }
  }
}

export interface OperationHandler {
  /** The Operation enumeration value. */
  readonly operation: number;
  /** The specification's name, for logs and messages ("Create Key Pair"). */
  readonly name: string;
  /**
   * True when the operation neither changes anything in the HSM nor sets the
   * ID Placeholder, so consecutive such items of one batch may run
   * concurrently (spread over the slot's sessions).
   */
  readonly readOnly: boolean;
  /** Runs one batch item: request payload in, response payload out. Failures throw KmipError or HsmError. */
  run(context: OperationContext, requestPayload: StructureItem): Promise<StructureItem>;
}
