// Get Attribute List (KMIP 1.x section 4.13): the names of the attributes
// Get Attributes would return for the key.
import { decodeGetAttributeListRequest, encodeGetAttributeListResponse } from "../kmip/payloads/get-attribute-list.js";
import { Operation } from "../ttlv/enums.js";
import { keyAttributes, withSecretDigest } from "./key-attributes.js";
import { requireId } from "./keys.js";
import { describeManaged } from "./managed-object.js";
import type { OperationHandler } from "./operation.js";

export const getAttributeList: OperationHandler = {
  operation: Operation.GetAttributeList,
  name: "Get Attribute List",
  readOnly: true,
  async run(context, requestPayload) {
    const id = requireId(context, decodeGetAttributeListRequest(requestPayload).uniqueIdentifier);
    const { key, attributes: model } = await describeManaged(context, id);
    const attributeNames = [...new Set(keyAttributes(await withSecretDigest(context, key, model), model, context.version).map((attribute) => attribute.name))];
    return encodeGetAttributeListResponse({ uniqueIdentifier: id, attributeNames });
  },
};
