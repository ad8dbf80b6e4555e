/**
 * Live capture on Linux: {@link capture}.
 *
 * A live source is a {@link PacketSource}: the same `packets()`,
 * `packetBatches()`, `flows()`, `sessions()` and `streams()` as a capture
 * file, fed by AF_PACKET TPACKET_V3 rings instead of a file. Rings are read
 * by worker threads in Rust (one per ring; several form a fanout group, each
 * with its own flow table); JavaScript receives finished batches.
 *
 * Bounds: a consumer that stops pulling stops the workers, the kernel's ring
 * fills and the kernel drops (and counts) what does not fit — nothing grows
 * in the process. `stats().live` reports those drops per worker.
 *
 * @module
 */
import { InvalidArgumentError, UnsupportedPlatformError } from './errors.js'
import { bindingTarget } from './platform.js'
import { native, type BindingAnalyzeOptions, type BindingBatchResult, type BindingFlowOptions, type BindingOpenOptions } from './native.js'
import { LIVE, PacketSource, type CaptureStats, type NativeCapture } from './source.js'

/**
 * How fanout workers share the packets: `hash` by flow hash (both
 * directions of a flow to one worker), `cpu` by the CPU that received the
 * packet, `lb` round robin.
 *
 * @category Sources
 */
export type FanoutMode = 'hash' | 'cpu' | 'lb'

/**
 * TPACKET_V3 ring geometry, per worker.
 *
 * @category Sources
 */
export interface RingOptions {
  /** Bytes per block, a multiple of 4096. @default 1048576 */
  blockSize?: number
  /** Blocks per ring. @default 32 */
  blockCount?: number
  /** Frame size hint, a multiple of 16. @default 2048 */
  frameSize?: number
  /** A block is handed to user space after this long even if not full: the latency bound on a quiet link. @default 50 */
  blockTimeoutMs?: number
}

/** Everything {@link LiveSource}'s builder sets. */
interface LiveSettings extends RingOptions {
  snaplen?: number
  promiscuous?: boolean
  workers?: number
  fanoutMode?: FanoutMode
  dedupLoopback?: boolean
  record?: string
  pollMs?: number
}

type LiveNative = NativeCapture & { stop(): void }

function checkInt(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new InvalidArgumentError('ERR_INVALID_ARG', `${name} must be an integer in ${min}..${max}, got ${String(v)}`)
  }
  return v
}

function checkBool(name: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw new InvalidArgumentError('ERR_INVALID_ARG', `${name} must be a boolean, got ${String(v)}`)
  return v
}

/**
 * A live capture on one network interface. Nothing opens until an
 * iteration starts; each iteration opens its own rings and closes them when
 * it ends (completion after {@link LiveSource.stop}, error, abort, `break`).
 * Needs CAP_NET_RAW (root, or `setcap cap_net_raw+ep` on node).
 *
 * @category Sources
 */
export class LiveSource extends PacketSource {
  /** The interface name. */
  readonly iface: string
  private settings: LiveSettings = {}
  private statsEveryMs = 0
  private lastStatsAt = 0
  private readonly statsListeners: ((stats: CaptureStats) => void)[] = []
  private readonly natives = new Set<LiveNative>()
  private openWaiters: ((opened: boolean) => void)[] = []
  /** Iterations whose rings are open now. */
  private readonly openNatives = new Set<LiveNative>()

  /** @internal */
  constructor(iface: string) {
    super(LIVE)
    if (typeof iface !== 'string' || iface.length === 0 || iface.length > 15 || /[\s/]/.test(iface)) {
      throw new InvalidArgumentError('ERR_INVALID_ARG', `interface must be a name of 1..15 characters, got ${String(iface)}`)
    }
    this.iface = iface
  }

  /** Bytes kept of each packet (1..262144). @default 262144 */
  snaplen(bytes: number): this {
    this.settings = { ...this.settings, snaplen: checkInt('snaplen', bytes, 1, 262_144) }
    return this
  }

  /** Puts the interface in promiscuous mode while capturing. */
  promiscuous(on = true): this {
    this.settings = { ...this.settings, promiscuous: checkBool('promiscuous', on) }
    return this
  }

  /** Ring geometry per worker; see {@link RingOptions} for the defaults. */
  ring(options: RingOptions): this {
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('ERR_INVALID_ARG', 'ring takes an object')
    const next = { ...this.settings }
    for (const [k, v] of Object.entries(options)) {
      if (v === undefined) continue
      switch (k) {
        case 'blockSize':
          checkInt(k, v, 4096, 1 << 30)
          if (v % 4096 !== 0) throw new InvalidArgumentError('ERR_INVALID_ARG', `blockSize must be a multiple of 4096, got ${v}`)
          next.blockSize = v
          break
        case 'blockCount':
          next.blockCount = checkInt(k, v, 1, 65_536)
          break
        case 'frameSize':
          checkInt(k, v, 64, 1 << 30)
          if (v % 16 !== 0) throw new InvalidArgumentError('ERR_INVALID_ARG', `frameSize must be a multiple of 16, got ${v}`)
          next.frameSize = v
          break
        case 'blockTimeoutMs':
          next.blockTimeoutMs = checkInt(k, v, 1, 60_000)
          break
        default:
          throw new InvalidArgumentError('ERR_INVALID_ARG', `unknown ring option ${k}`)
      }
    }
    this.settings = next
    return this
  }

  /**
   * Reads with `workers` rings in a PACKET_FANOUT group, each on its own
   * thread with its own flow table. With `hash` (the default) both
   * directions of a flow go to the same worker; events carry `worker`.
   */
  fanout(workers: number, mode: FanoutMode = 'hash'): this {
    checkInt('workers', workers, 1, 64)
    if (mode !== 'hash' && mode !== 'cpu' && mode !== 'lb') {
      throw new InvalidArgumentError('ERR_INVALID_ARG', `fanout mode must be hash, cpu or lb, got ${String(mode)}`)
    }
    this.settings = { ...this.settings, workers, fanoutMode: mode }
    return this
  }

  /** On loopback, keep one copy of each packet (the kernel shows it twice). @default true */
  dedupLoopback(on = true): this {
    this.settings = { ...this.settings, dedupLoopback: checkBool('dedupLoopback', on) }
    return this
  }

  /** Writes every captured packet (with its timestamp) to a pcapng file while iterating. */
  record(path: string): this {
    if (typeof path !== 'string' || path.length === 0) throw new InvalidArgumentError('ERR_INVALID_ARG', 'record takes a file path')
    this.settings = { ...this.settings, record: path }
    return this
  }

  /**
   * Calls the {@link LiveSource.onStats} listeners with {@link LiveSource.stats}
   * every `ms` while an iteration runs, also on a quiet link.
   */
  statsInterval(ms: number): this {
    this.statsEveryMs = checkInt('statsInterval', ms, 1, 3_600_000)
    this.settings = { ...this.settings, pollMs: Math.min(100, this.statsEveryMs) }
    return this
  }

  /** Adds a listener for the periodic stats events (see {@link LiveSource.statsInterval}; default every second). */
  onStats(listener: (stats: CaptureStats) => void): this {
    if (typeof listener !== 'function') throw new InvalidArgumentError('ERR_INVALID_ARG', 'onStats takes a function')
    if (this.statsEveryMs === 0) this.statsInterval(1000)
    this.statsListeners.push(listener)
    return this
  }

  /**
   * Ends the capture gracefully: the workers stop reading, the flows still
   * open end (`flow.end` with their state), and the iterations finish.
   */
  stop(): void {
    for (const n of this.natives) n.stop()
  }

  /** @internal */
  protected override openNative(options: BindingOpenOptions, flows?: BindingFlowOptions, analyze?: BindingAnalyzeOptions): NativeCapture {
    const Live = (native as { BindingLive?: { open: (...a: unknown[]) => LiveNative } }).BindingLive
    if (Live === undefined) {
      // Whoever waits in opened() learns now that nothing will open.
      const waiters = this.openWaiters
      this.openWaiters = []
      for (const w of waiters) w(false)
      throw new UnsupportedPlatformError('ERR_UNSUPPORTED_PLATFORM', `live capture needs the native addon on Linux (loaded: ${bindingTarget})`)
    }
    const n = Live.open(this.iface, { ...this.settings }, options, flows, analyze)
    this.natives.add(n)
    this.lastStatsAt = Date.now()
    return n
  }

  /** @internal */
  override retire(pass: Parameters<PacketSource['retire']>[0], cap: NativeCapture): void {
    this.natives.delete(cap as LiveNative)
    this.openNatives.delete(cap as LiveNative)
    super.retire(pass, cap)
  }

  /**
   * Resolves `true` once an iteration has opened its rings (the filter
   * attached, the workers running): traffic from then on is captured; or
   * `false` if it ended without opening (the error reaches the iteration).
   */
  opened(): Promise<boolean> {
    if (this.openNatives.size > 0) return Promise.resolve(true)
    return new Promise((resolve) => this.openWaiters.push(resolve))
  }

  /** @internal */
  override observe(r: BindingBatchResult, cap: NativeCapture): void {
    if (r.opened) this.openNatives.add(cap as LiveNative)
    if (r.done || r.error) this.openNatives.delete(cap as LiveNative)
    if (r.opened || r.done || r.error) {
      const waiters = this.openWaiters
      this.openWaiters = []
      for (const w of waiters) w(r.opened === true)
    }
    if (this.statsEveryMs === 0 || this.statsListeners.length === 0) return
    const now = Date.now()
    if (now - this.lastStatsAt < this.statsEveryMs) return
    this.lastStatsAt = now
    const s = this.stats()
    for (const l of this.statsListeners) l(s)
  }

  /** Stops every iteration and releases sockets, rings and threads. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close()
  }
}

/**
 * A live capture on a Linux interface (AF_PACKET TPACKET_V3), with the same
 * iterators as a capture file. Configure it with the builder; nothing opens
 * until you iterate.
 *
 * @category Sources
 *
 * @example
 * ```ts
 * const src = capture('eth0').filter('tcp port 80 or udp port 53').fanout(2)
 * setTimeout(() => src.stop(), 10_000)
 * for await (const s of src.sessions()) console.log(s.type, s.uid)
 * console.log(src.stats().live) // received, kernelDrops, per-worker counters
 * ```
 */
export function capture(iface: string): LiveSource {
  return new LiveSource(iface)
}
