// Get Attribute List (KMIP 1.x section 4.13): the names of the attributes
// Get Attributes would return for the key.
import { decodeGetAttributeListRequest, encodeGetAttributeListResponse } from "../kmip/payloads/get-attribute-list.js";
import { Operation } from "../ttlv/enums.js";
import { keyAttributes } from "./key-attributes.js";
import { requireId } from "./keys.js";
import { describeLifecycle } from "./lifecycle.js";
import type { OperationHandler } from "./operation.js";

export const getAttributeList: OperationHandler = {
  operation: Operation.GetAttributeList,
  name: "Get Attribute List",
  readOnly: true,
  async run(context, requestPayload) {
    const id = requireId(context, decodeGetAttributeListRequest(requestPayload).uniqueIdentifier);
    const { key, lifecycle } = await describeLifecycle(context, id);
    const attributeNames = keyAttributes(key, lifecycle, context.version).map((attribute) => attribute.name);
    return encodeGetAttributeListResponse({ uniqueIdentifier: id, attributeNames });
  },
};
