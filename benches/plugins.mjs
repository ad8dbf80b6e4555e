// The plugin benchmark (issue: session parser plugins in TypeScript): MB/s
// of reassembled stream delivered into plugins, against the core alone and
// against the built-in Rust parsers, on the same files, in one run.
//
//   node benches/plugins.mjs --mixed FILE --core PATH [--runs R] [--copies K]
//
// (benches/run.mjs --suite plugins passes --mixed and --core.) Inputs:
// * the mixed capture of the other suites (HTTP, DNS, TLS, FTP, … from real
//   captures of the shared corpus);
// * a Redis capture: examples/plugins/redis.pcap (redis-cli against
//   redis-server) replicated K times (default 1000), each copy's client
//   address rewritten to its own 10.x.y.z and its times shifted 100 ms.
// Contenders, each run R times (default 5) in turn, median and spread:
// core_bench --mode plugin|sessions (Rust alone: parse, flows, reassembly,
// pieces copied out; or the built-in parsers), and benches/ts_plugins.mjs
// builtin|trivial|redis (flowtap from dist/, one child process per run).
// Writes benches/results/plugins.{json,md}.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '..')
const rel = (p) => path.relative(root, p)

function parse(argv) {
  const o = { runs: 5, copies: 1000, mixed: null, core: null }
  for (let i = 0; i < argv.length; i++) {
    const v = () => argv[++i]
    switch (argv[i]) {
      case '--runs': o.runs = Number(v()); break
      case '--copies': o.copies = Number(v()); break
      case '--mixed': o.mixed = v(); break
      case '--core': o.core = v(); break
      default: throw new Error(`unknown argument ${argv[i]}`)
    }
  }
  if (!o.mixed || !o.core) throw new Error('--mixed FILE and --core PATH are required')
  return o
}

/** examples/plugins/redis.pcap replicated `copies` times (see the header). */
function redisCapture(copies) {
  const file = path.join(here, 'data', `redis-x${copies}.pcap`)
  if (fs.existsSync(file)) return file
  const src = fs.readFileSync(path.join(root, 'examples', 'plugins', 'redis.pcap'))
  const nano = src.readUInt32LE(0) === 0xa1b23c4d
  const recs = []
  for (let at = 24; at + 16 <= src.length; ) {
    const incl = src.readUInt32LE(at + 8)
    recs.push([at, incl])
    at += 16 + incl
  }
  const out = fs.openSync(file, 'w')
  fs.writeSync(out, src.subarray(0, 24))
  for (let k = 0; k < copies; k++) {
    const parts = []
    for (const [at, incl] of recs) {
      const rec = Buffer.from(src.subarray(at, at + 16 + incl))
      const f = rec.subarray(16)
      // Shift time by k × 100 ms.
      const shift = k * 100_000_000
      const unit = nano ? 1e9 : 1e6
      const sub = rec.readUInt32LE(4) + (nano ? shift : shift / 1000)
      rec.writeUInt32LE(rec.readUInt32LE(0) + Math.floor(sub / unit), 0)
      rec.writeUInt32LE(sub % unit, 4)
      // Ethernet, IPv4, TCP: the client (the port that is not 16379) gets 10.k.
      const ihl = (f[14] & 0x0f) * 4
      const sport = f.readUInt16BE(14 + ihl)
      const client = sport === 16379 ? 30 : 26
      f[client] = 10
      f[client + 1] = (k >> 16) & 255
      f[client + 2] = (k >> 8) & 255
      f[client + 3] = k & 255
      parts.push(rec)
    }
    fs.writeSync(out, Buffer.concat(parts))
  }
  fs.closeSync(out)
  return file
}

function runOnce(c) {
  const t0 = process.hrtime.bigint()
  const r = spawnSync(c.cmd[0], c.cmd.slice(1), { cwd: root, encoding: 'utf8', maxBuffer: 16 << 20 })
  const wall = Number(process.hrtime.bigint() - t0) / 1e9
  if (r.status !== 0) throw new Error(`${c.id}: exit ${r.status ?? r.signal}: ${(r.stderr || '').slice(-400)}`)
  const j = JSON.parse(r.stdout.trim().split('\n').pop())
  return { seconds: j.seconds, wall, bytes: c.bytes(j), messages: j.messages ?? j.sessions ?? 0, hwmKb: j.hwmKb ?? null, j }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

function main() {
  const o = parse(process.argv.slice(2))
  fs.mkdirSync(path.join(here, 'data'), { recursive: true })
  const redis = redisCapture(o.copies)
  const node = process.execPath
  const tsx = ['--import', 'tsx']
  const ts = (mode, file) => [node, ...(mode === 'redis' ? tsx : []), path.join(here, 'ts_plugins.mjs'), mode, file]
  const plugin = (j) => j.pluginBytes
  const stream = (j) => j.streamBytes
  const contenders = [
    { id: 'core-plugin', input: 'mixed', what: 'Rust core: flows + reassembly, every TCP flow to one plugin (pieces copied out)', cmd: [o.core, '--mode', 'plugin', o.mixed], bytes: plugin },
    { id: 'core-sessions', input: 'mixed', what: 'Rust core: built-in HTTP/DNS/TLS parsers', cmd: [o.core, '--mode', 'sessions', o.mixed], bytes: stream },
    { id: 'ts-builtin', input: 'mixed', what: 'TS sessions(): built-in HTTP/DNS/TLS parsers, records to JS', cmd: ts('builtin', o.mixed), bytes: stream },
    { id: 'ts-trivial', input: 'mixed', what: 'TS sessions(): a plugin counting bytes, every TCP flow', cmd: ts('trivial', o.mixed), bytes: plugin },
    { id: 'core-plugin-redis', input: 'redis', what: 'Rust core: every TCP flow to one plugin', cmd: [o.core, '--mode', 'plugin', redis], bytes: plugin },
    { id: 'ts-trivial-redis', input: 'redis', what: 'TS sessions(): a plugin counting bytes', cmd: ts('trivial', redis), bytes: plugin },
    { id: 'ts-redis', input: 'redis', what: 'TS sessions(): the Redis example plugin (RESP decode, command/reply pairing)', cmd: ts('redis', redis), bytes: plugin },
  ]
  const runs = Object.fromEntries(contenders.map((c) => [c.id, []]))
  for (let r = 0; r < o.runs; r++) {
    for (const c of contenders) {
      const x = runOnce(c)
      runs[c.id].push(x)
      console.log(`run ${r + 1}/${o.runs} ${c.id.padEnd(18)} ${x.seconds.toFixed(3)} s  ${(x.bytes / x.seconds / 1e6).toFixed(0)} MB/s`)
    }
  }
  const rows = contenders.map((c) => {
    const xs = runs[c.id]
    const secs = xs.map((x) => x.seconds)
    const med = median(secs)
    const bytes = xs[0].bytes
    return {
      id: c.id,
      input: c.input,
      what: c.what,
      runs: xs.length,
      seconds: med,
      minSeconds: Math.min(...secs),
      maxSeconds: Math.max(...secs),
      streamBytes: bytes,
      mbPerSec: bytes / med / 1e6,
      messages: xs[0].messages,
      messagesPerSec: xs[0].messages / med,
      hwmKb: xs[0].hwmKb,
    }
  })
  const by = Object.fromEntries(rows.map((r) => [r.id, r]))
  const ratios = {
    trivialVsCore: by['ts-trivial'].mbPerSec / by['core-plugin'].mbPerSec,
    trivialVsBuiltin: by['ts-trivial'].mbPerSec / by['ts-builtin'].mbPerSec,
    trivialVsCoreSessions: by['ts-trivial'].mbPerSec / by['core-sessions'].mbPerSec,
    redisVsTrivial: by['ts-redis'].mbPerSec / by['ts-trivial-redis'].mbPerSec,
    trivialRedisVsCore: by['ts-trivial-redis'].mbPerSec / by['core-plugin-redis'].mbPerSec,
  }
  const machine = { cpus: os.cpus().length, model: os.cpus()[0]?.model, memGb: Math.round(os.totalmem() / 2 ** 30), node: process.version, kernel: os.release() }
  const result = { suite: 'plugins', date: new Date().toISOString(), machine, inputs: { mixed: rel(o.mixed), redis: rel(redis), copies: o.copies }, rows, ratios, goal: { trivialMbPerSec: 500 } }
  const resDir = path.join(here, 'results')
  fs.mkdirSync(resDir, { recursive: true })
  fs.writeFileSync(path.join(resDir, 'plugins.json'), JSON.stringify(result, null, 2) + '\n')
  const md = []
  md.push(`### Plugins: stream delivered into TypeScript parsers`)
  md.push('')
  md.push(`\`node benches/run.mjs --suite plugins --runs ${o.runs}\` on ${machine.cpus} × ${machine.model}, ${machine.memGb} GB, Node ${machine.node}; median of ${o.runs} runs (spread min–max). MB/s = 10^6 bytes of reassembled TCP payload per second (the plugin's bytes, or what the built-in parsers were fed).`)
  md.push('')
  md.push('| contender | input | median s (min–max) | stream MB/s | messages/s | peak RSS MB |')
  md.push('|---|---|---|---|---|---|')
  for (const r of rows) {
    md.push(`| ${r.what} (\`${r.id}\`) | ${r.input} | ${r.seconds.toFixed(2)} (${r.minSeconds.toFixed(2)}–${r.maxSeconds.toFixed(2)}) | ${r.mbPerSec.toFixed(0)} | ${r.messages ? Math.round(r.messagesPerSec).toLocaleString('en-US') : '–'} | ${r.hwmKb ? (r.hwmKb / 1024).toFixed(0) : '–'} |`)
  }
  md.push('')
  md.push(`Ratios: trivial plugin ÷ core alone ${ratios.trivialVsCore.toFixed(2)} (mixed), ${ratios.trivialRedisVsCore.toFixed(2)} (Redis); trivial plugin ÷ built-in parsers through TS ${ratios.trivialVsBuiltin.toFixed(2)}, ÷ built-in parsers in Rust alone ${ratios.trivialVsCoreSessions.toFixed(2)}; Redis plugin ÷ trivial plugin ${ratios.redisVsTrivial.toFixed(2)}. Goal: ≥ 500 MB/s into a trivial plugin.`)
  md.push('')
  md.push(`Inputs: mixed = \`${rel(o.mixed)}\`; Redis = \`${rel(redis)}\` (${o.copies} copies of examples/plugins/redis.pcap).`)
  fs.writeFileSync(path.join(resDir, 'plugins.md'), md.join('\n') + '\n')
  console.log('\n' + md.join('\n'))
}

main()
