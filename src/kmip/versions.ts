// The KMIP protocol versions the relay speaks, newest first (the order
// Discover Versions answers in, KMIP 1.x 4.26).
import type { ProtocolVersion } from "./message.js";

export const SUPPORTED_VERSIONS: readonly ProtocolVersion[] = [
  { major: 1, minor: 4 },
  { major: 1, minor: 3 },
  { major: 1, minor: 2 },
  { major: 1, minor: 1 },
  { major: 1, minor: 0 },
];

export const NEWEST_VERSION: ProtocolVersion = { major: 1, minor: 4 };

export function isSupportedVersion(version: ProtocolVersion): boolean {
  return SUPPORTED_VERSIONS.some((v) => v.major === version.major && v.minor === version.minor);
}

/** True when `version` is at least major.minor. */
export function atLeast(version: ProtocolVersion, major: number, minor: number): boolean {
  return version.major > major || (version.major === major && version.minor >= minor);
}
