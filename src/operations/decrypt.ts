// Decrypt (KMIP 1.2+, 1.4 section 4.30): C_DecryptInit + C_Decrypt with an
// AES key (ECB, CBC with or without PKCS#5 padding, CTR, GCM with its
// Authenticated Encryption Tag) or an RSA private key (OAEP). A GCM tag that
// does not verify, or bad padding, is Invalid Field ("does not decrypt").
// KMIP 1.3+ streaming runs C_DecryptUpdate per part (cipher-streams.ts); a
// streaming GCM Decrypt gives its plaintext with the last part only, once
// the tag (sent with that part) has verified.
import { decodeDecryptRequest, encodeDecryptResponse } from "../kmip/payloads/decrypt.js";
import { Operation } from "../ttlv/enums.js";
import { cipherRequest, ecbPadded, ecbUnpad } from "./ciphers.js";
import { streamPart } from "./cipher-streams.js";
import { requireId } from "./keys.js";
import type { OperationHandler } from "./operation.js";
import { usingSecretKey } from "./secret-state.js";

export const decrypt: OperationHandler = {
  operation: Operation.Decrypt,
  name: "Decrypt",
  readOnly: true,
  async run(context, requestPayload) {
    const request = decodeDecryptRequest(requestPayload);
    const id = requireId(context, request.uniqueIdentifier);
    const part = await streamPart(context, id, request, true);
    if (part !== undefined) {
      return encodeDecryptResponse({ uniqueIdentifier: id, data: part.result.data, ...(part.correlationValue !== undefined && { correlationValue: part.correlationValue }) });
    }
    const result = await usingSecretKey(context, id, async () => context.backend.decrypt(context.slot.slotId, id, await cipherRequest(context, id, request, true)));
    return encodeDecryptResponse({ uniqueIdentifier: id, data: ecbPadded(request.cryptographicParameters) ? ecbUnpad(result.data) : result.data });
  },
};
