// Encrypt (KMIP 1.2+, 1.4 section 4.29): C_EncryptInit + C_Encrypt with an
// AES key (ECB, CBC with or without PKCS#5 padding, CTR, GCM) or an RSA
// public key (OAEP). Random IV: the IV is made with C_GenerateRandom on the
// token and returned in IV/Counter/Nonce. GCM returns its tag apart, as the
// Authenticated Encryption Tag (1.4). KMIP 1.3+ streaming (Init Indicator,
// Correlation Value, Final Indicator) runs C_EncryptUpdate per part
// (cipher-streams.ts).
import { decodeEncryptRequest, encodeEncryptResponse } from "../kmip/payloads/encrypt.js";
import { Operation } from "../ttlv/enums.js";
import { cipherRequest } from "./ciphers.js";
import { streamPart } from "./cipher-streams.js";
import { requireId } from "./keys.js";
import type { OperationHandler } from "./operation.js";
import { usingSecretKey } from "./secret-state.js";

export const encrypt: OperationHandler = {
  operation: Operation.Encrypt,
  name: "Encrypt",
  readOnly: true,
  async run(context, requestPayload) {
    const request = decodeEncryptRequest(requestPayload);
    const id = requireId(context, request.uniqueIdentifier);
    const part = await streamPart(context, id, request, false);
    const result = part?.result ?? (await usingSecretKey(context, id, async () => context.backend.encrypt(context.slot.slotId, id, await cipherRequest(context, id, request, false))));
    return encodeEncryptResponse({
      uniqueIdentifier: id,
      data: result.data,
      ...(result.iv !== undefined && { ivCounterNonce: result.iv }),
      ...(part?.correlationValue !== undefined && { correlationValue: part.correlationValue }),
      ...(result.tag !== undefined && { authenticatedEncryptionTag: result.tag }),
    });
  },
};
