/**
 * Capture sources: {@link openPcap} and the async iterators over it.
 *
 * Where the work happens: reading, parsing and decoding run in Rust on
 * libuv's thread pool, one batch (up to `batchSize` packets) per native call;
 * the JS thread only wraps finished batches. While you consume one batch the
 * next is already being read (one batch of read-ahead, no more), so a slow
 * consumer holds at most two batches in memory.
 *
 * @module
 */
import { resolve as resolvePath } from 'node:path'
import { AbortError, fromNative, InvalidArgumentError, type FlowtapError } from './errors.js'
import { flowEvents, toBindingFlowOptions, type FlowEvent, type FlowOptions } from './flows.js'
import {
  native,
  type BindingBatchResult,
  type BindingAnalyzeOptions,
  type BindingFlowOptions,
  type BindingOpenOptions,
  type BindingStats,
} from './native.js'
import { sessionEvents, toBindingAnalyzeOptions, type SessionEvent, type SessionOptions, type SessionProtocol } from './sessions.js'
import { StreamAssembler, type StreamEvent } from './streams.js'
import { PluginHost, type Plugin, type PluginCounters } from './plugins.js'
import { linkTypeName, Packet, PacketBatch, type LinkTypeName } from './packet.js'

/**
 * Options of {@link openPcap}.
 *
 * @category Sources
 */
export interface OpenOptions {
  /** Packets per batch at most (1…1,048,576). @default 4096 */
  batchSize?: number
  /** Packet bytes per batch at most; a first packet always fits. @default 4194304 */
  batchBytes?: number
  /** Keep each packet's bytes (`data`, `payload`). Off: headers only, faster. @default true */
  keepBytes?: boolean
  /**
   * Largest captured packet accepted (64…67,108,864). A record above it ends
   * the read with `ERR_LIMIT_EXCEEDED`: libpcap and Wireshark refuse records
   * above 262,144 bytes, and a larger length is almost always corruption.
   * @default 262144
   */
  maxPacketBytes?: number
  /**
   * Keep only packets matching a filter in tcpdump syntax
   * (`tcp port 443 and host 10.0.0.1`), compiled by libpcap's own compiler.
   * An invalid expression fails the first `next()` with {@link FilterError}
   * (`ERR_FILTER`) and the compiler's message.
   */
  filter?: string
}

/**
 * Options of one iteration.
 *
 * @category Sources
 */
export interface IterateOptions {
  /** Aborting stops the iteration: the pending `next()` rejects with {@link AbortError} and the file is closed. */
  signal?: AbortSignal
}

/**
 * Totals of the most recent iteration of a source.
 *
 * @category Sources
 */
export interface CaptureStats {
  /** `pcap` or `pcapng` once a file's header has been read; `live` for {@link capture}. */
  format: 'pcap' | 'pcapng' | 'live' | undefined
  /** Packets read; packets a capture filter skipped are not counted. */
  packets: number
  /** Captured bytes. */
  bytes: number
  /** Bytes on the wire (sum of original lengths). */
  wireBytes: number
  /** Packets per link type, in order of first appearance. */
  linkTypes: {
    /** The LINKTYPE_* value. */
    linkType: number
    /** Its name, as {@link linkTypeName} gives it. */
    name: LinkTypeName
    /** Packets of this link type. */
    packets: number
  }[]
  /** Packets per network and per transport protocol. */
  protocols: {
    /** Packets with an IPv4 header. */
    ipv4: number
    /** Packets with an IPv6 header. */
    ipv6: number
    /** ARP packets. */
    arp: number
    /** Packets with a decoded TCP header. */
    tcp: number
    /** Packets with a decoded UDP header. */
    udp: number
    /** Packets with a decoded ICMP or ICMPv6 header. */
    icmp: number
    /** Packets with no TCP, UDP or ICMP header decoded (not IP, another IP protocol, a fragment, or cut short). */
    other: number
  }
  /** IP fragments (their transport is not decoded). */
  fragments: number
  /** Packets with an invalid header. */
  malformed: number
  /** Packets cut by the snaplen. */
  truncated: number
  /** Earliest capture time, ns since the epoch. */
  firstTimestampNs: bigint | undefined
  /** Latest capture time, ns since the epoch. */
  lastTimestampNs: bigint | undefined
  /** Byte offset of the next unread record. */
  position: number
  /** From {@link PacketSource.flows}, `sessions()` and `streams()`: the analysis layers' counters. */
  analysis: AnalysisStats | undefined
  /** Live captures only: the kernel's and each worker's counters. */
  live?: LiveStats
}

/**
 * Counters of one live-capture worker (one ring).
 *
 * @category Sources
 */
export interface WorkerStats {
  /** The worker's number, 0-based, as in {@link Packet.worker}. */
  worker: number
  /** Packets the kernel passed to this worker's ring, delivered or dropped. */
  received: number
  /** Packets the kernel dropped because the ring was full (the consumer fell behind). */
  kernelDrops: number
  /** Times the ring froze its queue (TPACKET_V3). */
  freezes: number
  /** Packets handed to the decoder (on loopback one of the kernel's two copies). */
  packets: number
}

/**
 * A live capture's counters, cumulative since it opened.
 *
 * @category Sources
 */
export interface LiveStats {
  /** Packets the kernel passed to the rings, delivered or dropped: the sum of {@link WorkerStats.received}. */
  received: number
  /** Packets the kernel dropped because a ring was full: the sum of {@link WorkerStats.kernelDrops}. */
  kernelDrops: number
  /** Times a ring froze its queue: the sum of {@link WorkerStats.freezes}. */
  freezes: number
  /** The interface's link type (1 Ethernet, 101 raw IP). */
  linkType: number
  /** Each worker's own counters, one entry per ring. */
  workers: WorkerStats[]
}

/**
 * Counters of flow tracking, TCP reassembly and session parsing: every
 * bound that was hit shows here (and, where it cut a stream or a session,
 * as an event on that flow). With {@link capture} fanout, the workers'
 * counters are summed.
 *
 * @category Sources
 */
export interface AnalysisStats {
  /** Flows started so far. */
  flows: number
  /** Flows in the flow table now (started and not yet ended). */
  activeFlows: number
  /** Flows pushed out of a full table (`maxFlows`). */
  flowsEvicted: number
  /** Packets in no flow (not IP, or no usable IP header). */
  notTracked: number
  /** IP fragments counted in no flow (buffered, dropped, or not reassembled). */
  fragments: number
  /** Flows handed to the built-in HTTP parser. */
  parsedHttp: number
  /** Flows handed to the built-in DNS parser. */
  parsedDns: number
  /** Flows handed to the built-in TLS parser. */
  parsedTls: number
  /** Flows that neither a built-in parser nor a plugin claimed. */
  unparsed: number
  /** `http` events (HTTP transactions) emitted. */
  httpTransactions: number
  /** `dns` events (DNS transactions) emitted. */
  dnsTransactions: number
  /** `tls.client_hello` and `tls.server_hello` events emitted. */
  tlsHellos: number
  /** `session.anomaly` events. */
  anomalies: number
  /** TCP payload bytes delivered in order by reassembly. */
  streamBytes: number
  /** Stream gaps: holes given up as never to be delivered. */
  gaps: number
  /** Bytes covered by those gaps. */
  gapBytes: number
  /** The reassembly memcap's limit in bytes ({@link SessionOptions.memcapBytes}). */
  memcapLimit: number
  /** Bytes charged to the memcap now (buffered out-of-order payload plus per-piece overhead). */
  memcapUsed: number
  /** The highest {@link AnalysisStats.memcapUsed} so far. */
  memcapPeak: number
  /** Times the memcap refused to buffer a segment; each forced a `memcap` gap. */
  memcapHits: number
  /** Of connections already finished: gaps forced by the per-direction out-of-order limit ({@link SessionOptions.maxOooBytes}). */
  oooLimitHits: number
  /** Of connections already finished: payload bytes at positions already delivered, gapped or buffered. */
  retransmittedBytes: number
  /** Of connections already finished: segments whose overlapping bytes differed from the buffered ones. */
  inconsistentOverlaps: number
  /** Of connections already finished: payload bytes past a FIN's sequence number or after a RST (not delivered). */
  afterEndBytes: number
  /** Of connections already finished: bytes past {@link SessionOptions.streamDepthBytes} (not delivered). */
  beyondDepthBytes: number
  /** Flows claimed by plugins, outright or for their `test` predicates. */
  pluginFlows: number
  /** Stream and datagram bytes handed to plugins. */
  pluginBytes: number
  /** Plugin flows given back (every predicate declined, or the plugin threw). */
  pluginReleased: number
}

const U32_MAX = 0xffff_ffff

/** Marks the construction of a live source (see `live.ts`). @internal */
export const LIVE: unique symbol = Symbol('flowtap.live')

/**
 * Flow timeouts, as {@link PacketSource.flowTimeouts} takes them.
 *
 * @category Flows
 */
export type FlowTimeouts = Pick<FlowOptions, 'tcpIdleMs' | 'tcpHandshakeMs' | 'tcpCloseDelayMs' | 'udpIdleMs' | 'otherIdleMs'>

/** `base` with the defined entries of `over` on top. */
function overlay<T extends object>(base: T, over: Partial<T> | undefined): T {
  const out = { ...base }
  if (over) for (const [k, v] of Object.entries(over)) if (v !== undefined) (out as Record<string, unknown>)[k] = v
  return out
}

/** The flow options of an iteration: the source's settings, then the iteration's (everything but `signal`). */
function flowOptionsOf(defaults: FlowOptions, o: (IterateOptions & FlowOptions) | undefined): FlowOptions {
  if (o === undefined) return defaults
  if (typeof o !== 'object' || o === null) throw new InvalidArgumentError('ERR_INVALID_ARG', 'options must be an object')
  const { signal: _signal, ...rest } = o
  return overlay(defaults, rest)
}

function checkInt(name: string, v: unknown, min: number, max: number): void {
  if (v === undefined) return
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new InvalidArgumentError('ERR_INVALID_ARG', `${name} must be an integer in ${min}..${max}, got ${String(v)}`)
  }
}

function toBindingOptions(o: OpenOptions | undefined): BindingOpenOptions {
  if (o === undefined) return {}
  if (typeof o !== 'object' || o === null) throw new InvalidArgumentError('ERR_INVALID_ARG', 'options must be an object')
  checkInt('batchSize', o.batchSize, 1, 1 << 20)
  checkInt('batchBytes', o.batchBytes, 1, U32_MAX)
  checkInt('maxPacketBytes', o.maxPacketBytes, 64, 64 << 20)
  if (o.keepBytes !== undefined && typeof o.keepBytes !== 'boolean') {
    throw new InvalidArgumentError('ERR_INVALID_ARG', `keepBytes must be a boolean, got ${String(o.keepBytes)}`)
  }
  if (o.filter !== undefined && typeof o.filter !== 'string') {
    throw new InvalidArgumentError('ERR_INVALID_ARG', `filter must be a string, got ${String(o.filter)}`)
  }
  return {
    batchPackets: o.batchSize,
    batchBytes: o.batchBytes,
    keepBytes: o.keepBytes,
    maxPacketBytes: o.maxPacketBytes,
    filter: o.filter,
  }
}

function toStats(s: BindingStats): CaptureStats {
  return {
    format: s.format as CaptureStats['format'],
    packets: s.packets,
    bytes: s.bytes,
    wireBytes: s.wireBytes,
    linkTypes: s.linkTypes.map((l) => ({ linkType: l.linkType, name: linkTypeName(l.linkType), packets: l.packets })),
    protocols: { ipv4: s.ipv4, ipv6: s.ipv6, arp: s.arp, tcp: s.tcp, udp: s.udp, icmp: s.icmp, other: s.other },
    fragments: s.fragments,
    malformed: s.malformed,
    truncated: s.truncated,
    firstTimestampNs: s.firstTsNs,
    lastTimestampNs: s.lastTsNs,
    position: s.position,
    analysis: s.analysis ? { ...s.analysis } : undefined,
    ...(s.live ? { live: toLiveStats(s.live) } : {}),
  }
}

function toLiveStats(l: NonNullable<BindingStats['live']>): LiveStats {
  const workers = l.workers.map((w) => ({ ...w }))
  const sum = (k: 'received' | 'kernelDrops' | 'freezes') => workers.reduce((a, w) => a + w[k], 0)
  return {
    received: sum('received'),
    kernelDrops: sum('kernelDrops'),
    freezes: sum('freezes'),
    linkType: l.linkType,
    workers,
  }
}

/**
 * What a source iterates over natively: a capture file (`BindingCapture`)
 * or a live capture (`BindingLive`).
 * @internal
 */
export interface NativeCapture {
  nextBatch(): Promise<BindingBatchResult>
  stats(): BindingStats
  close(): void
  /** Plugin flows JS gave back: Rust stops sending their pieces. */
  releaseFlows(seqs: number[]): void
}

/** An async iterator over the items of a pass. */
function batchIterator<T>(pass: Pass<T>): AsyncIterableIterator<T> {
  const it: AsyncIterableIterator<T> = {
    async next(): Promise<IteratorResult<T>> {
      const b = await pass.next()
      return b !== undefined ? { value: b, done: false } : { value: undefined, done: true }
    },
    async return(): Promise<IteratorResult<T>> {
      pass.close()
      return { value: undefined, done: true }
    },
    [Symbol.asyncIterator]() {
      return it
    },
  }
  return it
}

/** An async iterator over the elements of the arrays another yields. */
function flatten<T>(batches: AsyncIterableIterator<T[]>): AsyncIterableIterator<T> {
  let pending: T[] = []
  let at = 0
  const it: AsyncIterableIterator<T> = {
    async next(): Promise<IteratorResult<T>> {
      while (at >= pending.length) {
        const r = await batches.next()
        if (r.done) return { value: undefined, done: true }
        pending = r.value
        at = 0
      }
      return { value: pending[at++]!, done: false }
    },
    async return(): Promise<IteratorResult<T>> {
      pending = []
      await batches.return?.()
      return { value: undefined, done: true }
    },
    [Symbol.asyncIterator]() {
      return it
    },
  }
  return it
}

type Settled<T> = { item?: T; error?: FlowtapError; done: boolean }

/**
 * One pass over the input: owns the native capture, keeps one step of
 * read-ahead, and closes the capture on end, error, abort or `return()`.
 * `take` turns a native step into what the iteration yields (a packet
 * batch, a list of flow events), or undefined for a step without one.
 */
class Pass<T> {
  private capture: NativeCapture | undefined
  private pending: Promise<Settled<T>> | undefined
  private closed = false
  private abort: Promise<never> | undefined
  private onAbort: (() => void) | undefined

  constructor(
    private readonly source: PacketSource,
    capture: NativeCapture,
    private readonly signal: AbortSignal | undefined,
    private readonly take: (r: BindingBatchResult, cap: NativeCapture) => T | undefined,
  ) {
    this.capture = capture
  }

  /** Starts watching the signal; called once the source tracks this pass. */
  watch(): void {
    const signal = this.signal
    if (signal) {
      let reject!: (e: unknown) => void
      this.abort = new Promise<never>((_, r) => {
        reject = r
      })
      // Never an unhandled rejection: it is only observed through race().
      this.abort.catch(() => {})
      this.onAbort = () => {
        reject(new AbortError(undefined, { cause: signal.reason }))
        this.close()
      }
      if (signal.aborted) this.onAbort()
      else signal.addEventListener('abort', this.onAbort, { once: true })
    }
  }

  private fetch(): Promise<Settled<T>> {
    const cap = this.capture
    if (!cap) return Promise.resolve({ done: true })
    return cap.nextBatch().then(
      (r): Settled<T> => {
        this.source.observe(r, cap)
        if (r.error) return { error: fromNative(r.error, this.source.path), done: true }
        if (r.done) return { done: true }
        return { item: this.take(r, cap), done: false }
      },
      (e: unknown): Settled<T> => ({ error: fromNative({ code: 'ERR_INTERNAL', message: String(e) }), done: true }),
    )
  }

  /** The next item, or undefined at the end; throws the source's error or AbortError. */
  async next(): Promise<T | undefined> {
    for (;;) {
      const r = await this.step()
      if (r.done) return undefined
      if (r.item !== undefined) return r.item
    }
  }

  private async step(): Promise<{ item?: T; done: boolean }> {
    if (this.signal?.aborted) {
      this.close()
      throw new AbortError(undefined, { cause: this.signal.reason })
    }
    if (this.closed) return { done: true }
    const current = this.pending ?? this.fetch()
    this.pending = undefined
    const r = this.abort ? await Promise.race([current, this.abort]) : await current
    if (r.error) {
      this.close()
      throw r.error
    }
    if (r.done) {
      this.close()
      return { done: true }
    }
    // Read ahead while the caller works on this step.
    if (!this.closed) this.pending = this.fetch()
    return { item: r.item, done: false }
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    if (this.signal && this.onAbort) this.signal.removeEventListener('abort', this.onAbort)
    const cap = this.capture
    if (cap) {
      this.source.retire(this, cap)
      cap.close()
    }
    this.capture = undefined
    this.pending = undefined
  }
}

/**
 * A pcap/pcapng capture to iterate. Nothing is opened until an iteration
 * starts; each iteration reads the input from the start, and ends (closing
 * the file) on completion, error, abort, `break`, `return` or `throw`.
 *
 * @category Sources
 */
export class PacketSource implements AsyncIterable<Packet> {
  /** The file path, when reading a file. */
  readonly path: string | undefined
  private readonly bytes: Uint8Array | undefined
  private options: BindingOpenOptions
  private openOptions: OpenOptions
  private flowDefaults: FlowOptions = {}
  private sessionDefaults: SessionOptions = {}
  private readonly active = new Set<Pass<unknown>>()
  private lastStats: CaptureStats | undefined
  private lastCapture: NativeCapture | undefined
  private lastPlugins: PluginHost | undefined

  /** @internal */
  constructor(input: string | Uint8Array | typeof LIVE, options?: OpenOptions) {
    if (input === LIVE) {
      // A live source (subclass) opens its own native capture.
    } else if (typeof input === 'string') {
      if (input.length === 0) throw new InvalidArgumentError('ERR_INVALID_ARG', 'path must not be empty')
      this.path = input
    } else if (input instanceof Uint8Array) {
      this.bytes = input
    } else {
      throw new InvalidArgumentError('ERR_INVALID_ARG', 'openPcap takes a file path or a Uint8Array')
    }
    this.options = toBindingOptions(options)
    this.openOptions = { ...options }
  }

  // Builder: each setting is validated when set (InvalidArgumentError) and
  // applies to the iterations started after it; an iteration's own options
  // override them.

  /** Sets {@link OpenOptions.batchSize} (packets per native batch). */
  batchSize(packets: number): this {
    return this.setOpen({ batchSize: packets })
  }

  /** Sets {@link OpenOptions.keepBytes}. */
  keepBytes(keep = true): this {
    return this.setOpen({ keepBytes: keep })
  }

  /** Sets {@link OpenOptions.maxPacketBytes}. */
  maxPacketBytes(bytes: number): this {
    return this.setOpen({ maxPacketBytes: bytes })
  }

  /**
   * Keeps only packets matching a tcpdump-syntax filter (see
   * {@link OpenOptions.filter}); on a live capture it runs in the kernel.
   *
   * @example
   * ```ts
   * for await (const p of openPcap('trace.pcap').filter('tcp port 80 and host 10.0.0.1').packets()) console.log(p.index)
   * ```
   */
  filter(expression: string): this {
    return this.setOpen({ filter: expression })
  }

  /**
   * Sets flow timeouts (milliseconds) for {@link PacketSource.flows}; the
   * ones not given keep their value.
   *
   * @example
   * ```ts
   * const src = openPcap('trace.pcap').flowTimeouts({ tcpIdleMs: 60_000, udpIdleMs: 30_000 }).maxFlows(100_000)
   * for await (const ev of src.flows()) console.log(ev.type, ev.uid)
   * ```
   */
  flowTimeouts(timeouts: FlowTimeouts): this {
    if (typeof timeouts !== 'object' || timeouts === null) {
      throw new InvalidArgumentError('ERR_INVALID_ARG', 'flowTimeouts takes an object of timeouts in milliseconds')
    }
    const known = new Set(['tcpIdleMs', 'tcpHandshakeMs', 'tcpCloseDelayMs', 'udpIdleMs', 'otherIdleMs'])
    for (const k of Object.keys(timeouts)) {
      if (!known.has(k)) throw new InvalidArgumentError('ERR_INVALID_ARG', `unknown flow timeout ${k}`)
    }
    return this.setFlows(timeouts)
  }

  /** Flows tracked at once; beyond it the least recently seen ends with reason `evicted`. */
  maxFlows(flows: number): this {
    return this.setFlows({ maxFlows: flows })
  }

  /** Keeps flows of different VLANs apart. */
  vlanKeying(on = true): this {
    return this.setFlows({ vlanKeying: on })
  }

  /** Reassembles IP fragments before flow tracking (on by default). */
  defrag(on = true): this {
    return this.setFlows({ defrag: on })
  }

  private setOpen(o: OpenOptions): this {
    const next = overlay(this.openOptions, o)
    this.options = toBindingOptions(next)
    this.openOptions = next
    return this
  }

  private setFlows(o: FlowOptions): this {
    const next = overlay(this.flowDefaults, o)
    toBindingFlowOptions(next)
    this.flowDefaults = next
    return this
  }

  private start<T>(
    signal: AbortSignal | undefined,
    take: (r: BindingBatchResult, cap: NativeCapture) => T | undefined,
    flows?: BindingFlowOptions,
    analyze?: BindingAnalyzeOptions,
  ): Pass<T> {
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new InvalidArgumentError('ERR_INVALID_ARG', 'signal must be an AbortSignal')
    }
    const cap = this.openNative(this.options, flows, analyze)
    this.lastCapture = cap
    this.lastStats = undefined
    const pass = new Pass(this, cap, signal, take)
    this.active.add(pass as Pass<unknown>)
    pass.watch()
    return pass
  }

  /** The native capture of one iteration. @internal */
  protected openNative(options: BindingOpenOptions, flows?: BindingFlowOptions, analyze?: BindingAnalyzeOptions): NativeCapture {
    return this.path !== undefined
      ? native.BindingCapture.fromFile(resolvePath(this.path), options, flows, analyze)
      : native.BindingCapture.fromBytes(this.bytes!, options, flows, analyze)
  }

  /** Sees every native step of an iteration (live sources report stats from here). @internal */
  observe(_r: BindingBatchResult, _cap: NativeCapture): void {}

  private packetPass(signal: AbortSignal | undefined): Pass<PacketBatch> {
    let nextIndex = 0
    return this.start(signal, (r) => {
      if (!r.batch) return undefined
      const b = new PacketBatch(r.batch, nextIndex, r.worker ?? 0)
      nextIndex += b.length
      return b
    })
  }

  /** @internal */
  retire(pass: Pass<unknown>, cap: NativeCapture): void {
    this.active.delete(pass)
    if (cap === this.lastCapture) this.lastStats = toStats(cap.stats())
  }

  /**
   * Batches of packets: the fast path. Read the typed-array
   * {@link PacketBatch.columns} directly for the lowest cost per packet.
   *
   * @example
   * ```ts
   * let syns = 0
   * for await (const b of openPcap('trace.pcap').packetBatches()) {
   *   const { transport, tcpFlags } = b.columns
   *   for (let i = 0; i < b.length; i++) if (transport[i] === 1 && (tcpFlags[i]! & 0x12) === 0x02) syns++
   * }
   * console.log(syns, 'SYNs')
   * ```
   */
  packetBatches(options?: IterateOptions): AsyncIterableIterator<PacketBatch> {
    const pass = this.packetPass(options?.signal)
    const it: AsyncIterableIterator<PacketBatch> = {
      async next(): Promise<IteratorResult<PacketBatch>> {
        const b = await pass.next()
        return b ? { value: b, done: false } : { value: undefined, done: true }
      },
      async return(): Promise<IteratorResult<PacketBatch>> {
        pass.close()
        return { value: undefined, done: true }
      },
      [Symbol.asyncIterator]() {
        return it
      },
    }
    return it
  }

  /**
   * Every packet as a {@link Packet} (a lazy view: fields decode when read).
   * Packets of one batch are handed out without waiting on native code.
   *
   * @example
   * ```ts
   * // The first 10 DNS packets; `break` ends the iteration and closes the file.
   * let n = 0
   * for await (const p of openPcap('trace.pcap').filter('udp port 53').packets()) {
   *   console.log(p.index, p.src, '→', p.dst, p.payload.length)
   *   if (++n === 10) break
   * }
   * ```
   */
  packets(options?: IterateOptions): AsyncIterableIterator<Packet> {
    const pass = this.packetPass(options?.signal)
    const signal = options?.signal
    let batch: PacketBatch | undefined
    let row = 0
    let finished = false
    const it: AsyncIterableIterator<Packet> = {
      next(): Promise<IteratorResult<Packet>> {
        if (batch !== undefined && row < batch.length && !signal?.aborted) {
          return Promise.resolve({ value: new Packet(batch, row++), done: false })
        }
        if (finished) return Promise.resolve({ value: undefined, done: true })
        return (async (): Promise<IteratorResult<Packet>> => {
          for (;;) {
            let b: PacketBatch | undefined
            try {
              b = await pass.next()
            } catch (e) {
              finished = true
              throw e
            }
            if (!b) {
              finished = true
              batch = undefined
              return { value: undefined, done: true }
            }
            if (b.length === 0) continue
            batch = b
            row = 1
            return { value: new Packet(b, 0), done: false }
          }
        })()
      },
      async return(): Promise<IteratorResult<Packet>> {
        finished = true
        batch = undefined
        pass.close()
        return { value: undefined, done: true }
      },
      [Symbol.asyncIterator]() {
        return it
      },
    }
    return it
  }

  /**
   * Flow events in batches: each array holds the events of one native step,
   * in order. Tracking (Zeek-style TCP state, Community ID, fragment
   * reassembly) runs in Rust; the JS thread only builds the event objects.
   */
  flowBatches(options?: IterateOptions & FlowOptions): AsyncIterableIterator<FlowEvent[]> {
    const flowOpts = toBindingFlowOptions(flowOptionsOf(this.flowDefaults, options))
    return batchIterator(this.start(options?.signal, (r) => (r.flows ? flowEvents(r.flows) : undefined), flowOpts))
  }

  /**
   * Every flow event: `flow.start` when a flow's first packet is seen,
   * `flow.end` (with reason, Zeek's `conn_state` and `history`, counters
   * and Community ID) when it ends. Options are validated here and throw
   * {@link InvalidArgumentError}.
   *
   * @example
   * ```ts
   * for await (const ev of openPcap('trace.pcap').flows({ udpIdleMs: 30_000 })) {
   *   if (ev.type === 'flow.end') console.log(ev.orig.addr, ev.resp.addr, ev.connState, ev.history)
   * }
   * ```
   */
  flows(options?: IterateOptions & FlowOptions): AsyncIterableIterator<FlowEvent> {
    return flatten(this.flowBatches(options))
  }

  /** The binding options of an analysis pass (sessions, streams). */
  private analyzeOptions(options: (IterateOptions & FlowOptions & SessionOptions) | undefined, streams: boolean) {
    const all = flowOptionsOf(this.flowDefaults, options) as FlowOptions & SessionOptions
    const session: SessionOptions = overlay(this.sessionDefaults, {
      protocols: all.protocols,
      bodyCaptureBytes: all.bodyCaptureBytes,
      streamDepthBytes: all.streamDepthBytes,
      maxOooBytes: all.maxOooBytes,
      memcapBytes: all.memcapBytes,
      plugins: all.plugins,
    })
    const plugins = session.plugins !== undefined && session.plugins.length > 0 ? session.plugins : undefined
    return { flows: toBindingFlowOptions(all), analyze: toBindingAnalyzeOptions(session, streams), plugins }
  }

  /**
   * Session events in batches, one array per native step. Flows and
   * reassembly run as for {@link PacketSource.flows}; each flow's parser is
   * chosen by its first bytes.
   */
  sessionBatches(options?: IterateOptions & FlowOptions & SessionOptions): AsyncIterableIterator<SessionEvent[]> {
    const { flows, analyze, plugins } = this.analyzeOptions(options, false)
    analyze.flowEvents = false
    const host = plugins ? new PluginHost(plugins) : undefined
    this.lastPlugins = host
    return batchIterator(this.start(options?.signal, (r, cap) => sessionsOf(r, cap, host), flows, analyze))
  }

  /** Counters of calls into the plugins of the current or last `sessions()` iteration; undefined if it had no plugins. */
  pluginCounters(): PluginCounters | undefined {
    return this.lastPlugins ? { ...this.lastPlugins.counters } : undefined
  }

  /**
   * Adds session parsers written in TypeScript to every later
   * `sessions()` iteration of this source (after those given before).
   *
   * @example
   * ```ts
   * // `redis` comes from defineStreamParser, and `redis: RedisCommand` is declared in SessionMessageMap.
   * for await (const s of openPcap('redis.pcap').use(redis).sessions()) {
   *   if (s.type === 'redis') console.log(s.message.command)
   * }
   * ```
   */
  use(...plugins: Plugin[]): this {
    return this.setSessions({ plugins: [...(this.sessionDefaults.plugins ?? []), ...plugins] })
  }

  /**
   * Every session event: HTTP transactions (request and response paired,
   * pipelining and keep-alive included), DNS transactions (UDP and TCP),
   * TLS ClientHello/ServerHello (SNI, ALPN, versions, ciphers, JA3/JA3S)
   * and the end of each TLS session, plus `session.anomaly` events where a
   * session's bytes break the protocol.
   *
   * @example
   * ```ts
   * for await (const s of openPcap('trace.pcap').sessions()) {
   *   if (s.type === 'http') console.log(s.request?.method, s.request?.uri, s.response?.status)
   * }
   * ```
   */
  sessions(options?: IterateOptions & FlowOptions & SessionOptions): AsyncIterableIterator<SessionEvent> {
    return flatten(this.sessionBatches(options))
  }

  /**
   * Flow, session and stream events of one pass, per native step: what
   * the CLI uses to fill the flows' `service` while printing sessions.
   * @internal
   */
  analysisBatches(
    options?: IterateOptions & FlowOptions & SessionOptions,
  ): AsyncIterableIterator<{ flows: FlowEvent[]; sessions: SessionEvent[] }> {
    const { flows, analyze, plugins } = this.analyzeOptions(options, false)
    const host = plugins ? new PluginHost(plugins) : undefined
    return batchIterator(
      this.start(
        options?.signal,
        (r, cap) => ({ flows: r.flows ? flowEvents(r.flows) : [], sessions: sessionsOf(r, cap, host) ?? [] }),
        flows,
        analyze,
      ),
    )
  }

  /** Reassembled stream events in batches, one array per native step. */
  streamBatches(options?: IterateOptions & FlowOptions & SessionOptions): AsyncIterableIterator<StreamEvent[]> {
    const { flows, analyze } = this.analyzeOptions({ protocols: [], ...options }, true)
    const assembler = new StreamAssembler()
    return batchIterator(
      this.start(
        options?.signal,
        (r) => {
          const out = assembler.take(r.flows ? flowEvents(r.flows) : [], r.streams)
          return out.length > 0 ? out : undefined
        },
        flows,
        analyze,
      ),
    )
  }

  /**
   * The reassembled TCP streams: per flow and direction, `stream.data`
   * in order (retransmissions once, overlaps resolved first-data-wins),
   * `stream.gap` for bytes that will never come (never captured, or given
   * up at a buffer bound), and `stream.end`. Parsers run too when
   * `protocols` asks for them (default: none).
   *
   * @example
   * ```ts
   * for await (const c of openPcap('trace.pcap').streams()) {
   *   if (c.type === 'stream.data') process.stdout.write(c.bytes)
   * }
   * ```
   */
  streams(options?: IterateOptions & FlowOptions & SessionOptions): AsyncIterableIterator<StreamEvent> {
    return flatten(this.streamBatches(options))
  }

  /** Parsers to run in {@link PacketSource.sessions}. */
  protocols(list: SessionProtocol[]): this {
    return this.setSessions({ protocols: list })
  }

  /** First body bytes kept per HTTP message. */
  bodyCaptureBytes(bytes: number): this {
    return this.setSessions({ bodyCaptureBytes: bytes })
  }

  /** Reassembly bounds: per-direction depth and out-of-order bytes, and the memcap across flows. */
  reassembly(limits: Pick<SessionOptions, 'streamDepthBytes' | 'maxOooBytes' | 'memcapBytes'>): this {
    if (typeof limits !== 'object' || limits === null) throw new InvalidArgumentError('ERR_INVALID_ARG', 'reassembly takes an object')
    return this.setSessions(limits)
  }

  private setSessions(o: SessionOptions): this {
    const next = overlay(this.sessionDefaults, o)
    toBindingAnalyzeOptions(next, false)
    this.sessionDefaults = next
    return this
  }

  /** Same as {@link PacketSource.packets} with no options. */
  [Symbol.asyncIterator](): AsyncIterator<Packet> {
    return this.packets()
  }

  /**
   * Totals of the current or most recent iteration: packets, bytes, link
   * types, protocols, malformed/truncated counts, first/last timestamps.
   */
  stats(): CaptureStats {
    if (this.lastStats) return this.lastStats
    if (this.lastCapture) return toStats(this.lastCapture.stats())
    return toStats({
      packets: 0,
      bytes: 0,
      wireBytes: 0,
      linkTypes: [],
      ipv4: 0,
      ipv6: 0,
      arp: 0,
      tcp: 0,
      udp: 0,
      icmp: 0,
      other: 0,
      fragments: 0,
      malformed: 0,
      truncated: 0,
      position: 0,
    })
  }

  /** Ends every iteration in progress and releases their files. */
  close(): void {
    for (const pass of [...this.active]) pass.close()
  }

  /** Number of iterations holding the input open (0 once all have ended). */
  get openIterations(): number {
    return this.active.size
  }
}

/** The session events of one native step: the built-in parsers' records, then the plugins' messages. */
function sessionsOf(r: BindingBatchResult, cap: NativeCapture, host: PluginHost | undefined): SessionEvent[] | undefined {
  const out = r.sessions ? sessionEvents(r.sessions) : []
  if (host && r.plugins) {
    host.take(r.plugins, out)
    const released = host.takeReleased()
    if (released.length > 0) cap.releaseFlows(released)
  }
  return out.length > 0 ? out : undefined
}

/**
 * Opens a pcap or pcapng capture from a file path or from bytes in memory.
 * Nothing is read until you iterate; options are validated here and throw
 * {@link InvalidArgumentError}.
 *
 * @category Sources
 *
 * @example
 * ```ts
 * for await (const p of openPcap('trace.pcapng').packets()) {
 *   if (p.tcp?.flags.syn) console.log(p.src, '→', p.dst, p.dstPort)
 * }
 * ```
 */
export function openPcap(input: string | Uint8Array, options?: OpenOptions): PacketSource {
  return new PacketSource(input, options)
}
