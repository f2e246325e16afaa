// The dispatch table: every operation the relay serves. Query reports this
// same list, so what it says is always what is served.
import { activate } from "./activate.js";
import { createKeyPair } from "./create-key-pair.js";
import { discoverVersions } from "./discover-versions.js";
import { get } from "./get.js";
import { SigningKeyCache } from "./keys.js";
import { modifyAttribute } from "./modify-attribute.js";
import type { OperationHandler } from "./operation.js";
import { queryHandler } from "./query.js";
import { signHandler } from "./sign.js";

/** A fresh set of handlers (with their own caches) for one relay. */
export function createOperations(): OperationHandler[] {
  const handlers: OperationHandler[] = [];
  handlers.push(
    discoverVersions,
    queryHandler(() => handlers),
    createKeyPair,
    get,
    activate,
    modifyAttribute,
    signHandler(new SigningKeyCache()),
  );
  return handlers;
}
