// Query (KMIP 1.x section 4.25): the operations (straight from the dispatch
// table, so the answer cannot disagree with what is served), the object
// types (Public Key, Private Key) and the server's identification: the relay
// and its version, the token, the slot and the module (doc/compatibility.md#query).
//
// Server Information (1.1+) is vendor-defined in KMIP 1.x ("contains
// vendor-specific fields and/or substructures"): the same facts as Vendor
// Identification, one Text String each, under tags of the extension range
// 0x54xxxx (KMIP 1.x 9.1.3.1), listed in SERVER_INFORMATION_TAGS.
import { basename } from "node:path";
import * as ttlv from "../ttlv/build.js";
import { Tag } from "../ttlv/tags.js";
import { decodeQueryRequest, encodeQueryResponse, type QueryResponsePayload } from "../kmip/payloads/query.js";
import { ObjectType, Operation, QueryFunction } from "../ttlv/enums.js";
import type { OperationHandler } from "./operation.js";

/** The Text Strings of Server Information, by extension tag. */
export const SERVER_INFORMATION_TAGS = {
  productName: 0x540001,
  productVersion: 0x540002,
  moduleManufacturer: 0x540003,
  moduleDescription: 0x540004,
  modulePath: 0x540005,
  tokenLabel: 0x540006,
  tokenSerial: 0x540007,
  slotId: 0x540008,
} as const;

/** A Query handler answering for `operations` (the whole table, itself included). */
export function queryHandler(operations: () => readonly OperationHandler[]): OperationHandler {
  return {
    operation: Operation.Query,
    name: "Query",
    readOnly: true,
    async run(context, requestPayload) {
      const { queryFunctions } = decodeQueryRequest(requestPayload);
      const response: QueryResponsePayload = { operations: [], objectTypes: [] };
      // Query functions this relay has nothing to say for (namespaces,
      // extensions, RNGs, profiles, ...) are answered with nothing (4.25).
      if (queryFunctions.includes(QueryFunction.QueryOperations)) {
        response.operations = operations().map((h) => h.operation);
      }
      if (queryFunctions.includes(QueryFunction.QueryObjects)) {
        // Every object type Register or Create keeps (doc/object-model.md), in Object Type order.
        response.objectTypes = [ObjectType.SymmetricKey, ObjectType.PublicKey, ObjectType.PrivateKey, ObjectType.SecretData, ObjectType.OpaqueData];
      }
      if (queryFunctions.includes(QueryFunction.QueryServerInformation)) {
        const { server, slot, backend } = context;
        response.vendorIdentification =
          `${server.productName} ${server.productVersion}; token "${slot.tokenLabel}" (serial ${slot.tokenSerial}), ` +
          `slot "${slot.slotDescription}" (id ${slot.slotId}), module ${basename(backend.module.path)} ` +
          `(${backend.module.manufacturer} ${backend.module.libraryDescription} ${backend.module.libraryVersion})`;
        if (context.version.major > 1 || context.version.minor >= 1) {
          const t = SERVER_INFORMATION_TAGS;
          response.serverInformation = ttlv.structure(Tag.ServerInformation, [
            ttlv.textString(t.productName, server.productName),
            ttlv.textString(t.productVersion, server.productVersion),
            ttlv.textString(t.moduleManufacturer, backend.module.manufacturer),
            ttlv.textString(t.moduleDescription, `${backend.module.libraryDescription} ${backend.module.libraryVersion}`),
            ttlv.textString(t.modulePath, backend.module.path),
            ttlv.textString(t.tokenLabel, slot.tokenLabel),
            ttlv.textString(t.tokenSerial, slot.tokenSerial),
            ttlv.textString(t.slotId, slot.slotId),
          ]);
        }
      }
      return encodeQueryResponse(response);
    },
  };
}
