// Fair shares of the listener between peers. server.max-connections bounds
// the relay as a whole; without a share per peer, one address re-opening
// sockets as fast as they are dropped holds every place and nobody else gets
// one. So each peer may hold at most max-connections-per-peer connections and
// max-handshakes-per-peer of them before the TLS handshake is done (a socket
// that never completes one costs the peer a place for handshake-timeout); a
// client certificate, when clients present one, is a peer of its own too,
// counted once its handshake is done.
//
// A peer is an IPv4 address, or an IPv6 /64 (what one host is usually given:
// an attacker has the whole /64 to choose addresses from).
import { isIPv6, type Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import type { Logger } from "../log/logger.js";
import { PeerLogLimiter } from "../log/rate-limit.js";

export interface PeerLimitSettings {
  /** Connections one peer (address, or client certificate) may have open at once. */
  readonly maxConnectionsPerPeer: number;
  /** Connections of one address still in the TLS handshake at once. */
  readonly maxHandshakesPerPeer: number;
}

interface Accepted {
  readonly peer: string;
  handshaking: boolean;
}

/** The peer an address belongs to: an IPv4 address as it is, an IPv6 address's /64. */
export function peerOfAddress(address: string | undefined): string | undefined {
  if (address === undefined) return undefined;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped !== null) return mapped[1];
  if (!isIPv6(address)) return address;
  const [head = "", tail = ""] = address.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = address.includes("::") ? (tail === "" ? [] : tail.split(":")) : [];
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right];
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, "").toLowerCase()).join(":")}::/64`;
}

export class PeerLimits {
  private readonly connections = new Map<string, number>();
  private readonly handshakes = new Map<string, number>();
  /** Accepted sockets by "address:port", which the TLS socket shares with its TCP socket. */
  private readonly accepted = new Map<string, Accepted>();
  private readonly refusals = new PeerLogLimiter("refused connections");

  constructor(
    private readonly settings: PeerLimitSettings,
    private readonly logger: Logger,
  ) {}

  /** On TCP accept: whether the peer has room for one more connection. The caller destroys a refused socket. */
  admit(socket: Socket): boolean {
    const peer = peerOfAddress(socket.remoteAddress);
    if (peer === undefined) return false;
    const open = this.connections.get(peer) ?? 0;
    const handshaking = this.handshakes.get(peer) ?? 0;
    if (open >= this.settings.maxConnectionsPerPeer) {
      this.refuse(peer, `${open} connections of ${peer} are open (server.max-connections-per-peer)`);
      return false;
    }
    if (handshaking >= this.settings.maxHandshakesPerPeer) {
      this.refuse(peer, `${handshaking} connections of ${peer} are in the TLS handshake (server.max-handshakes-per-peer)`);
      return false;
    }
    const key = `${socket.remoteAddress}:${socket.remotePort}`;
    const entry: Accepted = { peer, handshaking: true };
    this.accepted.set(key, entry);
    add(this.connections, peer, 1);
    add(this.handshakes, peer, 1);
    socket.once("close", () => {
      this.accepted.delete(key);
      add(this.connections, peer, -1);
      if (entry.handshaking) add(this.handshakes, peer, -1);
    });
    return true;
  }

  /**
   * On a completed handshake: the address's handshake place is freed, and a
   * client certificate, when there is one, is counted as a peer of its own.
   * False when that certificate has no room left; the caller closes the socket.
   */
  secured(socket: TLSSocket): boolean {
    const entry = this.accepted.get(`${socket.remoteAddress}:${socket.remotePort}`);
    if (entry?.handshaking) {
      entry.handshaking = false;
      add(this.handshakes, entry.peer, -1);
    }
    const fingerprint = socket.getPeerCertificate()?.fingerprint256;
    if (fingerprint === undefined || fingerprint === "") return true;
    const peer = `certificate ${fingerprint}`;
    const open = this.connections.get(peer) ?? 0;
    if (open >= this.settings.maxConnectionsPerPeer) {
      this.refuse(peer, `${open} connections with the client certificate ${fingerprint} are open (server.max-connections-per-peer)`);
      return false;
    }
    add(this.connections, peer, 1);
    socket.once("close", () => add(this.connections, peer, -1));
    return true;
  }

  private refuse(peer: string, why: string): void {
    this.refusals.take(peer, this.logger)?.warn(`refusing a connection: ${why}`);
  }
}

function add(counts: Map<string, number>, peer: string, delta: number): void {
  const n = (counts.get(peer) ?? 0) + delta;
  if (n <= 0) counts.delete(peer);
  else counts.set(peer, n);
}
