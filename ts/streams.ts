/**
 * Reassembled TCP streams, for users who parse bytes themselves: per flow
 * and direction, in-order data, explicit gaps for bytes that will never
 * come, and an end.
 *
 * @module
 */
import type { FlowEndpoint, FlowEvent } from './flows.js'
import { native, type BindingStreamBatch } from './native.js'

/**
 * The flow a stream piece belongs to.
 *
 * @category Streams
 */
export interface StreamFlow {
  /** The flow's uid, as in its flow events. */
  readonly uid: string
  /** The flow's originator. */
  readonly orig: FlowEndpoint
  /** The flow's responder. */
  readonly resp: FlowEndpoint
}

/**
 * Why bytes of a stream were not delivered:
 * - `missing`: never captured (the peer acknowledged them, or they were still missing at RST or the end);
 * - `ooo-limit`: skipped because the direction's out-of-order limit was reached ({@link SessionOptions.maxOooBytes});
 * - `memcap`: skipped because the reassembly memcap was exhausted ({@link SessionOptions.memcapBytes});
 * - `truncated`: on the wire but cut from the capture by the snaplen;
 * - `depth`: past {@link SessionOptions.streamDepthBytes}.
 *
 * @category Streams
 */
export type GapReason = 'missing' | 'ooo-limit' | 'memcap' | 'truncated' | 'depth'
/**
 * Why a stream direction ended: `fin` once every byte up to its FIN was
 * delivered or gapped; `rst` when its sender reset the connection;
 * `finish` when the flow ended without either (idle, eviction, end of input).
 *
 * @category Streams
 */
export type StreamEndReason = 'fin' | 'rst' | 'finish'

interface StreamBase {
  /** The flow this piece belongs to. */
  readonly flow: StreamFlow
  /** `orig`: bytes the originator sent. */
  readonly direction: 'orig' | 'resp'
  /** Time of the packet that made this piece deliverable. */
  readonly tsNs: bigint
}

/**
 * In-order bytes at `offset` of the direction's stream.
 *
 * @category Streams
 */
export interface StreamData extends StreamBase {
  /** Discriminant of {@link StreamEvent}. */
  readonly type: 'stream.data'
  /** Stream offset of the first byte: 0 is the byte after the SYN (or the first byte seen, when the SYN was not). */
  readonly offset: number
  /** A view into the batch's buffer: copy it to keep it past the batch. */
  readonly bytes: Uint8Array
}

/**
 * `length` bytes at `offset` that will never be delivered.
 *
 * @category Streams
 */
export interface StreamGap extends StreamBase {
  /** Discriminant of {@link StreamEvent}. */
  readonly type: 'stream.gap'
  /** Stream offset of the first missing byte. */
  readonly offset: number
  /** Number of missing bytes. */
  readonly length: number
  /** Why they will not be delivered. */
  readonly reason: GapReason
}

/**
 * The direction is over; nothing follows.
 *
 * @category Streams
 */
export interface StreamEnd extends StreamBase {
  /** Discriminant of {@link StreamEvent}. */
  readonly type: 'stream.end'
  /** Why the direction ended. */
  readonly reason: StreamEndReason
}

/**
 * A stream event; `switch (ev.type)` narrows it. Per flow and direction,
 * data and gaps follow each other without holes or overlaps, and nothing
 * follows a `stream.end`.
 *
 * @category Streams
 */
export type StreamEvent = StreamData | StreamGap | StreamEnd

const layout = native.streamLayout()

/**
 * Turns native stream batches into events, keeping the identity of each
 * flow from its `flow.start` until its `flow.end` (a piece always falls
 * between the two).
 */
export class StreamAssembler {
  private readonly flows = new Map<number, StreamFlow>()

  /** The stream events of one native step, given that step's flow events. */
  take(flowEvents: FlowEvent[], b: BindingStreamBatch | undefined | null): StreamEvent[] {
    const ended: number[] = []
    for (const ev of flowEvents) {
      const seq = (ev as unknown as { seq: number }).seq
      if (ev.type === 'flow.start') this.flows.set(seq, { uid: ev.uid, orig: ev.orig, resp: ev.resp })
      else ended.push(seq)
    }
    const out: StreamEvent[] = []
    if (b) {
      for (let i = 0; i < b.length; i++) {
        const flow = this.flows.get(b.flow[i]!) ?? { uid: '', orig: { addr: '', port: 0 }, resp: { addr: '', port: 0 } }
        const direction = b.dir[i] === 0 ? 'orig' : 'resp'
        const tsNs = b.ts[i]!
        switch (b.kind[i]) {
          case 0: {
            const start = b.start[i]!
            out.push({ type: 'stream.data', flow, direction, tsNs, offset: b.offset[i]!, bytes: b.data.subarray(start, start + b.pieceLength[i]!) })
            break
          }
          case 1:
            out.push({
              type: 'stream.gap',
              flow,
              direction,
              tsNs,
              offset: b.offset[i]!,
              length: b.pieceLength[i]!,
              reason: (layout.gapReasons[b.reason[i]!] ?? 'missing') as GapReason,
            })
            break
          default:
            out.push({ type: 'stream.end', flow, direction, tsNs, reason: (layout.endReasons[b.reason[i]!] ?? 'finish') as StreamEndReason })
        }
      }
    }
    for (const seq of ended) this.flows.delete(seq)
    return out
  }
}
