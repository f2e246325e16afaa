// Discover Versions (KMIP 1.1+ section 4.26): the versions both sides speak,
// newest first in the server's order; an empty client list gets them all.
import { decodeDiscoverVersionsRequest, encodeDiscoverVersionsResponse } from "../kmip/payloads/discover-versions.js";
import { Operation } from "../ttlv/enums.js";
import type { OperationHandler } from "./operation.js";
import { SUPPORTED_VERSIONS } from "../kmip/versions.js";

export const discoverVersions: OperationHandler = {
  operation: Operation.DiscoverVersions,
  name: "Discover Versions",
  readOnly: true,
  async run(_context, requestPayload) {
    const { protocolVersions: offered } = decodeDiscoverVersionsRequest(requestPayload);
    const protocolVersions =
      offered.length === 0
        ? [...SUPPORTED_VERSIONS]
        : SUPPORTED_VERSIONS.filter((v) => offered.some((o) => o.major === v.major && o.minor === v.minor));
    return encodeDiscoverVersionsResponse({ protocolVersions });
  },
};
