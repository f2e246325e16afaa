// Create (KMIP 1.x section 4.1): C_GenerateKey of a Symmetric Key, AES or
// HMAC, with the template secret-keys.ts derives from the Template-Attribute.
// The key is a managed object like a key of a pair (managed-object.ts,
// doc/object-model.md): Pre-Active unless an Activation Date now or past is
// given, its usage flags false until it is Active, its model written to the
// token around the generation so that a crash leaves nothing half-made.
// Whether the key may leave the token is the template's Extractable and the
// token's key-export policy (key-export.ts). The new key's id becomes the ID Placeholder, so later items of the batch
// (Activate, Encrypt, Get, ...) may omit it. Other object types cannot be
// created.
import type { Attribute, TemplateAttribute } from "../kmip/attributes.js";
import { KmipError } from "../kmip/errors.js";
import { decodeCreateRequest, encodeCreateResponse } from "../kmip/payloads/create.js";
import { ObjectType, Operation, ResultReason } from "../ttlv/enums.js";
import { tokenKeyExport } from "./key-export.js";
import { createManagedObjects, newCkaId } from "./managed-object.js";
import type { OperationHandler } from "./operation.js";
import { secretKeyRequest } from "./secret-keys.js";

function attributesOf(template: TemplateAttribute): Attribute[] {
  if (template.names.length > 0) throw new KmipError(ResultReason.InvalidField, "the template refers to Template objects, which this relay does not keep");
  return template.attributes;
}

export const create: OperationHandler = {
  operation: Operation.Create,
  name: "Create",
  readOnly: false,
  async run(context, requestPayload) {
    const request = decodeCreateRequest(requestPayload);
    if (request.objectType !== ObjectType.SymmetricKey) {
      throw new KmipError(ResultReason.InvalidField, `Create makes Symmetric Keys only here, not Object Type ${request.objectType} (key pairs: Create Key Pair)`);
    }
    const attributes = attributesOf(request.templateAttribute);
    const secretKey = secretKeyRequest(attributes, await tokenKeyExport(context));
    const ckaId = newCkaId();
    const id = await createManagedObjects(context, ckaId, { secret: attributes }, (plans) =>
      context.backend.generateSecretKey(context.slot.slotId, { ...secretKey, ckaId, usage: { ...secretKey.usage, ...plans.secret!.usage } }),
    );
    context.idPlaceholder = id;
    return encodeCreateResponse({ objectType: ObjectType.SymmetricKey, uniqueIdentifier: id });
  },
};
