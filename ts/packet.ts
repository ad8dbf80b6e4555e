/**
 * Packets and batches of packets.
 *
 * A {@link PacketBatch} wraps one batch as the native core produced it:
 * typed arrays in struct-of-arrays form and one byte arena, handed over
 * without a copy. {@link Packet} is a lazy view of one row: nothing is
 * decoded or formatted until a getter is read, so iterating costs one small
 * object per packet.
 *
 * @module
 */
import { ADDR_STRIDE, U16, U32, U8, type BindingBatch } from './native.js'

/** Names of the link types flowtap decodes (`other` for the rest). */
export type LinkTypeName = 'null' | 'ethernet' | 'raw' | 'loop' | 'linux_sll' | 'ipv4' | 'ipv6' | 'linux_sll2' | 'other'

/** How far decoding got: `truncated` = the snaplen cut a header or the payload; `malformed` = a header is invalid. */
export type DecodeStatus = 'ok' | 'truncated' | 'malformed'

/** Protocol layers, in decoding order. */
export type LayerName =
  | 'link'
  | 'vlan'
  | 'mpls'
  | 'arp'
  | 'ipv4'
  | 'ipv6'
  | 'ip-extension'
  | 'tcp'
  | 'udp'
  | 'icmpv4'
  | 'icmpv6'
  | 'payload'

/** Network layer of a packet. */
export type NetworkName = 'none' | 'ipv4' | 'ipv6' | 'arp' | 'other'

/** Transport layer whose header was decoded. */
export type TransportName = 'none' | 'tcp' | 'udp' | 'icmp' | 'icmpv6' | 'other'

const STATUS: readonly DecodeStatus[] = ['ok', 'truncated', 'malformed']
const LAYERS: readonly LayerName[] = [
  'link',
  'vlan',
  'mpls',
  'arp',
  'ipv4',
  'ipv6',
  'ip-extension',
  'tcp',
  'udp',
  'icmpv4',
  'icmpv6',
  'payload',
]
const TRANSPORTS: readonly TransportName[] = ['none', 'tcp', 'udp', 'icmp', 'icmpv6', 'other']

/** Name of a LINKTYPE_* value. */
export function linkTypeName(linkType: number): LinkTypeName {
  switch (linkType) {
    case 0:
      return 'null'
    case 1:
      return 'ethernet'
    case 12:
    case 14:
    case 101:
      return 'raw'
    case 108:
      return 'loop'
    case 113:
      return 'linux_sll'
    case 228:
      return 'ipv4'
    case 229:
      return 'ipv6'
    case 276:
      return 'linux_sll2'
    default:
      return 'other'
  }
}

function networkName(v: number): NetworkName {
  switch (v) {
    case 4:
      return 'ipv4'
    case 6:
      return 'ipv6'
    case 1:
      return 'arp'
    case 2:
      return 'other'
    default:
      return 'none'
  }
}

/** TCP flags, decoded. */
export interface TcpFlags {
  fin: boolean
  syn: boolean
  rst: boolean
  psh: boolean
  ack: boolean
  urg: boolean
  ece: boolean
  cwr: boolean
  ns: boolean
}

/** The TCP options a flow analyzer needs; absent ones are `undefined`. */
export interface TcpOptions {
  mss?: number
  windowScale?: number
  sackPermitted: boolean
  /** SACK blocks were present. */
  sack: boolean
  timestamp?: { value: number; echo: number }
  /** The option list was cut short or malformed. */
  invalid: boolean
}

export interface TcpInfo {
  srcPort: number
  dstPort: number
  seq: number
  ack: number
  window: number
  /** Flags as the 9-bit wire value (FIN = 1, SYN = 2, RST = 4, PSH = 8, ACK = 16, …). */
  flagBits: number
  flags: TcpFlags
  options: TcpOptions
}

export interface UdpInfo {
  srcPort: number
  dstPort: number
}

export interface IcmpInfo {
  version: 4 | 6
  type: number
  code: number
}

export interface IpInfo {
  version: 4 | 6
  src: string
  dst: string
  /** TTL or hop limit. */
  ttl: number
  /** IP protocol number of the payload (after IPv6 extension headers). */
  protocol: number
  /** IPv4 identification, or the IPv6 fragment identification. */
  id: number
  /** Set when the packet is a fragment (its transport is not decoded). */
  fragment?: { offset: number; more: boolean }
  dontFragment: boolean
  /** IPv4 options present. */
  options: boolean
  /** IPv6 extension headers (or IPv4 AH) present. */
  extensions: boolean
  /** An IPv6 fragment header with offset 0 and M=0 (RFC 6946). */
  atomicFragment: boolean
}

const IPF_FRAGMENT = 1
const IPF_MORE = 2
const IPF_DF = 4
const IPF_OPTIONS = 8
const IPF_EXT = 16
const IPF_ATOMIC = 32

const OPT_MSS = 1
const OPT_WSCALE = 2
const OPT_SACK_PERM = 4
const OPT_SACK = 8
const OPT_TS = 16
const OPT_INVALID = 128

/** Typed-array views of one batch's columns, each `length` long. */
export interface BatchColumns {
  /** Capture timestamps, nanoseconds since the Unix epoch. */
  timestampNs: BigUint64Array
  caplen: Uint32Array
  /** Length on the wire. */
  origlen: Uint32Array
  interface: Uint32Array
  linkType: Uint16Array
  /** 0 ok, 1 truncated, 2 malformed. */
  status: Uint8Array
  /** Index into the layer list: see {@link LayerName}. */
  stop: Uint8Array
  /** 0 none, 1 ARP, 2 other, 4 IPv4, 6 IPv6. */
  net: Uint8Array
  /** 0 none, 1 TCP, 2 UDP, 3 ICMP, 4 ICMPv6, 5 other. */
  transport: Uint8Array
  ipProto: Uint8Array
  ttl: Uint8Array
  ipFlags: Uint8Array
  vlanCount: Uint8Array
  icmpType: Uint8Array
  icmpCode: Uint8Array
  tcpOpts: Uint8Array
  wscale: Uint8Array
  ethertype: Uint16Array
  vlanId: Uint16Array
  srcPort: Uint16Array
  dstPort: Uint16Array
  tcpFlags: Uint16Array
  window: Uint16Array
  fragOffset: Uint16Array
  mss: Uint16Array
  /** Offset of each packet's first byte in {@link PacketBatch.data}. */
  dataOffset: Uint32Array
  /** Payload offset relative to the packet's first byte. */
  payloadOffset: Uint32Array
  payloadLen: Uint32Array
  seq: Uint32Array
  ack: Uint32Array
  ipId: Uint32Array
  tsVal: Uint32Array
  tsEcr: Uint32Array
  /** Offset of the network header in the packet (0 when there is none). */
  l3Offset: Uint32Array
  /** Offset of the transport header in the packet (0 when there is none). */
  l4Offset: Uint32Array
}

type U8Name = 'status' | 'stop' | 'net' | 'transport' | 'ipProto' | 'ttl' | 'ipFlags' | 'vlanCount' | 'icmpType' | 'icmpCode' | 'tcpOpts' | 'wscale'
type U16Name = 'linkType' | 'ethertype' | 'vlanId' | 'srcPort' | 'dstPort' | 'tcpFlags' | 'window' | 'fragOffset' | 'mss'
type U32Name = 'caplen' | 'origlen' | 'interface' | 'dataOffset' | 'payloadOffset' | 'payloadLen' | 'seq' | 'ack' | 'ipId' | 'tsVal' | 'tsEcr' | 'l3Offset' | 'l4Offset'

const U8_NAMES: readonly U8Name[] = ['status', 'stop', 'net', 'transport', 'ipProto', 'ttl', 'ipFlags', 'vlanCount', 'icmpType', 'icmpCode', 'tcpOpts', 'wscale']
const U16_NAMES: readonly U16Name[] = ['linkType', 'ethertype', 'vlanId', 'srcPort', 'dstPort', 'tcpFlags', 'window', 'fragOffset', 'mss']
const U32_NAMES: readonly U32Name[] = ['caplen', 'origlen', 'interface', 'dataOffset', 'payloadOffset', 'payloadLen', 'seq', 'ack', 'ipId', 'tsVal', 'tsEcr', 'l3Offset', 'l4Offset']

for (const [names, idx] of [
  [U8_NAMES, U8],
  [U16_NAMES, U16],
  [U32_NAMES, U32],
] as const) {
  for (const n of names) {
    if (idx[n] === undefined) throw new Error(`flowtap: native binding lacks batch column '${n}' (binding and JS out of step)`)
  }
}

/**
 * One batch of decoded packets, as the native core produced it. Iterable; the
 * fast path is to read {@link PacketBatch.columns} directly.
 */
export class PacketBatch implements Iterable<Packet> {
  /** Number of packets. */
  readonly length: number
  /** Column views, each `length` long. */
  readonly columns: BatchColumns
  /** 32 bytes per packet: 16 source then 16 destination address bytes (IPv4 in the first 4). */
  readonly addrs: Uint8Array
  /** Packet bytes back to back (empty with `keepBytes: false`). */
  readonly data: Uint8Array
  /** Index of this batch's first packet in its source. */
  readonly firstIndex: number
  /** The live-capture worker (ring) these packets came from; 0 for files. */
  readonly worker: number

  /** @internal */
  constructor(b: BindingBatch, firstIndex: number, worker = 0) {
    const n = b.length
    const cap = b.capacity
    const cols = { timestampNs: b.ts.subarray(0, n) } as BatchColumns
    for (const name of U8_NAMES) (cols[name] as Uint8Array) = b.u8.subarray(U8[name]! * cap, U8[name]! * cap + n)
    for (const name of U16_NAMES) (cols[name] as Uint16Array) = b.u16.subarray(U16[name]! * cap, U16[name]! * cap + n)
    for (const name of U32_NAMES) (cols[name] as Uint32Array) = b.u32.subarray(U32[name]! * cap, U32[name]! * cap + n)
    this.length = n
    this.columns = cols
    this.addrs = b.addrs
    this.data = b.data
    this.firstIndex = firstIndex
    this.worker = worker
  }

  /** The packet at `i` (0-based within the batch). */
  get(i: number): Packet {
    if (!(i >= 0 && i < this.length)) throw new RangeError(`packet index ${i} out of range 0..${this.length - 1}`)
    return new Packet(this, i)
  }

  *[Symbol.iterator](): Iterator<Packet> {
    for (let i = 0; i < this.length; i++) yield new Packet(this, i)
  }
}

/** @internal Text form of the 4 (IPv4) or 16 (IPv6) address bytes at `at`. */
export function formatAddress(a: Uint8Array, at: number, v6: boolean): string {
  return v6 ? ipv6String(a, at) : ipv4String(a, at)
}

function ipv4String(a: Uint8Array, at: number): string {
  return `${a[at]}.${a[at + 1]}.${a[at + 2]}.${a[at + 3]}`
}

/** RFC 5952 text form of an IPv6 address. */
function ipv6String(a: Uint8Array, at: number): string {
  const words: number[] = []
  for (let i = 0; i < 8; i++) words.push((a[at + 2 * i]! << 8) | a[at + 2 * i + 1]!)
  // Longest run of zero words (length >= 2) becomes "::".
  let bestStart = -1
  let bestLen = 0
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && words[j] === 0) j++
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i
      bestLen = j - i
    }
    i = j
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(':')
  if (bestStart < 0) return hex(words)
  // IPv4-mapped addresses keep their dotted tail (RFC 5952 section 5).
  if (bestStart === 0 && bestLen === 5 && words[5] === 0xffff) return `::ffff:${ipv4String(a, at + 12)}`
  return `${hex(words.slice(0, bestStart))}::${hex(words.slice(bestStart + bestLen))}`
}

/**
 * One decoded packet: a lazy view of a row of its {@link PacketBatch}.
 * Getters decode on access; the byte views share the batch's memory.
 */
export class Packet {
  /** @internal */
  readonly batch: PacketBatch
  /** @internal */
  readonly row: number

  /** @internal */
  constructor(batch: PacketBatch, row: number) {
    this.batch = batch
    this.row = row
  }

  /** 0-based position of the packet in its source. */
  get index(): number {
    return this.batch.firstIndex + this.row
  }

  /** The live-capture worker that captured the packet; 0 for files. */
  get worker(): number {
    return this.batch.worker
  }
  /** Capture time in nanoseconds since the Unix epoch. */
  get timestampNs(): bigint {
    return this.batch.columns.timestampNs[this.row]!
  }
  /** Capture time in milliseconds since the Unix epoch (sub-ms digits kept as a fraction). */
  get timestamp(): number {
    return Number(this.timestampNs) / 1e6
  }
  /** Capture time as a Date (millisecond precision). */
  get date(): Date {
    return new Date(Math.floor(this.timestamp))
  }
  /** Captured bytes. */
  get caplen(): number {
    return this.batch.columns.caplen[this.row]!
  }
  /** Length on the wire. */
  get length(): number {
    return this.batch.columns.origlen[this.row]!
  }
  /** Interface index (pcapng: numbered across sections in file order). */
  get interface(): number {
    return this.batch.columns.interface[this.row]!
  }
  /** LINKTYPE_* value. */
  get linkType(): number {
    return this.batch.columns.linkType[this.row]!
  }
  get linkTypeName(): LinkTypeName {
    return linkTypeName(this.linkType)
  }
  get status(): DecodeStatus {
    return STATUS[this.batch.columns.status[this.row]!] ?? 'malformed'
  }
  /** Innermost layer decoded, or the layer where decoding stopped when `status` is not `ok`. */
  get layer(): LayerName {
    return LAYERS[this.batch.columns.stop[this.row]!] ?? 'link'
  }
  /** Innermost ethertype (0 where the link type has none). */
  get ethertype(): number {
    return this.batch.columns.ethertype[this.row]!
  }
  /** Outermost VLAN id and the number of tags, when tagged. */
  get vlan(): { id: number; count: number } | undefined {
    const count = this.batch.columns.vlanCount[this.row]!
    return count ? { id: this.batch.columns.vlanId[this.row]!, count } : undefined
  }
  get network(): NetworkName {
    return networkName(this.batch.columns.net[this.row]!)
  }
  /** Transport protocol whose header was decoded. */
  get protocol(): TransportName {
    return TRANSPORTS[this.batch.columns.transport[this.row]!] ?? 'none'
  }
  /** Source address (IPv4/IPv6), if the packet has an IP header. */
  get src(): string | undefined {
    return this.address(0)
  }
  /** Destination address (IPv4/IPv6), if the packet has an IP header. */
  get dst(): string | undefined {
    return this.address(16)
  }
  /** TCP/UDP source port, 0 when there is none. */
  get srcPort(): number {
    return this.batch.columns.srcPort[this.row]!
  }
  /** TCP/UDP destination port, 0 when there is none. */
  get dstPort(): number {
    return this.batch.columns.dstPort[this.row]!
  }

  private address(off: number): string | undefined {
    const net = this.batch.columns.net[this.row]
    const at = this.row * ADDR_STRIDE + off
    if (net === 4) return ipv4String(this.batch.addrs, at)
    if (net === 6) return ipv6String(this.batch.addrs, at)
    return undefined
  }

  /** The IP header summary, if the packet has one. */
  get ip(): IpInfo | undefined {
    const c = this.batch.columns
    const r = this.row
    const net = c.net[r]
    if (net !== 4 && net !== 6) return undefined
    const f = c.ipFlags[r]!
    return {
      version: net,
      src: this.src!,
      dst: this.dst!,
      ttl: c.ttl[r]!,
      protocol: c.ipProto[r]!,
      id: c.ipId[r]!,
      fragment: f & IPF_FRAGMENT ? { offset: c.fragOffset[r]!, more: (f & IPF_MORE) !== 0 } : undefined,
      dontFragment: (f & IPF_DF) !== 0,
      options: (f & IPF_OPTIONS) !== 0,
      extensions: (f & IPF_EXT) !== 0,
      atomicFragment: (f & IPF_ATOMIC) !== 0,
    }
  }

  /** The TCP header summary, if a TCP header was decoded. */
  get tcp(): TcpInfo | undefined {
    const c = this.batch.columns
    const r = this.row
    if (c.transport[r] !== 1) return undefined
    const b = c.tcpFlags[r]!
    const o = c.tcpOpts[r]!
    return {
      srcPort: c.srcPort[r]!,
      dstPort: c.dstPort[r]!,
      seq: c.seq[r]!,
      ack: c.ack[r]!,
      window: c.window[r]!,
      flagBits: b,
      flags: {
        fin: (b & 1) !== 0,
        syn: (b & 2) !== 0,
        rst: (b & 4) !== 0,
        psh: (b & 8) !== 0,
        ack: (b & 16) !== 0,
        urg: (b & 32) !== 0,
        ece: (b & 64) !== 0,
        cwr: (b & 128) !== 0,
        ns: (b & 256) !== 0,
      },
      options: {
        mss: o & OPT_MSS ? c.mss[r] : undefined,
        windowScale: o & OPT_WSCALE ? c.wscale[r] : undefined,
        sackPermitted: (o & OPT_SACK_PERM) !== 0,
        sack: (o & OPT_SACK) !== 0,
        timestamp: o & OPT_TS ? { value: c.tsVal[r]!, echo: c.tsEcr[r]! } : undefined,
        invalid: (o & OPT_INVALID) !== 0,
      },
    }
  }

  /** The UDP header summary, if a UDP header was decoded. */
  get udp(): UdpInfo | undefined {
    const c = this.batch.columns
    if (c.transport[this.row] !== 2) return undefined
    return { srcPort: c.srcPort[this.row]!, dstPort: c.dstPort[this.row]! }
  }

  /** The ICMP/ICMPv6 type and code, if an ICMP header was decoded. */
  get icmp(): IcmpInfo | undefined {
    const c = this.batch.columns
    const t = c.transport[this.row]
    if (t !== 3 && t !== 4) return undefined
    return { version: t === 3 ? 4 : 6, type: c.icmpType[this.row]!, code: c.icmpCode[this.row]! }
  }

  /** All captured bytes of the packet (empty with `keepBytes: false`). Shares the batch's memory. */
  get data(): Uint8Array {
    const c = this.batch.columns
    if (this.batch.data.length === 0) return this.batch.data
    const at = c.dataOffset[this.row]!
    return this.batch.data.subarray(at, at + c.caplen[this.row]!)
  }

  /** The innermost payload (after the last decoded header). Shares the batch's memory. */
  get payload(): Uint8Array {
    const c = this.batch.columns
    if (this.batch.data.length === 0) return this.batch.data
    const at = c.dataOffset[this.row]! + c.payloadOffset[this.row]!
    return this.batch.data.subarray(at, at + c.payloadLen[this.row]!)
  }

  /** A plain summary, as `flowtap packets` prints it. */
  toJSON(): PacketJson {
    const ns = this.timestampNs
    const out: PacketJson = {
      index: this.index,
      ts: `${ns / 1_000_000_000n}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}`,
      caplen: this.caplen,
      length: this.length,
      interface: this.interface,
      linkType: this.linkTypeName,
      status: this.status,
      layer: this.layer,
      network: this.network,
    }
    const vlan = this.vlan
    if (vlan) out.vlan = vlan.id
    if (this.network === 'ipv4' || this.network === 'ipv6') {
      out.src = this.src
      out.dst = this.dst
      out.ipProto = this.batch.columns.ipProto[this.row]
      const ip = this.ip!
      if (ip.fragment) out.fragment = ip.fragment
    }
    out.protocol = this.protocol
    const tcp = this.tcp
    if (tcp) {
      Object.assign(out, { srcPort: tcp.srcPort, dstPort: tcp.dstPort, seq: tcp.seq, ack: tcp.ack, window: tcp.window })
      out.tcpFlags = tcpFlagString(tcp.flagBits)
    }
    const udp = this.udp
    if (udp) Object.assign(out, { srcPort: udp.srcPort, dstPort: udp.dstPort })
    const icmp = this.icmp
    if (icmp) Object.assign(out, { icmpType: icmp.type, icmpCode: icmp.code })
    out.payloadLength = this.batch.columns.payloadLen[this.row]
    return out
  }
}

/** `flowtap packets` output for one packet. */
export interface PacketJson {
  index: number
  /** Seconds since the epoch with nanoseconds, as a decimal string. */
  ts: string
  caplen: number
  length: number
  interface: number
  linkType: LinkTypeName
  status: DecodeStatus
  layer: LayerName
  network: NetworkName
  vlan?: number
  src?: string
  dst?: string
  ipProto?: number
  fragment?: { offset: number; more: boolean }
  protocol?: TransportName
  srcPort?: number
  dstPort?: number
  seq?: number
  ack?: number
  window?: number
  tcpFlags?: string
  icmpType?: number
  icmpCode?: number
  payloadLength?: number
}

/** tcpdump-style flag letters: F S R P . U E W N. */
export function tcpFlagString(bits: number): string {
  const letters = 'FSRP.UEWN'
  let s = ''
  for (let i = 0; i < letters.length; i++) if (bits & (1 << i)) s += letters[i]
  return s
}
