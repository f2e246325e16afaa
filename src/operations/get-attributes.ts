// Get Attributes (KMIP 1.x section 4.12): the named attributes of a key, all
// of them when the request names none. Names the key does not have, or the
// relay does not report, are left out of the answer (4.12), not refused.
import { decodeGetAttributesRequest, encodeGetAttributesResponse } from "../kmip/payloads/get-attributes.js";
import { Operation } from "../ttlv/enums.js";
import { keyAttributes, withSecretDigest } from "./key-attributes.js";
import { requireId } from "./keys.js";
import { describeManaged } from "./managed-object.js";
import type { OperationHandler } from "./operation.js";

export const getAttributes: OperationHandler = {
  operation: Operation.GetAttributes,
  name: "Get Attributes",
  readOnly: true,
  async run(context, requestPayload) {
    const request = decodeGetAttributesRequest(requestPayload);
    const id = requireId(context, request.uniqueIdentifier);
    const { key, attributes: model } = await describeManaged(context, id);
    const wanted = new Set(request.attributeNames);
    const all = keyAttributes(wanted.size === 0 || wanted.has("Digest") ? await withSecretDigest(context, key, model) : key, model, context.version);
    const attributes = wanted.size === 0 ? all : all.filter((attribute) => wanted.has(attribute.name));
    return encodeGetAttributesResponse({ uniqueIdentifier: id, attributes });
  },
};
