// Running one operation handler in process, as the dispatcher would run one
// batch item: a context on a MemoryBackend, the request payload encoded with
// the operation's own payload codec, the response decoded with it, and a
// failure turned into its Result Reason by the server's one table
// (src/server/result.ts).
import assert from "node:assert/strict";
import pino from "pino";
import type { ProtocolVersion } from "../../src/kmip/message.js";
import type { PayloadCodecs } from "../../src/kmip/payloads/index.js";
import { createOperations } from "../../src/operations/index.js";
import type { OperationContext, OperationHandler } from "../../src/operations/operation.js";
import { describeFailure } from "../../src/server/result.js";
import { enumerationName } from "../../src/ttlv/names.js";
import { Tag } from "../../src/ttlv/tags.js";
import { MemoryBackend } from "./memory-backend.js";

const silent = pino({ level: "silent" });

/** A backend, the relay's own handlers, and a context per request, as one relay would have them. */
export class OperationBench {
  readonly handlers: readonly OperationHandler[] = createOperations();

  constructor(readonly backend = new MemoryBackend()) {}

  /** A fresh batch context (no ID Placeholder) in protocol `version`. */
  context(version: ProtocolVersion = { major: 1, minor: 4 }): OperationContext {
    return {
      backend: this.backend,
      slot: this.backend.slot,
      version,
      server: { productName: "kmip2pkcs11", productVersion: "9.9.9" },
      logger: silent,
      idPlaceholder: undefined,
    };
  }

  handler(operation: number): OperationHandler {
    const handler = this.handlers.find((h) => h.operation === operation);
    assert.ok(handler, `no handler for operation ${operation}`);
    return handler;
  }

  /** Runs `operation` on `request`; the decoded response payload. */
  async run<Request, Response>(operation: number, codecs: PayloadCodecs<Request, Response>, request: Request, context = this.context()): Promise<Response> {
    const response = await this.handler(operation).run(context, codecs.encodeRequest(request));
    return codecs.decodeResponse(response);
  }

  /** Asserts that `operation` on `request` fails with `reason` and a message matching `message`. */
  async fails<Request, Response>(
    operation: number,
    codecs: PayloadCodecs<Request, Response>,
    request: Request,
    reason: number,
    message?: RegExp,
    context = this.context(),
  ): Promise<void> {
    const name = (value: number) => enumerationName(Tag.ResultReason, value) ?? String(value);
    try {
      await this.run(operation, codecs, request, context);
    } catch (error) {
      const { resultReason, resultMessage } = describeFailure(error);
      assert.equal(name(resultReason), name(reason), `Result Reason of "${resultMessage}"`);
      if (message !== undefined) assert.match(resultMessage, message);
      return;
    }
    assert.fail(`${this.handler(operation).name} succeeded; expected ${name(reason)}`);
  }
}
