// A client command's failure as a ToolError that says what happened and,
// where there is one that fits, what to do.
import { KmipConnectionError, KmipResultError } from "../../client/kmip-client.js";
import { KmipError } from "../../kmip/errors.js";
import { ResultReason } from "../../ttlv/enums.js";
import { UsageError } from "../args.js";
import { ToolError } from "../tool.js";

/** TLS verification failures (OpenSSL's verify codes, Node's host name check). */
const CERTIFICATE_ERRORS = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_GET_ISSUER_CERT",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/**
 * What a KMIP Result Reason asks the user to do, whatever the command. A
 * reason whose fix depends on the operation (Permission Denied: a private
 * key asked for with Get, an Active key destroyed) is left to the command,
 * and the server's Result Message says it.
 */
const REASON_FIXES: ReadonlyMap<number, string> = new Map([
  [ResultReason.AuthenticationNotSuccessful, "check --username (the token's label, or serial:SERIAL; `kmip2pkcs11 check` lists them) and the password (the token's user PIN)"],
  [ResultReason.ItemNotFound, "list the keys with `kmip2pkcs11 client locate` or `kmip2pkcs11 keys list`"],
]);

/** Any failure as a ToolError; `fixes` are the command's own hints by Result Reason. */
export function explain(err: unknown, server: string, fixes?: ReadonlyMap<number, string>): unknown {
  if (err instanceof ToolError || err instanceof UsageError) return err;
  if (err instanceof KmipResultError) {
    const reason = err.resultReason;
    return new ToolError(err.message, reason === undefined ? undefined : (fixes?.get(reason) ?? REASON_FIXES.get(reason)));
  }
  if (err instanceof KmipConnectionError) return new ToolError(err.message);
  if (err instanceof KmipError) return new ToolError(`the answer of ${server} cannot be read: ${err.message}`);
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== undefined && CERTIFICATE_ERRORS.has(code)) {
    return new ToolError(
      `the certificate of ${server} is not trusted: ${(err as Error).message}`,
      "give the relay's certificate or its CA with --ca FILE (a relay without [server.identity] uses <state-dir>/tls/cert.pem), or use -c with the relay's config file",
    );
  }
  if (code === "ECONNREFUSED" || code === "EHOSTUNREACH" || code === "ENOTFOUND" || code === "ETIMEDOUT" || code === "ECONNRESET") {
    return new ToolError(`cannot connect to ${server}: ${code}`, "is the relay running and listening there? (--server HOST:PORT, or -c with its config file)");
  }
  if (err instanceof Error && code !== undefined) return new ToolError(`${server}: ${err.message}`);
  return err;
}
