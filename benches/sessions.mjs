// The side-by-side suite: flowtap (Rust core alone and through TypeScript)
// for packets, flows and sessions, next to the tools users would pick
// instead, on the same capture in one run, with the machine's limit.
//
//   node benches/sessions.mjs --file FILE --bin DIR [--runs R] [--suricata PATH] [--readme]
//   (benches/run.mjs --suite all — `npm run bench` — generates the workload
//   capture and passes these; --suite sessions is the same)
//
// Contenders (each run R times in turn; medians, min–max):
//   walk            mmap walk reading record headers and 5-tuples: the limit
//   core-packets    core_bench --mode for_each: read + decode every packet, Rust
//   ts-packetBatches / ts-packets   openPcap(FILE).packetBatches() / packets()
//   tcpdump         tcpdump -n -r FILE, output discarded (it decodes and prints every packet)
//   tshark-conv     tshark -q -z conv,tcp: its TCP conversation table
//   node_pcap       the `pcap` npm package decoding every packet
//   core-sessions   core_bench --mode sessions: flows, reassembly, parsers, Rust only
//   core-flows      core_bench --mode flows: flow tracking only, Rust
//   ts-flows        openPcap(FILE).flowBatches() from dist/
//   ts-sessions     openPcap(FILE).sessionBatches() from dist/ (every record built in JS)
//   tshark-fields   tshark extracting HTTP request/response, DNS and TLS hello fields
//   ndpiReader      nDPI's reader: flows + protocol detection (Debian libndpi-bin)
//   suricata        offline, no rules, EVE flow/http/dns/tls (suricata-sessions.yaml), if --suricata
//   node_pcap-tcp   the `pcap` npm package: decode every packet + its TCPTracker
//   zeek            reported unavailable: no package in the registries reachable here
// External tools are timed from spawn to exit; flowtap, walk and node_pcap
// by their own timers. Peak RSS from /usr/bin/time when present.
// Writes benches/results/sessions.{json,md,svg}; with --readme it also
// replaces the README's generated performance table (between the
// `<!-- bench:all -->` markers).
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '..')
const rel = (p) => path.relative(root, p)
const args = process.argv.slice(2)
const opt = (k, d) => (args.includes(k) ? args[args.indexOf(k) + 1] : d)
const file = opt('--file')
const bin = opt('--bin')
const runs = Number(opt('--runs', '3'))
const suricata = opt('--suricata', process.env.SURICATA || 'suricata')
if (!file || !bin) throw new Error('--file FILE and --bin DIR are required')
const which = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0
const timeBin = fs.existsSync('/usr/bin/time') ? '/usr/bin/time' : null
const meta = JSON.parse(fs.readFileSync(`${file}.json`, 'utf8'))

const suriLog = fs.mkdtempSync(path.join(os.tmpdir(), 'flowtap-bench-suricata-'))
const contenders = [
  { id: 'walk', what: 'limit: mmap walk over record headers and 5-tuples (Rust)', cmd: [path.join(bin, 'walk'), file], own: true },
  { id: 'core-packets', what: 'flowtap core (Rust): read + decode every packet', cmd: [path.join(bin, 'core_bench'), '--mode', 'for_each', file], own: true },
  { id: 'ts-packetBatches', what: 'flowtap `packetBatches()` in TypeScript (typed-array columns)', cmd: [process.execPath, path.join(here, 'ts_batches.mjs'), file], own: true },
  { id: 'ts-packets', what: 'flowtap `packets()` in TypeScript (a Packet per packet)', cmd: [process.execPath, path.join(here, 'ts_packets.mjs'), file], own: true },
  { id: 'tcpdump', what: 'tcpdump -n -r: decode and print every packet (output discarded)', cmd: ['tcpdump', '-n', '-r', file], discard: true, available: () => (which('tcpdump') ? null : 'tcpdump not installed') },
  { id: 'node_pcap', what: 'node_pcap 3.1.0: decode every packet', cmd: [process.execPath, path.join(here, 'node_pcap.mjs'), file], own: true, available: () => (fs.existsSync(path.join(here, 'node_modules', 'pcap')) ? null : 'node_pcap not installed (npm install --prefix benches)') },
  { id: 'core-sessions', what: 'flowtap core (Rust): flows, reassembly, HTTP/DNS/TLS parsers', cmd: [path.join(bin, 'core_bench'), '--mode', 'sessions', file], own: true },
  { id: 'core-flows', what: 'flowtap core (Rust): flow tracking only', cmd: [path.join(bin, 'core_bench'), '--mode', 'flows', file], own: true },
  { id: 'ts-flows', what: 'flowtap `flows()` in TypeScript', cmd: [process.execPath, path.join(here, 'ts_flows.mjs'), file], own: true },
  { id: 'tshark-conv', what: 'tshark -q -z conv,tcp: TCP conversation table', cmd: ['tshark', '-n', '-q', '-r', file, '-z', 'conv,tcp'], discard: true, available: () => (which('tshark') ? null : 'tshark not installed') },
  { id: 'ts-sessions', what: 'flowtap `sessions()` in TypeScript (every record an object)', cmd: [process.execPath, path.join(here, 'ts_sessions.mjs'), file], own: true },
  {
    id: 'tshark-fields',
    what: 'tshark: HTTP request/response, DNS and TLS hello fields',
    cmd: ['tshark', '-n', '-r', file, '-T', 'fields', '-e', 'frame.number', '-e', 'http.request.method', '-e', 'http.request.uri', '-e', 'http.response.code', '-e', 'dns.qry.name', '-e', 'tls.handshake.extensions_server_name', '-Y', 'http.request or http.response or dns or tls.handshake.type == 1 or tls.handshake.type == 2'],
    available: () => (which('tshark') ? null : 'tshark not installed'),
    records: (out) => out.split('\n').filter(Boolean).length,
  },
  { id: 'ndpiReader', what: 'nDPI ndpiReader: flows + protocol detection', cmd: ['ndpiReader', '-i', file, '-q'], available: () => (which('ndpiReader') ? null : 'ndpiReader not installed (Debian libndpi-bin)') },
  {
    id: 'suricata',
    what: 'Suricata offline, no rules, EVE flow/http/dns/tls',
    cmd: [suricata, '-c', path.join(here, 'suricata-sessions.yaml'), '-r', file, '--runmode', 'single', '-k', 'none', '-S', '/dev/null', '-l', suriLog],
    available: () => (which(suricata) ? null : `${suricata} not found (no Debian bookworm package; build from source, pass --suricata PATH)`),
    before: () => fs.rmSync(path.join(suriLog, 'eve.json'), { force: true }),
    // Its app-layer records (http, dns, tls), as flowtap's session events.
    records: () => {
      const eve = path.join(suriLog, 'eve.json')
      if (!fs.existsSync(eve)) return null
      return (fs.readFileSync(eve, 'utf8').match(/"event_type":"(http|dns|tls)"/g) ?? []).length
    },
  },
  { id: 'node_pcap-tcp', what: 'node_pcap 3.1.0: decode every packet + TCPTracker', cmd: [process.execPath, path.join(here, 'node_pcap.mjs'), file, '--tcp-tracker'], own: true, available: () => (fs.existsSync(path.join(here, 'node_modules', 'pcap')) ? null : 'node_pcap not installed (npm install --prefix benches)') },
  { id: 'zeek', what: 'Zeek', cmd: null, available: () => 'not installable here: no zeek package in Debian bookworm, npm or PyPI' },
]

function runOnce(c) {
  c.before?.()
  const cmd = timeBin ? [timeBin, '-f', 'FLOWTAP_RSS_KB=%M', ...c.cmd] : c.cmd
  const t0 = process.hrtime.bigint()
  const r = spawnSync(cmd[0], cmd.slice(1), { cwd: root, encoding: 'utf8', maxBuffer: 1 << 30, stdio: ['ignore', c.discard ? 'ignore' : 'pipe', 'pipe'] })
  const wall = Number(process.hrtime.bigint() - t0) / 1e9
  if (r.status !== 0) throw new Error(`${c.id}: exit ${r.status ?? r.signal}: ${(r.stderr || '').slice(-300)}`)
  const rss = Number(/FLOWTAP_RSS_KB=(\d+)/.exec(r.stderr || '')?.[1] ?? NaN)
  let j = {}
  if (c.own) j = JSON.parse(r.stdout.trim().split('\n').pop())
  return { seconds: c.own ? j.seconds : wall, wall, rssKb: rss, j, records: c.records ? c.records(r.stdout) : null }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const status = new Map(contenders.map((c) => [c.id, c.available ? c.available() : null]))
const results = Object.fromEntries(contenders.map((c) => [c.id, []]))
// One untimed read warms the page cache.
spawnSync(path.join(bin, 'walk'), [file])
for (let r = 0; r < runs; r++) {
  const order = r % 2 ? [...contenders].reverse() : contenders
  for (const c of order) {
    if (status.get(c.id)) continue
    const x = runOnce(c)
    results[c.id].push(x)
    console.log(`run ${r + 1}/${runs} ${c.id.padEnd(14)} ${x.seconds.toFixed(3)} s`)
  }
}
fs.rmSync(suriLog, { recursive: true, force: true })

const packets = meta.packets
const core = results['core-sessions'][0]?.j ?? {}
const payload = core.streamBytes ?? null
const rows = contenders.map((c) => {
  const xs = results[c.id]
  if (status.get(c.id) || xs.length === 0) return { id: c.id, what: c.what, unavailable: status.get(c.id) }
  const secs = xs.map((x) => x.seconds)
  const s = median(secs)
  const sessions = c.id === 'core-sessions' ? xs[0].j.sessions : c.id === 'ts-sessions' ? xs[0].j.sessions : c.records ? xs[0].records : null
  return {
    id: c.id,
    what: c.what,
    seconds: s,
    min: Math.min(...secs),
    max: Math.max(...secs),
    pps: packets / s,
    mbps: meta.packetBytes / s / 1e6,
    wall: median(xs.map((x) => x.wall)),
    payloadGBps: payload && ['core-sessions', 'ts-sessions'].includes(c.id) ? payload / s / 1e9 : null,
    sessions,
    sessionsPerSec: sessions != null ? sessions / s : null,
    rssMb: Number.isFinite(xs[0].rssKb) ? xs[0].rssKb / 1024 : null,
  }
})
const by = Object.fromEntries(rows.map((r) => [r.id, r]))
const ratio = (a, b) => (by[a]?.pps && by[b]?.pps ? by[a].pps / by[b].pps : null)
const ratios = [
  ['ts-flows ÷ tshark-conv (goal ≥ 30)', ratio('ts-flows', 'tshark-conv')],
  ['ts-flows ÷ suricata (goal ≥ 10)', ratio('ts-flows', 'suricata')],
  ['ts-packets ÷ node_pcap (goal ≥ 5)', ratio('ts-packets', 'node_pcap')],
  ['ts-packetBatches ÷ walk (goal ≥ 0.50)', ratio('ts-packetBatches', 'walk')],
  ['ts-packets ÷ tcpdump', ratio('ts-packets', 'tcpdump')],
  ['core-packets ÷ walk', ratio('core-packets', 'walk')],
  ['core-sessions payload GB/s (goal ≥ 1.5)', by['core-sessions']?.payloadGBps ?? null],
  ['ts-sessions ÷ core-sessions (goal ≥ 0.70)', ratio('ts-sessions', 'core-sessions')],
  ['ts-sessions ÷ suricata (goal ≥ 10)', ratio('ts-sessions', 'suricata')],
  ['ts-sessions ÷ tshark-fields', ratio('ts-sessions', 'tshark-fields')],
  ['ts-sessions ÷ ndpiReader', ratio('ts-sessions', 'ndpiReader')],
  ['ts-sessions ÷ node_pcap-tcp', ratio('ts-sessions', 'node_pcap-tcp')],
  ['core-sessions ÷ walk (limit)', ratio('core-sessions', 'walk')],
  ['ts-flows ÷ ndpiReader (goal ≥ 4)', ratio('ts-flows', 'ndpiReader')],
  ['core-flows ÷ walk (goal ≥ 0.60)', ratio('core-flows', 'walk')],
]
const machine = { cpus: os.cpus().length, model: os.cpus()[0]?.model, memGb: Math.round(os.totalmem() / 2 ** 30), node: process.version, kernel: os.release() }
const out = { suite: 'sessions', date: new Date().toISOString(), machine, capture: { file: rel(file), ...meta }, runs, rows, ratios: Object.fromEntries(ratios) }
const resDir = path.join(here, 'results')
fs.mkdirSync(resDir, { recursive: true })
fs.writeFileSync(path.join(resDir, 'sessions.json'), JSON.stringify(out, null, 2) + '\n')

const fmt = (v, d = 0) => (v == null ? '–' : v >= 1e6 ? `${(v / 1e6).toFixed(2)} M` : v >= 1e3 ? `${(v / 1e3).toFixed(d > 0 ? d : 0)} k` : v.toFixed(d))
const md = [
  '### Side by side: packets, flows, sessions',
  '',
  `\`node benches/run.mjs --suite ${args.includes('--readme') ? 'all' : 'sessions'} --runs ${runs}\` on ${machine.cpus} × ${machine.model}, ${machine.memGb} GB, Node ${machine.node}; ${new Date().toISOString().slice(0, 10)}.`,
  `Capture: \`${rel(file)}\` — ${packets.toLocaleString('en-US')} packets, ${(meta.fileBytes / 1e6).toFixed(0)} MB, ${meta.flows.toLocaleString('en-US')} flows, TCP ${meta.tcp}, UDP ${meta.udp}, IPv6 ${meta.ipv6}; \`gen_capture --sources benches/workload/seeds\` (real http.server/curl, dnsmasq/dig, openssl TLS 1.2/1.3 traffic, scaled), seed ${meta.seed}.`,
  `Median of ${runs} runs (min–max); external tools timed spawn→exit (start-up included).`,
  '',
  '| contender | median s (min–max) | wall s | packets/s | MB/s | payload GB/s | sessions/s | peak RSS MB |',
  '|---|---|---:|---:|---:|---:|---:|---:|',
  ...rows.map((r) =>
    r.unavailable
      ? `| ${r.what} (\`${r.id}\`) | unavailable: ${r.unavailable} | | | | | | |`
      : `| ${r.what} (\`${r.id}\`) | ${r.seconds.toFixed(2)} (${r.min.toFixed(2)}–${r.max.toFixed(2)}) | ${r.wall.toFixed(2)} | ${fmt(r.pps)} | ${r.mbps.toFixed(0)} | ${r.payloadGBps == null ? '–' : r.payloadGBps.toFixed(2)} | ${fmt(r.sessionsPerSec, 1)} | ${r.rssMb == null ? '–' : r.rssMb.toFixed(0)} |`,
  ),
  '',
  '| ratio | value |',
  '|---|---:|',
  ...ratios.map(([k, v]) => `| ${k} | ${v == null ? 'n/a' : v.toFixed(2)} |`),
  '',
  `sessions/s counts what each tool emits: flowtap its session events (HTTP transactions, DNS transactions, TLS hellos/ends), tshark its matching packets, Suricata its EVE http/dns/tls records.${by.suricata?.seconds ? ` Suricata: ${spawnSync(suricata, ['-V'], { encoding: 'utf8' }).stdout.trim()}.` : ''}`,
  '',
  '![packets/s per contender](sessions.svg)',
]
fs.writeFileSync(path.join(resDir, 'sessions.md'), md.join('\n') + '\n')
if (args.includes('--readme')) {
  // The README's table is this one, with links made relative to the repository root.
  const readme = path.join(root, 'README.md')
  const text = fs.readFileSync(readme, 'utf8')
  const start = '<!-- bench:all:start -->'
  const end = '<!-- bench:all:end -->'
  const a = text.indexOf(start)
  const b = text.indexOf(end)
  if (a >= 0 && b > a) {
    const body = md.slice(1).join('\n').replace('](sessions.svg)', '](benches/results/sessions.svg)')
    fs.writeFileSync(readme, `${text.slice(0, a + start.length)}\n<!-- generated by node benches/run.mjs --suite all; do not edit -->\n${body}\n${text.slice(b)}`)
    console.log('» README.md performance table updated')
  }
}
fs.writeFileSync(path.join(resDir, 'sessions.svg'), barChart('packets/s per tool and task (log scale)', rows.filter((r) => !r.unavailable).map((r) => [r.id, r.pps])))
console.log('\n' + md.join('\n'))

/** A horizontal bar chart, log scale, as standalone SVG. */
function barChart(title, bars) {
  const w = 760
  const rowH = 28
  const left = 150
  const top = 40
  const h = top + bars.length * rowH + 30
  const max = Math.max(...bars.map(([, v]) => v))
  const lo = 10 ** Math.floor(Math.log10(Math.min(...bars.map(([, v]) => v)) / 2))
  const x = (v) => left + ((Math.log10(v) - Math.log10(lo)) / (Math.log10(max * 1.5) - Math.log10(lo))) * (w - left - 90)
  const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;')
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif" font-size="12">`, `<rect width="100%" height="100%" fill="white"/>`, `<text x="${left}" y="22" font-size="14" font-weight="bold">${esc(title)}</text>`]
  for (let d = lo; d <= max * 1.5; d *= 10) parts.push(`<line x1="${x(d)}" x2="${x(d)}" y1="${top - 6}" y2="${h - 24}" stroke="#ddd"/><text x="${x(d)}" y="${h - 8}" text-anchor="middle" fill="#666">${fmt(d)}</text>`)
  bars.forEach(([name, v], i) => {
    const y = top + i * rowH
    const flowtap = /^(core|ts)-/.test(name)
    parts.push(`<text x="${left - 8}" y="${y + 17}" text-anchor="end">${esc(name)}</text>`)
    parts.push(`<rect x="${left}" y="${y + 4}" width="${Math.max(1, x(v) - left)}" height="${rowH - 10}" fill="${flowtap ? '#3a7bd5' : name === 'walk' ? '#999' : '#e69138'}"/>`)
    parts.push(`<text x="${x(v) + 6}" y="${y + 17}">${esc(fmt(v))}</text>`)
  })
  parts.push('</svg>')
  return parts.join('\n') + '\n'
}
