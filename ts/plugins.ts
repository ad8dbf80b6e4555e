/**
 * Session parsers written in TypeScript ("plugins"), run on the same
 * reassembled, gap-marked streams as the built-in HTTP, DNS and TLS parsers.
 *
 * Rust decides which flows a plugin gets from its declarative
 * {@link PluginMatch} (ports, first-bytes signatures, priority), so no JS
 * runs for flows no plugin wants; a `test` predicate on a flow's first data
 * is the fallback for flows nothing else claimed. Each claimed flow gets
 * its own parser session from `create(flow)`, fed in order, many chunks per
 * native step; its messages join {@link PacketSource.sessions}, typed
 * through {@link SessionMessageMap}.
 *
 * @module
 */
import { InvalidArgumentError } from './errors.js'
import type { FlowEndpoint } from './flows.js'
import type { BindingPluginBatch, BindingPluginSpec } from './native.js'
import type { SessionEvent } from './sessions.js'

/**
 * Message types of plugins by plugin name, for typing: add yours by
 * declaration merging, and `sessions()` events of that protocol carry them.
 *
 * @example
 * ```ts
 * declare module 'flowtap' {
 *   interface SessionMessageMap {
 *     redis: RedisCommand
 *   }
 * }
 * ```
 *
 * @category Plugins
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface SessionMessageMap {}

/**
 * Names of the plugins declared in {@link SessionMessageMap}.
 *
 * @category Plugins
 */
export type PluginName = keyof SessionMessageMap & string

/**
 * Which side sent the bytes: `orig` is the flow's originator (the client).
 *
 * @category Plugins
 */
export type Direction = 'orig' | 'resp'

/**
 * The flow a plugin session parses.
 *
 * @category Plugins
 */
export interface PluginFlow {
  /** The flow's uid, as in its flow events and Zeek's logs. */
  readonly uid: string
  /** `tcp` for stream plugins, `udp` for datagram plugins. */
  readonly transport: 'tcp' | 'udp'
  /** The flow's originator. */
  readonly orig: FlowEndpoint
  /** The flow's responder. */
  readonly resp: FlowEndpoint
  /** When the flow was claimed (the packet that decided it). */
  readonly claimedNs: bigint
}

/**
 * Where a chunk, gap or datagram is.
 *
 * @category Plugins
 */
export interface ChunkInfo {
  /** Stream offset (TCP), or the datagram's index in its direction (UDP). */
  readonly offset: number
  /** Time of the packet that made it deliverable. */
  readonly tsNs: bigint
}

/**
 * Why a plugin's flow ended, as in `flow.end` events.
 *
 * @category Plugins
 */
export type PluginEndReason = 'fin' | 'rst' | 'idle' | 'evicted' | 'end-of-input' | 'reused'

/**
 * What a parser callback returns: one message, several, or none.
 *
 * @category Plugins
 */
export type Emitted<Msg> = Msg | readonly Msg[] | undefined | void

/**
 * Per-flow state of a stream (TCP) plugin.
 *
 * @category Plugins
 */
export interface StreamParserSession<Msg> {
  /**
   * In-order bytes of one direction. The view stays valid after the call
   * (it pins its native batch); copy it to keep a small part of it long.
   */
  onData(direction: Direction, chunk: Uint8Array, info: ChunkInfo): Emitted<Msg>
  /** `length` bytes of `direction` will never be seen (not captured, or given up at a bound). */
  onGap?(direction: Direction, length: number, info: ChunkInfo): Emitted<Msg>
  /** The flow ended; nothing follows. */
  onEnd?(reason: PluginEndReason): Emitted<Msg>
}

/**
 * Per-flow state of a datagram (UDP) plugin.
 *
 * @category Plugins
 */
export interface DatagramParserSession<Msg> {
  /** One whole datagram's payload. */
  onDatagram(direction: Direction, payload: Uint8Array, info: ChunkInfo): Emitted<Msg>
  /** The flow ended; nothing follows. */
  onEnd?(reason: PluginEndReason): Emitted<Msg>
}

/**
 * First bytes a side sends: a string (UTF-8) or bytes, at offset 0 of either side unless said.
 *
 * @category Plugins
 */
export type Signature =
  | string
  | Uint8Array
  | {
      /** The bytes to find: 1 to 256 bytes, a string as UTF-8. */
      bytes: string | Uint8Array
      /** Where they start in the side's first bytes; `offset + length` at most 2048. @default 0 */
      offset?: number
      /** The side that must send them; either side when absent. */
      direction?: Direction
    }

/**
 * Which flows a plugin claims. Everything given must hold: a port of
 * `ports` (either endpoint) and, with `signatures`, one of them. `test` is
 * asked, on a flow's first data, only about flows the ports allow that no
 * signature, built-in parser or other plugin claimed.
 *
 * @category Plugins
 */
export interface PluginMatch {
  /** No port condition: every flow of the plugin's transport, unless `signatures` or `test` narrow it (with `priority: 'first'`, even flows a built-in parser would take). */
  all?: boolean
  /** Ports (0…65535) of either endpoint that make a flow a candidate. */
  ports?: readonly number[]
  /** First-bytes signatures; when given, one of them must match. */
  signatures?: readonly Signature[]
  /** Asked on the first data of a flow nothing else claimed; returning true claims it. A throw gives a `session.error` event. */
  test?(firstData: Uint8Array, direction: Direction, flow: PluginFlow): boolean
}

interface DefinitionBase {
  /** The `type`/`protocol` of the plugin's session events; unique per source, not `http`, `dns` or `tls`. */
  name: string
  /** Which flows the plugin claims. */
  match: PluginMatch
  /**
   * `first`: matching flows are this plugin's even where a built-in parser
   * would claim them; `last` (default): only flows none claimed. Predicates
   * are always last.
   */
  priority?: 'first' | 'last'
}

/**
 * What {@link defineStreamParser} takes: a TCP session parser.
 *
 * @category Plugins
 */
export interface StreamParserDefinition<Msg> extends DefinitionBase {
  /** Makes the parser state of one claimed flow; called once per flow, before its first data. */
  create(flow: PluginFlow): StreamParserSession<Msg>
}

/**
 * What {@link defineDatagramParser} takes: a UDP session parser.
 *
 * @category Plugins
 */
export interface DatagramParserDefinition<Msg> extends DefinitionBase {
  /** Makes the parser state of one claimed flow; called once per flow, before its first datagram. */
  create(flow: PluginFlow): DatagramParserSession<Msg>
}

/**
 * A plugin, as {@link defineStreamParser} or {@link defineDatagramParser} returns it.
 *
 * @category Plugins
 */
export type Plugin<Msg = unknown> =
  | (Readonly<StreamParserDefinition<Msg>> & {
      /** `tcp`: a stream parser. */
      readonly transport: 'tcp'
    })
  | (Readonly<DatagramParserDefinition<Msg>> & {
      /** `udp`: a datagram parser. */
      readonly transport: 'udp'
    })

const BUILTIN = new Set(['http', 'dns', 'tls'])
const NAME = /^[a-z][a-z0-9_.-]{0,63}$/i

function checkDefinition(def: DefinitionBase & { create: unknown }): void {
  if (typeof def !== 'object' || def === null) throw new InvalidArgumentError('ERR_INVALID_ARG', 'a plugin definition must be an object')
  if (typeof def.name !== 'string' || !NAME.test(def.name) || BUILTIN.has(def.name) || def.name.startsWith('session.')) {
    throw new InvalidArgumentError('ERR_INVALID_ARG', `plugin name must match ${NAME} and not be a built-in protocol, got ${JSON.stringify(def.name)}`)
  }
  if (typeof def.create !== 'function') throw new InvalidArgumentError('ERR_INVALID_ARG', `plugin ${def.name}: create must be a function`)
  const m = def.match
  if (typeof m !== 'object' || m === null) throw new InvalidArgumentError('ERR_INVALID_ARG', `plugin ${def.name}: match must be an object`)
  if (m.ports !== undefined && (!Array.isArray(m.ports) || m.ports.some((p) => !Number.isInteger(p) || p < 0 || p > 65535))) {
    throw new InvalidArgumentError('ERR_INVALID_ARG', `plugin ${def.name}: match.ports must be port numbers`)
  }
  if (m.signatures !== undefined && !Array.isArray(m.signatures)) throw new InvalidArgumentError('ERR_INVALID_ARG', `plugin ${def.name}: match.signatures must be an array`)
  if (m.test !== undefined && typeof m.test !== 'function') throw new InvalidArgumentError('ERR_INVALID_ARG', `plugin ${def.name}: match.test must be a function`)
  if (m.all !== undefined && typeof m.all !== 'boolean') throw new InvalidArgumentError('ERR_INVALID_ARG', `plugin ${def.name}: match.all must be a boolean`)
  if (!m.all && (m.ports === undefined || m.ports.length === 0) && (m.signatures === undefined || m.signatures.length === 0) && m.test === undefined) {
    throw new InvalidArgumentError('ERR_INVALID_ARG', `plugin ${def.name}: match needs ports, signatures, test or all`)
  }
  if (def.priority !== undefined && def.priority !== 'first' && def.priority !== 'last') {
    throw new InvalidArgumentError('ERR_INVALID_ARG', `plugin ${def.name}: priority must be 'first' or 'last'`)
  }
  for (const s of m.signatures ?? []) signatureSpec(def.name, s)
}

/**
 * A session parser for TCP flows: `create` makes per-flow state whose
 * callbacks get the flow's reassembled bytes in order, gap markers and
 * the end, and return messages.
 *
 * @example
 * ```ts
 * const lines = defineStreamParser<{ line: string }>({
 *   name: 'lines',
 *   match: { ports: [7777] },
 *   create: () => {
 *     let buf = ''
 *     return {
 *       onData(dir, chunk) {
 *         buf += Buffer.from(chunk).toString('latin1')
 *         const parts = buf.split('\n')
 *         buf = parts.pop()!
 *         return parts.map((line) => ({ line }))
 *       },
 *     }
 *   },
 * })
 * for await (const s of openPcap('trace.pcap').sessions({ plugins: [lines] })) console.log(s)
 * ```
 *
 * @category Plugins
 */
export function defineStreamParser<Msg>(def: StreamParserDefinition<Msg>): Plugin<Msg> {
  checkDefinition(def)
  return Object.freeze({ ...def, match: Object.freeze({ ...def.match }), transport: 'tcp' as const })
}

/**
 * A session parser for UDP flows: `create` makes per-flow state whose
 * `onDatagram` gets each datagram's payload and returns messages.
 *
 * @example
 * ```ts
 * const syslog = defineDatagramParser<{ priority: number; text: string }>({
 *   name: 'syslog',
 *   match: { ports: [514] },
 *   create: () => ({
 *     onDatagram(dir, payload) {
 *       const m = /^<(\d{1,3})>(.*)$/s.exec(Buffer.from(payload).toString('utf8'))
 *       return m ? { priority: Number(m[1]), text: m[2]! } : undefined
 *     },
 *   }),
 * })
 * for await (const s of openPcap('trace.pcap').use(syslog).sessions()) console.log(s)
 * ```
 *
 * @category Plugins
 */
export function defineDatagramParser<Msg>(def: DatagramParserDefinition<Msg>): Plugin<Msg> {
  checkDefinition(def)
  return Object.freeze({ ...def, match: Object.freeze({ ...def.match }), transport: 'udp' as const })
}

const encoder = new TextEncoder()

function signatureSpec(name: string, s: Signature): { bytes: number[]; offset?: number; direction?: string } {
  const o = typeof s === 'string' || s instanceof Uint8Array ? { bytes: s } : s
  if (typeof o !== 'object' || o === null) throw new InvalidArgumentError('ERR_INVALID_ARG', `plugin ${name}: a signature is a string, bytes or { bytes, offset?, direction? }`)
  const bytes = typeof o.bytes === 'string' ? encoder.encode(o.bytes) : o.bytes
  if (!(bytes instanceof Uint8Array) || bytes.length === 0 || bytes.length > 256) {
    throw new InvalidArgumentError('ERR_INVALID_ARG', `plugin ${name}: a signature has 1 to 256 bytes`)
  }
  const offset = o.offset ?? 0
  if (!Number.isInteger(offset) || offset < 0 || offset + bytes.length > 2048) {
    throw new InvalidArgumentError('ERR_INVALID_ARG', `plugin ${name}: a signature must lie within the first 2048 bytes`)
  }
  if (o.direction !== undefined && o.direction !== 'orig' && o.direction !== 'resp') {
    throw new InvalidArgumentError('ERR_INVALID_ARG', `plugin ${name}: signature direction must be 'orig' or 'resp'`)
  }
  return { bytes: Array.from(bytes), offset, direction: o.direction }
}

/** Checks a plugin list and gives the binding's claim rules (ids are list positions). */
export function pluginSpecs(plugins: readonly Plugin[]): BindingPluginSpec[] {
  if (!Array.isArray(plugins)) throw new InvalidArgumentError('ERR_INVALID_ARG', 'plugins must be an array')
  if (plugins.length > 64) throw new InvalidArgumentError('ERR_INVALID_ARG', 'at most 64 plugins per source')
  const names = new Set<string>()
  return plugins.map((p, id) => {
    if (typeof p !== 'object' || p === null || (p.transport !== 'tcp' && p.transport !== 'udp')) {
      throw new InvalidArgumentError('ERR_INVALID_ARG', 'plugins must come from defineStreamParser or defineDatagramParser')
    }
    checkDefinition(p)
    if (names.has(p.name)) throw new InvalidArgumentError('ERR_INVALID_ARG', `two plugins are named ${p.name}`)
    names.add(p.name)
    return {
      id,
      transport: p.transport,
      ports: p.match.ports && !p.match.all ? [...p.match.ports] : undefined,
      signatures: p.match.signatures?.map((s: Signature) => signatureSpec(p.name, s)),
      priority: p.priority ?? 'last',
      predicate: p.match.test !== undefined,
    }
  })
}

/** Fields every plugin event has. */
interface PluginEventBase {
  /** The flow's uid, as in its flow events. */
  readonly uid: string
  /** The flow's transport protocol. */
  readonly transport: 'tcp' | 'udp'
  /** The flow's originator. */
  readonly orig: FlowEndpoint
  /** The flow's responder. */
  readonly resp: FlowEndpoint
  /** Time of the packet whose bytes completed the message (or ended the flow). */
  readonly tsNs: bigint
}

/**
 * A message a plugin returned, as a session event.
 *
 * @category Plugins
 */
export interface PluginMessage<K extends string, Msg> extends PluginEventBase {
  /** The plugin's name. */
  readonly type: K
  /** The plugin's name. */
  readonly protocol: K
  /** The side whose bytes (or gap) produced it; null for messages returned by `onEnd`. */
  readonly direction: Direction | null
  /** The message, as the plugin returned it. */
  readonly message: Msg
}

/**
 * Messages of the plugins declared in {@link SessionMessageMap}; `switch (s.protocol)` narrows them.
 *
 * @category Plugins
 */
export type PluginSessionEvent = { [K in PluginName]: PluginMessage<K, SessionMessageMap[K]> }[PluginName]

/**
 * A plugin threw (in `create`, a callback or its `test`): its session on
 * this flow ends here; other flows and parsers go on.
 *
 * @category Plugins
 */
export interface SessionError extends PluginEventBase {
  /** Discriminant of {@link SessionEvent}. */
  readonly type: 'session.error'
  /** The plugin's name. */
  readonly protocol: PluginName
  /** The plugin's name (also when it is not declared in {@link SessionMessageMap}). */
  readonly plugin: string
  /** Always `ERR_PLUGIN_THREW`. */
  readonly code: 'ERR_PLUGIN_THREW'
  /** What was thrown. */
  readonly error: unknown
}

/**
 * Calls into plugins, for tests and tuning (see {@link PacketSource.pluginCounters}).
 *
 * @category Plugins
 */
export interface PluginCounters {
  /** Flows handed to a plugin's `create`. */
  sessions: number
  /** `test` predicate calls. */
  predicateCalls: number
  /** Data chunks and datagrams delivered. */
  chunks: number
  /** Bytes of those chunks and datagrams. */
  bytes: number
  /** Gaps in the streams of claimed flows (passed to `onGap` where the session has one). */
  gaps: number
  /** Messages the plugins returned. */
  messages: number
  /** Throws from `create`, a callback or `test`: one `session.error` event each. */
  errors: number
  /** Flows every predicate declined. */
  declined: number
}

interface Slot {
  flow: PluginFlow
  /** Plugins whose predicates decide (in order), until one accepts. */
  candidates: Plugin[] | undefined
  plugin: Plugin | undefined
  session: StreamParserSession<unknown> | DatagramParserSession<unknown> | undefined
}

const DIRECTIONS: readonly Direction[] = ['orig', 'resp']

/**
 * Runs the plugins of one iteration: turns each native step's claims,
 * pieces and closes into calls on per-flow sessions, and their results into
 * session events. Flows given up (declined, or whose plugin threw) are
 * collected for {@link PluginHost.takeReleased}, so Rust stops sending them.
 */
export class PluginHost {
  private readonly flows = new Map<number, Slot>()
  private released: number[] = []
  readonly counters: PluginCounters = { sessions: 0, predicateCalls: 0, chunks: 0, bytes: 0, gaps: 0, messages: 0, errors: 0, declined: 0 }

  constructor(private readonly plugins: readonly Plugin[]) {}

  /** Appends the session events of one step's plugin batch to `out`. */
  take(b: BindingPluginBatch, out: SessionEvent[]): void {
    const closes: { seq: number; reason: PluginEndReason; tsNs: bigint }[] = []
    if (b.control) {
      for (const c of JSON.parse(b.control) as Record<string, unknown>[]) {
        const seq = c.seq as number
        if (c.k === 'close') {
          closes.push({ seq, reason: c.reason as PluginEndReason, tsNs: BigInt(c.tsNs as string) })
          continue
        }
        const flow: PluginFlow = {
          uid: c.uid as string,
          transport: c.transport as 'tcp' | 'udp',
          orig: c.orig as FlowEndpoint,
          resp: c.resp as FlowEndpoint,
          claimedNs: BigInt(c.tsNs as string),
        }
        const ids = c.plugins as number[]
        const slot: Slot = { flow, candidates: undefined, plugin: undefined, session: undefined }
        this.flows.set(seq, slot)
        if (c.ask) slot.candidates = ids.map((i) => this.plugins[i]!).filter(Boolean)
        else this.start(seq, slot, this.plugins[ids[0]!]!, flow.claimedNs, out)
      }
    }
    const p = b.pieces
    if (p) {
      for (let i = 0; i < p.length; i++) {
        const seq = p.flow[i]!
        const slot = this.flows.get(seq)
        if (!slot) continue
        const direction = DIRECTIONS[p.dir[i]!]!
        const kind = p.kind[i]!
        const info: ChunkInfo = { offset: p.offset[i]!, tsNs: p.ts[i]! }
        if (kind === 2) continue // a direction's end: the flow's close follows
        if (kind === 0) {
          const start = p.start[i]!
          const bytes = p.data.subarray(start, start + p.pieceLength[i]!)
          if (slot.candidates && !this.ask(seq, slot, bytes, direction, info.tsNs, out)) continue
          if (!slot.session) continue
          this.counters.chunks++
          this.counters.bytes += bytes.length
          const s = slot.session
          this.call(seq, slot, direction, info.tsNs, out, () =>
            'onData' in s ? s.onData(direction, bytes, info) : s.onDatagram(direction, bytes, info),
          )
        } else {
          const s = slot.session as StreamParserSession<unknown> | undefined
          this.counters.gaps++
          if (s?.onGap) this.call(seq, slot, direction, info.tsNs, out, () => s.onGap!(direction, p.pieceLength[i]!, info))
        }
      }
    }
    for (const c of closes) {
      const slot = this.flows.get(c.seq)
      if (!slot) continue
      this.flows.delete(c.seq)
      const s = slot.session
      if (s?.onEnd) this.call(c.seq, slot, null, c.tsNs, out, () => s.onEnd!(c.reason))
    }
  }

  /** Flow numbers to give back to Rust (each once). */
  takeReleased(): number[] {
    const r = this.released
    this.released = []
    return r
  }

  /** Plugin flows open now. */
  get openFlows(): number {
    return this.flows.size
  }

  /** Runs the candidates' predicates on a flow's first data; true once one accepted. */
  private ask(seq: number, slot: Slot, bytes: Uint8Array, direction: Direction, tsNs: bigint, out: SessionEvent[]): boolean {
    const candidates = slot.candidates!
    slot.candidates = undefined
    for (const plugin of candidates) {
      this.counters.predicateCalls++
      let yes: boolean
      try {
        yes = plugin.match.test!(bytes, direction, slot.flow) === true
      } catch (error) {
        this.fail(seq, slot, plugin, tsNs, out, error)
        return false
      }
      if (yes) return this.start(seq, slot, plugin, tsNs, out)
    }
    this.counters.declined++
    this.giveBack(seq)
    return false
  }

  private start(seq: number, slot: Slot, plugin: Plugin, tsNs: bigint, out: SessionEvent[]): boolean {
    slot.plugin = plugin
    this.counters.sessions++
    try {
      slot.session = plugin.create(slot.flow) as Slot['session']
      if (typeof slot.session !== 'object' || slot.session === null) throw new TypeError(`plugin ${plugin.name}: create() returned no session object`)
      return true
    } catch (error) {
      this.fail(seq, slot, plugin, tsNs, out, error)
      return false
    }
  }

  private call(seq: number, slot: Slot, direction: Direction | null, tsNs: bigint, out: SessionEvent[], f: () => Emitted<unknown>): void {
    let r: Emitted<unknown>
    try {
      r = f()
    } catch (error) {
      this.fail(seq, slot, slot.plugin!, tsNs, out, error)
      return
    }
    if (r === undefined) return
    const name = slot.plugin!.name
    const base = { type: name, protocol: name, uid: slot.flow.uid, transport: slot.flow.transport, orig: slot.flow.orig, resp: slot.flow.resp, tsNs, direction }
    if (Array.isArray(r)) {
      for (const message of r as unknown[]) out.push({ ...base, message } as unknown as SessionEvent)
      this.counters.messages += r.length
    } else {
      out.push({ ...base, message: r } as unknown as SessionEvent)
      this.counters.messages++
    }
  }

  private fail(seq: number, slot: Slot, plugin: Plugin, tsNs: bigint, out: SessionEvent[], error: unknown): void {
    this.counters.errors++
    const f = slot.flow
    out.push({
      type: 'session.error',
      protocol: plugin.name,
      plugin: plugin.name,
      code: 'ERR_PLUGIN_THREW',
      error,
      uid: f.uid,
      transport: f.transport,
      orig: f.orig,
      resp: f.resp,
      tsNs,
    } as unknown as SessionEvent)
    slot.session = undefined
    this.giveBack(seq)
  }

  private giveBack(seq: number): void {
    this.flows.delete(seq)
    this.released.push(seq)
  }
}
