// A relay whose clients are known by their TLS client certificates, as the
// database and storage clients connect: one CA, one certificate per client
// (subject CN=<name>), each mapped in [clients.<name>] to a token and a PIN
// file, and no KMIP credential in their requests. For the replays of
// test/e2e/replays-*.test.ts and the key-export tests.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { KmipClient, KmipClientOptions } from "../../src/client/kmip-client.js";
import type { KeyObject } from "../../src/kmip/objects.js";
import { KeyFormatType } from "../../src/ttlv/enums.js";
import { startRelayProcess, type RunningRelay } from "./relay.js";
import { connect } from "./relay-client.js";
import type { SoftHsmToken } from "./softhsm.js";
import { createCertificateAuthority, issueClientCertificate, type CertificateAuthority, type CertificateFiles } from "./tls-certs.js";

export interface MappedClient {
  /** [clients.NAME] and the certificate's CN. */
  readonly name: string;
  /** The token, written as a KMIP username (a label, label:, serial:, a [tokens] alias). */
  readonly token: string;
}

export interface MappedRelay {
  readonly relay: RunningRelay;
  /** A connection as `name` connects: its certificate, no KMIP credential, KMIP 1.`minor`. */
  connectAs(name: string, minor: number, options?: Partial<KmipClientOptions>): Promise<KmipClient>;
  cleanup(): Promise<void>;
}

/** Starts a relay on `token` serving `clients` by certificate; `extra` is more TOML (e.g. [tokens] tables). */
export async function startMappedRelay(token: SoftHsmToken, clients: readonly MappedClient[], extra = ""): Promise<MappedRelay> {
  let ca: CertificateAuthority | undefined;
  let pins: string | undefined;
  let relay: RunningRelay | undefined;
  try {
    [ca, pins] = await Promise.all([createCertificateAuthority("kmip2pkcs11 mapped clients"), mkdtemp(join(tmpdir(), "kmip2pkcs11-pins-"))]);
    const pinFile = join(pins, "token.pin");
    await writeFile(pinFile, token.pin, { mode: 0o600 });
    const certificates = new Map<string, CertificateFiles>();
    for (const client of clients) certificates.set(client.name, await issueClientCertificate(ca, client.name));
    const tables = clients.map((client) => [`[clients.${client.name}]`, `subject = "CN=${client.name}"`, `token = "${client.token}"`, `pin-file = "${pinFile}"`].join("\n"));
    relay = await startRelayProcess({ token, server: [`client-ca-path = "${ca.certPath}"`], extra: [extra, ...tables].join("\n") });
    const started = relay;
    const [caDone, pinsDone] = [ca, pins];
    return {
      relay: started,
      async connectAs(name, minor, options = {}) {
        const certificate = certificates.get(name);
        if (certificate === undefined) throw new Error(`no client ${name}`);
        return connect(started, { cert: certificate.cert, key: certificate.key, username: undefined, password: undefined, protocolVersion: { major: 1, minor }, ...options });
      },
      async cleanup() {
        await started.cleanup();
        await caDone.cleanup();
        await rm(pinsDone, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await relay?.cleanup();
    await ca?.cleanup();
    if (pins !== undefined) await rm(pins, { recursive: true, force: true });
    throw error;
  }
}

/** The bytes of a Get response's Raw Key Material. */
export function rawMaterial(object: unknown): Buffer {
  const block = (object as KeyObject).keyBlock;
  if (block.keyFormatType !== KeyFormatType.Raw) throw new Error(`Key Format Type ${block.keyFormatType}, not Raw`);
  return Buffer.from((block.keyValue as { keyMaterial: Uint8Array }).keyMaterial);
}
