// The payload codecs of every operation the relay and its client know.
export * from "./activate.js";
export * from "./add-attribute.js";
export * from "./check.js";
export * from "./create-key-pair.js";
export * from "./delete-attribute.js";
export * from "./destroy.js";
export * from "./discover-versions.js";
export * from "./get.js";
export * from "./get-attribute-list.js";
export * from "./get-attributes.js";
export * from "./locate.js";
export * from "./modify-attribute.js";
export * from "./query.js";
export * from "./revoke.js";
export * from "./rng-retrieve.js";
export * from "./sign.js";
export * from "./signature-verify.js";
export type { PayloadCodecs } from "./payload.js";
