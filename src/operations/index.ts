// The dispatch table: every operation the relay serves, in the order of their
// Operation values. Query reports this same list, so what it says is always
// what is served.
import { activate } from "./activate.js";
import { addAttribute } from "./add-attribute.js";
import { check } from "./check.js";
import { create } from "./create.js";
import { createKeyPair } from "./create-key-pair.js";
import { decrypt } from "./decrypt.js";
import { deleteAttribute } from "./delete-attribute.js";
import { destroy } from "./destroy.js";
import { discoverVersions } from "./discover-versions.js";
import { encrypt } from "./encrypt.js";
import { get } from "./get.js";
import { getAttributeList } from "./get-attribute-list.js";
import { getAttributes } from "./get-attributes.js";
import { hashOperation } from "./hash.js";
import { locate } from "./locate.js";
import { mac } from "./mac.js";
import { macVerify } from "./mac-verify.js";
import { modifyAttribute } from "./modify-attribute.js";
import type { OperationHandler } from "./operation.js";
import { queryHandler } from "./query.js";
import { register } from "./register.js";
import { revoke } from "./revoke.js";
import { rngRetrieve } from "./rng-retrieve.js";
import { rngSeed } from "./rng-seed.js";
import { sign } from "./sign.js";
import { signatureVerify } from "./signature-verify.js";

/** A fresh set of handlers for one relay. */
export function createOperations(): OperationHandler[] {
  const handlers: OperationHandler[] = [];
  handlers.push(
    create,
    createKeyPair,
    register,
    locate,
    check,
    get,
    getAttributes,
    getAttributeList,
    addAttribute,
    modifyAttribute,
    deleteAttribute,
    activate,
    revoke,
    destroy,
    queryHandler(() => handlers),
    discoverVersions,
    encrypt,
    decrypt,
    sign,
    signatureVerify,
    mac,
    macVerify,
    rngRetrieve,
    rngSeed,
    hashOperation,
  );
  return handlers;
}
