/**
 * Session records: HTTP transactions, DNS transactions, TLS hellos, parsed
 * in Rust from reassembled TCP streams and UDP datagrams. The parser of a
 * flow is chosen by its first bytes, not by its port. One JSON string
 * crosses from Rust per batch and is parsed once here.
 *
 * @module
 */
import { createHash } from 'node:crypto'
import { InvalidArgumentError } from './errors.js'
import type { FlowEndpoint } from './flows.js'
import type { BindingAnalyzeOptions } from './native.js'
import { pluginSpecs, type Plugin, type PluginSessionEvent, type SessionError } from './plugins.js'

/**
 * Protocols with a built-in parser.
 *
 * @category Sessions
 */
export type SessionProtocol = 'http' | 'dns' | 'tls'

/**
 * Options of {@link PacketSource.sessions} and {@link PacketSource.streams}.
 *
 * @category Sessions
 */
export interface SessionOptions {
  /** Parsers to run. @default ['http', 'dns', 'tls'] */
  protocols?: SessionProtocol[]
  /** First body bytes kept per HTTP message (`body.captured`). @default 0 */
  bodyCaptureBytes?: number
  /** Bytes delivered per stream direction; later bytes are counted and end the stream with a `depth` gap. @default unlimited */
  streamDepthBytes?: number
  /** Out-of-order bytes buffered per stream direction before a hole is given up as a gap. @default 1048576 */
  maxOooBytes?: number
  /** Out-of-order bytes buffered across all flows (the reassembly memcap). @default 268435456 */
  memcapBytes?: number
  /** Parsers written in TypeScript ({@link defineStreamParser}, {@link defineDatagramParser}); their messages join the session events. */
  plugins?: readonly Plugin[]
}

/** Who a session belongs to. */
interface SessionBase {
  /** The flow's uid, as in its flow events and Zeek's logs. */
  readonly uid: string
  /** The flow's transport protocol. */
  readonly transport: 'tcp' | 'udp'
  /** The flow's originator. */
  readonly orig: FlowEndpoint
  /** The flow's responder. */
  readonly resp: FlowEndpoint
}

/**
 * The body of an HTTP message.
 *
 * @category Sessions
 */
export interface HttpBody {
  /** Decoded length (chunk payloads, for chunked), gap bytes included. */
  readonly length: number
  /** Bytes on the wire after the header block. */
  readonly wireLength: number
  /** Bytes never seen (gaps). */
  readonly gapBytes: number
  /** Chunked transfer coding was used. */
  readonly chunked: boolean
  /** Trailer fields after the last chunk. */
  readonly trailers: number
  /** The first `bodyCaptureBytes` decoded bytes. */
  readonly captured: Uint8Array
}

interface HttpMessage {
  /** `HTTP/1.1`, `HTTP/1.0`; empty for HTTP/0.9. */
  readonly version: string
  /** Header fields in order, `[name, value]`, bounded. */
  readonly headers: readonly (readonly [string, string])[]
  /** More headers (or longer names or values) than were kept. */
  readonly headersTruncated: boolean
  /** The Content-Length header, when present and valid. */
  readonly contentLength: number | null
  /** The Transfer-Encoding header, when present. */
  readonly transferEncoding: string | null
  /** The first Content-Type header, when present. */
  readonly contentType: string | null
  /** Body lengths and the captured first bytes. */
  readonly body: HttpBody
  /** Time of the packet holding the message's first byte, ns since the Unix epoch. */
  readonly startNs: bigint
  /** Time of the packet that ended the message (or where it was cut short), ns since the Unix epoch. */
  readonly endNs: bigint
  /** The whole message was seen. */
  readonly complete: boolean
}

/**
 * An HTTP/1.x request.
 *
 * @category Sessions
 */
export interface HttpRequest extends HttpMessage {
  /** The request method, as sent (`GET`, `POST`, …). */
  readonly method: string
  /** The request target, as sent. */
  readonly uri: string
  /** The Host header, when present. */
  readonly host: string | null
  /** The User-Agent header, when present. */
  readonly userAgent: string | null
}

/**
 * An HTTP/1.x response.
 *
 * @category Sessions
 */
export interface HttpResponse extends HttpMessage {
  /** The status code; 0 for the status-less response to an HTTP/0.9 request. */
  readonly status: number
  /** The reason phrase, as sent. */
  readonly reason: string
}

/**
 * One HTTP request and its response (either may be missing).
 *
 * @category Sessions
 */
export interface HttpTransaction extends SessionBase {
  /** Discriminant of {@link SessionEvent}. */
  readonly type: 'http'
  /** The parser that produced the event. */
  readonly protocol: 'http'
  /** The request; null for a response whose request was lost (a gap on the request side). */
  readonly request: HttpRequest | null
  /** The response; null when none was seen (the connection ended first, or too many requests were waiting). */
  readonly response: HttpResponse | null
  /** Interim 1xx responses (101 excluded) before the final one, at most 8. */
  readonly interim: readonly {
    /** The status code. */
    status: number
    /** The reason phrase. */
    reason: string
    /** Time of the packet that completed it, ns since the Unix epoch. */
    tsNs: bigint
  }[]
  /** A gap touched this transaction. */
  readonly gap: boolean
  /** A parse error or framing violation touched this transaction. */
  readonly parseError: boolean
  /** The connection became a tunnel (CONNECT, 101 Switching Protocols) after it. */
  readonly tunnel: boolean
}

/**
 * One entry of a DNS question section.
 *
 * @category Sessions
 */
export interface DnsQuestion {
  /** Dotted name without the trailing dot; the root is `''`. */
  readonly name: string
  /** QTYPE number. */
  readonly qtype: number
  /** QTYPE mnemonic (`A`, `AAAA`, …), `TYPE<n>` when unknown. */
  readonly qtypeName: string
  /** QCLASS number. */
  readonly qclass: number
  /** QCLASS name (`C_INTERNET`, …), `CLASS<n>` when unknown. */
  readonly qclassName: string
}

/**
 * Record data: an address (A, AAAA) or name (CNAME, NS, PTR), a structure
 * for MX/SOA/SRV, strings for TXT, lower-case hex of the raw bytes for others.
 *
 * @category Sessions
 */
export type DnsRData =
  | string
  | readonly string[]
  | {
      /** MX preference (lower is preferred). */
      preference: number
      /** MX mail exchange host. */
      exchange: string
    }
  | {
      /** SOA primary name server. */
      mname: string
      /** SOA mailbox of the person responsible, as a name. */
      rname: string
      /** SOA zone serial number. */
      serial: number
      /** SOA refresh interval, seconds. */
      refresh: number
      /** SOA retry interval, seconds. */
      retry: number
      /** SOA expire limit, seconds. */
      expire: number
      /** SOA minimum (negative-caching) TTL, seconds. */
      minimum: number
    }
  | {
      /** SRV priority (lower is preferred). */
      priority: number
      /** SRV weight among targets of equal priority. */
      weight: number
      /** SRV port of the service. */
      port: number
      /** SRV target host. */
      target: string
    }

/**
 * One DNS resource record.
 *
 * @category Sessions
 */
export interface DnsRecord {
  /** Owner name, dotted, without the trailing dot. */
  readonly name: string
  /** TYPE number. */
  readonly type: number
  /** TYPE mnemonic (`A`, `MX`, `OPT`, …), `TYPE<n>` when unknown. */
  readonly typeName: string
  /** CLASS number; for OPT (41) the requestor's UDP payload size. */
  readonly class: number
  /** TTL in seconds; for OPT (41) the extended rcode, version and flags. */
  readonly ttl: number
  /** The decoded record data. */
  readonly data: DnsRData
}

/**
 * One decoded DNS message. Decoding is partial: the header and every record
 * before the first damaged one are kept, and `error` says why it stopped.
 *
 * @category Sessions
 */
export interface DnsMessage {
  /** Message ID. */
  readonly id: number
  /** Header OPCODE (0 = standard query). */
  readonly opcode: number
  /** The 4-bit header RCODE (without the EDNS extension). */
  readonly rcode: number
  /** RCODE name (`NOERROR`, `NXDOMAIN`, …), `RCODE<n>` when unknown. */
  readonly rcodeName: string
  /** QR flag: the message is a response. */
  readonly qr: boolean
  /** AA flag: authoritative answer. */
  readonly aa: boolean
  /** TC flag: the message was truncated by its sender. */
  readonly tc: boolean
  /** RD flag: recursion desired. */
  readonly rd: boolean
  /** RA flag: recursion available. */
  readonly ra: boolean
  /** Question section. */
  readonly questions: readonly DnsQuestion[]
  /** Answer section. */
  readonly answers: readonly DnsRecord[]
  /** Authority section. */
  readonly authority: readonly DnsRecord[]
  /** Additional section (the EDNS OPT pseudo-record included). */
  readonly additional: readonly DnsRecord[]
  /** Answers the header claims. */
  readonly answerCount: number
  /** Some records were not kept (list bound). */
  readonly truncated: boolean
  /** Why decoding stopped early, if it did. */
  readonly error: string | null
  /** Message length in bytes (without the TCP length prefix). */
  readonly length: number
}

/**
 * One DNS query and its response (either may be missing). A response is
 * paired with the oldest waiting query of the same ID, first question name
 * and type.
 *
 * @category Sessions
 */
export interface DnsTransaction extends SessionBase {
  /** Discriminant of {@link SessionEvent}. */
  readonly type: 'dns'
  /** The parser that produced the event. */
  readonly protocol: 'dns'
  /** The query; null for a response with no query waiting. */
  readonly query: DnsMessage | null
  /** Time of the query, ns since the Unix epoch; 0 without a query. */
  readonly queryNs: bigint
  /** The response; null when none came (timeout, eviction, end of the flow). */
  readonly response: DnsMessage | null
  /** Time of the response, ns since the Unix epoch; 0 without a response. */
  readonly responseNs: bigint
}

/**
 * A TLS ClientHello (or an SSL 2.0-format one). Lists are as sent, GREASE
 * values included, up to the list bound.
 *
 * @category Sessions
 */
export interface TlsClientHello extends SessionBase {
  /** Discriminant of {@link SessionEvent}. */
  readonly type: 'tls.client_hello'
  /** The parser that produced the event. */
  readonly protocol: 'tls'
  /** Time of the packet that completed the hello, ns since the Unix epoch. */
  readonly tsNs: bigint
  /** Version in the header of the record that carried the hello. */
  readonly recordVersion: number
  /** legacy_version. */
  readonly version: number
  /** Session ID, lower-case hex (empty when none). */
  readonly sessionId: string
  /** Offered cipher suites, in order. */
  readonly cipherSuites: readonly number[]
  /** Offered compression methods. */
  readonly compressionMethods: readonly number[]
  /** Extension types, in wire order. */
  readonly extensions: readonly number[]
  /** SNI. */
  readonly serverName: string | null
  /** Offered ALPN protocols (`h2`, `http/1.1`, …). */
  readonly alpn: readonly string[]
  /** The supported_versions extension; offers 0x0304 for TLS 1.3. */
  readonly supportedVersions: readonly number[]
  /** The supported_groups extension (named groups / curves). */
  readonly supportedGroups: readonly number[]
  /** The ec_point_formats extension. */
  readonly ecPointFormats: readonly number[]
  /** The signature_algorithms extension. */
  readonly signatureAlgorithms: readonly number[]
  /** JA3 string (Salesforce's definition, GREASE left out, computed over every value even past the list bound); empty for SSL 2.0 hellos. */
  readonly ja3: string
  /** MD5 of `ja3`, lower-case hex. */
  readonly ja3Hash: string
  /** A list hit the list bound and was cut (`ja3` still uses every value). */
  readonly truncated: boolean
  /** The hello ended early or a field overran; what was read is kept. */
  readonly malformed: boolean
  /** Sent in the SSL 2.0 record format: `cipherSuites` holds the TLS suites among its cipher specs, and `ja3` is empty. */
  readonly sslv2: boolean
}

/**
 * A TLS ServerHello (or a TLS 1.3 HelloRetryRequest).
 *
 * @category Sessions
 */
export interface TlsServerHello extends SessionBase {
  /** Discriminant of {@link SessionEvent}. */
  readonly type: 'tls.server_hello'
  /** The parser that produced the event. */
  readonly protocol: 'tls'
  /** Time of the packet that completed the hello, ns since the Unix epoch. */
  readonly tsNs: bigint
  /** Version in the header of the record that carried the hello. */
  readonly recordVersion: number
  /** The negotiated version (supported_versions when present). */
  readonly version: number
  /** `TLSv12`, `TLSv13`, … as Zeek prints it. */
  readonly versionName: string
  /** Session ID, lower-case hex (empty when none). */
  readonly sessionId: string
  /** The selected cipher suite. */
  readonly cipherSuite: number
  /** IANA name of the cipher suite. */
  readonly cipherName: string
  /** The selected compression method. */
  readonly compressionMethod: number
  /** Extension types, in wire order. */
  readonly extensions: readonly number[]
  /** The selected ALPN protocol, when the server sent one. */
  readonly alpn: string | null
  /** This ServerHello is a TLS 1.3 HelloRetryRequest. */
  readonly helloRetryRequest: boolean
  /** JA3S string (Salesforce's definition, GREASE left out). */
  readonly ja3s: string
  /** MD5 of `ja3s`, lower-case hex. */
  readonly ja3sHash: string
  /** The extension list hit the list bound and was cut. */
  readonly truncated: boolean
  /** The hello ended early or a field overran; what was read is kept. */
  readonly malformed: boolean
}

/**
 * One X.509 certificate, as far as it was readable. Nothing is verified.
 *
 * @category Sessions
 */
export interface TlsCertificate {
  /** Upper-case hex bytes joined by `:`. */
  readonly serial: string
  /** RFC 4514-like, in certificate order: `C=FR, O=Example, CN=host`. */
  readonly subject: string
  /** The issuer's name, in the same form as `subject`. */
  readonly issuer: string
  /** UTCTime / GeneralizedTime as encoded, e.g. `230101000000Z`. */
  readonly notBefore: string
  /** End of validity, encoded like `notBefore`. */
  readonly notAfter: string
  /** dNSName entries of the subjectAltName extension. */
  readonly sanDns: readonly string[]
  /** DER length of the certificate, in bytes. */
  readonly length: number
  /** Some subjectAltName entries were not kept (list bound). */
  readonly truncated: boolean
  /** The DER could not be walked to the end; the fields read before are kept. */
  readonly malformed: boolean
}

/**
 * A Certificate handshake message (visible up to TLS 1.2; encrypted in 1.3).
 *
 * @category Sessions
 */
export interface TlsCertificates extends SessionBase {
  /** Discriminant of {@link SessionEvent}. */
  readonly type: 'tls.certificates'
  /** The parser that produced the event. */
  readonly protocol: 'tls'
  /** Time of the packet that completed the message, ns since the Unix epoch. */
  readonly tsNs: bigint
  /** Who sent the chain: `resp` for the server's. */
  readonly direction: 'orig' | 'resp'
  /** The chain in the order sent. */
  readonly certificates: readonly TlsCertificate[]
  /** More certificates were sent than kept (list bound). */
  readonly truncated: boolean
  /** The message framing was damaged (each certificate has its own flag). */
  readonly malformed: boolean
}

/**
 * Counters of one direction of a TLS session.
 *
 * @category Sessions
 */
export interface TlsRecordCounts {
  /** TLS records seen. */
  readonly records: number
  /** Handshake messages read in clear. */
  readonly handshakeMessages: number
  /** A ChangeCipherSpec record was seen. */
  readonly changeCipherSpec: boolean
  /** Records whose content is encrypted (application data, and anything after ChangeCipherSpec under TLS 1.2 and earlier). */
  readonly encryptedRecords: number
  /** Payload bytes of those encrypted records. */
  readonly encryptedBytes: number
  /** Alert records. */
  readonly alerts: number
  /** Gaps in the direction's stream. */
  readonly gaps: number
  /** Parsing of the direction stopped (a framing error or a gap it could not skip). */
  readonly stopped: boolean
}

/**
 * The end of a TLS session, once both directions ended.
 *
 * @category Sessions
 */
export interface TlsEnd extends SessionBase {
  /** Discriminant of {@link SessionEvent}. */
  readonly type: 'tls.end'
  /** The parser that produced the event. */
  readonly protocol: 'tls'
  /** ClientHellos seen. */
  readonly clientHellos: number
  /** ServerHellos seen, HelloRetryRequests included. */
  readonly serverHellos: number
  /** The version the last ServerHello (not a HelloRetryRequest) negotiated; 0 when there was none. */
  readonly version: number
  /** `version` as Zeek prints it (`TLSv12`, `TLSv13`, …). */
  readonly versionName: string
  /** The cipher suite the last ServerHello (not a HelloRetryRequest) selected; null when there was none. */
  readonly cipherSuite: number | null
  /** IANA name of `cipherSuite`; null when there was none. */
  readonly cipherName: string | null
  /** Record counters of the originator's (client's) direction. */
  readonly origRecords: TlsRecordCounts
  /** Record counters of the responder's (server's) direction. */
  readonly respRecords: TlsRecordCounts
}

/**
 * Something wrong in a session's bytes (a parse error, a gap it could not skip, a bound hit).
 *
 * @category Sessions
 */
export interface SessionAnomaly extends SessionBase {
  /** Discriminant of {@link SessionEvent}. */
  readonly type: 'session.anomaly'
  /** The parser that reported it. */
  readonly protocol: SessionProtocol
  /** The side whose bytes (or gap) raised it. */
  readonly direction: 'orig' | 'resp'
  /** A stable code, e.g. `ERR_SESSION_MALFORMED`, `ERR_SESSION_HEADER_TOO_LARGE`. */
  readonly code: string
  /** Time of the packet where it was found, ns since the Unix epoch. */
  readonly tsNs: bigint
}

/**
 * A session event; `switch (ev.type)` narrows it (plugin messages too, by their plugin's name).
 *
 * @category Sessions
 */
export type SessionEvent =
  | HttpTransaction
  | DnsTransaction
  | TlsClientHello
  | TlsServerHello
  | TlsCertificates
  | TlsEnd
  | SessionAnomaly
  | SessionError
  | PluginSessionEvent

const PROTOCOLS: readonly SessionProtocol[] = ['http', 'dns', 'tls']

function checkPositive(name: string, v: unknown): void {
  if (v === undefined) return
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) {
    throw new InvalidArgumentError('ERR_INVALID_ARG', `${name} must be a positive integer, got ${String(v)}`)
  }
}

/** Validates session options once and turns them into the binding's form. */
export function toBindingAnalyzeOptions(o: SessionOptions, streams: boolean): BindingAnalyzeOptions {
  if (typeof o !== 'object' || o === null) throw new InvalidArgumentError('ERR_INVALID_ARG', 'session options must be an object')
  if (o.protocols !== undefined) {
    if (!Array.isArray(o.protocols)) throw new InvalidArgumentError('ERR_INVALID_ARG', 'protocols must be an array')
    for (const p of o.protocols) {
      if (!PROTOCOLS.includes(p)) throw new InvalidArgumentError('ERR_INVALID_ARG', `unknown protocol ${JSON.stringify(p)}; known: ${PROTOCOLS.join(', ')}`)
    }
  }
  if (o.bodyCaptureBytes !== undefined) {
    const v = o.bodyCaptureBytes
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 16 << 20) {
      throw new InvalidArgumentError('ERR_INVALID_ARG', `bodyCaptureBytes must be an integer in 0..16777216, got ${String(v)}`)
    }
  }
  for (const k of ['streamDepthBytes', 'maxOooBytes', 'memcapBytes'] as const) checkPositive(k, o[k])
  return {
    protocols: o.protocols ? [...o.protocols] : undefined,
    plugins: o.plugins !== undefined && o.plugins.length > 0 ? pluginSpecs(o.plugins) : undefined,
    streams,
    bodyCaptureBytes: o.bodyCaptureBytes,
    streamDepthBytes: o.streamDepthBytes,
    maxOooBytes: o.maxOooBytes,
    memcapBytes: o.memcapBytes,
  }
}

const EMPTY = new Uint8Array(0)

function hexBytes(hex: string): Uint8Array {
  if (hex.length === 0) return EMPTY
  const out = new Uint8Array(hex.length >> 1)
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(2 * i, 2), 16)
  return out
}

type Mutable = Record<string, unknown>

/** Nanosecond times arrive as decimal strings (JSON numbers are doubles). */
function ns(o: Mutable | null | undefined, ...keys: string[]): void {
  if (!o) return
  for (const k of keys) if (typeof o[k] === 'string') o[k] = BigInt(o[k] as string)
}

function httpMessage(m: Mutable | null): void {
  if (!m) return
  ns(m, 'startNs', 'endNs')
  const body = m.body as Mutable
  body.captured = hexBytes(body.captured as string)
}

/**
 * The session events of one native batch: one `JSON.parse` (no reviver,
 * which would cost a call per value), then the few fields JSON cannot
 * carry are converted in place.
 */
export function sessionEvents(json: string): SessionEvent[] {
  const events = JSON.parse(json) as Mutable[]
  for (const e of events) {
    switch (e.type) {
      case 'http':
        httpMessage(e.request as Mutable | null)
        httpMessage(e.response as Mutable | null)
        for (const i of e.interim as Mutable[]) ns(i, 'tsNs')
        break
      case 'dns':
        ns(e, 'queryNs', 'responseNs')
        break
      default:
        ns(e, 'tsNs')
    }
  }
  return events as unknown as SessionEvent[]
}

const isGrease = (v: number): boolean => (v & 0x0f0f) === 0x0a0a && v >> 8 === (v & 0xff)

function ja4Version(v: number): string {
  switch (v) {
    case 0x0304:
      return '13'
    case 0x0303:
      return '12'
    case 0x0302:
      return '11'
    case 0x0301:
      return '10'
    case 0x0300:
      return 's3'
    case 0x0002:
      return 's2'
    case 0xfeff:
      return 'd1'
    case 0xfefd:
      return 'd2'
    case 0xfefc:
      return 'd3'
    default:
      return '00'
  }
}

const hex4 = (v: number): string => v.toString(16).padStart(4, '0')

function sha12(s: string): string {
  if (s === '') return '000000000000'
  return createHash('sha256').update(s).digest('hex').slice(0, 12)
}

/**
 * The JA4 fingerprint of a ClientHello (FoxIO's JA4 TLS client
 * fingerprint: `t13d1516h2_8daaf6152771_e5627efa2ab1`), for TCP.
 */
export function ja4(h: TlsClientHello): string {
  const versions = h.supportedVersions.filter((v) => !isGrease(v))
  const version = ja4Version(versions.length ? Math.max(...versions) : h.version)
  const ciphers = h.cipherSuites.filter((v) => !isGrease(v))
  const exts = h.extensions.filter((v) => !isGrease(v))
  const count = (n: number) => String(Math.min(n, 99)).padStart(2, '0')
  const alpn = h.alpn[0] ?? ''
  const alpnCode = alpn.length === 0 ? '00' : `${alpn[0]}${alpn[alpn.length - 1]}`
  const a = `t${version}${h.serverName ? 'd' : 'i'}${count(ciphers.length)}${count(exts.length)}${alpnCode}`
  const b = sha12(ciphers.map(hex4).sort().join(','))
  const sorted = exts
    .filter((e) => e !== 0x0000 && e !== 0x0010)
    .map(hex4)
    .sort()
    .join(',')
  const sigs = h.signatureAlgorithms.map(hex4).join(',')
  const c = sorted === '' ? '000000000000' : sha12(sigs ? `${sorted}_${sigs}` : sorted)
  return `${a}_${b}_${c}`
}
