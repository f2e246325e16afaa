// Delete Attribute (KMIP 1.x section 4.16): Name, by emptying the key's
// CKA_LABEL (PKCS#11's "no label"); Object Group, Contact Information and x-
// attributes from the object's metadata (client-attributes.ts). Attributes the relay reports but derives
// from the token (Object Type, State, ...) are read-only: Permission Denied;
// a name or index the key does not have: Item Not Found (11.17).
import { KmipError } from "../kmip/errors.js";
import { decodeDeleteAttributeRequest, encodeDeleteAttributeResponse } from "../kmip/payloads/delete-attribute.js";
import { Operation, ResultReason } from "../ttlv/enums.js";
import { keyAttributes, withSecretDigest } from "./key-attributes.js";
import { nameOfLabel, requireId } from "./keys.js";
import { describeManaged } from "./managed-object.js";
import { deleteClientAttribute, isClientAttribute, touch } from "./client-attributes.js";
import type { OperationHandler } from "./operation.js";

export const deleteAttribute: OperationHandler = {
  operation: Operation.DeleteAttribute,
  name: "Delete Attribute",
  readOnly: false,
  async run(context, requestPayload) {
    const request = decodeDeleteAttributeRequest(requestPayload);
    const id = requireId(context, request.uniqueIdentifier);
    const { attributeName } = request;
    const index = request.attributeIndex ?? 0;
    if (isClientAttribute(attributeName)) {
      const attribute = await deleteClientAttribute(context, id, attributeName, index);
      return encodeDeleteAttributeResponse({ uniqueIdentifier: id, attribute });
    }
    const { key, attributes: model } = await describeManaged(context, id);
    if (attributeName !== "Name") {
      const reported = keyAttributes(attributeName === "Digest" ? await withSecretDigest(context, key, model) : key, model, context.version);
      if (reported.some((attribute) => attribute.name === attributeName)) {
        throw new KmipError(ResultReason.PermissionDenied, `attribute "${attributeName}" is read from the token and cannot be deleted; only Name, Object Group, Contact Information and x- attributes can`);
      }
      throw new KmipError(ResultReason.ItemNotFound, `${id} has no attribute "${attributeName}"`);
    }
    if (key.label === null || index !== 0) {
      throw new KmipError(ResultReason.ItemNotFound, key.label === null ? `${id} has no Name` : `a key has one Name; there is no Name with index ${index}`);
    }
    await context.backend.updateKey(context.slot.slotId, id, { label: null });
    await touch(context, id);
    return encodeDeleteAttributeResponse({ uniqueIdentifier: id, attribute: { name: "Name", index: 0, value: nameOfLabel(key.label) } });
  },
};
