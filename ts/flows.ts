/**
 * Flow events: bidirectional flows as the Rust core tracks them (Zeek's TCP
 * state and history, Community ID, IP fragments reassembled first), built
 * from one struct-of-arrays batch per native call.
 *
 * @module
 */
import { InvalidArgumentError } from './errors.js'
import { native, type BindingFlowBatch, type BindingFlowOptions } from './native.js'
import { formatAddress } from './packet.js'

/**
 * Options of flow tracking. Times in milliseconds.
 *
 * @category Flows
 */
export interface FlowOptions {
  /** Flows tracked at once; beyond it the least recently seen ends with reason `evicted`. @default 1000000 */
  maxFlows?: number
  /** Idle timeout of an established TCP flow. @default 300000 */
  tcpIdleMs?: number
  /** Timeout of a TCP flow whose handshake has not completed (a lone SYN). @default 5000 */
  tcpHandshakeMs?: number
  /** How long a closed TCP flow waits for stragglers (retransmitted FIN, last ACK). @default 5000 */
  tcpCloseDelayMs?: number
  /** Idle timeout of a UDP flow. @default 60000 */
  udpIdleMs?: number
  /** Idle timeout of other protocols (ICMP, …). @default 30000 */
  otherIdleMs?: number
  /** Keep flows of different VLANs apart. @default false */
  vlanKeying?: boolean
  /** Reassemble IP fragments before tracking. @default true */
  defrag?: boolean
}

/**
 * Why a flow ended:
 * - `fin`: the TCP connection closed with FIN, no RST;
 * - `rst`: the TCP connection closed with a RST;
 * - `idle`: no packet within the flow's idle timeout;
 * - `evicted`: pushed out of a full flow table (`maxFlows`);
 * - `end-of-input`: still open when the input ended (or a live capture stopped);
 * - `reused`: a new connection started on the same addresses and ports.
 *
 * @category Flows
 */
export type FlowEndReason = 'fin' | 'rst' | 'idle' | 'evicted' | 'end-of-input' | 'reused'

/**
 * Zeek's `conn_state`:
 * - `S0`: connection attempt seen, no reply;
 * - `S1`: established, not terminated;
 * - `SF`: normal establishment and termination;
 * - `REJ`: connection attempt rejected;
 * - `S2`: established, close attempt by the originator seen (no reply from the responder);
 * - `S3`: established, close attempt by the responder seen (no reply from the originator);
 * - `RSTO`: established, the originator aborted (sent a RST);
 * - `RSTR`: established, the responder aborted;
 * - `RSTOS0`: the originator sent a SYN then a RST, no SYN-ACK seen from the responder;
 * - `RSTRH`: the responder sent a SYN-ACK then a RST, no SYN seen from the originator;
 * - `SH`: the originator sent a SYN then a FIN, no SYN-ACK seen from the responder (half open);
 * - `SHR`: the responder sent a SYN-ACK then a FIN, no SYN seen from the originator;
 * - `OTH`: no SYN seen, only midstream traffic (and every non-TCP flow).
 *
 * @category Flows
 */
export type ConnState = 'S0' | 'S1' | 'SF' | 'REJ' | 'S2' | 'S3' | 'RSTO' | 'RSTR' | 'RSTOS0' | 'RSTRH' | 'SH' | 'SHR' | 'OTH'

/**
 * One side of a flow.
 *
 * @category Flows
 */
export interface FlowEndpoint {
  /** IPv4 or IPv6 address in text form (IPv6 as RFC 5952). */
  readonly addr: string
  /** The TCP, UDP or SCTP port; for ICMP the type and its counterpart stand in, as in Zeek and the Community ID; else 0. */
  readonly port: number
}

/**
 * Counters of one direction.
 *
 * @category Flows
 */
export interface FlowCounters {
  /** Packets sent in this direction. */
  readonly packets: number
  /** IP bytes, as Zeek's `*_ip_bytes`. */
  readonly ipBytes: number
  /** Frame bytes on the wire, as tshark's conversation tables. */
  readonly wireBytes: number
  /** Transport payload bytes. */
  readonly payloadBytes: number
}

interface FlowBase {
  /** Zeek-style uid, the same for the same input. */
  readonly uid: string
  /** Community ID v1 (`1:…`), empty where undefined. */
  readonly communityId: string
  /** IP protocol number. */
  readonly proto: number
  /** The originator: first SYN's sender, else the first packet's (Zeek's rules). */
  readonly orig: FlowEndpoint
  /** The responder: the other side. */
  readonly resp: FlowEndpoint
  /** Outermost VLAN id when VLAN keying is on, else 0. */
  readonly vlan: number
  /** The live-capture worker whose flow table tracked the flow; 0 for files. */
  readonly worker: number
  /** Time of the flow's first packet, ns since the Unix epoch. */
  readonly startNs: bigint
  /** Time of the flow's latest packet so far, ns since the Unix epoch. */
  readonly lastNs: bigint
  /** Counters of what the originator sent. */
  readonly origStats: FlowCounters
  /** Counters of what the responder sent. */
  readonly respStats: FlowCounters
  /** A plain object with the same fields (times as decimal strings of nanoseconds). */
  toJSON(): Record<string, unknown>
}

/**
 * A new flow, with its first packet counted.
 *
 * @category Flows
 */
export interface FlowStart extends FlowBase {
  /** Discriminant of {@link FlowEvent}. */
  readonly type: 'flow.start'
}

/**
 * A finished flow.
 *
 * @category Flows
 */
export interface FlowEnd extends FlowBase {
  /** Discriminant of {@link FlowEvent}. */
  readonly type: 'flow.end'
  /** Why the flow ended. */
  readonly reason: FlowEndReason
  /** Zeek's `conn_state` (`OTH` for non-TCP flows, as Zeek logs them). */
  readonly connState: ConnState
  /** Zeek's `history`. */
  readonly history: string
  /** Zeek's `orig_bytes`: bytes the originator sent, in TCP sequence space, else payload bytes. */
  readonly origBytes: number
  /** Zeek's `resp_bytes`: bytes the responder sent, in TCP sequence space, else payload bytes. */
  readonly respBytes: number
  /** Zeek's `duration`, in ns: for TCP up to the last packet before both sides closed, else `lastNs - startNs`. */
  readonly durationNs: bigint
  /**
   * Zeek's `service`: the protocol the flow was parsed as (`http`, `dns`,
   * `ssl`), by content. Empty from {@link PacketSource.flows}, which parses
   * nothing; filled when sessions are parsed.
   */
  readonly service: FlowService
}

/**
 * Zeek's conn.log `service` names of the built-in parsers; empty when no
 * built-in parser ran on the flow.
 *
 * @category Flows
 */
export type FlowService = '' | 'http' | 'dns' | 'ssl'

/**
 * A flow event; `switch (ev.type)` narrows it.
 *
 * @category Flows
 */
export type FlowEvent = FlowStart | FlowEnd

const layout = native.flowLayout()
const slot = (names: string[], name: string): number => {
  const i = names.indexOf(name)
  if (i < 0) throw new Error(`flowtap: native flow layout lacks ${name}`)
  return i
}
const STRIDE = layout.counts.length
const C_SEQ = slot(layout.counts, 'seq')
const C_ORIG = slot(layout.counts, 'origPackets')
const C_RESP = slot(layout.counts, 'respPackets')
const C_ORIG_BYTES = slot(layout.counts, 'origBytes')
const C_RESP_BYTES = slot(layout.counts, 'respBytes')
const T_STRIDE = layout.times.length
const T_FIRST = slot(layout.times, 'firstNs')
const T_LAST = slot(layout.times, 'lastNs')
const T_DURATION = slot(layout.times, 'durationNs')
const UID_LEN = 18
const WORKER_SEQ_SPAN = 2 ** 40

function checkMs(name: string, v: unknown): void {
  if (v === undefined) return
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || v > 1e12) {
    throw new InvalidArgumentError('ERR_INVALID_ARG', `${name} must be a positive number of milliseconds, got ${String(v)}`)
  }
}

/** Validates flow options once and turns them into the binding's form. */
export function toBindingFlowOptions(o: FlowOptions | undefined): BindingFlowOptions {
  if (o === undefined) return {}
  if (typeof o !== 'object' || o === null) throw new InvalidArgumentError('ERR_INVALID_ARG', 'flow options must be an object')
  if (o.maxFlows !== undefined && (!Number.isInteger(o.maxFlows) || o.maxFlows < 1 || o.maxFlows > 0xffff_ffff)) {
    throw new InvalidArgumentError('ERR_INVALID_ARG', `maxFlows must be an integer in 1..4294967295, got ${String(o.maxFlows)}`)
  }
  for (const k of ['tcpIdleMs', 'tcpHandshakeMs', 'tcpCloseDelayMs', 'udpIdleMs', 'otherIdleMs'] as const) checkMs(k, o[k])
  for (const k of ['vlanKeying', 'defrag'] as const) {
    if (o[k] !== undefined && typeof o[k] !== 'boolean') {
      throw new InvalidArgumentError('ERR_INVALID_ARG', `${k} must be a boolean, got ${String(o[k])}`)
    }
  }
  return {
    maxFlows: o.maxFlows,
    tcpIdleMs: o.tcpIdleMs,
    tcpHandshakeMs: o.tcpHandshakeMs,
    tcpCloseDelayMs: o.tcpCloseDelayMs,
    udpIdleMs: o.udpIdleMs,
    otherIdleMs: o.otherIdleMs,
    vlanKeying: o.vlanKeying,
    defrag: o.defrag,
  }
}

function counters(c: Float64Array, at: number): FlowCounters {
  return { packets: c[at]!, ipBytes: c[at + 1]!, wireBytes: c[at + 2]!, payloadBytes: c[at + 3]! }
}

const nsString = (ns: bigint): string => ns.toString()

/*
 * Events are views over their batch's columns: a field is read (and an
 * address formatted) only when asked for, so a consumer that looks at a few
 * fields of each event pays for those alone. An event keeps its batch alive.
 */
abstract class FlowView {
  /** @internal */
  readonly b: BindingFlowBatch
  /** @internal */
  readonly i: number

  /** @internal */
  constructor(b: BindingFlowBatch, i: number) {
    this.b = b
    this.i = i
  }

  /** Where this event's text (uid, Community ID, history) starts. */
  private get textStart(): number {
    return this.i === 0 ? 0 : this.b.textEnd[this.i - 1]!
  }
  get uid(): string {
    const at = this.textStart
    return this.b.text.substring(at, at + UID_LEN)
  }
  get communityId(): string {
    const at = this.textStart + UID_LEN
    return this.b.text.substring(at, at + this.b.cidLen[this.i]!)
  }
  get proto(): number {
    return this.b.proto[this.i]!
  }
  get orig(): FlowEndpoint {
    return { addr: formatAddress(this.b.addrs, this.i * 32, this.b.ipv6[this.i] === 1), port: this.b.ports[2 * this.i]! }
  }
  get resp(): FlowEndpoint {
    return { addr: formatAddress(this.b.addrs, this.i * 32 + 16, this.b.ipv6[this.i] === 1), port: this.b.ports[2 * this.i + 1]! }
  }
  get vlan(): number {
    return this.b.vlan[this.i]!
  }
  get startNs(): bigint {
    return this.b.times[this.i * T_STRIDE + T_FIRST]!
  }
  get lastNs(): bigint {
    return this.b.times[this.i * T_STRIDE + T_LAST]!
  }
  get origStats(): FlowCounters {
    return counters(this.b.counts, this.i * STRIDE + C_ORIG)
  }
  get respStats(): FlowCounters {
    return counters(this.b.counts, this.i * STRIDE + C_RESP)
  }
  /** @internal The flow's number in its source (0, 1, …, in order of start). */
  get seq(): number {
    return this.b.counts[this.i * STRIDE + C_SEQ]!
  }
  get worker(): number {
    // Each live worker numbers its flows from worker × 2^40.
    return Math.floor(this.seq / WORKER_SEQ_SPAN)
  }

  protected baseJson(type: string): Record<string, unknown> {
    return {
      type,
      uid: this.uid,
      communityId: this.communityId,
      proto: this.proto,
      orig: this.orig,
      resp: this.resp,
      vlan: this.vlan,
      startNs: nsString(this.startNs),
      lastNs: nsString(this.lastNs),
      origStats: this.origStats,
      respStats: this.respStats,
    }
  }

  /** Shown by `console.log` and `util.inspect` as its JSON form. */
  [Symbol.for('nodejs.util.inspect.custom')](): unknown {
    return this.toJSON()
  }

  abstract toJSON(): Record<string, unknown>
}

class FlowStartView extends FlowView implements FlowStart {
  readonly type = 'flow.start' as const
  toJSON(): Record<string, unknown> {
    return this.baseJson(this.type)
  }
}

class FlowEndView extends FlowView implements FlowEnd {
  readonly type = 'flow.end' as const
  get reason(): FlowEndReason {
    return (layout.reasons[this.b.reason[this.i]! - 1] ?? 'end-of-input') as FlowEndReason
  }
  get connState(): ConnState {
    return (layout.connStates[this.b.connState[this.i]!] ?? 'OTH') as ConnState
  }
  get history(): string {
    const b = this.b
    const start = (this.i === 0 ? 0 : b.textEnd[this.i - 1]!) + UID_LEN + b.cidLen[this.i]!
    return b.text.substring(start, b.textEnd[this.i]!)
  }
  get origBytes(): number {
    return this.b.counts[this.i * STRIDE + C_ORIG_BYTES]!
  }
  get respBytes(): number {
    return this.b.counts[this.i * STRIDE + C_RESP_BYTES]!
  }
  get durationNs(): bigint {
    return this.b.times[this.i * T_STRIDE + T_DURATION]!
  }
  get service(): FlowService {
    const s = this.b.service[this.i]!
    return (s === 0 ? '' : (layout.services[s - 1] ?? '')) as FlowService
  }
  toJSON(): Record<string, unknown> {
    return {
      ...this.baseJson(this.type),
      reason: this.reason,
      connState: this.connState,
      history: this.history,
      origBytes: this.origBytes,
      respBytes: this.respBytes,
      durationNs: nsString(this.durationNs),
      service: this.service,
    }
  }
}

/** The events of one native flow batch, in order. */
export function flowEvents(b: BindingFlowBatch): FlowEvent[] {
  const out: FlowEvent[] = new Array(b.length)
  for (let i = 0; i < b.length; i++) out[i] = b.kind[i] === 0 ? new FlowStartView(b, i) : new FlowEndView(b, i)
  return out
}
