// The KMIP TTLV test vectors in test/data/vectors (see its README.md): hex
// files from the OASIS KMIP use-case and test-case documents and from real
// servers, with manifest.json describing each.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseHex } from "../../src/ttlv/hex.js";

/** test/data/vectors, found from dist/test/helpers/, where the compiled helper runs. */
export const vectorDirectory = fileURLToPath(new URL("../../../test/data/vectors/", import.meta.url));

export interface Vector {
  readonly name: string;
  readonly file: string;
  readonly direction: "request" | "response";
  /** "request", "response", or "fragment:<item name>" for a part of a message. */
  readonly message: string;
  readonly kmip_version: string;
  readonly operations: readonly string[];
  readonly length: number;
  readonly note: string | null;
  /** The message bytes. */
  readonly bytes: Uint8Array;
}

/** The vector whose Vendor Extension body is not TTLV (see README.md). */
export const VENDOR_EXTENSION_VECTOR = "test_batch_item_vendor_extensions";

export function loadVectors(): Vector[] {
  const manifest = JSON.parse(readFileSync(vectorDirectory + "manifest.json", "utf8")) as { vectors: Omit<Vector, "bytes">[] };
  return manifest.vectors.map((v) => ({ ...v, bytes: parseHex(readFileSync(vectorDirectory + v.file, "utf8")) }));
}
