/**
 * The `flowtap` command line.
 *
 *   flowtap stats FILE [--json]      totals of a capture
 *   flowtap packets FILE [--limit N] one JSON object per packet (NDJSON)
 *   flowtap flows FILE               one Zeek conn.log-style JSON object per flow
 *   flowtap sessions FILE            one Zeek http/dns/ssl.log-style JSON object per session
 *   flowtap follow FILE --flow A-B --direction orig|resp
 *                                    the reassembled bytes of one side of a TCP flow
 *   flowtap capture -i IFACE [-f FILTER] [-w OUT.pcapng] [--packets|--flows|--sessions]
 *                   [--duration S|--count N] [--workers N]
 *                                    the same NDJSON from a live interface (Linux)
 *   flowtap replay FILE -i IFACE [--speed X|--top]
 *                                    send a capture's packets onto an interface (Linux)
 *
 * Exit codes: 0 success, 1 the capture is damaged or unreadable (what was
 * read before the damage is still printed), 2 usage error.
 *
 * @module
 * @internal
 */
import { statSync } from 'node:fs'
import { FlowtapError, InvalidArgumentError } from './errors.js'
import type { FlowEnd } from './flows.js'
import { replay } from './inject.js'
import { capture, type LiveSource } from './live.js'
import { openPcap, type CaptureStats, type PacketSource } from './source.js'
import { connLog, ZeekLogs } from './zeek.js'

const USAGE = `usage:
  flowtap stats FILE [--json]       packets, bytes, link types, protocols, time range, malformed count
  flowtap packets FILE [--limit N]  one JSON object per packet per line (NDJSON)
  flowtap flows FILE                one JSON object per finished flow, Zeek conn.log fields, in start order
  flowtap sessions FILE             one JSON object per HTTP/DNS transaction and TLS session ("log": http|dns|ssl),
                                    Zeek's http.log/dns.log/ssl.log fields
  flowtap follow FILE --flow ADDR:PORT-ADDR:PORT --direction orig|resp
                                    the reassembled bytes one side of a TCP flow sent, raw, to stdout
                                    (IPv6 in brackets: [fd00::1]:80; either endpoint first; gaps skipped,
                                    counted on stderr)
  flowtap capture -i IFACE [-f FILTER] [-w OUT.pcapng] [--packets|--flows|--sessions]
                  [--duration S | --count N] [--workers N]
                                    live capture (Linux, CAP_NET_RAW): packets (default), flows or sessions
                                    as NDJSON, like the file commands; -f takes tcpdump filter syntax;
                                    -w records what was captured; stops after S seconds, N packets or
                                    Ctrl-C (open flows are then ended and printed); a status line
                                    (rate, drops) on stderr when it is a terminal
  flowtap replay FILE -i IFACE [--speed X | --top]
                                    send the capture's Ethernet frames onto IFACE (Linux, CAP_NET_RAW) at the
                                    original pace, X times faster, or as fast as possible; a summary on stderr
  Every command takes -f FILTER (tcpdump syntax, e.g. -f 'tcp port 80'): only matching packets count.
  flowtap --help | --version`

class UsageError extends Error {}

interface Args {
  command: string
  /** The capture file, or the interface for `capture`. */
  file: string
  json: boolean
  limit: number | undefined
  flow: [Endpoint, Endpoint] | undefined
  direction: 'orig' | 'resp' | undefined
  live: LiveArgs
}

interface LiveArgs {
  iface?: string
  filter?: string
  write?: string
  mode: 'packets' | 'flows' | 'sessions'
  durationS?: number
  count?: number
  workers?: number
  speed?: number
  top?: boolean
}

interface Endpoint {
  addr: string
  port: number
}

const COMMANDS = ['stats', 'packets', 'flows', 'sessions', 'follow', 'capture', 'replay']

/** `1.2.3.4:80` or `[fd00::1]:80`. */
function parseEndpoint(s: string): Endpoint {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(s) ?? /^([0-9.]+):(\d+)$/.exec(s)
  const port = m ? Number(m[2]) : NaN
  if (!m || port > 65535) throw new UsageError(`--flow: bad endpoint ${s} (ADDR:PORT, IPv6 as [ADDR]:PORT)`)
  return { addr: m[1]!.toLowerCase(), port }
}

function parseFlow(v: string | undefined): [Endpoint, Endpoint] {
  if (!v) throw new UsageError('--flow takes SRC:PORT-DST:PORT')
  // The separator is the dash after a port: `a:1-b:2`, `[::1]:1-[::2]:2`.
  const m = /^(.+?:\d+)-(.+:\d+)$/.exec(v)
  if (!m) throw new UsageError(`--flow takes SRC:PORT-DST:PORT, got ${v}`)
  return [parseEndpoint(m[1]!), parseEndpoint(m[2]!)]
}

function parseArgs(argv: string[]): Args {
  const positional: string[] = []
  let json = false
  let limit: number | undefined
  let flow: [Endpoint, Endpoint] | undefined
  let direction: 'orig' | 'resp' | undefined
  const live: LiveArgs = { mode: 'packets' }
  let liveUsed = false
  const value = (a: string, i: number): [string | undefined, number] =>
    a.startsWith('--') && a.includes('=') ? [a.slice(a.indexOf('=') + 1), i] : [argv[i + 1], i + 1]
  const positiveNumber = (name: string, v: string | undefined, integer: boolean): number => {
    const n = Number(v)
    if (v === undefined || !(n > 0) || (integer && !Number.isInteger(n))) {
      throw new UsageError(`${name} takes a positive ${integer ? 'whole ' : ''}number, got ${v ?? 'nothing'}`)
    }
    return n
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    const liveOpt = (name: string, ...alts: string[]): boolean => [name, ...alts].includes(a) || a.startsWith(`${name}=`)
    if (liveOpt('--interface', '-i')) {
      const [v, j] = value(a, i)
      i = j
      if (!v) throw new UsageError('-i takes an interface name')
      live.iface = v
      liveUsed = true
    } else if (liveOpt('--filter', '-f')) {
      const [v, j] = value(a, i)
      i = j
      if (v === undefined) throw new UsageError('-f takes a filter expression')
      live.filter = v
    } else if (liveOpt('--write', '-w')) {
      const [v, j] = value(a, i)
      i = j
      if (!v) throw new UsageError('-w takes a file path')
      live.write = v
      liveUsed = true
    } else if (a === '--packets' || a === '--flows' || a === '--sessions') {
      live.mode = a.slice(2) as LiveArgs['mode']
      liveUsed = true
    } else if (liveOpt('--duration')) {
      const [v, j] = value(a, i)
      i = j
      live.durationS = positiveNumber('--duration', v, false)
      liveUsed = true
    } else if (liveOpt('--count')) {
      const [v, j] = value(a, i)
      i = j
      live.count = positiveNumber('--count', v, true)
      liveUsed = true
    } else if (liveOpt('--workers')) {
      const [v, j] = value(a, i)
      i = j
      live.workers = positiveNumber('--workers', v, true)
      liveUsed = true
    } else if (liveOpt('--speed')) {
      const [v, j] = value(a, i)
      i = j
      live.speed = positiveNumber('--speed', v, false)
    } else if (a === '--top') live.top = true
    else if (a === '--json') json = true
    else if (a === '--limit' || a.startsWith('--limit=')) {
      const [v, j] = value(a, i)
      i = j
      const n = Number(v)
      if (v === undefined || !Number.isInteger(n) || n < 0) throw new UsageError(`--limit takes a whole number, got ${v ?? 'nothing'}`)
      limit = n
    } else if (a === '--flow' || a.startsWith('--flow=')) {
      const [v, j] = value(a, i)
      i = j
      flow = parseFlow(v)
    } else if (a === '--direction' || a.startsWith('--direction=')) {
      const [v, j] = value(a, i)
      i = j
      if (v !== 'orig' && v !== 'resp') throw new UsageError(`--direction takes orig or resp, got ${v ?? 'nothing'}`)
      direction = v
    } else if (a.startsWith('-') && a !== '-') throw new UsageError(`unknown option ${a}`)
    else positional.push(a)
  }
  const [command, ...more] = positional
  if (!command) throw new UsageError('missing command')
  if (!COMMANDS.includes(command)) throw new UsageError(`unknown command ${command}`)
  if (command === 'capture') {
    if (!live.iface) throw new UsageError('capture needs -i IFACE')
    if (more.length) throw new UsageError(`unexpected argument ${more[0]}`)
    if (live.durationS !== undefined && live.count !== undefined) throw new UsageError('give --duration or --count, not both')
    if (json || limit !== undefined || flow || direction) throw new UsageError('capture takes -i, -f, -w, --packets/--flows/--sessions, --duration, --count, --workers')
    return { command, file: live.iface, json, limit, flow, direction, live }
  }
  if (command === 'replay') {
    const [file, ...rest] = more
    if (!file) throw new UsageError('replay: missing FILE')
    if (rest.length) throw new UsageError(`unexpected argument ${rest[0]}`)
    if (!live.iface) throw new UsageError('replay needs -i IFACE')
    if (live.speed !== undefined && live.top) throw new UsageError('give --speed or --top, not both')
    return { command, file, json, limit, flow, direction, live }
  }
  if (live.speed !== undefined || live.top) throw new UsageError('--speed and --top go with replay')
  if (liveUsed) throw new UsageError(`-i, -w, --packets, --flows, --sessions, --duration, --count and --workers go with capture`)
  const [file, ...rest] = more
  if (!file) throw new UsageError(`${command}: missing FILE`)
  if (rest.length) throw new UsageError(`unexpected argument ${rest[0]}`)
  if (json && command !== 'stats') throw new UsageError('--json goes with stats (the other commands always print JSON)')
  if (limit !== undefined && command !== 'packets') throw new UsageError('--limit goes with packets')
  if ((flow || direction) && command !== 'follow') throw new UsageError('--flow and --direction go with follow')
  if (command === 'follow' && (!flow || !direction)) throw new UsageError('follow needs --flow and --direction')
  return { command, file, json, limit, flow, direction, live }
}

/** A one-line progress bar on stderr, for large files on a terminal. */
class Progress {
  private last = 0
  private shown = false
  constructor(private readonly total: number) {}

  static forFile(path: string): Progress | undefined {
    if (!process.stderr.isTTY) return undefined
    try {
      const size = statSync(path).size
      return size >= 32 << 20 ? new Progress(size) : undefined
    } catch {
      return undefined
    }
  }

  update(position: number, packets: number): void {
    const now = Date.now()
    if (now - this.last < 100) return
    this.last = now
    this.shown = true
    const frac = Math.min(1, position / this.total)
    const width = 30
    const filled = Math.round(frac * width)
    process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}%  ${packets} packets`)
  }

  done(): void {
    if (this.shown) process.stderr.write('\r\x1b[K')
  }
}

function nsToDecimal(ns: bigint | undefined): string | null {
  if (ns === undefined) return null
  return `${ns / 1_000_000_000n}.${(ns % 1_000_000_000n).toString().padStart(9, '0')}`
}

function nsToIso(ns: bigint | undefined): string {
  if (ns === undefined) return '-'
  const ms = Number(ns / 1_000_000n)
  return new Date(ms).toISOString().replace(/\.\d+Z$/, `.${(ns % 1_000_000_000n).toString().padStart(9, '0')}Z`)
}

function statsJson(file: string, s: CaptureStats, error?: FlowtapError): Record<string, unknown> {
  const out: Record<string, unknown> = {
    file,
    format: s.format ?? null,
    packets: s.packets,
    bytes: s.bytes,
    wireBytes: s.wireBytes,
    linkTypes: s.linkTypes,
    protocols: s.protocols,
    fragments: s.fragments,
    firstTs: nsToDecimal(s.firstTimestampNs),
    lastTs: nsToDecimal(s.lastTimestampNs),
    malformed: s.malformed,
    truncated: s.truncated,
  }
  if (error) {
    out.error = { code: error.code, message: error.message, offset: (error as { offset?: number }).offset ?? null }
  }
  return out
}

function statsText(file: string, s: CaptureStats): string {
  const p = s.protocols
  const lines = [
    `file:        ${file}${s.format ? ` (${s.format})` : ''}`,
    `packets:     ${s.packets}`,
    `bytes:       ${s.bytes} captured, ${s.wireBytes} on the wire`,
    `link types:  ${s.linkTypes.map((l) => `${l.name} (${l.linkType}): ${l.packets}`).join(', ') || '-'}`,
    `protocols:   ipv4 ${p.ipv4}, ipv6 ${p.ipv6}, arp ${p.arp}, tcp ${p.tcp}, udp ${p.udp}, icmp ${p.icmp}, other ${p.other}`,
    `fragments:   ${s.fragments}`,
    `first:       ${nsToIso(s.firstTimestampNs)}`,
    `last:        ${nsToIso(s.lastTimestampNs)}`,
    `malformed:   ${s.malformed}`,
    `truncated:   ${s.truncated}`,
  ]
  return lines.join('\n') + '\n'
}

async function write(chunk: string): Promise<void> {
  if (!process.stdout.write(chunk)) await new Promise<void>((r) => process.stdout.once('drain', () => r()))
}

async function runStats(a: Args): Promise<number> {
  const src = openPcap(a.file, { keepBytes: false, filter: a.live.filter })
  const progress = Progress.forFile(a.file)
  let error: FlowtapError | undefined
  try {
    // The totals accumulate in Rust; the loop only drives the reading.
    for await (const _ of src.packetBatches()) {
      if (progress) {
        const s = src.stats()
        progress.update(s.position, s.packets)
      }
    }
  } catch (e) {
    if (!(e instanceof FlowtapError)) throw e
    error = e
  } finally {
    progress?.done()
  }
  const s = src.stats()
  if (a.json) await write(JSON.stringify(statsJson(a.file, s, error)) + '\n')
  else await write(statsText(a.file, s))
  if (error) {
    process.stderr.write(`flowtap: ${a.file}: ${error.message} [${error.code}]\n`)
    return 1
  }
  return 0
}

async function runPackets(a: Args, src: PacketSource = openPcap(a.file, { filter: a.live.filter })): Promise<number> {
  const limit = a.limit ?? Infinity
  if (limit === 0) return 0
  let n = 0
  try {
    for await (const b of src.packetBatches()) {
      let out = ''
      for (let i = 0; i < b.length && n < limit; i++, n++) out += JSON.stringify(b.get(i).toJSON()) + '\n'
      await write(out)
      if (n >= limit) break
    }
  } catch (e) {
    if (!(e instanceof FlowtapError)) throw e
    process.stderr.write(`flowtap: ${a.file}: ${e.message} [${e.code}]\n`)
    return 1
  }
  return 0
}

/** Report a damaged capture after printing what was read before it. */
function damaged(a: Args, e: unknown): number {
  if (!(e instanceof FlowtapError)) throw e
  process.stderr.write(`flowtap: ${a.file}: ${e.message} [${e.code}]\n`)
  return 1
}

async function runFlows(a: Args, src: PacketSource = openPcap(a.file, { filter: a.live.filter })): Promise<number> {
  // Flows end in any order; they are printed in the order they started,
  // holding a finished flow until every flow that started before it ended.
  // Sessions are parsed (and dropped) so that `service` is filled.
  const order = new Map<string, number>()
  const done = new Map<number, FlowEnd>()
  let started = 0
  let next = 0
  try {
    for await (const { flows } of src.analysisBatches()) {
      for (const ev of flows) {
        if (ev.type === 'flow.start') {
          order.set(ev.uid, started++)
          continue
        }
        const at = order.get(ev.uid)
        order.delete(ev.uid)
        if (at !== undefined) done.set(at, ev)
      }
      let out = ''
      for (let f = done.get(next); f; f = done.get(next)) {
        done.delete(next++)
        out += JSON.stringify(connLog(f)) + '\n'
      }
      if (out) await write(out)
    }
  } catch (e) {
    return damaged(a, e)
  }
  return 0
}

async function runSessions(a: Args, src: PacketSource = openPcap(a.file, { filter: a.live.filter })): Promise<number> {
  const logs = new ZeekLogs()
  try {
    for await (const batch of src.sessionBatches()) {
      let out = ''
      for (const s of batch) for (const line of logs.lines(s)) out += JSON.stringify(line) + '\n'
      if (out) await write(out)
    }
  } catch (e) {
    return damaged(a, e)
  }
  return 0
}

function sameEndpoint(x: { addr: string; port: number }, y: Endpoint): boolean {
  return x.port === y.port && x.addr.toLowerCase() === y.addr
}

async function runFollow(a: Args): Promise<number> {
  const [p, q] = a.flow!
  let uid: string | undefined
  let bytes = 0
  let gaps = 0
  let gapBytes = 0
  try {
    for await (const batch of openPcap(a.file, { filter: a.live.filter }).streamBatches()) {
      const out: Uint8Array[] = []
      for (const c of batch) {
        const f = c.flow
        if (uid === undefined) {
          const match = (sameEndpoint(f.orig, p) && sameEndpoint(f.resp, q)) || (sameEndpoint(f.orig, q) && sameEndpoint(f.resp, p))
          if (!match) continue
          // The first flow with these endpoints; a later reuse of the same
          // ports is another flow.
          uid = f.uid
        }
        if (f.uid !== uid || c.direction !== a.direction) continue
        if (c.type === 'stream.data') {
          out.push(c.bytes)
          bytes += c.bytes.length
        } else if (c.type === 'stream.gap') {
          gaps++
          gapBytes += c.length
        }
      }
      for (const chunk of out) if (!process.stdout.write(chunk)) await new Promise<void>((r) => process.stdout.once('drain', () => r()))
    }
  } catch (e) {
    return damaged(a, e)
  }
  if (uid === undefined) {
    process.stderr.write(`flowtap: ${a.file}: no TCP flow between ${fmt(p)} and ${fmt(q)}\n`)
    return 1
  }
  if (gaps > 0) process.stderr.write(`flowtap: ${uid} ${a.direction}: ${bytes} bytes written, ${gaps} gaps (${gapBytes} bytes) skipped\n`)
  return 0
}

/** A live status line on stderr: packets, rate, kernel drops. */
function statusLine(src: LiveSource): (s: CaptureStats) => void {
  let lastAt = Date.now()
  let lastPackets = 0
  return (s) => {
    const now = Date.now()
    const live = s.live
    const rate = ((s.packets - lastPackets) * 1000) / Math.max(1, now - lastAt)
    lastAt = now
    lastPackets = s.packets
    const workers = live && live.workers.length > 1 ? `, ${live.workers.length} workers` : ''
    process.stderr.write(
      `\r\x1b[K${src.iface}: ${s.packets} packets, ${Math.round(rate)} pkt/s, ${live?.kernelDrops ?? 0} dropped by the kernel${workers}`,
    )
  }
}

async function runCapture(a: Args): Promise<number> {
  const o = a.live
  const src = capture(o.iface!)
  if (o.filter !== undefined) src.filter(o.filter)
  if (o.write) src.record(o.write)
  if (o.workers) src.fanout(o.workers)
  if (o.mode === 'packets' && o.count !== undefined) a.limit = o.count
  const tty = process.stderr.isTTY === true
  if (tty) src.onStats(statusLine(src))
  if (o.count !== undefined && o.mode !== 'packets') {
    // Flows and sessions end when N packets have been captured.
    src.statsInterval(tty ? 1000 : 100)
    const n = o.count
    src.onStats((s) => {
      if (s.packets >= n) src.stop()
    })
  }
  let timer: NodeJS.Timeout | undefined
  void src.opened().then((opened) => {
    if (!opened) return
    // Like tcpdump's "listening on": from here on traffic is captured.
    process.stderr.write(`flowtap: capturing on ${src.iface}${o.filter ? ` (filter: ${o.filter})` : ''}\n`)
    if (o.durationS !== undefined) timer = setTimeout(() => src.stop(), o.durationS * 1000)
  })
  // Ctrl-C ends the capture gracefully (open flows are ended and printed);
  // a second one exits at once.
  let interrupted = false
  const onSigint = () => {
    if (interrupted) process.exit(130)
    interrupted = true
    src.stop()
  }
  process.on('SIGINT', onSigint)
  process.on('SIGTERM', onSigint)
  try {
    const code = o.mode === 'flows' ? await runFlows(a, src) : o.mode === 'sessions' ? await runSessions(a, src) : await runPackets(a, src)
    if (tty) process.stderr.write('\r\x1b[K')
    const live = src.stats().live
    if (live) {
      process.stderr.write(
        `flowtap: ${src.iface}: ${src.stats().packets} packets captured, ${live.received} received by the ring, ${live.kernelDrops} dropped by the kernel\n`,
      )
    }
    return code
  } finally {
    if (timer) clearTimeout(timer)
    process.off('SIGINT', onSigint)
    process.off('SIGTERM', onSigint)
    src.close()
  }
}

async function runReplay(a: Args): Promise<number> {
  const o = a.live
  const tty = process.stderr.isTTY === true
  const src = openPcap(a.file, { filter: o.filter })
  const controller = new AbortController()
  const onSigint = () => controller.abort()
  process.on('SIGINT', onSigint)
  try {
    const s = await replay(src, o.iface!, {
      speed: o.speed,
      top: o.top,
      signal: controller.signal,
      onProgress: tty
        ? (p) => process.stderr.write(`\r\x1b[K${o.iface}: ${p.packets} packets, ${Math.round((p.packets * 1000) / Math.max(1, p.elapsedMs))} pkt/s`)
        : undefined,
    })
    if (tty) process.stderr.write('\r\x1b[K')
    process.stderr.write(
      `flowtap: ${o.iface}: sent ${s.packets} packets (${s.bytes} bytes) in ${(s.elapsedMs / 1000).toFixed(3)} s; ` +
        `${s.skipped} skipped (not Ethernet), ${s.rejected} refused (larger than the MTU allows)\n`,
    )
    return 0
  } finally {
    process.off('SIGINT', onSigint)
  }
}

function fmt(e: Endpoint): string {
  return e.addr.includes(':') ? `[${e.addr}]:${e.port}` : `${e.addr}:${e.port}`
}

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h') || argv.length === 0) {
    process.stdout.write(USAGE + '\n')
    return argv.length === 0 ? 2 : 0
  }
  if (argv.includes('--version')) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    process.stdout.write(`${(require('../package.json') as { version: string }).version}\n`)
    return 0
  }
  let args: Args
  try {
    args = parseArgs(argv)
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`flowtap: ${e.message}\n${USAGE}\n`)
      return 2
    }
    throw e
  }
  try {
    if (args.command === 'stats') return await runStats(args)
    if (args.command === 'flows') return await runFlows(args)
    if (args.command === 'sessions') return await runSessions(args)
    if (args.command === 'follow') return await runFollow(args)
    if (args.command === 'capture') return await runCapture(args)
    if (args.command === 'replay') return await runReplay(args)
    return await runPackets(args)
  } catch (e) {
    if (e instanceof InvalidArgumentError) {
      process.stderr.write(`flowtap: ${e.message}\n`)
      return 2
    }
    if (e instanceof FlowtapError) {
      process.stderr.write(`flowtap: ${args.file}: ${e.message} [${e.code}]\n`)
      return 1
    }
    throw e
  }
}

// A closed pipe (`flowtap packets f | head`) is a normal way to stop.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0)
  throw e
})

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (e: unknown) => {
    process.stderr.write(`flowtap: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`)
    process.exitCode = 70
  },
)
