/**
 * The `flowtap` command line.
 *
 *   flowtap stats FILE [--json]      totals of a capture
 *   flowtap packets FILE [--limit N] one JSON object per packet (NDJSON)
 *   flowtap flows FILE               one Zeek conn.log-style JSON object per flow
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
import { openPcap, type CaptureStats } from './source.js'

const USAGE = `usage:
  flowtap stats FILE [--json]       packets, bytes, link types, protocols, time range, malformed count
  flowtap packets FILE [--limit N]  one JSON object per packet per line (NDJSON)
  flowtap flows FILE                one JSON object per finished flow, Zeek conn.log fields, in start order
  flowtap --help | --version`

class UsageError extends Error {}

interface Args {
  command: string
  file: string
  json: boolean
  limit: number | undefined
}

function parseArgs(argv: string[]): Args {
  const positional: string[] = []
  let json = false
  let limit: number | undefined
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '--json') json = true
    else if (a === '--limit' || a.startsWith('--limit=')) {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i]
      const n = Number(v)
      if (v === undefined || !Number.isInteger(n) || n < 0) throw new UsageError(`--limit takes a whole number, got ${v ?? 'nothing'}`)
      limit = n
    } else if (a.startsWith('-') && a !== '-') throw new UsageError(`unknown option ${a}`)
    else positional.push(a)
  }
  const [command, file, ...rest] = positional
  if (!command) throw new UsageError('missing command')
  if (command !== 'stats' && command !== 'packets' && command !== 'flows') throw new UsageError(`unknown command ${command}`)
  if (!file) throw new UsageError(`${command}: missing FILE`)
  if (rest.length) throw new UsageError(`unexpected argument ${rest[0]}`)
  if (json && command !== 'stats') throw new UsageError('--json goes with stats (packets always prints JSON)')
  if (limit !== undefined && command !== 'packets') throw new UsageError('--limit goes with packets')
  return { command, file, json, limit }
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
  const src = openPcap(a.file, { keepBytes: false })
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

async function runPackets(a: Args): Promise<number> {
  const limit = a.limit ?? Infinity
  if (limit === 0) return 0
  const src = openPcap(a.file)
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

const PROTO: Record<number, string> = { 6: 'tcp', 17: 'udp', 1: 'icmp', 58: 'icmp' }

function seconds(ns: bigint): number {
  return Number(ns / 1000n) / 1e6
}

/** A finished flow with the field names of Zeek's conn.log JSON. */
function connLog(f: FlowEnd): Record<string, unknown> {
  return {
    ts: seconds(f.startNs),
    uid: f.uid,
    'id.orig_h': f.orig.addr,
    'id.orig_p': f.orig.port,
    'id.resp_h': f.resp.addr,
    'id.resp_p': f.resp.port,
    proto: PROTO[f.proto] ?? String(f.proto),
    service: '',
    duration: seconds(f.durationNs),
    orig_bytes: f.origBytes,
    resp_bytes: f.respBytes,
    conn_state: f.connState,
    history: f.history,
    orig_pkts: f.origStats.packets,
    orig_ip_bytes: f.origStats.ipBytes,
    resp_pkts: f.respStats.packets,
    resp_ip_bytes: f.respStats.ipBytes,
    community_id: f.communityId,
    end_reason: f.reason,
  }
}

async function runFlows(a: Args): Promise<number> {
  // Flows end in any order; they are printed in the order they started,
  // holding a finished flow until every flow that started before it ended.
  const order = new Map<string, number>()
  const done = new Map<number, FlowEnd>()
  let started = 0
  let next = 0
  try {
    for await (const events of openPcap(a.file).flowBatches()) {
      for (const ev of events) {
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
    if (!(e instanceof FlowtapError)) throw e
    process.stderr.write(`flowtap: ${a.file}: ${e.message} [${e.code}]\n`)
    return 1
  }
  return 0
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
