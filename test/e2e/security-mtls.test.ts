// Mutual TLS (server.client-ca-path): a client without a certificate, with
// one from another CA, or with an expired one is refused before any request
// is read, and the relay logs the peer and the reason; a certificate that
// chains to the configured CA works, with our client and with PyKMIP.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { KmipClient, type KmipClientOptions } from "../../src/client/kmip-client.js";
import { createCertificateAuthority, issueClientCertificate, type CertificateAuthority, type CertificateFiles } from "../helpers/tls-certs.js";
import { runPyKmip } from "../helpers/pykmip.js";
import { startRelayProcess, type RunningRelay } from "../helpers/relay.js";

let relay: RunningRelay;
let serverCa: string;
let trusted: CertificateAuthority;
let stranger: CertificateAuthority;
let good: CertificateFiles;

before(async () => {
  [trusted, stranger] = await Promise.all([createCertificateAuthority("kmip2pkcs11 test clients"), createCertificateAuthority("someone else")]);
  good = await issueClientCertificate(trusted, "cascade");
  relay = await startRelayProcess({ server: [`client-ca-path = "${trusted.certPath}"`] });
  serverCa = await readFile(join(relay.dir, "state", "tls", "cert.pem"), "utf8");
});
after(async () => {
  await relay?.cleanup();
  await trusted?.cleanup();
  await stranger?.cleanup();
});

function options(certificate?: CertificateFiles): KmipClientOptions {
  return {
    host: relay.host,
    port: relay.port,
    ca: serverCa,
    username: relay.token.label,
    password: relay.token.pin,
    timeoutMs: 10_000,
    ...(certificate === undefined ? {} : { cert: certificate.cert, key: certificate.key }),
  };
}

/**
 * Node's TLS server checks the client's certificate once the handshake is
 * done, so under TLS 1.3 the client may see the handshake succeed and only
 * then the connection close. Either way no request gets an answer.
 */
async function assertRefused(certificate: CertificateFiles | undefined, reason: RegExp): Promise<void> {
  const before = relay.output().length;
  await assert.rejects(async () => {
    const client = await KmipClient.connect(options(certificate));
    try {
      await client.discoverVersions();
    } finally {
      await client.close();
    }
  });
  const line = await relay.waitForOutput(new RegExp(`client certificate of 127\\.0\\.0\\.1:\\d+ refused: .*${reason.source}`));
  assert.ok(relay.output().indexOf(line, before) >= before, "the refusal was logged for this attempt");
}

test("a client without a certificate is refused and the refusal is logged with the peer", async () => {
  await assertRefused(undefined, /no certificate/);
});

test("a certificate from another CA is refused", async () => {
  await assertRefused(await issueClientCertificate(stranger, "intruder"), /issued by CN=someone else: (UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)/);
});

test("an expired certificate from the right CA is refused", async () => {
  await assertRefused(await issueClientCertificate(trusted, "expired", { expired: true }), /CN=expired .*CERT_HAS_EXPIRED/);
});

test("a certificate that chains to client-ca-path is accepted", async () => {
  const client = await KmipClient.connect(options(good));
  try {
    const versions = await client.discoverVersions();
    assert.ok(versions.protocolVersions.length > 0);
  } finally {
    await client.close();
  }
});

test("PyKMIP connects with a client certificate and creates and signs", async () => {
  const result = await runPyKmip({
    host: relay.host,
    port: relay.port,
    ca: join(relay.dir, "state", "tls", "cert.pem"),
    cert: good.certPath,
    key: good.keyPath,
    username: relay.token.label,
    password: relay.token.pin,
    steps: ["discover", "create", "activate", "sign"],
  });
  assert.ok(Array.isArray(result.discover));
  assert.match(result.sign as string, /^[0-9a-f]+$/);
});
