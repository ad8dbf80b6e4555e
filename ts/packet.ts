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

/**
 * Names of the link types flowtap decodes (`other` for the rest): `null`
 * (0, BSD loopback), `ethernet` (1), `raw` (12, 14, 101: raw IP), `loop`
 * (108, OpenBSD loopback), `linux_sll` (113), `ipv4` (228), `ipv6` (229),
 * `linux_sll2` (276).
 *
 * @category Packets
 */
export type LinkTypeName = 'null' | 'ethernet' | 'raw' | 'loop' | 'linux_sll' | 'ipv4' | 'ipv6' | 'linux_sll2' | 'other'

/**
 * How far decoding got: `ok` = every layer flowtap knows was decoded;
 * `truncated` = the snaplen cut a header or the payload; `malformed` = a
 * header is invalid. Layers before the one that stopped are valid.
 *
 * @category Packets
 */
export type DecodeStatus = 'ok' | 'truncated' | 'malformed'

/**
 * Protocol layers, in decoding order (`ip-extension`: IPv6 extension
 * headers or the IPv4 authentication header).
 *
 * @category Packets
 */
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

/**
 * Network layer of a packet (`other`: another ethertype, see
 * {@link Packet.ethertype}).
 *
 * @category Packets
 */
export type NetworkName = 'none' | 'ipv4' | 'ipv6' | 'arp' | 'other'

/**
 * Transport layer whose header was decoded (`icmp` is ICMPv4; `other`: an
 * IP payload flowtap does not decode, such as IGMP, GRE or SCTP).
 *
 * @category Packets
 */
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

/**
 * Name of a LINKTYPE_* value.
 *
 * @category Packets
 */
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

/**
 * TCP flags, decoded.
 *
 * @category Packets
 */
export interface TcpFlags {
  /** FIN: the sender has no more data. */
  fin: boolean
  /** SYN: synchronize sequence numbers (connection start). */
  syn: boolean
  /** RST: reset the connection. */
  rst: boolean
  /** PSH: push the data to the application. */
  psh: boolean
  /** ACK: the acknowledgment number is valid. */
  ack: boolean
  /** URG: the urgent pointer is valid. */
  urg: boolean
  /** ECE: ECN echo. */
  ece: boolean
  /** CWR: congestion window reduced. */
  cwr: boolean
  /** NS: ECN nonce sum (RFC 3540, historic). */
  ns: boolean
}

/**
 * The TCP options a flow analyzer needs; absent ones are `undefined`.
 *
 * @category Packets
 */
export interface TcpOptions {
  /** Maximum segment size option, in bytes. */
  mss?: number
  /** Window scale option: the shift count. */
  windowScale?: number
  /** The SACK-permitted option was present. */
  sackPermitted: boolean
  /** SACK blocks were present. */
  sack: boolean
  /** Timestamps option (RFC 7323). */
  timestamp?: {
    /** TSval: the sender's timestamp clock. */
    value: number
    /** TSecr: the timestamp echoed back. */
    echo: number
  }
  /** The option list was cut short or malformed. */
  invalid: boolean
}

/**
 * A decoded TCP header, as {@link Packet.tcp} gives it.
 *
 * @category Packets
 */
export interface TcpInfo {
  /** Source port. */
  srcPort: number
  /** Destination port. */
  dstPort: number
  /** Sequence number, as on the wire. */
  seq: number
  /** Acknowledgment number, as on the wire. */
  ack: number
  /** Window field as on the wire (not scaled). */
  window: number
  /** Flags as the 9-bit wire value (FIN = 1, SYN = 2, RST = 4, PSH = 8, ACK = 16, …). */
  flagBits: number
  /** The flags, one boolean each. */
  flags: TcpFlags
  /** The options flowtap decodes. */
  options: TcpOptions
}

/**
 * A decoded UDP header, as {@link Packet.udp} gives it.
 *
 * @category Packets
 */
export interface UdpInfo {
  /** Source port. */
  srcPort: number
  /** Destination port. */
  dstPort: number
}

/**
 * A decoded ICMP or ICMPv6 header, as {@link Packet.icmp} gives it.
 *
 * @category Packets
 */
export interface IcmpInfo {
  /** 4 for ICMP, 6 for ICMPv6. */
  version: 4 | 6
  /** ICMP message type. */
  type: number
  /** ICMP message code. */
  code: number
}

/**
 * A decoded IPv4 or IPv6 header, as {@link Packet.ip} gives it.
 *
 * @category Packets
 */
export interface IpInfo {
  /** IP version. */
  version: 4 | 6
  /** Source address in text form. */
  src: string
  /** Destination address in text form. */
  dst: string
  /** TTL or hop limit. */
  ttl: number
  /** IP protocol number of the payload (after IPv6 extension headers). */
  protocol: number
  /** IPv4 identification, or the IPv6 fragment identification. */
  id: number
  /** Set when the packet is a fragment (its transport is not decoded). */
  fragment?: {
    /** Fragment offset in bytes. */
    offset: number
    /** More fragments follow (IPv4 MF, IPv6 M flag). */
    more: boolean
  }
  /** The IPv4 don't-fragment flag. */
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

/**
 * Typed-array views of one batch's columns, each `length` long. Values of
 * layers a packet lacks are 0.
 *
 * @category Packets
 */
export interface BatchColumns {
  /** Capture timestamps, nanoseconds since the Unix epoch. */
  timestampNs: BigUint64Array
  /** Captured bytes. */
  caplen: Uint32Array
  /** Length on the wire. */
  origlen: Uint32Array
  /** Interface index (pcapng: numbered across sections in file order). */
  interface: Uint32Array
  /** LINKTYPE_* value. */
  linkType: Uint16Array
  /** 0 ok, 1 truncated, 2 malformed. */
  status: Uint8Array
  /** Index into the layer list: see {@link LayerName}. */
  stop: Uint8Array
  /** 0 none, 1 ARP, 2 other, 4 IPv4, 6 IPv6. */
  net: Uint8Array
  /** 0 none, 1 TCP, 2 UDP, 3 ICMP, 4 ICMPv6, 5 other. */
  transport: Uint8Array
  /** IP protocol number of the payload (after IPv6 extension headers). */
  ipProto: Uint8Array
  /** TTL or hop limit. */
  ttl: Uint8Array
  /** IP flag bits: 1 fragment, 2 more fragments, 4 don't fragment, 8 IPv4 options, 16 extension headers (or IPv4 AH), 32 IPv6 atomic fragment. */
  ipFlags: Uint8Array
  /** Number of VLAN tags (802.1Q/802.1ad). */
  vlanCount: Uint8Array
  /** ICMP/ICMPv6 type. */
  icmpType: Uint8Array
  /** ICMP/ICMPv6 code. */
  icmpCode: Uint8Array
  /** TCP options present, bits: 1 MSS, 2 window scale, 4 SACK permitted, 8 SACK, 16 timestamps, 128 option list cut short or malformed. */
  tcpOpts: Uint8Array
  /** TCP window scale shift count (when `tcpOpts & 2`). */
  wscale: Uint8Array
  /** Innermost ethertype (0 where the link type has none). */
  ethertype: Uint16Array
  /** Outermost VLAN id (when `vlanCount` is not 0). */
  vlanId: Uint16Array
  /** TCP/UDP source port. */
  srcPort: Uint16Array
  /** TCP/UDP destination port. */
  dstPort: Uint16Array
  /** TCP flags as the 9-bit wire value (FIN = 1, SYN = 2, RST = 4, PSH = 8, ACK = 16, …, NS = 256). */
  tcpFlags: Uint16Array
  /** TCP window field as on the wire (not scaled). */
  window: Uint16Array
  /** Fragment offset in bytes (when `ipFlags & 1`). */
  fragOffset: Uint16Array
  /** TCP MSS option (when `tcpOpts & 1`). */
  mss: Uint16Array
  /** Offset of each packet's first byte in {@link PacketBatch.data}. */
  dataOffset: Uint32Array
  /** Payload offset relative to the packet's first byte. */
  payloadOffset: Uint32Array
  /** Captured length of the innermost payload. */
  payloadLen: Uint32Array
  /** TCP sequence number. */
  seq: Uint32Array
  /** TCP acknowledgment number. */
  ack: Uint32Array
  /** IPv4 identification, or the IPv6 fragment identification. */
  ipId: Uint32Array
  /** TCP timestamps option: TSval (when `tcpOpts & 16`). */
  tsVal: Uint32Array
  /** TCP timestamps option: TSecr (when `tcpOpts & 16`). */
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
 *
 * @category Packets
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

  /** The batch's packets in order, each a new {@link Packet} view. */
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
 *
 * @category Packets
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
  /** Name of the link type (see {@link linkTypeName}). */
  get linkTypeName(): LinkTypeName {
    return linkTypeName(this.linkType)
  }
  /** How far decoding got. */
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
  get vlan(): {
    /** Outermost VLAN id. */
    id: number
    /** Number of VLAN tags (802.1Q/802.1ad). */
    count: number
  } | undefined {
    const count = this.batch.columns.vlanCount[this.row]!
    return count ? { id: this.batch.columns.vlanId[this.row]!, count } : undefined
  }
  /** Network layer of the packet. */
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

/**
 * `flowtap packets` output for one packet, as {@link Packet.toJSON} gives
 * it. Fields of layers the packet lacks are absent.
 *
 * @category Packets
 */
export interface PacketJson {
  /** {@link Packet.index}. */
  index: number
  /** Seconds since the epoch with nanoseconds, as a decimal string. */
  ts: string
  /** Captured bytes. */
  caplen: number
  /** Length on the wire. */
  length: number
  /** {@link Packet.interface}. */
  interface: number
  /** Name of the link type. */
  linkType: LinkTypeName
  /** {@link Packet.status}. */
  status: DecodeStatus
  /** {@link Packet.layer}. */
  layer: LayerName
  /** {@link Packet.network}. */
  network: NetworkName
  /** Outermost VLAN id, when tagged. */
  vlan?: number
  /** Source address (IPv4/IPv6 packets). */
  src?: string
  /** Destination address (IPv4/IPv6 packets). */
  dst?: string
  /** IP protocol number of the payload (IPv4/IPv6 packets). */
  ipProto?: number
  /** Set when the packet is an IP fragment. */
  fragment?: {
    /** Fragment offset in bytes. */
    offset: number
    /** More fragments follow. */
    more: boolean
  }
  /** {@link Packet.protocol}. */
  protocol?: TransportName
  /** TCP/UDP source port. */
  srcPort?: number
  /** TCP/UDP destination port. */
  dstPort?: number
  /** TCP sequence number. */
  seq?: number
  /** TCP acknowledgment number. */
  ack?: number
  /** TCP window field (not scaled). */
  window?: number
  /** TCP flags as tcpdump letters ({@link tcpFlagString}). */
  tcpFlags?: string
  /** ICMP/ICMPv6 type. */
  icmpType?: number
  /** ICMP/ICMPv6 code. */
  icmpCode?: number
  /** Captured length of the innermost payload. */
  payloadLength?: number
}

/**
 * tcpdump-style letters of TCP flag bits, in bit order: F S R P . U E W N
 * (`.` is ACK); `0x12` gives `S.`.
 *
 * @category Packets
 */
export function tcpFlagString(bits: number): string {
  const letters = 'FSRP.UEWN'
  let s = ''
  for (let i = 0; i < letters.length; i++) if (bits & (1 << i)) s += letters[i]
  return s
}
