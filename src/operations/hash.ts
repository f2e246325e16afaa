// Hash (KMIP 1.2+, 1.4 section 4.37): the digest of Data, computed by the
// relay (node:crypto), as it hashes Data for Sign: hashing needs no key, so
// the token is not asked. SHA-1, SHA-256, SHA-384 and SHA-512; the whole
// Data in one request (no streaming, as for Sign).
import { hash as digestOf } from "node:crypto";
import { KmipError } from "../kmip/errors.js";
import { decodeHashRequest, encodeHashResponse } from "../kmip/payloads/hash.js";
import { HashingAlgorithm, Operation, ResultReason } from "../ttlv/enums.js";
import type { OperationHandler } from "./operation.js";
import { checkSigningFields } from "./signing.js";

const HASHES: ReadonlyMap<number, string> = new Map([
  [HashingAlgorithm.SHA1, "sha1"],
  [HashingAlgorithm.SHA256, "sha256"],
  [HashingAlgorithm.SHA384, "sha384"],
  [HashingAlgorithm.SHA512, "sha512"],
]);

export const hashOperation: OperationHandler = {
  operation: Operation.Hash,
  name: "Hash",
  readOnly: true,
  async run(context, requestPayload) {
    const request = decodeHashRequest(requestPayload);
    checkSigningFields(request, context.version, "Hash");
    const algorithm = request.cryptographicParameters.hashingAlgorithm;
    if (algorithm === undefined) throw new KmipError(ResultReason.MissingData, "Hash needs a Hashing Algorithm in its Cryptographic Parameters");
    const name = HASHES.get(algorithm);
    if (name === undefined) throw new KmipError(ResultReason.InvalidField, `Hashing Algorithm ${algorithm} is not supported (SHA-1, SHA-256, SHA-384 or SHA-512)`);
    if (request.data === undefined) throw new KmipError(ResultReason.MissingData, "Hash needs the Data to hash");
    return encodeHashResponse({ data: digestOf(name, request.data, "buffer") });
  },
};
