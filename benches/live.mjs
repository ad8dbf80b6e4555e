// Live-capture benchmark (issue 5): a sender in a network namespace floods
// small UDP datagrams (C, sendmmsg) across a veth pair at its maximum rate;
// side by side in one run, each capturing process takes the same traffic on
// the other end: tcpdump -w /dev/null, node_pcap's live session decoding
// every packet, flowtap flows() and packetBatches() consumers. Reports
// packets captured, kernel drops and CPU seconds per million packets of the
// capturing process from the moment it is ready (start-up excluded). Needs
// root; creates and removes its namespace.
//
//   node benches/live.mjs [--packets N] [--runs R]
import { spawn, spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const arg = (name, d) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? Number(process.argv[i + 1]) : d
}
const PACKETS = arg('packets', 2_000_000)
const RUNS = arg('runs', 3)
const NS = 'ftbl'
const HOST = 'ftblH'
const PEER = 'ftblP'
const TARGET = '10.212.0.99' // routed to the host end, then dropped there (no forwarding, no ICMP)

function sh(cmd, ...args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`)
  return r.stdout
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

function setup() {
  teardown()
  sh('ip', 'netns', 'add', NS)
  sh('ip', 'link', 'add', HOST, 'type', 'veth', 'peer', 'name', PEER)
  sh('ip', 'link', 'set', PEER, 'netns', NS)
  spawnSync('sysctl', ['-qw', `net.ipv6.conf.${HOST}.disable_ipv6=1`])
  sh('ip', 'addr', 'add', '10.212.0.1/24', 'dev', HOST)
  sh('ip', 'link', 'set', HOST, 'up')
  const mac = readFileSync(`/sys/class/net/${HOST}/address`, 'utf8').trim()
  const ns = (...a) => sh('ip', 'netns', 'exec', NS, ...a)
  ns('sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1')
  ns('ip', 'addr', 'add', '10.212.0.2/24', 'dev', PEER)
  ns('ip', 'link', 'set', PEER, 'up')
  ns('ip', 'neigh', 'add', TARGET, 'lladdr', mac, 'dev', PEER)
}

function teardown() {
  spawnSync('ip', ['link', 'del', HOST])
  spawnSync('ip', ['netns', 'del', NS])
}

/** utime + stime of a live process, seconds. */
function procCpu(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  const tck = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100
  return (Number(f[11]) + Number(f[12])) / tck
}

function waitFor(stream, text, ms = 10_000) {
  return new Promise((resolve, reject) => {
    let buf = ''
    const t = setTimeout(() => reject(new Error(`no "${text}" within ${ms} ms: ${buf}`)), ms)
    stream.on('data', (d) => {
      buf += d.toString()
      if (buf.includes(text)) {
        clearTimeout(t)
        resolve()
      }
    })
  })
}

function send(bin) {
  return JSON.parse(sh('ip', 'netns', 'exec', NS, bin, TARGET, '9000', String(PACKETS)))
}

const contenders = {
  async tcpdump(bin) {
    const p = spawn('tcpdump', ['-Z', 'root', '-i', HOST, '-w', '/dev/null', '-B', String(32 << 10), 'udp'], { stdio: ['ignore', 'ignore', 'pipe'] })
    let err = ''
    p.stderr.on('data', (d) => (err += d.toString()))
    await waitFor(p.stderr, 'listening on')
    const cpu0 = procCpu(p.pid)
    const s = send(bin)
    await sleep(1500)
    const cpu = procCpu(p.pid) - cpu0
    p.kill('SIGINT')
    await new Promise((r) => p.once('close', r))
    const num = (re) => Number(re.exec(err)?.[1] ?? NaN)
    return { sent: s.sent, senderPps: s.pps, packets: num(/(\d+) packets captured/), drops: num(/(\d+) packets dropped by kernel/), cpu }
  },
  'node_pcap': (bin) => consumer('node_pcap', bin),
  'flowtap-flows': (bin) => consumer('flowtap-flows', bin),
  'flowtap-packets': (bin) => consumer('flowtap-packets', bin),
}

async function consumer(kind, bin) {
  const p = spawn(process.execPath, [join(here, 'live_consumer.mjs'), kind, HOST], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  p.stdout.on('data', (d) => (out += d.toString()))
  p.stderr.on('data', (d) => (err += d.toString()))
  await waitFor(p.stdout, 'ready').catch((e) => {
    p.kill('SIGKILL')
    throw new Error(`${kind}: ${e.message} ${err}`)
  })
  const s = send(bin)
  await sleep(1500)
  p.kill('SIGTERM')
  await new Promise((r) => p.once('close', r))
  const line = out.trim().split('\n').pop()
  let r
  try {
    r = JSON.parse(line)
  } catch {
    return { unavailable: `${kind} printed no result: ${err.split('\n')[0]}` }
  }
  return { sent: s.sent, senderPps: s.pps, packets: r.packets, drops: r.drops, cpu: r.cpu }
}

const bin = join(here, 'data', 'udp_flood')
mkdirSync(dirname(bin), { recursive: true })
sh('cc', '-O2', '-o', bin, join(here, 'c', 'udp_flood.c'))
setup()
const results = {}
try {
  for (let run = 0; run < RUNS; run++) {
    for (const [name, fn] of Object.entries(contenders)) {
      let r
      try {
        r = await fn(bin)
      } catch (e) {
        r = { unavailable: String(e.message).split('\n')[0] }
      }
      ;(results[name] ??= []).push(r)
      console.error(name, JSON.stringify(r))
    }
  }
} finally {
  teardown()
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const rows = Object.entries(results).map(([name, rs]) => {
  const ok = rs.filter((r) => !r.unavailable)
  if (ok.length === 0) return { name, unavailable: rs[0].unavailable }
  return {
    name,
    sent: median(ok.map((r) => r.sent)),
    senderPps: Math.round(median(ok.map((r) => r.senderPps))),
    captured: median(ok.map((r) => r.packets)),
    drops: median(ok.map((r) => r.drops)),
    cpuPerMillion: Number(median(ok.map((r) => (r.cpu / Math.max(1, r.packets)) * 1e6)).toFixed(3)),
    runs: ok.length,
  }
})
const td = rows.find((r) => r.name === 'tcpdump')
let md = `# Live capture: ${PACKETS.toLocaleString('en')} UDP datagrams per run over a veth pair, ${RUNS} runs each (median)\n\n`
md += 'Sender: `c/udp_flood.c` (sendmmsg, 64 per call, 1024 source ports) in a namespace, at its maximum rate.\n\n'
md += '| capturing process | sender pkt/s | captured | kernel drops | CPU s per million packets | ÷ tcpdump (CPU) |\n|---|---:|---:|---:|---:|---:|\n'
for (const r of rows) {
  if (r.unavailable) md += `| ${r.name} | unavailable: ${r.unavailable} | | | | |\n`
  else md += `| ${r.name} | ${r.senderPps.toLocaleString('en')} | ${r.captured.toLocaleString('en')} | ${r.drops.toLocaleString('en')} | ${r.cpuPerMillion} | ${td && !td.unavailable ? (r.cpuPerMillion / td.cpuPerMillion).toFixed(2) : '-'} |\n`
}
md += `\nMachine: ${spawnSync('nproc', { encoding: 'utf8' }).stdout.trim()} cores, ${process.version}, ${new Date().toISOString().slice(0, 10)}.\n`
mkdirSync(join(here, 'results'), { recursive: true })
writeFileSync(join(here, 'results', 'live.md'), md)
writeFileSync(join(here, 'results', 'live.json'), JSON.stringify({ packets: PACKETS, runs: RUNS, rows, raw: results }, null, 2))
process.stdout.write(md)
