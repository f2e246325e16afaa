// Decrypt (KMIP 1.2+, 1.4 section 4.30): C_DecryptInit + C_Decrypt with an
// AES key (ECB, CBC with or without PKCS#5 padding, CTR, GCM with its
// Authenticated Encryption Tag) or an RSA private key (OAEP). A GCM tag that
// does not verify, or bad padding, is Invalid Field ("does not decrypt").
import { decodeDecryptRequest, encodeDecryptResponse } from "../kmip/payloads/decrypt.js";
import { Operation } from "../ttlv/enums.js";
import { cipherRequest, ecbPadded, ecbUnpad } from "./ciphers.js";
import { requireId } from "./keys.js";
import type { OperationHandler } from "./operation.js";
import { usingSecretKey } from "./secret-state.js";
import { checkSigningFields } from "./signing.js";

export const decrypt: OperationHandler = {
  operation: Operation.Decrypt,
  name: "Decrypt",
  readOnly: true,
  async run(context, requestPayload) {
    const request = decodeDecryptRequest(requestPayload);
    checkSigningFields(request, context.version, "Decrypt");
    const id = requireId(context, request.uniqueIdentifier);
    const result = await usingSecretKey(context, id, async () => context.backend.decrypt(context.slot.slotId, id, await cipherRequest(context, id, request, true)));
    return encodeDecryptResponse({ uniqueIdentifier: id, data: ecbPadded(request.cryptographicParameters) ? ecbUnpad(result.data) : result.data });
  },
};
