// RNG Retrieve (KMIP 1.3+, 1.4 section 4.35): Data Length bytes from the
// token's random number generator (C_GenerateRandom). The backend bounds the
// length and names the bounds when a request exceeds them; the response
// budget bounds what all items of one request may ask for together.
import { decodeRngRetrieveRequest, encodeRngRetrieveResponse } from "../kmip/payloads/rng-retrieve.js";
import { Operation } from "../ttlv/enums.js";
import { paddedLength } from "../ttlv/item.js";
import type { OperationHandler } from "./operation.js";

export const rngRetrieve: OperationHandler = {
  operation: Operation.RNGRetrieve,
  name: "RNG Retrieve",
  readOnly: true,
  async run(context, requestPayload) {
    const { dataLength } = decodeRngRetrieveRequest(requestPayload);
    // The Data item: an 8-byte header and the bytes, padded to 8 (KMIP 1.x 9.1.1.3).
    context.responseBudget?.reserve(8 + paddedLength(Math.max(0, dataLength)), `RNG Retrieve of ${dataLength} bytes`);
    const data = await context.backend.generateRandom(context.slot.slotId, dataLength);
    return encodeRngRetrieveResponse({ data });
  },
};
