/**
 * Flows and sessions as Zeek's logs name them (conn.log, http.log, dns.log,
 * ssl.log, JSON form), so Zeek tooling can read flowtap's output.
 *
 * @module
 * @internal
 */
import type { FlowEnd } from './flows.js'
import type { DnsRecord, DnsTransaction, HttpTransaction, SessionEvent, TlsClientHello, TlsServerHello } from './sessions.js'
import { ja4 } from './sessions.js'

const PROTO: Record<number, string> = { 6: 'tcp', 17: 'udp', 1: 'icmp', 58: 'icmp' }

/** Zeek's `ts` and `duration`: seconds, microsecond precision. */
export function seconds(ns: bigint): number {
  return Number(ns / 1000n) / 1e6
}

/** A finished flow with the field names of Zeek's conn.log JSON. */
export function connLog(f: FlowEnd): Record<string, unknown> {
  return {
    ts: seconds(f.startNs),
    uid: f.uid,
    'id.orig_h': f.orig.addr,
    'id.orig_p': f.orig.port,
    'id.resp_h': f.resp.addr,
    'id.resp_p': f.resp.port,
    proto: PROTO[f.proto] ?? String(f.proto),
    service: f.service,
    duration: seconds(f.durationNs),
    orig_bytes: f.origBytes,
    resp_bytes: f.respBytes,
    conn_state: f.connState,
    history: f.history,
    orig_pkts: f.origStats.packets,
    orig_ip_bytes: f.origStats.ipBytes,
    resp_pkts: f.respStats.packets,
    resp_ip_bytes: f.respStats.ipBytes,
    community_id: f.communityId,
    end_reason: f.reason,
  }
}

function id(s: SessionEvent): Record<string, unknown> {
  return {
    uid: s.uid,
    'id.orig_h': s.orig.addr,
    'id.orig_p': s.orig.port,
    'id.resp_h': s.resp.addr,
    'id.resp_p': s.resp.port,
  }
}

/** Zeek's version field: `1.1` for `HTTP/1.1`. */
function httpVersion(v: string | undefined): string | null {
  if (!v) return null
  return v.startsWith('HTTP/') ? v.slice(5) : v
}

function httpLog(t: HttpTransaction, depth: number): Record<string, unknown> {
  const q = t.request
  const r = t.response
  return {
    log: 'http',
    ts: seconds(q?.startNs ?? r?.startNs ?? 0n),
    ...id(t),
    trans_depth: depth,
    method: q?.method ?? null,
    host: q?.host ?? null,
    uri: q?.uri ?? null,
    // Zeek keeps the last version seen: the response's when there is one.
    version: httpVersion(r?.version || q?.version),
    user_agent: q?.userAgent ?? null,
    request_body_len: q?.body.length ?? 0,
    response_body_len: r?.body.length ?? 0,
    status_code: r?.status ?? null,
    status_msg: r?.reason ?? null,
  }
}

function rdataText(r: DnsRecord): string {
  const d = r.data
  if (typeof d === 'string') return d
  if (Array.isArray(d)) return `TXT ${d.length} ${d.join(' ')}`
  if ('exchange' in d) return d.exchange
  if ('mname' in d) return d.mname
  if ('target' in d) return d.target
  return ''
}

function dnsLog(t: DnsTransaction): Record<string, unknown> {
  const q = t.query
  const r = t.response
  const m = q ?? r
  const question = m?.questions[0]
  const answers = r ? r.answers : []
  return {
    log: 'dns',
    ts: seconds(q ? t.queryNs : t.responseNs),
    ...id(t),
    proto: t.transport,
    trans_id: m?.id ?? null,
    rtt: q && r ? seconds(t.responseNs - t.queryNs) : null,
    query: question?.name ?? null,
    qclass: question?.qclass ?? null,
    qclass_name: question?.qclassName ?? null,
    qtype: question?.qtype ?? null,
    qtype_name: question?.qtypeName ?? null,
    rcode: r?.rcode ?? null,
    rcode_name: r?.rcodeName ?? null,
    AA: r?.aa ?? false,
    TC: r?.tc ?? false,
    RD: m?.rd ?? false,
    RA: r?.ra ?? false,
    answers: answers.length ? answers.map(rdataText) : null,
    TTLs: answers.length ? answers.map((a) => a.ttl) : null,
    rejected: r !== null && r.rcode !== 0 && answers.length === 0,
  }
}

/**
 * Turns session events into Zeek log lines. HTTP and DNS transactions are
 * one line each; a TLS session is one ssl.log line when it ends, built from
 * its hellos.
 */
export class ZeekLogs {
  private readonly depth = new Map<string, number>()
  private readonly hellos = new Map<string, { client?: TlsClientHello; server?: TlsServerHello }>()

  lines(s: SessionEvent): Record<string, unknown>[] {
    switch (s.type) {
      case 'http': {
        const d = (this.depth.get(s.uid) ?? 0) + 1
        this.depth.set(s.uid, d)
        return [httpLog(s, d)]
      }
      case 'dns':
        return [dnsLog(s)]
      case 'tls.client_hello':
      case 'tls.server_hello': {
        const h = this.hellos.get(s.uid) ?? {}
        if (s.type === 'tls.client_hello') h.client ??= s
        else h.server = s
        this.hellos.set(s.uid, h)
        return []
      }
      case 'tls.end': {
        this.depth.delete(s.uid)
        const h = this.hellos.get(s.uid) ?? {}
        this.hellos.delete(s.uid)
        if (!h.client && !h.server) return []
        const tls13 = s.version === 0x0304
        // Zeek calls a session established once the handshake finished:
        // both sides switched to encryption (ChangeCipherSpec before TLS
        // 1.3; encrypted records from both sides with 1.3).
        const established =
          s.serverHellos > 0 &&
          (tls13
            ? s.origRecords.encryptedRecords > 0 && s.respRecords.encryptedRecords > 0
            : s.origRecords.changeCipherSpec && s.respRecords.changeCipherSpec)
        return [
          {
            log: 'ssl',
            ts: seconds(h.client?.tsNs ?? h.server?.tsNs ?? 0n),
            ...id(s),
            version: h.server ? h.server.versionName : null,
            cipher: h.server ? h.server.cipherName : null,
            server_name: h.client?.serverName ?? null,
            next_protocol: h.server?.alpn ?? null,
            established,
            ja3: h.client?.ja3Hash || null,
            ja3s: h.server?.ja3sHash || null,
            ja4: h.client ? ja4(h.client) : null,
          },
        ]
      }
      default:
        return []
    }
  }
}
