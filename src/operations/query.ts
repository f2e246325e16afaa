// Query (KMIP 1.x section 4.25): the operations (straight from the dispatch
// table, so the answer cannot disagree with what is served), the object
// types (Public Key, Private Key) and the server's identification: the relay
// and its version, the token, the slot and the module (doc/compatibility.md#query).
import { basename } from "node:path";
import { decodeQueryRequest, encodeQueryResponse, type QueryResponsePayload } from "../kmip/payloads/query.js";
import { ObjectType, Operation, QueryFunction } from "../ttlv/enums.js";
import type { OperationHandler } from "./operation.js";

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
        response.objectTypes = [ObjectType.SymmetricKey, ObjectType.PublicKey, ObjectType.PrivateKey];
      }
      if (queryFunctions.includes(QueryFunction.QueryServerInformation)) {
        const { server, slot, backend } = context;
        response.vendorIdentification =
          `${server.productName} ${server.productVersion}; token "${slot.tokenLabel}" (serial ${slot.tokenSerial}), ` +
          `slot "${slot.slotDescription}" (id ${slot.slotId}), module ${basename(backend.module.path)} ` +
          `(${backend.module.manufacturer} ${backend.module.libraryDescription} ${backend.module.libraryVersion})`;
      }
      return encodeQueryResponse(response);
    },
  };
}
