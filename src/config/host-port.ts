// "host:port" addresses as the config file and the command line write them
// (server.addr, metrics.addr, the client tool's --server), and as a listening
// server's bound address is shown in the same form.
import { isIP } from "node:net";

/**
 * Splits "host:port" ("[::1]:5696" for IPv6). Returns undefined when the text
 * is not of that form or the port is not 0-65535.
 */
export function parseHostPort(addr: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(addr);
  if (m === null) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  if (m[1] !== undefined) return isIP(m[1]) === 6 ? { host: m[1], port } : undefined;
  const host = m[2] as string;
  return /^[A-Za-z0-9.-]+$/.test(host) ? { host, port } : undefined;
}

/**
 * The "host:port" form (IPv6 in brackets) of a listening server's address,
 * as parseHostPort reads it; `fallback` when the server has none (a pipe).
 */
export function formatBoundAddress(bound: string | { address: string; family: string; port: number } | null, fallback: string): string {
  if (bound === null || typeof bound !== "object") return fallback;
  return bound.family === "IPv6" ? `[${bound.address}]:${bound.port}` : `${bound.address}:${bound.port}`;
}
