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

/** Options of flow tracking. Times in milliseconds. */
export interface FlowOptions {
  /** Flows tracked at once; beyond it the least recently seen ends with reason `evicted`. @default 1000000 */
  maxFlows?: number
  /** Idle timeout of an established TCP flow. @default 300000 */
  tcpIdleMs?: number
  /** Timeout of a TCP flow whose handshake has not completed (a lone SYN). @default 5000 */
  tcpHandshakeMs?: number
  /** How long a closed TCP flow waits for stragglers (retransmitted FIN, last ACK). @default 5000 */
  tcpCloseDelayMs?: number
  /** @default 60000 */
  udpIdleMs?: number
  /** Idle timeout of other protocols (ICMP, …). @default 30000 */
  otherIdleMs?: number
  /** Keep flows of different VLANs apart. @default false */
  vlanKeying?: boolean
  /** Reassemble IP fragments before tracking. @default true */
  defrag?: boolean
}

/** Why a flow ended. */
export type FlowEndReason = 'fin' | 'rst' | 'idle' | 'evicted' | 'end-of-input' | 'reused'

/** Zeek's `conn_state`. */
export type ConnState = 'S0' | 'S1' | 'SF' | 'REJ' | 'S2' | 'S3' | 'RSTO' | 'RSTR' | 'RSTOS0' | 'RSTRH' | 'SH' | 'SHR' | 'OTH'

/** One side of a flow. */
export interface FlowEndpoint {
  addr: string
  port: number
}

/** Counters of one direction. */
export interface FlowCounters {
  packets: number
  /** IP bytes, as Zeek's `*_ip_bytes`. */
  ipBytes: number
  /** Frame bytes on the wire, as tshark's conversation tables. */
  wireBytes: number
  /** Transport payload bytes. */
  payloadBytes: number
}

interface FlowBase {
  /** Zeek-style uid, the same for the same input. */
  uid: string
  /** Community ID v1 (`1:…`), empty where undefined. */
  communityId: string
  /** IP protocol number. */
  proto: number
  /** The originator: first SYN's sender, else the first packet's (Zeek's rules). */
  orig: FlowEndpoint
  resp: FlowEndpoint
  /** Outermost VLAN id when VLAN keying is on, else 0. */
  vlan: number
  startNs: bigint
  lastNs: bigint
  origStats: FlowCounters
  respStats: FlowCounters
}

/** A new flow, with its first packet counted. */
export interface FlowStart extends FlowBase {
  type: 'flow.start'
}

/** A finished flow. */
export interface FlowEnd extends FlowBase {
  type: 'flow.end'
  reason: FlowEndReason
  /** Zeek's `conn_state` (`OTH` for non-TCP flows, as Zeek logs them). */
  connState: ConnState
  /** Zeek's `history` (TCP; empty otherwise). */
  history: string
  /** Zeek's `orig_bytes`/`resp_bytes`: TCP sequence space, else payload bytes. */
  origBytes: number
  respBytes: number
  durationNs: bigint
}

/** A flow event; `switch (ev.type)` narrows it. */
export type FlowEvent = FlowStart | FlowEnd

const layout = native.flowLayout()
const COUNT = Object.fromEntries(layout.counts.map((n, i) => [n, i])) as Record<string, number>
const STRIDE = layout.counts.length

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

/** The events of one native flow batch, in order. */
export function flowEvents(b: BindingFlowBatch): FlowEvent[] {
  const out: FlowEvent[] = []
  const c = b.counts
  const n = (i: number, name: string) => Number(c[i * STRIDE + COUNT[name]!])
  for (let i = 0; i < b.length; i++) {
    const v6 = b.ipv6[i] === 1
    const base: FlowBase = {
      uid: b.uid[i]!,
      communityId: b.communityId[i]!,
      proto: b.proto[i]!,
      orig: { addr: formatAddress(b.addrs, i * 32, v6), port: b.ports[2 * i]! },
      resp: { addr: formatAddress(b.addrs, i * 32 + 16, v6), port: b.ports[2 * i + 1]! },
      vlan: b.vlan[i]!,
      startNs: c[i * STRIDE + COUNT.firstNs!]!,
      lastNs: c[i * STRIDE + COUNT.lastNs!]!,
      origStats: {
        packets: n(i, 'origPackets'),
        ipBytes: n(i, 'origIpBytes'),
        wireBytes: n(i, 'origWireBytes'),
        payloadBytes: n(i, 'origPayloadBytes'),
      },
      respStats: {
        packets: n(i, 'respPackets'),
        ipBytes: n(i, 'respIpBytes'),
        wireBytes: n(i, 'respWireBytes'),
        payloadBytes: n(i, 'respPayloadBytes'),
      },
    }
    if (b.kind[i] === 0) {
      out.push({ type: 'flow.start', ...base })
    } else {
      const cs = b.connState[i]!
      out.push({
        type: 'flow.end',
        ...base,
        reason: (layout.reasons[b.reason[i]! - 1] ?? 'end-of-input') as FlowEndReason,
        connState: (layout.connStates[cs] ?? 'OTH') as ConnState,
        history: b.history[i]!,
        origBytes: n(i, 'origBytes'),
        respBytes: n(i, 'respBytes'),
        durationNs: c[i * STRIDE + COUNT.durationNs!]!,
      })
    }
  }
  return out
}
