// RNG Seed on an in-memory token: the seed goes to the backend whole and the
// answer says all of it was used; a token that takes no seed used none of it
// (Data Length 0); no Data is Missing Data; Query lists the operation.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { HsmBackend } from "../../src/hsm/backend.js";
import { HsmError } from "../../src/hsm/hsm-error.js";
import { queryPayloads, rngSeedPayloads } from "../../src/kmip/payloads/index.js";
import { MAX_SEED_LENGTH } from "../../src/operations/rng-seed.js";
import { Operation, QueryFunction, ResultReason } from "../../src/ttlv/enums.js";
import { OperationBench } from "../helpers/operation-context.js";

const SEED = Buffer.from("333c06587706225099a67438f263f8f932f64b860c3a7dbb21bc2bd56685d8bc", "hex");

test("the whole seed goes to C_SeedRandom and Data Length says so", async () => {
  const bench = new OperationBench();
  const seen: Uint8Array[] = [];
  (bench.backend as HsmBackend).seedRandom = async (_slotId: string, seed: Uint8Array) => void seen.push(seed);
  const answer = await bench.run(Operation.RNGSeed, rngSeedPayloads, { data: SEED });
  assert.equal(answer.dataLength, 32);
  assert.deepEqual(seen.map((s) => Buffer.from(s)), [SEED]);
});

test("a token that takes no seed, or a backend without C_SeedRandom, used none of it: Data Length 0", async () => {
  const bench = new OperationBench();
  assert.equal((await bench.run(Operation.RNGSeed, rngSeedPayloads, { data: SEED })).dataLength, 0);
  (bench.backend as HsmBackend).seedRandom = async () => {
    throw new HsmError("PKCS11_ERROR", "C_SeedRandom: CKR_RANDOM_SEED_NOT_SUPPORTED", "C_SeedRandom", "CKR_RANDOM_SEED_NOT_SUPPORTED");
  };
  assert.equal((await bench.run(Operation.RNGSeed, rngSeedPayloads, { data: SEED })).dataLength, 0);
  (bench.backend as HsmBackend).seedRandom = async () => {
    throw new HsmError("PKCS11_ERROR", "C_SeedRandom: CKR_DEVICE_ERROR", "C_SeedRandom", "CKR_DEVICE_ERROR");
  };
  await bench.fails(Operation.RNGSeed, rngSeedPayloads, { data: SEED }, ResultReason.GeneralFailure, /CKR_DEVICE_ERROR/);
});

test("no Data is Missing Data, too much is Invalid Field; Query lists RNG Seed", async () => {
  const bench = new OperationBench();
  await bench.fails(Operation.RNGSeed, rngSeedPayloads, {}, ResultReason.MissingData, /needs Data/);
  await bench.fails(Operation.RNGSeed, rngSeedPayloads, { data: Buffer.alloc(MAX_SEED_LENGTH + 1) }, ResultReason.InvalidField, /more than/);
  const answer = await bench.run(Operation.Query, queryPayloads, { queryFunctions: [QueryFunction.QueryOperations] });
  assert.ok(answer.operations?.includes(Operation.RNGSeed));
});
