#!/usr/bin/env node
// Packet-throughput benchmark of flowtap against the machine's limit and
// node_pcap. See benches/README.md.
//
//   node benches/run.mjs [--packets N] [--runs R] [--seed S] [--format pcap|pcapng]
//                        [--corpus DIR] [--only a,b,...] [--no-build]
//
// 1. builds the Rust bench binaries (cargo build --release -p flowtap-bench),
// 2. generates the capture into benches/data/ (skipped when a capture with
//    the same parameters and generator version is already there),
// 3. installs node_pcap into benches/node_modules when it is missing,
// 4. runs every contender R times in one session, alternating the order,
// 5. prints a table and writes benches/results/packets.{json,md}.

import { execFileSync, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '..')
const rel = (p) => path.relative(root, p) || '.'

// ---------------------------------------------------------------- arguments

function parseArgs(argv) {
  const o = { packets: 2_000_000, runs: 5, seed: 1, format: 'pcap', corpus: null, only: null, build: true }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const [k, inline] = a.includes('=') ? a.split(/=(.*)/s) : [a, undefined]
    const val = () => {
      const v = inline ?? argv[++i]
      if (v === undefined) fail(`${k} needs a value`)
      return v
    }
    const int = (name) => {
      const v = Number(String(val()).replaceAll('_', ''))
      if (!Number.isInteger(v) || v < 1) fail(`${name} must be a positive integer`)
      return v
    }
    switch (k) {
      case '--packets': o.packets = int('--packets'); break
      case '--runs': o.runs = int('--runs'); break
      case '--seed': o.seed = Number(val()); break
      case '--format': o.format = val(); if (!['pcap', 'pcapng'].includes(o.format)) fail('--format must be pcap or pcapng'); break
      case '--corpus': o.corpus = path.resolve(val()); break
      case '--only': o.only = val().split(',').map((s) => s.trim()).filter(Boolean); break
      case '--no-build': o.build = false; break
      case '-h':
      case '--help':
        console.log('node benches/run.mjs [--packets N (2000000)] [--runs R (5)] [--seed S (1)] [--format pcap|pcapng] [--corpus DIR] [--only id,id] [--no-build]')
        console.log(`contender ids: ${CONTENDERS.map((c) => c.id).join(', ')}`)
        process.exit(0)
        break
      default: fail(`unknown argument ${a}`)
    }
  }
  return o
}

function fail(msg) {
  console.error(`run.mjs: ${msg}`)
  process.exit(1)
}

// --------------------------------------------------------------- contenders

const CONTENDERS = [
  {
    id: 'walk',
    label: 'walk (mmap, fixed offsets)',
    measures: 'The machine\'s limit: mmap the pcap, walk record headers, read the Ethernet/IPv4/IPv6/TCP/UDP 5-tuple at fixed offsets.',
    cmd: (b, file) => [b.walk, [file]],
  },
  {
    id: 'core_for_each',
    label: 'core for_each',
    measures: 'flowtap-core PacketSource::for_each: read (std::fs::File) + decode every packet, touch ports. Rust only.',
    cmd: (b, file) => [b.core, ['--mode', 'for_each', file]],
  },
  {
    id: 'core_batches',
    label: 'core batches',
    measures: 'flowtap-core PacketSource::next_batch, keep_bytes=true, default batch bounds: the work the Node binding does per batch, without JS.',
    cmd: (b, file) => [b.core, ['--mode', 'batches', file]],
  },
  {
    id: 'ts_batches',
    label: 'TS packetBatches()',
    measures: 'openPcap(file).packetBatches() from dist/: columnar batches crossing to JS, reading caplen/srcPort/dstPort columns.',
    cmd: (_b, file) => [process.execPath, [path.join(here, 'ts_batches.mjs'), file]],
    node: true,
  },
  {
    id: 'ts_packets',
    label: 'TS packets()',
    measures: 'openPcap(file).packets() from dist/: one Packet object per packet, reading caplen/srcPort/dstPort getters.',
    cmd: (_b, file) => [process.execPath, [path.join(here, 'ts_packets.mjs'), file]],
    node: true,
  },
  {
    id: 'node_pcap',
    label: 'node_pcap (pcap 3.1.0)',
    measures: "npm `pcap` (libpcap binding): createOfflineSession + pcap.decode.packet() per packet until 'complete', reading caplen and TCP/UDP ports.",
    cmd: (_b, file) => [process.execPath, [path.join(here, 'node_pcap.mjs'), file]],
    node: true,
  },
]

const RATIOS = [
  // The foundation issue's goals: (a) core ≥ 0.5 × walk, (c) TS batches ≥
  // 0.5 × (a), (b) TS packets ≥ 5 × node_pcap.
  { label: '(a) core for_each ÷ walk', num: 'core_for_each', den: 'walk' },
  { label: '(c) TS packetBatches ÷ core for_each', num: 'ts_batches', den: 'core_for_each' },
  { label: '(b) TS packets ÷ node_pcap', num: 'ts_packets', den: 'node_pcap' },
  { label: 'core batches ÷ walk', num: 'core_batches', den: 'walk' },
  { label: 'TS packetBatches ÷ core batches', num: 'ts_batches', den: 'core_batches' },
  { label: 'TS packetBatches ÷ node_pcap', num: 'ts_batches', den: 'node_pcap' },
]

// -------------------------------------------------------------------- steps

function sh(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts }).trim()
}

function build() {
  console.log('» cargo build --release -p flowtap-bench')
  const r = spawnSync('cargo', ['build', '--release', '-p', 'flowtap-bench'], { cwd: root, stdio: 'inherit' })
  if (r.status !== 0) fail('cargo build --release -p flowtap-bench failed')
}

function binaries() {
  const meta = JSON.parse(sh('cargo', ['metadata', '--format-version', '1', '--no-deps'], { maxBuffer: 64 << 20 }))
  const dir = path.join(meta.target_directory, 'release')
  const b = { gen: path.join(dir, 'gen_capture'), walk: path.join(dir, 'walk'), core: path.join(dir, 'core_bench') }
  for (const p of Object.values(b)) if (!fs.existsSync(p)) fail(`${p} missing; run without --no-build`)
  return b
}

function capture(b, o) {
  const dataDir = path.join(here, 'data')
  fs.mkdirSync(dataDir, { recursive: true })
  const file = path.join(dataDir, `mixed-${o.packets}-s${o.seed}.${o.format}`)
  const metaFile = `${file}.json`
  const version = Number(sh(b.gen, ['--version']))
  if (fs.existsSync(file) && fs.existsSync(metaFile)) {
    try {
      const m = JSON.parse(fs.readFileSync(metaFile, 'utf8'))
      if (m.version === version && m.packets === o.packets && m.seed === o.seed && m.format === o.format &&
          fs.statSync(file).size === m.fileBytes) {
        console.log(`» capture ${rel(file)} exists (${o.packets} packets, seed ${o.seed}); not regenerated`)
        return { file, meta: m }
      }
    } catch { /* regenerate */ }
  }
  console.log(`» generating ${rel(file)} (${o.packets} packets, seed ${o.seed}, ${o.format})`)
  const args = ['--packets', String(o.packets), '--seed', String(o.seed), '--format', o.format, '--out', file]
  if (o.corpus) args.push('--corpus', o.corpus)
  const r = spawnSync(b.gen, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  if (r.status !== 0) fail('gen_capture failed')
  const meta = JSON.parse(r.stdout.trim().split('\n').pop())
  meta.file = rel(file)
  fs.writeFileSync(metaFile, JSON.stringify(meta, null, 2) + '\n')
  return { file, meta }
}

/** Installs node_pcap into benches/node_modules if needed; returns null or the reason it is unavailable. */
function ensureNodePcap() {
  const addon = path.join(here, 'node_modules', 'pcap', 'build', 'Release', 'pcap_binding.node')
  if (fs.existsSync(addon)) return null
  console.log('» npm install --prefix benches (node_pcap)')
  const r = spawnSync('npm', ['install', '--prefix', here, '--no-audit', '--no-fund'], { cwd: root, encoding: 'utf8' })
  const out = `${r.stdout || ''}\n${r.stderr || ''}`
  process.stdout.write(out.split('\n').slice(-15).join('\n') + '\n')
  if (fs.existsSync(addon)) return null
  if (/pcap\.h: No such file/.test(out)) return 'node-gyp build of pcap 3.1.0 failed: pcap.h not found (install Debian package libpcap-dev)'
  if (r.error) return `npm install --prefix benches failed: ${r.error.message}`
  const errLine = out.split('\n').filter((l) => /error/i.test(l)).slice(0, 3).join(' | ')
  if (r.status === 0) return `pcap 3.1.0 installed but its native addon was not built (install scripts skipped? ${errLine || 'no error printed'})`
  return `npm install --prefix benches failed (exit ${r.status}): ${errLine || out.trim().split('\n').pop()}`
}

const TIME = fs.existsSync('/usr/bin/time') ? '/usr/bin/time' : null

/** Runs one contender once; returns { ok, result, wall, rssKb } or { ok: false, reason }. */
function runOnce(c, b, file) {
  const [cmd, args] = c.cmd(b, file)
  const timeOut = path.join(os.tmpdir(), `flowtap-bench-time-${process.pid}.txt`)
  const [exe, argv] = TIME ? [TIME, ['-v', '-o', timeOut, cmd, ...args]] : [cmd, args]
  const t0 = process.hrtime.bigint()
  const r = spawnSync(exe, argv, { cwd: root, encoding: 'utf8', maxBuffer: 16 << 20, timeout: 30 * 60_000 })
  const wall = Number(process.hrtime.bigint() - t0) / 1e9
  let rssKb = null
  if (TIME && fs.existsSync(timeOut)) {
    const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(fs.readFileSync(timeOut, 'utf8'))
    if (m) rssKb = Number(m[1])
    fs.rmSync(timeOut, { force: true })
  }
  const stderr = (r.stderr || '').trim()
  const line = (r.stdout || '').trim().split('\n').reverse().find((l) => l.startsWith('{'))
  if (r.status !== 0 || !line) {
    const unavailable = stderr.split('\n').find((l) => l.startsWith('unavailable: '))
    const why = unavailable ? unavailable.slice('unavailable: '.length)
      : r.error ? r.error.message
      : `exit ${r.status ?? r.signal}: ${stderr.split('\n').filter(Boolean).slice(-3).join(' | ') || 'no output'}`
    return { ok: false, reason: why }
  }
  return { ok: true, result: JSON.parse(line), wall, rssKb }
}

// ------------------------------------------------------------------ summary

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
const spread = (xs) => (xs.length ? { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) } : null)

function summarize(c, runs) {
  const ok = runs.filter((r) => r.ok)
  return {
    pps: spread(ok.map((r) => r.result.pps)),
    mbps: spread(ok.map((r) => r.result.mbps)),
    seconds: spread(ok.map((r) => r.result.seconds)),
    wall: spread(ok.map((r) => r.wall)),
    rssMb: ok.every((r) => r.rssKb != null) ? spread(ok.map((r) => r.rssKb / 1024)) : null,
  }
}

const fmtRate = (x) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : x >= 1e3 ? `${(x / 1e3).toFixed(0)}k` : `${Math.round(x)}`)
const fmtNum = (x, d) => x.toFixed(d)
function cell(s, f) {
  if (!s) return 'n/a'
  return `${f(s.median)} (${f(s.min)}–${f(s.max)})`
}

function machine() {
  let cpu = 'unknown'
  try {
    const info = fs.readFileSync('/proc/cpuinfo', 'utf8')
    cpu = (/^model name\s*:\s*(.*)$/m.exec(info) || [])[1] || cpu
  } catch { /* not Linux */ }
  let nproc = os.availableParallelism ? os.availableParallelism() : os.cpus().length
  try { nproc = Number(sh('nproc', [])) } catch { /* keep */ }
  const tryRun = (cmd, args) => { try { return sh(cmd, args) } catch { return null } }
  return {
    nproc,
    cpu,
    memGb: Number((os.totalmem() / 2 ** 30).toFixed(1)),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    rustc: tryRun('rustc', ['--version']),
    commit: tryRun('git', ['rev-parse', '--short', 'HEAD']),
    loadavg: os.loadavg().map((x) => Number(x.toFixed(2))),
    date: new Date().toISOString(),
  }
}

// --------------------------------------------------------------------- main

const o = parseArgs(process.argv.slice(2))
if (o.only) {
  const bad = o.only.filter((id) => !CONTENDERS.some((c) => c.id === id))
  if (bad.length) fail(`unknown contender(s): ${bad.join(', ')} (known: ${CONTENDERS.map((c) => c.id).join(', ')})`)
}
const selected = CONTENDERS.filter((c) => !o.only || o.only.includes(c.id))

if (o.build) build()
const bins = binaries()
const { file, meta } = capture(bins, o)

const status = new Map(selected.map((c) => [c.id, null])) // null = available, string = reason
if (o.format !== 'pcap' && status.has('walk')) status.set('walk', 'walk reads classic pcap only (--format pcapng)')
if (selected.some((c) => c.node && c.id.startsWith('ts_')) && !fs.existsSync(path.join(root, 'dist', 'index.mjs'))) {
  for (const c of selected) if (c.id.startsWith('ts_')) status.set(c.id, 'dist/index.mjs not found (run `npm run build` first)')
}
if (status.has('node_pcap')) status.set('node_pcap', ensureNodePcap())
if (!TIME) console.log('» /usr/bin/time not found (Debian package `time`): peak RSS will not be reported')

// Warm the page cache so the first contender does not pay for the disk.
console.log(`» warming the page cache (${(meta.fileBytes / 1e6).toFixed(0)} MB)`)
{
  const fd = fs.openSync(file, 'r')
  const buf = Buffer.allocUnsafe(8 << 20)
  while (fs.readSync(fd, buf, 0, buf.length, null) > 0) { /* read */ }
  fs.closeSync(fd)
}

const runs = new Map(selected.map((c) => [c.id, []]))
const failures = new Map()
console.log(`» ${o.runs} runs × ${selected.length} contenders over ${meta.packets} packets, order alternating\n`)
for (let r = 0; r < o.runs; r++) {
  const order = r % 2 === 0 ? selected : [...selected].reverse()
  for (const c of order) {
    if (status.get(c.id)) continue
    const res = runOnce(c, bins, file)
    if (!res.ok) {
      if (runs.get(c.id).length === 0) {
        status.set(c.id, res.reason)
        console.log(`  run ${r + 1}/${o.runs}  ${c.id.padEnd(14)} unavailable: ${res.reason}`)
      } else {
        failures.set(c.id, [...(failures.get(c.id) || []), `run ${r + 1}: ${res.reason}`])
        console.log(`  run ${r + 1}/${o.runs}  ${c.id.padEnd(14)} FAILED: ${res.reason}`)
      }
      continue
    }
    runs.get(c.id).push(res)
    const x = res.result
    console.log(`  run ${r + 1}/${o.runs}  ${c.id.padEnd(14)} ${fmtRate(x.pps).padStart(7)} pkt/s  ${fmtNum(x.mbps, 0).padStart(5)} MB/s  ` +
      `${fmtNum(x.seconds, 3)} s (wall ${fmtNum(res.wall, 3)} s)${res.rssKb != null ? `  rss ${(res.rssKb / 1024).toFixed(0)} MB` : ''}`)
  }
}

// Sanity: every contender must see every packet; the contenders built on
// flowtap-core's decoder must agree on the ports.
const notes = []
for (const c of selected) {
  for (const r of runs.get(c.id)) {
    if (r.result.packets !== meta.packets) {
      notes.push(`${c.id} counted ${r.result.packets} packets, expected ${meta.packets}`)
      break
    }
  }
}
const coreBased = ['core_for_each', 'core_batches', 'ts_packets', 'ts_batches']
  .filter((id) => runs.get(id)?.length)
  .map((id) => [id, runs.get(id)[0].result.ports])
if (new Set(coreBased.map(([, p]) => p)).size > 1) {
  notes.push(`contenders using flowtap's decoder disagree on the ports checksum: ${coreBased.map(([id, p]) => `${id}=${p}`).join(', ')}`)
}
for (const [id, f] of failures) notes.push(`${id}: ${f.join('; ')}`)

const summaries = selected.map((c) => ({
  id: c.id,
  label: c.label,
  measures: c.measures,
  status: status.get(c.id) ? `unavailable: ${status.get(c.id)}` : 'ok',
  runs: runs.get(c.id).map((r) => ({ ...r.result, wall: Number(r.wall.toFixed(4)), rssKb: r.rssKb })),
  summary: status.get(c.id) ? null : summarize(c, runs.get(c.id)),
}))
const byId = Object.fromEntries(summaries.map((s) => [s.id, s]))
const ratios = RATIOS.map((q) => {
  const a = byId[q.num]?.summary?.pps
  const b = byId[q.den]?.summary?.pps
  return {
    label: q.label,
    numerator: q.num,
    denominator: q.den,
    value: a && b ? Number((a.median / b.median).toFixed(3)) : null,
    reason: a && b ? undefined : `${!a ? q.num : q.den} not measured`,
  }
})
const mach = machine()

// ------------------------------------------------------------------ output

const header = ['contender', 'packets/s', 'MB/s', 'in-process s', 'wall s', 'peak RSS MB']
const rows = summaries.map((s) => s.summary
  ? [s.label, cell(s.summary.pps, fmtRate), cell(s.summary.mbps, (x) => fmtNum(x, 0)), cell(s.summary.seconds, (x) => fmtNum(x, 3)),
      cell(s.summary.wall, (x) => fmtNum(x, 3)), cell(s.summary.rssMb, (x) => fmtNum(x, 0))]
  : [s.label, s.status, '', '', '', ''])
const ratioRows = ratios.map((q) => [q.label, q.value != null ? `${q.value.toFixed(3)}×` : `n/a (${q.reason})`])

const measured = rows.filter((r) => !r[1].startsWith('unavailable'))
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (i === 0 ? r[0].length : 0)), ...measured.map((r) => r[i].length)))
const textRow = (r) => r.map((x, i) => (i === 0 ? x.padEnd(widths[i]) : x.padStart(widths[i]))).join('  ')
const captureLine = `${meta.packets} packets, ${(meta.packetBytes / 1e6).toFixed(0)} MB of packet data (${(meta.fileBytes / 1e6).toFixed(0)} MB file, ${meta.format}), ` +
  `${meta.flows} distinct flows; IPv4 ${meta.ipv4}, IPv6 ${meta.ipv6}, TCP ${meta.tcp}, UDP ${meta.udp}, non-IP ${meta.nonIp}`
const machineLine = `${mach.nproc} × ${mach.cpu}, ${mach.memGb} GB, ${mach.os}, Node ${mach.node}, ${mach.rustc}; load ${mach.loadavg.join(' ')} at the end`

console.log('')
console.log(`capture: ${rel(file)}: ${captureLine}`)
console.log(`machine: ${machineLine}`)
console.log(`runs: ${o.runs} per contender, order alternating; median (min–max)\n`)
console.log(textRow(header))
console.log(widths.map((w) => '-'.repeat(w)).join('  '))
for (const r of rows) console.log(r[1].startsWith('unavailable') ? `${r[0].padEnd(widths[0])}  ${r[1]}` : textRow(r))
console.log('')
for (const [l, v] of ratioRows) console.log(`${l.padEnd(40)} ${v}`)
for (const n of notes) console.log(`note: ${n}`)

// A run restricted with --only writes packets.partial.* (git-ignored) so it
// never replaces the full results.
const resultsDir = path.join(here, 'results')
const base = o.only ? 'packets.partial' : 'packets'
fs.mkdirSync(resultsDir, { recursive: true })
const json = {
  benchmark: 'packets',
  command: `node benches/run.mjs --packets ${o.packets} --runs ${o.runs}${o.seed !== 1 ? ` --seed ${o.seed}` : ''}${o.format !== 'pcap' ? ` --format ${o.format}` : ''}${o.only ? ` --only ${o.only.join(',')}` : ''}`,
  machine: mach,
  capture: { ...meta, file: rel(file) },
  runs: o.runs,
  contenders: summaries,
  ratios,
  notes,
  units: { pps: 'packets per second (contender\'s own timer)', mbps: '10^6 bytes of captured packet data per second', wall: 'seconds, whole process incl. startup', rssKb: 'peak resident set size from /usr/bin/time -v' },
}
fs.writeFileSync(path.join(resultsDir, `${base}.json`), JSON.stringify(json, null, 2) + '\n')

const md = []
md.push('# Packet throughput', '')
md.push(`Generated by \`${json.command}\` on ${mach.date.slice(0, 10)}.`, '')
md.push(`- **Machine:** \`nproc\` = ${mach.nproc}; CPU: ${mach.cpu}; ${mach.memGb} GB RAM; ${mach.os}; Node ${mach.node}; ${mach.rustc}${mach.commit ? `; commit ${mach.commit}` : ''}; load average ${mach.loadavg.join(' ')} at the end (shared machine: expect noise)`)
md.push(`- **Capture:** \`${rel(file)}\` — ${captureLine}; generated by \`gen_capture\` v${meta.version}, seed ${meta.seed}, from ${meta.sources.length} real captures of the shared corpus`)
md.push(`- **Method:** ${o.runs} runs per contender in one session, order alternating (forward, reverse, …) after a page-cache warm-up. packets/s and MB/s come from each contender's own timer (open file → last packet); wall is the whole process including startup; peak RSS is from \`/usr/bin/time -v\`. Cells are median (min–max).`, '')
md.push(`| ${header.join(' | ')} |`)
md.push(`|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`)
for (const r of rows) md.push(r[1].startsWith('unavailable') ? `| ${r[0]} | ${r[1]} | | | | |` : `| ${r.join(' | ')} |`)
md.push('', '| ratio (median packets/s) | value |', '|---|---:|')
for (const [l, v] of ratioRows) md.push(`| ${l} | ${v} |`)
md.push('', '## Contenders', '')
for (const s of summaries) md.push(`- **${s.label}** — ${s.measures}`)
if (notes.length) {
  md.push('', '## Notes', '')
  for (const n of notes) md.push(`- ${n}`)
}
md.push('', 'Walk\'s peak RSS counts the mapped file pages it touched; the others stream through bounded buffers.')
fs.writeFileSync(path.join(resultsDir, `${base}.md`), md.join('\n') + '\n')
console.log(`\nwrote ${rel(path.join(resultsDir, `${base}.json`))} and ${rel(path.join(resultsDir, `${base}.md`))}`)
