/**
 * A Redis (RESP2/RESP3) parser written as a flowtap plugin: each command a
 * client sends, paired with the server's reply (pipelining included, in
 * order), as one typed session event.
 *
 *   for await (const s of openPcap('redis.pcap').use(redis).sessions())
 *     if (s.type === 'redis') console.log(s.message.command, s.message.reply)
 *
 * The parser is incremental: values are decoded as bytes arrive, whatever
 * the segmentation, and large bulk strings are skipped through (their first
 * `MAX_ARG` bytes kept), so memory per flow stays small. After a gap a
 * direction cannot be resynchronized reliably (RESP has no markers), so
 * that direction stops and the commands waiting for it end with
 * `gap: true`.
 */
import { defineStreamParser, type ChunkInfo, type Direction } from 'flowtap'

/** Bytes kept of each argument or bulk reply. */
const MAX_ARG = 256
/** Arguments kept per command, and elements per reply array. */
const MAX_ITEMS = 64
/** Longest simple line (inline command, status, error, number). */
const MAX_LINE = 64 * 1024
/** Commands waiting for replies before the oldest is emitted alone. */
const MAX_PENDING = 1024
/** Deepest nesting of aggregates. */
const MAX_DEPTH = 32

/** A decoded RESP value (bulk strings cut to `MAX_ARG` bytes, arrays to `MAX_ITEMS`). */
export type RespValue = string | number | bigint | boolean | null | { error: string } | RespValue[]

export interface RedisCommand {
  /** The command name, upper-cased (`GET`, `SET`, …); empty when a gap took the command and only its reply was seen. */
  readonly command: string
  /** Its arguments, each cut to 256 bytes (latin1), at most 64. */
  readonly args: string[]
  /** Arguments the command really had. */
  readonly argCount: number
  /** The reply; `undefined` when none was seen. */
  readonly reply: RespValue | undefined
  /** The reply was an error (`-ERR …`). */
  readonly error: string | null
  /** Bytes of the request and of the reply on the wire. */
  readonly requestBytes: number
  readonly replyBytes: number
  readonly requestNs: bigint
  readonly replyNs: bigint | null
  /** A gap cut into the stream before this command was answered. */
  readonly gap: boolean
  /** The client sent it as an inline command (telnet style). */
  readonly inline: boolean
}

declare module 'flowtap' {
  interface SessionMessageMap {
    redis: RedisCommand
  }
}

type Frame = { items: RespValue[]; remaining: number; kind: 'array' | 'map' | 'set' | 'push' }

/** A streaming RESP decoder: bytes in, whole top-level values out. */
class RespDecoder {
  private line: number[] = []
  private stack: Frame[] = []
  /** Inside a bulk string: bytes still to read (with its CRLF), and the kept start. */
  private bulk: { remaining: number; kept: number[]; total: number } | undefined
  private bytes = 0
  failed: string | undefined

  constructor(private readonly onValue: (v: RespValue, bytes: number, inline: boolean) => void) {}

  push(chunk: Uint8Array): void {
    let i = 0
    while (i < chunk.length && !this.failed) {
      if (this.bulk) {
        const b = this.bulk
        const n = Math.min(b.remaining, chunk.length - i)
        for (let k = 0; k < n && b.kept.length < MAX_ARG + 2; k++) b.kept.push(chunk[i + k]!)
        b.remaining -= n
        this.bytes += n
        i += n
        if (b.remaining === 0) {
          this.bulk = undefined
          const body = b.kept.slice(0, Math.min(b.total, MAX_ARG))
          this.value(String.fromCharCode(...body))
        }
        continue
      }
      const c = chunk[i++]!
      this.bytes++
      if (c !== 0x0a) {
        if (this.line.length >= MAX_LINE) return this.fail('line too long')
        this.line.push(c)
        continue
      }
      if (this.line[this.line.length - 1] === 0x0d) this.line.pop()
      const line = this.line
      this.line = []
      this.header(line)
    }
  }

  private header(line: number[]): void {
    if (line.length === 0) {
      if (this.stack.length === 0) this.bytes = 0 // blank line between inline commands
      return
    }
    const rest = String.fromCharCode(...line.slice(1))
    switch (line[0]) {
      case 0x2b: // + simple string
        return this.value(rest)
      case 0x2d: // - error
        return this.value({ error: rest })
      case 0x3a: // : integer
        return this.value(/^-?\d+$/.test(rest) ? Number(rest) : rest)
      case 0x2c: // , double
        return this.value(Number(rest))
      case 0x28: // ( big number
        return this.value(/^-?\d+$/.test(rest) ? BigInt(rest) : rest)
      case 0x23: // # boolean
        return this.value(rest === 't')
      case 0x5f: // _ null
        return this.value(null)
      case 0x24: // $ bulk string
      case 0x3d: // = verbatim string
      case 0x21: {
        // ! bulk error
        const n = Number(rest)
        if (!Number.isInteger(n) || n < -1 || n > 512 * 1024 * 1024) return this.fail(`bad bulk length ${rest}`)
        if (n === -1) return this.value(null)
        this.bulk = { remaining: n + 2, kept: [], total: n }
        return
      }
      case 0x2a: // * array
      case 0x25: // % map
      case 0x7e: // ~ set
      case 0x3e: {
        // > push
        const n = Number(rest)
        if (!Number.isInteger(n) || n < -1 || n > 1 << 24) return this.fail(`bad aggregate length ${rest}`)
        if (n === -1) return this.value(null)
        const count = line[0] === 0x25 ? 2 * n : n
        if (count === 0) return this.value([])
        if (this.stack.length >= MAX_DEPTH) return this.fail('nesting too deep')
        const kind = line[0] === 0x25 ? 'map' : line[0] === 0x7e ? 'set' : line[0] === 0x3e ? 'push' : 'array'
        this.stack.push({ items: [], remaining: count, kind })
        return
      }
      default:
        if (this.stack.length > 0) return this.fail('inline data inside an aggregate')
        // An inline command: words separated by spaces.
        return this.emit(
          String.fromCharCode(...line)
            .split(' ')
            .filter((w) => w.length > 0),
          true,
        )
    }
  }

  private value(v: RespValue): void {
    for (;;) {
      const top = this.stack[this.stack.length - 1]
      if (!top) return this.emit(v, false)
      if (top.items.length < MAX_ITEMS) top.items.push(v)
      if (--top.remaining > 0) return
      this.stack.pop()
      v = top.items
    }
  }

  private emit(v: RespValue, inline: boolean): void {
    const bytes = this.bytes
    this.bytes = 0
    this.onValue(v, bytes, inline)
  }

  private fail(why: string): void {
    this.failed = why
  }

  /** Stops here (a gap): the top-level array being decoded, as far as it got. */
  stop(why: string): RespValue[] | undefined {
    this.failed ??= why
    const top = this.stack[0]
    this.stack = []
    this.bulk = undefined
    return top?.items
  }
}

interface Pending {
  gap: boolean
  command: string
  args: string[]
  argCount: number
  requestBytes: number
  requestNs: bigint
  inline: boolean
}

function unknown(ts: bigint): Pending {
  return { gap: true, command: '', args: [], argCount: 0, requestBytes: 0, requestNs: ts, inline: false }
}

function toText(v: RespValue): string {
  return typeof v === 'string' ? v : typeof v === 'object' && v !== null && !Array.isArray(v) ? v.error : String(v)
}

/** A Redis plugin for TCP flows on these ports (either endpoint). */
export function redisOn(ports: number[]) {
  return defineStreamParser<RedisCommand>({
    name: 'redis',
    match: {
      ports,
    },
    create() {
      const pending: Pending[] = []
      const out: RedisCommand[] = []
      let now = 0n
      let gapped = false
      const done = (p: Pending, reply: RespValue | undefined, replyBytes: number, replyNs: bigint | null, gap: boolean) => {
        const error = reply !== null && typeof reply === 'object' && !Array.isArray(reply) ? reply.error : null
        out.push({ ...p, reply, error, replyBytes, replyNs, gap: p.gap || gap })
      }
      const request = (v: RespValue, bytes: number, inline: boolean, gap: boolean) => {
        const words = Array.isArray(v) ? v : [v]
        if (words.length === 0) return
        const p: Pending = {
          gap,
          command: toText(words[0]!).toUpperCase(),
          args: words.slice(1).map(toText),
          argCount: Array.isArray(v) ? words.length - 1 : 0,
          requestBytes: bytes,
          requestNs: now,
          inline,
        }
        if (pending.length >= MAX_PENDING) done(pending.shift()!, undefined, 0, null, gapped)
        pending.push(p)
      }
      const requests = new RespDecoder((v, bytes, inline) => request(v, bytes, inline, false))
      const replies = new RespDecoder((v, bytes) => {
        const p = pending.shift()
        if (p) done(p, v, bytes, now, gapped)
        // A reply to a command lost in a gap: the command is unknown ('').
        // Otherwise a reply nobody asked for is a pushed message (pub/sub).
        else if (requests.failed) done(unknown(now), v, bytes, now, true)
      })
      const flush = () => out.splice(0, out.length)
      return {
        onData(dir: Direction, chunk: Uint8Array, info: ChunkInfo) {
          now = info.tsNs
          ;(dir === 'orig' ? requests : replies).push(chunk)
          return flush()
        },
        onGap(dir: Direction, length: number) {
          // RESP cannot be resynchronized: that side is over. A command cut
          // by the gap is kept, marked, to pair with its reply.
          gapped = true
          if (dir === 'orig') {
            const part = requests.stop('gap')
            if (part && part.length > 0) request(part, length, false, true)
          } else {
            replies.stop('gap')
          }
          return flush()
        },
        onEnd() {
          for (const p of pending.splice(0)) done(p, undefined, 0, null, gapped)
          return flush()
        },
      }
    },
  })
}

/** The Redis plugin for the standard port, 6379. */
export const redis = redisOn([6379])
