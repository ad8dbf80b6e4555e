/**
 * Packet injection on Linux: {@link inject} and {@link replay}.
 *
 * Frames go out through an AF_PACKET transmit ring: each batch crosses to
 * Rust once, each frame is copied once (into its ring slot), and one kernel
 * call sends the whole batch. A full ring is backpressure, not an error:
 * `sendBatch` queues what fits and {@link Injector.ready} resolves when
 * slots free up.
 *
 * @module
 */
import { AbortError, fromNative, InvalidArgumentError, UnsupportedPlatformError } from './errors.js'
import { bindingTarget } from './platform.js'
import { native, type BindingInjectOptions } from './native.js'
import type { PacketSource } from './source.js'

/**
 * Options of {@link inject}.
 *
 * @category Injection
 */
export interface InjectOptions {
  /** Bytes per ring slot (a multiple of 16, 64…262144); a frame may use all but 32 of them. @default the smallest slot a full-MTU frame fits in */
  frameSize?: number
  /** Slots in the ring: frames in flight at most. @default as many as fit in 4 MiB, at most 1024 */
  frameCount?: number
  /** Hand frames straight to the driver, skipping the queueing discipline (and local taps). @default false */
  qdiscBypass?: boolean
}

/**
 * Counters of an {@link Injector}, cumulative since it opened.
 *
 * @category Injection
 */
export interface InjectStats {
  /** Frames written into the ring. */
  queued: number
  /** Frames the kernel has taken out of the ring. */
  sent: number
  /** Bytes of the sent frames. */
  bytes: number
  /** Frames refused (larger than `maxFrame`, or shorter than the link header). */
  rejected: number
  /** Kernel calls that sent queued frames. */
  kicks: number
  /** Frames queued and not yet taken by the kernel. */
  inFlight: number
  /** Slots in the ring (see {@link InjectOptions.frameCount}). */
  capacity: number
  /** The largest frame accepted: the interface MTU plus the link header and one VLAN tag. */
  maxFrame: number
}

interface NativeInjector {
  open(o?: BindingInjectOptions): { code: string; message: string } | null | undefined
  sendBatch(frames: Uint8Array[]): { queued: number; error?: { code: string; message: string } | null }
  flush(): { code: string; message: string } | null | undefined
  writable(timeoutMs: number): Promise<boolean>
  drain(timeoutMs: number): Promise<boolean>
  stats(): InjectStats | null | undefined
  close(): void
}

function checkInt(name: string, v: unknown, min: number, max: number): void {
  if (v === undefined) return
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new InvalidArgumentError('ERR_INVALID_ARG', `${name} must be an integer in ${min}..${max}, got ${String(v)}`)
  }
}

/**
 * An open transmit ring on one interface. Close it (or `using`) to release
 * the socket; frames still queued are dropped, so `await drain()` first.
 *
 * @category Injection
 */
export class Injector {
  /** The interface name. */
  readonly iface: string
  private native: NativeInjector | undefined

  /** @internal */
  constructor(iface: string, n: NativeInjector) {
    this.iface = iface
    this.native = n
  }

  private get n(): NativeInjector {
    if (!this.native) throw new InvalidArgumentError('ERR_INVALID_ARG', 'the injector is closed')
    return this.native
  }

  /** Queues one frame and sends it; false when the ring is full (await {@link Injector.ready}). */
  send(frame: Uint8Array): boolean {
    return this.sendBatch([frame]) === 1
  }

  /**
   * Queues the frames in order while slots are free and sends them with
   * one kernel call; returns how many were queued (a prefix of `frames`).
   * A frame the interface cannot take throws {@link FrameTooLargeError}
   * (`ERR_FRAME_TOO_LARGE`) after the frames before it were queued; its
   * `queued` property says how many.
   */
  sendBatch(frames: readonly Uint8Array[]): number {
    if (!Array.isArray(frames)) throw new InvalidArgumentError('ERR_INVALID_ARG', 'sendBatch takes an array of Uint8Array frames')
    for (const f of frames) {
      if (!(f instanceof Uint8Array)) throw new InvalidArgumentError('ERR_INVALID_ARG', 'frames must be Uint8Arrays')
    }
    const r = this.n.sendBatch(frames as Uint8Array[])
    if (r.error) {
      const e = fromNative(r.error)
      Object.defineProperty(e, 'queued', { value: r.queued, enumerable: true })
      throw e
    }
    return r.queued
  }

  /** Resolves true once a slot is free (false after `timeoutMs`); sends what is queued meanwhile. */
  ready(timeoutMs = 1000): Promise<boolean> {
    checkInt('timeoutMs', timeoutMs, 0, 3_600_000)
    return this.n.writable(timeoutMs)
  }

  /** Sends every frame, waiting for free slots as needed (backpressure, no busy loop). */
  async sendAll(frames: readonly Uint8Array[], signal?: AbortSignal): Promise<void> {
    let at = 0
    while (at < frames.length) {
      if (signal?.aborted) throw new AbortError(undefined, { cause: signal.reason })
      at += this.sendBatch(at === 0 ? frames : frames.slice(at))
      if (at < frames.length) await this.ready()
    }
  }

  /** Kicks the kernel to send what is queued (`sendBatch` already does). */
  flush(): void {
    const e = this.n.flush()
    if (e) throw fromNative(e)
  }

  /** Resolves true once every queued frame has left the ring (false after `timeoutMs`). */
  drain(timeoutMs = 5000): Promise<boolean> {
    checkInt('timeoutMs', timeoutMs, 0, 3_600_000)
    return this.n.drain(timeoutMs)
  }

  /** The ring's counters; throws {@link InvalidArgumentError} once the injector is closed. */
  stats(): InjectStats {
    const s = this.n.stats()
    if (!s) throw new InvalidArgumentError('ERR_INVALID_ARG', 'the injector is closed')
    return { ...s }
  }

  /** Releases the socket and the ring. */
  close(): void {
    this.native?.close()
    this.native = undefined
  }

  /** Same as {@link Injector.close}, for `using`. */
  [Symbol.dispose](): void {
    this.close()
  }
}

/**
 * Opens an AF_PACKET transmit ring on a Linux interface. Needs
 * CAP_NET_RAW. Throws `NoSuchInterfaceError`, `PermissionError` or
 * `InvalidArgumentError` at once.
 *
 * @category Injection
 *
 * @example
 * ```ts
 * const frames: Uint8Array[] = []
 * for await (const p of openPcap('trace.pcap').packets()) frames.push(p.data.slice())
 * const tx = inject('veth0')
 * await tx.sendAll(frames)   // waits for free slots, never busy-loops
 * await tx.drain()
 * tx.close()
 * ```
 */
export function inject(iface: string, options: InjectOptions = {}): Injector {
  if (typeof iface !== 'string' || iface.length === 0 || iface.length > 15) {
    throw new InvalidArgumentError('ERR_INVALID_ARG', `interface must be a name of 1..15 characters, got ${String(iface)}`)
  }
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('ERR_INVALID_ARG', 'options must be an object')
  checkInt('frameSize', options.frameSize, 64, 262_144)
  if (options.frameSize !== undefined && options.frameSize % 16 !== 0) {
    throw new InvalidArgumentError('ERR_INVALID_ARG', `frameSize must be a multiple of 16, got ${options.frameSize}`)
  }
  checkInt('frameCount', options.frameCount, 1, 1 << 20)
  if (options.qdiscBypass !== undefined && typeof options.qdiscBypass !== 'boolean') {
    throw new InvalidArgumentError('ERR_INVALID_ARG', 'qdiscBypass must be a boolean')
  }
  const Native = (native as { BindingInjector?: { create(iface: string): NativeInjector } }).BindingInjector
  if (Native === undefined) {
    throw new UnsupportedPlatformError('ERR_UNSUPPORTED_PLATFORM', `injection needs the native addon on Linux (loaded: ${bindingTarget})`)
  }
  const n = Native.create(iface)
  const e = n.open({ frameSize: options.frameSize, frameCount: options.frameCount, qdiscBypass: options.qdiscBypass })
  if (e) throw fromNative(e)
  return new Injector(iface, n)
}

/**
 * Options of {@link replay}.
 *
 * @category Injection
 */
export interface ReplayOptions extends InjectOptions {
  /** Multiple of the original timing (2 = twice as fast). @default 1 */
  speed?: number
  /** As fast as possible, ignoring the timing. @default false */
  top?: boolean
  /** Aborting stops the replay at its next read: the promise rejects with {@link AbortError} and the ring is closed (queued frames are dropped). */
  signal?: AbortSignal
  /** Called about every 250 ms with the counters so far. */
  onProgress?: (stats: ReplayStats) => void
}

/**
 * What {@link replay} sent.
 *
 * @category Injection
 */
export interface ReplayStats {
  /** Frames the kernel took out of the ring (sent). */
  packets: number
  /** Bytes of those frames. */
  bytes: number
  /** Packets not sent because their link type is not Ethernet. */
  skipped: number
  /** Packets the interface refused (larger than its MTU allows). */
  rejected: number
  /** Wall-clock milliseconds since the replay started. */
  elapsedMs: number
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/**
 * Sends the packets of a capture (any {@link PacketSource}; its bytes are
 * kept for this) onto an Ethernet interface: at the original pace, `speed` times faster, or as
 * fast as possible (`top`). Frames of other link types are skipped and
 * counted; frames the interface cannot take are counted as rejected.
 *
 * @category Injection
 *
 * @example
 * ```ts
 * const s = await replay(openPcap('trace.pcap'), 'veth0', { speed: 10 })
 * console.log(s.packets, 'packets in', s.elapsedMs, 'ms')
 * ```
 */
export async function replay(source: PacketSource, iface: string, options: ReplayOptions = {}): Promise<ReplayStats> {
  const speed = options.speed ?? 1
  if (typeof speed !== 'number' || !(speed > 0) || !Number.isFinite(speed)) {
    throw new InvalidArgumentError('ERR_INVALID_ARG', `speed must be a positive number, got ${String(speed)}`)
  }
  const top = options.top === true
  const tx = inject(iface, options)
  const stats = { skipped: 0, rejected: 0 }
  const start = performance.now()
  let firstTs: bigint | undefined
  let lastProgress = start
  try {
    for await (const b of source.keepBytes(true).packetBatches({ signal: options.signal })) {
      const { timestampNs, linkType, caplen, dataOffset } = b.columns
      let pending: Uint8Array[] = []
      const sendPending = async () => {
        let at = 0
        while (at < pending.length) {
          try {
            at += tx.sendBatch(at === 0 ? pending : pending.slice(at))
          } catch (e) {
            if ((e as { code?: string }).code !== 'ERR_FRAME_TOO_LARGE') throw e
            const queued = (e as { queued?: number }).queued ?? 0
            at += queued + 1
            stats.rejected++
            continue
          }
          if (at < pending.length) await tx.ready()
        }
        pending = []
      }
      for (let i = 0; i < b.length; i++) {
        if (linkType[i] !== 1) {
          stats.skipped++
          continue
        }
        const ts = timestampNs[i]!
        firstTs ??= ts
        if (!top) {
          const dueMs = Number(ts - firstTs) / 1e6 / speed
          const wait = dueMs - (performance.now() - start)
          if (wait > 1) {
            await sendPending()
            await sleep(wait)
          }
        }
        pending.push(b.data.subarray(dataOffset[i]!, dataOffset[i]! + caplen[i]!))
      }
      await sendPending()
      if (options.onProgress && performance.now() - lastProgress >= 250) {
        lastProgress = performance.now()
        options.onProgress(counted(lastProgress))
      }
    }
    await tx.drain()
    return counted(performance.now())
  } finally {
    tx.close()
  }

  function counted(now: number): ReplayStats {
    const s = tx.stats()
    return { packets: s.sent, bytes: s.bytes, skipped: stats.skipped, rejected: stats.rejected, elapsedMs: now - start }
  }
}
