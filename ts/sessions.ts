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

/** Protocols with a built-in parser. */
export type SessionProtocol = 'http' | 'dns' | 'tls'

/** Options of {@link PacketSource.sessions} and {@link PacketSource.streams}. */
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
  readonly transport: 'tcp' | 'udp'
  readonly orig: FlowEndpoint
  readonly resp: FlowEndpoint
}

/** The body of an HTTP message. */
export interface HttpBody {
  /** Decoded length (chunk payloads, for chunked), gap bytes included. */
  readonly length: number
  /** Bytes on the wire after the header block. */
  readonly wireLength: number
  /** Bytes never seen (gaps). */
  readonly gapBytes: number
  readonly chunked: boolean
  readonly trailers: number
  /** The first `bodyCaptureBytes` decoded bytes. */
  readonly captured: Uint8Array
}

interface HttpMessage {
  /** `HTTP/1.1`, `HTTP/1.0`; empty for HTTP/0.9. */
  readonly version: string
  /** Header fields in order, `[name, value]`, bounded. */
  readonly headers: readonly (readonly [string, string])[]
  readonly headersTruncated: boolean
  readonly contentLength: number | null
  readonly transferEncoding: string | null
  readonly contentType: string | null
  readonly body: HttpBody
  readonly startNs: bigint
  readonly endNs: bigint
  /** The whole message was seen. */
  readonly complete: boolean
}

export interface HttpRequest extends HttpMessage {
  readonly method: string
  readonly uri: string
  readonly host: string | null
  readonly userAgent: string | null
}

export interface HttpResponse extends HttpMessage {
  readonly status: number
  readonly reason: string
}

/** One HTTP request and its response (either may be missing). */
export interface HttpTransaction extends SessionBase {
  readonly type: 'http'
  readonly protocol: 'http'
  readonly request: HttpRequest | null
  readonly response: HttpResponse | null
  /** 1xx responses before the final one. */
  readonly interim: readonly { status: number; reason: string; tsNs: bigint }[]
  /** A gap touched this transaction. */
  readonly gap: boolean
  readonly parseError: boolean
  /** The connection became a tunnel (CONNECT, 101 Switching Protocols) after it. */
  readonly tunnel: boolean
}

export interface DnsQuestion {
  readonly name: string
  readonly qtype: number
  readonly qtypeName: string
  readonly qclass: number
  readonly qclassName: string
}

/** Record data: an address or name, a structure for MX/SOA/SRV, strings for TXT, hex for others. */
export type DnsRData =
  | string
  | readonly string[]
  | { preference: number; exchange: string }
  | { mname: string; rname: string; serial: number; refresh: number; retry: number; expire: number; minimum: number }
  | { priority: number; weight: number; port: number; target: string }

export interface DnsRecord {
  readonly name: string
  readonly type: number
  readonly typeName: string
  readonly class: number
  readonly ttl: number
  readonly data: DnsRData
}

export interface DnsMessage {
  readonly id: number
  readonly opcode: number
  readonly rcode: number
  readonly rcodeName: string
  readonly qr: boolean
  readonly aa: boolean
  readonly tc: boolean
  readonly rd: boolean
  readonly ra: boolean
  readonly questions: readonly DnsQuestion[]
  readonly answers: readonly DnsRecord[]
  readonly authority: readonly DnsRecord[]
  readonly additional: readonly DnsRecord[]
  /** Answers the header claims. */
  readonly answerCount: number
  /** Some records were not kept (list bound). */
  readonly truncated: boolean
  /** Why decoding stopped early, if it did. */
  readonly error: string | null
  readonly length: number
}

/** One DNS query and its response (either may be missing). */
export interface DnsTransaction extends SessionBase {
  readonly type: 'dns'
  readonly protocol: 'dns'
  readonly query: DnsMessage | null
  readonly queryNs: bigint
  readonly response: DnsMessage | null
  readonly responseNs: bigint
}

export interface TlsClientHello extends SessionBase {
  readonly type: 'tls.client_hello'
  readonly protocol: 'tls'
  readonly tsNs: bigint
  readonly recordVersion: number
  /** legacy_version. */
  readonly version: number
  readonly sessionId: string
  readonly cipherSuites: readonly number[]
  readonly compressionMethods: readonly number[]
  readonly extensions: readonly number[]
  /** SNI. */
  readonly serverName: string | null
  readonly alpn: readonly string[]
  readonly supportedVersions: readonly number[]
  readonly supportedGroups: readonly number[]
  readonly ecPointFormats: readonly number[]
  readonly signatureAlgorithms: readonly number[]
  readonly ja3: string
  /** MD5 of `ja3`, lower-case hex. */
  readonly ja3Hash: string
  readonly truncated: boolean
  readonly malformed: boolean
  readonly sslv2: boolean
}

export interface TlsServerHello extends SessionBase {
  readonly type: 'tls.server_hello'
  readonly protocol: 'tls'
  readonly tsNs: bigint
  readonly recordVersion: number
  /** The negotiated version (supported_versions when present). */
  readonly version: number
  /** `TLSv12`, `TLSv13`, … as Zeek prints it. */
  readonly versionName: string
  readonly sessionId: string
  readonly cipherSuite: number
  /** IANA name of the cipher suite. */
  readonly cipherName: string
  readonly compressionMethod: number
  readonly extensions: readonly number[]
  readonly alpn: string | null
  readonly helloRetryRequest: boolean
  readonly ja3s: string
  readonly ja3sHash: string
  readonly truncated: boolean
  readonly malformed: boolean
}

/** One X.509 certificate, as far as it was readable. */
export interface TlsCertificate {
  /** Upper-case hex bytes joined by `:`. */
  readonly serial: string
  /** RFC 4514-like, in certificate order: `C=FR, O=Example, CN=host`. */
  readonly subject: string
  readonly issuer: string
  /** UTCTime / GeneralizedTime as encoded, e.g. `230101000000Z`. */
  readonly notBefore: string
  readonly notAfter: string
  /** dNSName entries of the subjectAltName extension. */
  readonly sanDns: readonly string[]
  readonly length: number
  readonly truncated: boolean
  readonly malformed: boolean
}

/** A Certificate handshake message (visible up to TLS 1.2; encrypted in 1.3). */
export interface TlsCertificates extends SessionBase {
  readonly type: 'tls.certificates'
  readonly protocol: 'tls'
  readonly tsNs: bigint
  /** Who sent the chain: `resp` for the server's. */
  readonly direction: 'orig' | 'resp'
  readonly certificates: readonly TlsCertificate[]
  readonly truncated: boolean
  readonly malformed: boolean
}

/** Counters of one direction of a TLS session. */
export interface TlsRecordCounts {
  readonly records: number
  readonly handshakeMessages: number
  readonly changeCipherSpec: boolean
  readonly encryptedRecords: number
  readonly encryptedBytes: number
  readonly alerts: number
  readonly gaps: number
  readonly stopped: boolean
}

/** The end of a TLS session. */
export interface TlsEnd extends SessionBase {
  readonly type: 'tls.end'
  readonly protocol: 'tls'
  readonly clientHellos: number
  readonly serverHellos: number
  readonly version: number
  readonly versionName: string
  readonly cipherSuite: number | null
  readonly cipherName: string | null
  readonly origRecords: TlsRecordCounts
  readonly respRecords: TlsRecordCounts
}

/** Something wrong in a session's bytes (a parse error, a gap it could not skip, a bound hit). */
export interface SessionAnomaly extends SessionBase {
  readonly type: 'session.anomaly'
  readonly protocol: SessionProtocol
  readonly direction: 'orig' | 'resp'
  /** A stable code, e.g. `ERR_SESSION_MALFORMED`, `ERR_SESSION_HEADER_TOO_LARGE`. */
  readonly code: string
  readonly tsNs: bigint
}

/** A session event; `switch (ev.type)` narrows it (plugin messages too, by their plugin's name). */
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
