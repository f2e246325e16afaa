// RNG Seed (KMIP 1.3+, 1.4 section 4.36): the Data goes to the token's random
// number generator (C_SeedRandom), all of it, and the answer's Data Length
// says so. A token that takes no seed (CKR_RANDOM_SEED_NOT_SUPPORTED,
// CKR_RANDOM_NO_RNG, or a backend without C_SeedRandom) used none of it:
// Data Length 0, which 4.36 allows ("the server MAY ignore the seed"), and
// a log line.
import { HsmError } from "../hsm/hsm-error.js";
import { KmipError } from "../kmip/errors.js";
import { decodeRngSeedRequest, encodeRngSeedResponse } from "../kmip/payloads/rng-seed.js";
import { Operation, ResultReason } from "../ttlv/enums.js";
import type { OperationHandler } from "./operation.js";

/** Most seed bytes one request may carry. */
export const MAX_SEED_LENGTH = 65_536;

const NO_SEED: ReadonlySet<string> = new Set(["CKR_RANDOM_SEED_NOT_SUPPORTED", "CKR_RANDOM_NO_RNG"]);

export const rngSeed: OperationHandler = {
  operation: Operation.RNGSeed,
  name: "RNG Seed",
  readOnly: true,
  async run(context, requestPayload) {
    const { data } = decodeRngSeedRequest(requestPayload);
    if (data === undefined || data.length === 0) throw new KmipError(ResultReason.MissingData, "RNG Seed needs Data: the seed bytes");
    if (data.length > MAX_SEED_LENGTH) throw new KmipError(ResultReason.InvalidField, `a seed of ${data.length} bytes is more than ${MAX_SEED_LENGTH}`);
    const seed = context.backend.seedRandom;
    if (seed === undefined) {
      context.logger.info("RNG Seed: this HSM backend takes no seed; none of it was used (Data Length 0)");
      return encodeRngSeedResponse({ dataLength: 0 });
    }
    try {
      await seed.call(context.backend, context.slot.slotId, data);
    } catch (error) {
      if (!(error instanceof HsmError && error.ckr !== undefined && NO_SEED.has(error.ckr))) throw error;
      context.logger.info(`RNG Seed: the token takes no seed (${error.ckr}); none of it was used (Data Length 0)`);
      return encodeRngSeedResponse({ dataLength: 0 });
    }
    return encodeRngSeedResponse({ dataLength: data.length });
  },
};
