#!/usr/bin/env node
// Benchmarks of flowtap against the machine's limit and the tools a user
// would pick instead. See benches/README.md.
//
//   node benches/run.mjs [--suite all|packets|flows|live|plugins|wasm|sessions] [--packets N] [--runs R] [--seed S]
//                        [--format pcap|pcapng] [--corpus DIR] [--only a,b,...] [--no-build]
//                        [--scales N,N,...] [--suricata PATH]
//
// Suite `packets` (the default): packet throughput against a minimal mmap
// walk and node_pcap. Suite `flows`: parse + flow tracking against a minimal
// C flow table, tshark's conversation table and Suricata, on the mixed
// capture and on synthetic captures of N concurrent flows.
//
// 1. builds the Rust bench binaries (cargo build --release -p flowtap-bench)
//    and, for `flows`, the C flow walk (cc -O2),
// 2. generates the captures into benches/data/ (skipped when a capture with
//    the same parameters and generator version is already there),
// 3. installs node_pcap into benches/node_modules when it is missing (packets),
// 4. runs every contender R times in one session, alternating the order,
// 5. prints a table and writes benches/results/<suite>.{json,md}.

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
  const o = {
    suite: 'packets', packets: 2_000_000, runs: 5, seed: 1, format: 'pcap', corpus: null, only: null, build: true,
    scales: [1_000, 100_000, 1_000_000], suricata: process.env.SURICATA || 'suricata',
  }
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
      case '--packets': o.packets = int('--packets'); o.packetsGiven = true; break
      case '--runs': o.runs = int('--runs'); break
      case '--seed': o.seed = Number(val()); break
      case '--format': o.format = val(); if (!['pcap', 'pcapng'].includes(o.format)) fail('--format must be pcap or pcapng'); break
      case '--corpus': o.corpus = path.resolve(val()); break
      case '--only': o.only = val().split(',').map((s) => s.trim()).filter(Boolean); break
      case '--no-build': o.build = false; break
      case '--suite': o.suite = val(); if (!['packets', 'flows', 'live', 'plugins', 'wasm', 'sessions', 'all'].includes(o.suite)) fail('--suite must be packets, flows, live, plugins, wasm, sessions or all'); break
      case '--scales': o.scales = val().split(',').map((x) => {
        const v = Number(x.trim().replaceAll('_', ''))
        if (!Number.isInteger(v) || v < 1) fail('--scales must be positive integers')
        return v
      }); break
      case '--suricata': o.suricata = val(); break
      case '-h':
      case '--help':
        console.log('node benches/run.mjs [--suite all|packets|flows|live|plugins|wasm|sessions] [--packets N (2000000)] [--runs R (5)] [--seed S (1)] [--format pcap|pcapng] [--corpus DIR] [--only id,id] [--no-build]')
        console.log('  flows suite: [--scales N,N,... (1000,100000,1000000)] [--suricata PATH ($SURICATA or suricata)]')
        console.log('  live suite (root): node benches/live.mjs with --packets, --runs and --only (tcpdump, node_pcap, flowtap-flows, flowtap-packets, flowtap-batches)')
        console.log('  plugins suite: benches/plugins.mjs (TS plugins vs core and built-in parsers) on the mixed capture and a Redis capture')
        console.log('  wasm suite: benches/wasm.mjs (the WebAssembly build vs the native addon) on the mixed capture')
        console.log('  all (npm run bench) / sessions suite: benches/sessions.mjs — every flowtap path and every peer (tcpdump, tshark, nDPI, Suricata, node_pcap) on the real-program workload; --packets defaults to 500000; all also regenerates the README table')
        console.log(`packets contender ids: ${CONTENDERS.map((c) => c.id).join(', ')}`)
        console.log(`flows contender ids: ${FLOW_TOOLS.map((c) => c.id).join(', ')} (at a scale: id@1k, id@100k, id@1M, …)`)
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
  // Optional: the in-memory flow-table microbenchmark, and the C flow walk
  // (built by buildFlowWalk below).
  b.dir = dir
  b.flowScale = path.join(dir, 'flow_scale')
  b.flowWalk = path.join(dir, 'c_flow_walk')
  return b
}

/** Compiles benches/c/flow_walk.c with `cc -O2`; returns null or why it is unavailable. */
function buildFlowWalk(b, rebuild) {
  const src = path.join(here, 'c', 'flow_walk.c')
  if (!rebuild && fs.existsSync(b.flowWalk) && fs.statSync(b.flowWalk).mtimeMs >= fs.statSync(src).mtimeMs) return null
  console.log(`» cc -O2 -o ${rel(b.flowWalk)} ${rel(src)}`)
  const r = spawnSync('cc', ['-O2', '-o', b.flowWalk, src], { cwd: root, encoding: 'utf8' })
  if (r.error) return `cc: ${r.error.message}`
  if (r.status !== 0) return `cc -O2 failed: ${(r.stderr || '').trim().split('\n').slice(0, 3).join(' | ')}`
  return null
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

/**
 * Runs one contender once; returns { ok, result, wall, rssKb } or { ok: false, reason }.
 * A contender with `parse` is an outside tool that prints no JSON line:
 * `parse(spawnResult, wall)` builds its result (timed from spawn to exit).
 */
function runOnce(c, b, file) {
  const [cmd, args] = c.cmd(b, file)
  c.before?.()
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
  if (c.parse && r.status === 0) {
    try {
      return { ok: true, result: c.parse(r, wall), wall, rssKb }
    } catch (e) {
      return { ok: false, reason: `output not understood: ${e.message}` }
    }
  }
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

// -------------------------------------------------------------- flows suite

/** `1k`, `100k`, `1M` for scale suffixes and labels. */
const scaleName = (n) => (n % 1_000_000 === 0 ? `${n / 1_000_000}M` : n % 1000 === 0 ? `${n / 1000}k` : String(n))

/** The tools of the flows suite; each runs on one or more captures (see flowContenders). */
const FLOW_TOOLS = [
  {
    id: 'c_flow_walk',
    label: 'C flow walk (mmap, open addressing)',
    measures: 'The limit: benches/c/flow_walk.c (cc -O2) mmaps the pcap, walks the records, reads Ethernet (VLAN tags skipped) → IPv4/IPv6 → TCP/UDP 5-tuple, orders it bidirectionally and counts packets/bytes in an open-addressing table (power of two, linear probing, doubled at half full). No timeouts, TCP state, originator or defragmentation.',
    cmd: (b, file) => [b.flowWalk, [file]],
  },
  {
    id: 'core_parse',
    label: 'core parse only',
    measures: 'src/bin/core.rs --mode for_each: the same read + decode as core flows, without the tracker: the part of core flows\' time that is not flow tracking.',
    cmd: (b, file) => [b.core, ['--mode', 'for_each', file]],
  },
  {
    id: 'core_flows',
    label: 'core flows',
    measures: 'src/bin/core.rs --mode flows: flowtap-core PacketSource::for_each (std::fs::File) into FlowTracker with the default options (Zeek TCP state, Community ID, IP defragmentation, timeouts), events drained every 4096; all flows ended at the end. Rust only, one thread.',
    cmd: (b, file) => [b.core, ['--mode', 'flows', file]],
  },
  {
    id: 'ts_flows',
    label: 'TS flows()',
    measures: 'ts_flows.mjs: openPcap(file).flows() from dist/: flow.start and flow.end event objects one by one, counting ends and summing their packets.',
    cmd: (_b, file) => [process.execPath, [path.join(here, 'ts_flows.mjs'), file]],
    node: true,
  },
  {
    id: 'ts_flow_batches',
    label: 'TS flowBatches()',
    measures: 'ts_flows.mjs --batches: openPcap(file).flowBatches() from dist/: the same events, an array per native step.',
    cmd: (_b, file) => [process.execPath, [path.join(here, 'ts_flows.mjs'), '--batches', file]],
    node: true,
  },
  {
    id: 'tshark_conv',
    label: 'tshark -z conv,tcp',
    measures: 'tshark -n -q -z conv,tcp -r FILE: Wireshark\'s TCP conversation table. Timed from spawn to exit (includes tshark\'s start-up, about 0.3–0.5 s on a tiny capture).',
    external: true,
  },
  {
    id: 'suricata',
    label: 'Suricata offline',
    measures: 'suricata -r FILE --runmode single -k none -S /dev/null with benches/suricata-flows.yaml: no rules, flow and stream tracking with its default app-layer detection and parsers, only EVE flow records written. Timed from spawn to exit (includes start-up, about 0.55 s on a tiny capture).',
    external: true,
  },
  {
    id: 'flow_scale',
    label: 'flow_scale (in-memory)',
    measures: 'src/bin/flow_scale.rs --flows N: synthetic packets for N concurrent flows handed to the flow tracker from memory (no file, no decode); ns/packet and resident bytes per tracked flow.',
    noCapture: true,
  },
]

/** Where each tool runs: the mixed capture, the synthetic N-flow captures, or (flow_scale) no capture. */
function flowContenders(b, o, mixed, synth) {
  const tool = Object.fromEntries(FLOW_TOOLS.map((t) => [t.id, t]))
  const list = []
  const add = (t, id, capture, extra = {}) => list.push({ ...t, ...extra, id, base: t.id, capture })
  for (const id of ['c_flow_walk', 'core_parse', 'core_flows', 'ts_flows', 'ts_flow_batches']) add(tool[id], id, mixed)
  add(tool.tshark_conv, 'tshark_conv', mixed, {
    cmd: (_b, file) => ['tshark', ['-n', '-q', '-z', 'conv,tcp', '-r', file]],
    parse: (r, wall) => {
      const out = r.stdout || ''
      if (!/TCP Conversations/.test(out)) throw new Error('no "TCP Conversations" table')
      const flows = out.split('\n').filter((l) => l.includes(' <-> ')).length
      return { name: 'tshark_conv', packets: mixed.meta.packets, seconds: wall, pps: mixed.meta.packets / wall, flows, tcpOnly: true }
    },
  })
  const suriLog = path.join(os.tmpdir(), `flowtap-bench-suricata-${process.pid}`)
  add(tool.suricata, 'suricata', mixed, {
    before: () => { fs.rmSync(suriLog, { recursive: true, force: true }); fs.mkdirSync(suriLog, { recursive: true }) },
    cmd: (_b, file) => [o.suricata, ['-c', path.join(here, 'suricata-flows.yaml'), '-r', file, '--runmode', 'single', '-k', 'none', '-S', '/dev/null', '-l', suriLog]],
    parse: (_r, wall) => {
      const eve = fs.readFileSync(path.join(suriLog, 'eve.json'), 'utf8')
      let flows = 0
      let packets = 0
      for (const l of eve.split('\n')) {
        if (!l.includes('"event_type":"flow"')) continue
        flows++
        const f = JSON.parse(l).flow || {}
        packets += (f.pkts_toserver || 0) + (f.pkts_toclient || 0)
      }
      fs.rmSync(suriLog, { recursive: true, force: true })
      return { name: 'suricata', packets: mixed.meta.packets, seconds: wall, pps: mixed.meta.packets / wall, flows, flowPackets: packets }
    },
  })
  for (const s of synth) {
    const sfx = `@${scaleName(s.flows)}`
    for (const id of ['c_flow_walk', 'core_parse', 'core_flows', 'ts_flows', 'ts_flow_batches']) {
      add(tool[id], id + sfx, s, { label: `${tool[id].label} @${scaleName(s.flows)}`, scale: s.flows })
    }
  }
  for (const n of o.scales) {
    add(tool.flow_scale, `flow_scale@${scaleName(n)}`, null, {
      label: `flow_scale @${scaleName(n)}`,
      scale: n,
      cmd: (bb) => [bb.flowScale, ['--flows', String(n), '--json']],
    })
  }
  return list
}

/** gen_capture's SYNTH_VERSION: a synthetic capture of another version is generated again. */
const SYNTH_VERSION = 2

/** The synthetic capture of `flows` concurrent flows (gen_capture --concurrent-flows). */
function syntheticCapture(b, flows, packets, o) {
  const dataDir = path.join(here, 'data')
  fs.mkdirSync(dataDir, { recursive: true })
  const file = path.join(dataDir, `flows-${flows}-${packets}.pcap`)
  const metaFile = `${file}.json`
  const version = Number(sh(b.gen, ['--version']))
  if (fs.existsSync(file) && fs.existsSync(metaFile)) {
    try {
      const m = JSON.parse(fs.readFileSync(metaFile, 'utf8'))
      if (m.version === version && m.synthVersion === SYNTH_VERSION && m.packets === packets && m.concurrentFlows === flows &&
          fs.statSync(file).size === m.fileBytes) {
        console.log(`» capture ${rel(file)} exists (${flows} concurrent flows, ${packets} packets); not regenerated`)
        return { file, meta: m, flows }
      }
    } catch { /* regenerate */ }
  }
  console.log(`» generating ${rel(file)} (${flows} concurrent flows, ${packets} packets)`)
  const r = spawnSync(b.gen, ['--concurrent-flows', String(flows), '--packets', String(packets), '--out', file],
    { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  if (r.status !== 0) fail('gen_capture --concurrent-flows failed')
  const meta = JSON.parse(r.stdout.trim().split('\n').pop())
  meta.file = rel(file)
  fs.writeFileSync(metaFile, JSON.stringify(meta, null, 2) + '\n')
  return { file, meta, flows }
}

function flowsSuite(o) {
  if (o.format !== 'pcap') fail('the flows suite reads classic pcap only (the C walk does)')
  if (o.build) build()
  const bins = binaries()
  const mixed = capture(bins, o)
  // Each synthetic capture has at least 4 packets per flow, so a flow is
  // looked up more often than it is created.
  const synth = o.scales.map((n) => syntheticCapture(bins, n, Math.max(o.packets, 4 * n), o))
  const all = flowContenders(bins, o, mixed, synth)
  if (o.only) {
    const bad = o.only.filter((id) => !all.some((c) => c.id === id || c.base === id))
    if (bad.length) fail(`unknown contender(s): ${bad.join(', ')} (known: ${[...new Set(all.map((c) => c.base))].join(', ')}, or id@scale)`)
  }
  const selected = all.filter((c) => !o.only || o.only.includes(c.id) || o.only.includes(c.base))

  const status = new Map(selected.map((c) => [c.id, null]))
  const setAll = (pred, why) => { for (const c of selected) if (pred(c) && !status.get(c.id)) status.set(c.id, why) }
  if (selected.some((c) => c.base === 'c_flow_walk')) {
    const why = buildFlowWalk(bins, o.build)
    if (why) setAll((c) => c.base === 'c_flow_walk', why)
  }
  if (!fs.existsSync(path.join(root, 'dist', 'index.mjs'))) setAll((c) => c.node, 'dist/index.mjs not found (run `npm run build` first)')
  if (!fs.existsSync(bins.flowScale)) setAll((c) => c.base === 'flow_scale', `${rel(bins.flowScale)} not built (no flow_scale binary in flowtap-bench)`)
  const which = (cmd) => spawnSync('sh', ['-c', `command -v "$1"`, 'sh', cmd], { encoding: 'utf8' }).stdout.trim()
  if (!which('tshark')) setAll((c) => c.base === 'tshark_conv', 'tshark not found (Debian package tshark)')
  if (!which(o.suricata)) setAll((c) => c.base === 'suricata', `${o.suricata} not found (Debian bookworm has no suricata package; build it from source and pass --suricata PATH or $SURICATA)`)
  if (!TIME) console.log('» /usr/bin/time not found (Debian package `time`): peak RSS will not be reported')

  const files = [mixed, ...synth]
  const totalMb = files.reduce((a, f) => a + f.meta.fileBytes, 0) / 1e6
  console.log(`» warming the page cache (${totalMb.toFixed(0)} MB in ${files.length} captures)`)
  for (const f of files) {
    const fd = fs.openSync(f.file, 'r')
    const buf = Buffer.allocUnsafe(8 << 20)
    while (fs.readSync(fd, buf, 0, buf.length, null) > 0) { /* read */ }
    fs.closeSync(fd)
  }

  const runs = new Map(selected.map((c) => [c.id, []]))
  const failures = new Map()
  console.log(`» ${o.runs} runs × ${selected.length} contenders, order alternating\n`)
  for (let r = 0; r < o.runs; r++) {
    const order = r % 2 === 0 ? selected : [...selected].reverse()
    for (const c of order) {
      if (status.get(c.id)) continue
      const res = runOnce(c, bins, c.capture?.file)
      if (!res.ok) {
        if (runs.get(c.id).length === 0) {
          status.set(c.id, res.reason)
          console.log(`  run ${r + 1}/${o.runs}  ${c.id.padEnd(22)} unavailable: ${res.reason}`)
        } else {
          failures.set(c.id, [...(failures.get(c.id) || []), `run ${r + 1}: ${res.reason}`])
          console.log(`  run ${r + 1}/${o.runs}  ${c.id.padEnd(22)} FAILED: ${res.reason}`)
        }
        continue
      }
      runs.get(c.id).push(res)
      const x = res.result
      console.log(`  run ${r + 1}/${o.runs}  ${c.id.padEnd(22)} ${fmtRate(x.pps).padStart(7)} pkt/s  ${fmtNum(1e9 / x.pps, 0).padStart(6)} ns/pkt  ` +
        `${x.flows != null ? `${x.flows} flows  ` : ''}${fmtNum(x.seconds, 3)} s (wall ${fmtNum(res.wall, 3)} s)${res.rssKb != null ? `  rss ${(res.rssKb / 1024).toFixed(0)} MB` : ''}`)
    }
  }

  // ------------------------------------------------------------ summaries
  const notes = []
  for (const c of selected) {
    const want = c.capture?.meta.packets
    for (const r of runs.get(c.id)) {
      if (want != null && r.result.packets !== want) {
        notes.push(`${c.id} counted ${r.result.packets} packets, expected ${want}`)
        break
      }
    }
  }
  for (const [id, f] of failures) notes.push(`${id}: ${f.join('; ')}`)
  const num = (ok, f) => { const xs = ok.map(f).filter((x) => typeof x === 'number' && Number.isFinite(x)); return xs.length === ok.length ? spread(xs) : null }
  const summaries = selected.map((c) => {
    const ok = runs.get(c.id)
    const base = {
      id: c.id, tool: c.base, label: c.label, measures: c.measures,
      capture: c.capture ? c.capture.meta.file : null, scale: c.scale ?? null,
      status: status.get(c.id) ? `unavailable: ${status.get(c.id)}` : 'ok',
      runs: ok.map((r) => ({ ...r.result, wall: Number(r.wall.toFixed(4)), rssKb: r.rssKb })),
    }
    if (status.get(c.id)) return { ...base, summary: null }
    return {
      ...base,
      summary: {
        pps: num(ok, (r) => r.result.pps),
        nsPerPacket: num(ok, (r) => 1e9 / r.result.pps),
        seconds: num(ok, (r) => r.result.seconds),
        wall: num(ok, (r) => r.wall),
        rssMb: num(ok, (r) => (r.rssKb == null ? null : r.rssKb / 1024)),
        flows: num(ok, (r) => r.result.flows),
        rssMbAtEnd: num(ok, (r) => (r.result.rssKbAtEnd == null ? null : r.result.rssKbAtEnd / 1024)),
        rssBytesPerFlow: num(ok, (r) => r.result.rss_bytes_per_flow),
        slotBytes: num(ok, (r) => r.result.slot_bytes),
        tableBytesPerFlow: num(ok, (r) => (r.result.tableSlots ? (r.result.tableSlots * r.result.slotBytes) / r.result.flows : null)),
      },
    }
  })
  const byId = Object.fromEntries(summaries.map((s) => [s.id, s]))
  const med = (id, k) => byId[id]?.summary?.[k]?.median ?? null

  // Flow counts: flowtap's core and TS paths must agree.
  for (const sfx of ['', ...o.scales.map((n) => `@${scaleName(n)}`)]) {
    const got = ['core_flows', 'ts_flows', 'ts_flow_batches'].map((t) => [t + sfx, med(t + sfx, 'flows')]).filter(([, v]) => v != null)
    if (new Set(got.map(([, v]) => v)).size > 1) notes.push(`flow counts differ: ${got.map(([id, v]) => `${id}=${v}`).join(', ')}`)
  }

  const ratio = (label, a, b, goal, cmp = '≥') => {
    const x = med(a, 'pps')
    const y = med(b, 'pps')
    return { label, numerator: a, denominator: b, value: x && y ? x / y : null, goal, cmp, reason: x && y ? undefined : `${!x ? a : b} not measured` }
  }
  const wallRatio = (label, a, b) => {
    const x = med(a, 'wall')
    const y = med(b, 'wall')
    return { label, numerator: a, denominator: b, value: x && y ? y / x : null, reason: x && y ? undefined : `${!x ? a : b} not measured` }
  }
  const value = (label, v, goal, cmp, unit, why) => ({ label, value: v, goal, cmp, unit, reason: v == null ? why : undefined })
  const big = scaleName(Math.max(...o.scales))
  const small = scaleName(Math.min(...o.scales))
  // Resident bytes per tracked flow of core_flows at a scale: the growth of
  // its RSS after the last packet over the smallest scale's, per flow added.
  const coreBytesPerFlow = (scale) => {
    const hi = byId[`core_flows@${scale}`]?.runs
    const lo = byId[`core_flows@${small}`]?.runs
    const a = med(`core_flows@${scale}`, 'rssMbAtEnd')
    const b = med(`core_flows@${small}`, 'rssMbAtEnd')
    if (a == null || b == null || !hi?.length || !lo?.length || scale === small) return null
    const n = hi[0].activeAtEnd - lo[0].activeAtEnd
    return n > 0 ? ((a - b) * 1024 * 1024) / n : null
  }
  const bytesPerFlow = coreBytesPerFlow(big)
  const nsAt = (id) => med(id, 'nsPerPacket')
  const goals = [
    ratio('core flows ÷ C flow walk (mixed capture)', 'core_flows', 'c_flow_walk', 0.6),
    value('core flows ns/packet @100k concurrent flows (capture)', nsAt('core_flows@100k'), 150, '≤', 'ns', 'core_flows@100k not measured'),
    value('flow_scale ns/packet @100k (in memory)', nsAt('flow_scale@100k'), 150, '≤', 'ns', 'flow_scale@100k not measured'),
    value(`core flows resident bytes per idle tracked flow (RSS after the last packet, @${big} − @${small}, ÷ flows)`, bytesPerFlow, 200, '≤', 'B', `core_flows@${big} or @${small} not measured`),
    value(`flow_scale resident bytes per flow @${big}`, med(`flow_scale@${big}`, 'rssBytesPerFlow'), 200, '≤', 'B', `flow_scale@${big} not measured`),
    value(`core flows RSS with ${big} flows tracked (after the last packet)`, med(`core_flows@${big}`, 'rssMbAtEnd'), 512, '<', 'MB', `core_flows@${big} not measured`),
    value(`core flows peak RSS @${big} (incl. ending every flow at the end)`, med(`core_flows@${big}`, 'rssMb'), 512, '<', 'MB', `core_flows@${big} not measured`),
    ratio('TS flows() ÷ core flows (mixed)', 'ts_flows', 'core_flows', 0.8),
    ratio('TS flowBatches() ÷ core flows (mixed)', 'ts_flow_batches', 'core_flows', 0.8),
    ratio('TS flows() ÷ tshark conv,tcp', 'ts_flows', 'tshark_conv', 30),
    ratio('TS flows() ÷ Suricata', 'ts_flows', 'suricata', 10),
  ].map((g) => ({ ...g, met: g.value == null ? null : g.cmp === '≥' ? g.value >= g.goal : g.cmp === '≤' ? g.value <= g.goal : g.value < g.goal }))
  // ns/packet of flow tracking alone: core flows − core parse only.
  const trackingNs = (sfx) => {
    const a = nsAt(`core_flows${sfx}`)
    const b = nsAt(`core_parse${sfx}`)
    return a != null && b != null ? a - b : null
  }
  const more = [
    ...o.scales.map((n) => ratio(`core flows ÷ C flow walk @${scaleName(n)}`, `core_flows@${scaleName(n)}`, `c_flow_walk@${scaleName(n)}`)),
    ...o.scales.map((n) => ratio(`TS flows() ÷ core flows @${scaleName(n)}`, `ts_flows@${scaleName(n)}`, `core_flows@${scaleName(n)}`)),
    ratio('core flows ÷ tshark conv,tcp', 'core_flows', 'tshark_conv'),
    ratio('core flows ÷ Suricata', 'core_flows', 'suricata'),
    // Like for like with the outside tools: whole processes, start-up included.
    wallRatio('TS flows() ÷ tshark conv,tcp, both by wall time', 'ts_flows', 'tshark_conv'),
    wallRatio('TS flows() ÷ Suricata, both by wall time', 'ts_flows', 'suricata'),
  ]
  const mach = machine()
  // The tree measured: HEAD plus whatever is not committed yet outside benches/.
  mach.uncommitted = (() => {
    try {
      return sh('git', ['status', '--porcelain', '--untracked-files=no']).split('\n').map((l) => l.replace(/^\s*\S+\s+/, '')).filter((f) => f && !f.startsWith('benches/'))
    } catch { return [] }
  })()
  const firstLine = (cmd, args) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' })
    return r.status === 0 ? `${r.stdout}${r.stderr}`.split('\n').find((l) => l.trim() && !/^Running as user/.test(l))?.trim() ?? null : null
  }
  const versions = {
    tshark: selected.some((c) => c.base === 'tshark_conv') && !status.get('tshark_conv') ? firstLine('tshark', ['--version']) : null,
    suricata: selected.some((c) => c.base === 'suricata') && !status.get('suricata') ? firstLine(o.suricata, ['-V']) : null,
    cc: selected.some((c) => c.base === 'c_flow_walk') ? firstLine('cc', ['--version']) : null,
  }

  // --------------------------------------------------------------- output
  const fmtGoal = (g) => {
    if (g.value == null) return [g.label, `n/a (${g.reason})`, `${g.cmp} ${g.goal}${g.unit ? ` ${g.unit}` : '×'}`, '']
    const v = g.unit ? `${g.value.toFixed(0)} ${g.unit}` : `${g.value.toFixed(g.value >= 10 ? 1 : 3)}×`
    return [g.label, v, `${g.cmp} ${g.goal}${g.unit ? ` ${g.unit}` : '×'}`, g.met == null ? '' : g.met ? 'met' : 'NOT met']
  }
  const header = ['contender', 'capture', 'packets/s', 'ns/packet', 'flows', 'in-process s', 'wall s', 'peak RSS MB', 'RSS after last packet MB', 'bytes/flow']
  const perFlow = (s) => {
    const v = s.tool === 'core_flows' && s.scale ? coreBytesPerFlow(scaleName(s.scale))
      : s.summary.rssBytesPerFlow?.median ?? s.summary.tableBytesPerFlow?.median
    return v == null ? '' : fmtNum(v, 0)
  }
  const capName = (s) => (s.capture ? (s.scale ? `${scaleName(s.scale)} concurrent` : 'mixed') : 'in memory')
  const rows = summaries.map((s) => s.summary
    ? [s.label, capName(s), cell(s.summary.pps, fmtRate), cell(s.summary.nsPerPacket, (x) => fmtNum(x, 0)),
        s.summary.flows ? fmtNum(s.summary.flows.median, 0) : '', cell(s.summary.seconds, (x) => fmtNum(x, 3)),
        cell(s.summary.wall, (x) => fmtNum(x, 3)),
        s.summary.rssMb ? cell(s.summary.rssMb, (x) => fmtNum(x, 0)) : 'n/a',
        s.summary.rssMbAtEnd ? cell(s.summary.rssMbAtEnd, (x) => fmtNum(x, 0)) : '', perFlow(s)]
    : [s.label, capName(s), s.status, '', '', '', '', '', '', ''])
  const goalRows = goals.map(fmtGoal)
  const moreRows = more.map((q) => [q.label, q.value != null ? `${q.value.toFixed(q.value >= 10 ? 1 : 3)}×` : `n/a (${q.reason})`])
  for (const sfx of ['', ...o.scales.map((n) => `@${scaleName(n)}`)]) {
    const v = trackingNs(sfx)
    moreRows.push([`flow tracking alone (core flows − core parse only), ns/packet${sfx ? ` ${sfx}` : ' (mixed)'}`, v == null ? 'n/a' : `${v.toFixed(0)} ns`])
  }

  const captureLine = (c) => `${c.meta.packets} packets, ${(c.meta.packetBytes / 1e6).toFixed(0)} MB of packet data (${(c.meta.fileBytes / 1e6).toFixed(0)} MB file), ${c.meta.flows} distinct flows`
  const machineLine = `${mach.nproc} × ${mach.cpu}, ${mach.memGb} GB, ${mach.os}, Node ${mach.node}, ${mach.rustc}; load ${mach.loadavg.join(' ')} at the end`
  console.log('')
  console.log(`mixed capture: ${rel(mixed.file)}: ${captureLine(mixed)}; IPv4 ${mixed.meta.ipv4}, IPv6 ${mixed.meta.ipv6}, TCP ${mixed.meta.tcp}, UDP ${mixed.meta.udp}, non-IP ${mixed.meta.nonIp}`)
  for (const s of synth) console.log(`synthetic: ${rel(s.file)}: ${captureLine(s)}, all tracked at once`)
  console.log(`machine: ${machineLine}`)
  console.log(`runs: ${o.runs} per contender, order alternating; median (min–max)\n`)
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[2].startsWith('unavailable') && i > 1 ? 0 : r[i].length))))
  const textRow = (r) => r.map((x, i) => (i < 2 ? x.padEnd(widths[i]) : x.padStart(widths[i]))).join('  ')
  console.log(textRow(header))
  console.log(widths.map((w) => '-'.repeat(w)).join('  '))
  for (const r of rows) console.log(r[2].startsWith('unavailable') ? `${r[0].padEnd(widths[0])}  ${r[1].padEnd(widths[1])}  ${r[2]}` : textRow(r))
  console.log('\ngoals (issue 3):')
  for (const [l, v, g, m] of goalRows) console.log(`  ${l.padEnd(96)} ${v.padStart(10)}  goal ${g.padEnd(9)} ${m}`)
  console.log('other measures (ratios of median packets/s):')
  for (const [l, v] of moreRows) console.log(`  ${l.padEnd(96)} ${v.padStart(10)}`)
  for (const n of notes) console.log(`note: ${n}`)

  const resultsDir = path.join(here, 'results')
  const base = o.only ? 'flows.partial' : 'flows'
  fs.mkdirSync(resultsDir, { recursive: true })
  const command = `node benches/run.mjs --suite flows --packets ${o.packets} --runs ${o.runs}${o.seed !== 1 ? ` --seed ${o.seed}` : ''}` +
    `${o.scales.join(',') !== '1000,100000,1000000' ? ` --scales ${o.scales.join(',')}` : ''}${o.only ? ` --only ${o.only.join(',')}` : ''}`
  const json = {
    benchmark: 'flows',
    command,
    machine: mach,
    versions,
    captures: { mixed: { ...mixed.meta, file: rel(mixed.file) }, synthetic: synth.map((s) => ({ ...s.meta, file: rel(s.file) })) },
    runs: o.runs,
    contenders: summaries,
    goals,
    ratios: more,
    trackingNsPerPacket: Object.fromEntries(['', ...o.scales.map((n) => `@${scaleName(n)}`)].map((sfx) => [sfx || 'mixed', trackingNs(sfx)])),
    notes,
    units: {
      pps: 'packets per second: the contender\'s own timer for flowtap, the C walk and flow_scale; spawn to exit for tshark and Suricata',
      wall: 'seconds, whole process incl. startup',
      rssKb: 'peak resident set size from /usr/bin/time -v',
      rssKbAtEnd: 'core_flows: VmRSS after the last packet was tracked, before the flows still open were ended',
    },
  }
  fs.writeFileSync(path.join(resultsDir, `${base}.json`), JSON.stringify(json, null, 2) + '\n')

  const md = []
  md.push('# Flow tracking', '')
  md.push(`Generated by \`${command}\` on ${mach.date.slice(0, 10)}.`, '')
  md.push(`- **Machine:** \`nproc\` = ${mach.nproc}; CPU: ${mach.cpu}; ${mach.memGb} GB RAM; ${mach.os}; Node ${mach.node}; ${mach.rustc}${mach.commit ? `; commit ${mach.commit}` : ''}; load average ${mach.loadavg.join(' ')} at the end (shared machine: expect noise)`)
  md.push(`- **Mixed capture:** \`${rel(mixed.file)}\` — ${captureLine(mixed)}; IPv4 ${mixed.meta.ipv4}, IPv6 ${mixed.meta.ipv6}, TCP ${mixed.meta.tcp}, UDP ${mixed.meta.udp}, non-IP ${mixed.meta.nonIp}; \`gen_capture\` v${mixed.meta.version}, seed ${mixed.meta.seed}, from real captures of the shared corpus. Flows end as they do in real traffic, so only a few thousand are tracked at once.`)
  if (mach.uncommitted.length) md.push(`- **Tree:** commit ${mach.commit} plus uncommitted changes to ${mach.uncommitted.map((f) => `\`${f}\``).join(', ')}`)
  const vs = Object.entries(versions).filter(([, v]) => v).map(([k, v]) => `${k}: ${v}`)
  if (vs.length) md.push(`- **Tools:** ${vs.join('; ')}`)
  for (const s of synth) md.push(`- **${scaleName(s.flows)} concurrent:** \`${rel(s.file)}\` — ${captureLine(s)} (${s.meta.packetsPerFlow} packets each; 3/4 TCP, 1/4 UDP; all open until the end): \`gen_capture --concurrent-flows ${s.flows} --packets ${s.meta.packets}\``)
  md.push(`- **Method:** ${o.runs} runs per contender in one session, order alternating (forward, reverse, …) after a page-cache warm-up. packets/s comes from each contender's own timer (open → last flow out) except tshark and Suricata, timed from spawn to exit (their start-up is included: about 0.3–0.5 s for tshark and 0.55 s for Suricata on a tiny capture); wall is the whole process; peak RSS is from \`/usr/bin/time -v\`; "RSS after last packet" is core_flows' own VmRSS when the last packet has been tracked and every flow is still in the table. bytes/flow: for core flows at a scale, (RSS after last packet − the same at ${small}) ÷ the flows added; for flow_scale, its own resident bytes per flow; for the C walk, its table (slots × 64 B) ÷ flows. Cells are median (min–max).`, '')
  md.push(`| ${header.join(' | ')} |`)
  md.push(`|${header.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`)
  for (const r of rows) md.push(r[2].startsWith('unavailable') ? `| ${r[0]} | ${r[1]} | ${r[2]} | | | | | | | |` : `| ${r.join(' | ')} |`)
  md.push('', '## Goals (issue 3)', '', '| measure | value | goal | |', '|---|---:|---|---|')
  for (const r of goalRows) md.push(`| ${r.join(' | ')} |`)
  md.push('', '| other measures (ratios of median packets/s) | value |', '|---|---:|')
  for (const r of moreRows) md.push(`| ${r.join(' | ')} |`)
  md.push('', '## Contenders', '')
  for (const t of FLOW_TOOLS) md.push(`- **${t.label}** (\`${t.id}\`) — ${t.measures}`)
  if (notes.length) {
    md.push('', '## Notes', '')
    for (const n of notes) md.push(`- ${n}`)
  }
  md.push('', 'Flow counts differ between tools by design: the C walk keys every IP packet (later fragments without ports, no ICMP pairing), tshark\'s table counts TCP conversations only, Suricata counts its own flows; flowtap\'s core and TS paths must agree with each other.')
  fs.writeFileSync(path.join(resultsDir, `${base}.md`), md.join('\n') + '\n')
  console.log(`\nwrote ${rel(path.join(resultsDir, `${base}.json`))} and ${rel(path.join(resultsDir, `${base}.md`))}`)
}

// ------------------------------------------------------------ packets suite

function packetsSuite(o) {

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
}

// --------------------------------------------------------------- live suite

/** Live capture over a veth pair: benches/live.mjs does it all (root; flowtap from dist/, so `npm run build` first). */
function liveSuite(o) {
  const args = [path.join(here, 'live.mjs'), '--packets', String(o.packets), '--runs', String(o.runs)]
  if (o.only) args.push('--only', o.only.join(','))
  const r = spawnSync(process.execPath, args, { stdio: 'inherit' })
  if (r.status !== 0) fail(`benches/live.mjs exited with ${r.status ?? r.signal}`)
}

// ------------------------------------------------------------ plugins suite

/** TS plugins vs the core and the built-in parsers: benches/plugins.mjs on the mixed capture and a Redis capture. */
function pluginsSuite(o) {
  if (o.build) build()
  const b = binaries()
  const mixed = capture(b, o)
  const args = [path.join(here, 'plugins.mjs'), '--mixed', mixed.file, '--core', b.core, '--runs', String(o.runs)]
  const r = spawnSync(process.execPath, args, { stdio: 'inherit' })
  if (r.status !== 0) fail(`benches/plugins.mjs exited with ${r.status ?? r.signal}`)
}

// ----------------------------------------------------------- sessions suite

/**
 * Reassembly + parsing against tshark, nDPI, Suricata, node_pcap on the
 * real-program workload (benches/workload/seeds scaled by gen_capture
 * --sources): benches/sessions.mjs. 500,000 packets unless --packets says
 * otherwise (tshark reads about 30k packets/s here).
 */
function sessionsSuite(o) {
  if (o.build) build()
  const b = binaries()
  const packets = o.packetsGiven ? o.packets : 500_000
  const dataDir = path.join(here, 'data')
  fs.mkdirSync(dataDir, { recursive: true })
  const file = path.join(dataDir, `workload-${packets}-s${o.seed}.pcap`)
  const version = Number(sh(b.gen, ['--version']))
  let fresh = false
  try {
    const m = JSON.parse(fs.readFileSync(`${file}.json`, 'utf8'))
    fresh = m.version === version && m.packets === packets && m.seed === o.seed && fs.statSync(file).size === m.fileBytes
  } catch { /* generate */ }
  if (!fresh) {
    console.log(`» generating ${rel(file)} from benches/workload/seeds (${packets} packets, seed ${o.seed})`)
    const r = spawnSync(b.gen, ['--sources', path.join(here, 'workload', 'seeds'), '--packets', String(packets), '--seed', String(o.seed), '--out', file], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
    if (r.status !== 0) fail('gen_capture --sources failed')
    fs.writeFileSync(`${file}.json`, r.stdout.trim().split('\n').pop() + '\n')
  }
  if (ensureNodePcap()) console.log('» node_pcap unavailable; its row will say so')
  const args = [path.join(here, 'sessions.mjs'), '--file', file, '--bin', b.dir, '--runs', String(o.runs), '--suricata', o.suricata]
  if (o.suite === 'all') args.push('--readme')
  const r = spawnSync(process.execPath, args, { stdio: 'inherit' })
  if (r.status !== 0) fail(`benches/sessions.mjs exited with ${r.status ?? r.signal}`)
}

// --------------------------------------------------------------- wasm suite

/** The WebAssembly build vs the native addon on the mixed capture: benches/wasm.mjs. */
function wasmSuite(o) {
  if (o.build) build()
  const mixed = capture(binaries(), o)
  const r = spawnSync(process.execPath, [path.join(here, 'wasm.mjs'), '--file', mixed.file, '--runs', String(o.runs)], { stdio: 'inherit' })
  if (r.status !== 0) fail(`benches/wasm.mjs exited with ${r.status ?? r.signal}`)
}

// --------------------------------------------------------------------- main

const o = parseArgs(process.argv.slice(2))
if (o.suite === 'flows') flowsSuite(o)
else if (o.suite === 'live') liveSuite(o)
else if (o.suite === 'plugins') pluginsSuite(o)
else if (o.suite === 'wasm') wasmSuite(o)
else if (o.suite === 'sessions' || o.suite === 'all') sessionsSuite(o)
else packetsSuite(o)
