// RNG Retrieve (KMIP 1.3+, 1.4 section 4.35): Data Length bytes from the
// token's random number generator (C_GenerateRandom). The backend bounds the
// length and names the bounds when a request exceeds them.
import { decodeRngRetrieveRequest, encodeRngRetrieveResponse } from "../kmip/payloads/rng-retrieve.js";
import { Operation } from "../ttlv/enums.js";
import type { OperationHandler } from "./operation.js";

export const rngRetrieve: OperationHandler = {
  operation: Operation.RNGRetrieve,
  name: "RNG Retrieve",
  readOnly: true,
  async run(context, requestPayload) {
    const { dataLength } = decodeRngRetrieveRequest(requestPayload);
    const data = await context.backend.generateRandom(context.slot.slotId, dataLength);
    return encodeRngRetrieveResponse({ data });
  },
};
