#!/usr/bin/env node
// Live-capture benchmark (issue 5). A sender in a network namespace
// (c/udp_flood.c: sendmmsg, 64 small UDP datagrams per call, 1024 source
// ports) floods a veth pair at its maximum rate; on the other end, in the
// root namespace, one capturing process at a time takes the traffic with the
// filter `udp`, the contenders alternating within each run:
//
//   tcpdump          tcpdump -w /dev/null (libpcap, TPACKET_V3)
//   node_pcap        the npm `pcap` package's live session, pcap.decode.packet()
//                    on every packet, reading both ports as its users do
//   flowtap-flows    capture(iface).flows(): flow tracking, packets counted per flow
//   flowtap-packets  capture(iface).packets(): a Packet object per packet, ports read
//   flowtap-batches  capture(iface).keepBytes(false).packetBatches(): the column path
//
// All use a 32 MiB kernel buffer (tcpdump -B, node_pcap buffer_size, flowtap's
// default ring of 32 x 1 MiB). Reported per contender (median of the runs):
// packets sent and the sender's rate, packets captured, kernel drops, and CPU
// seconds (/proc/PID/task/*/schedstat, all threads) per million
// captured packets of the capturing process, from the moment it is ready
// until it has drained the traffic (start-up, the wait for the last ring
// block's timeout and shutdown excluded).
//
//   node benches/live.mjs [--packets N (2000000)] [--seconds S (0: no limit)]
//                         [--runs R (3)] [--only a,b,...]
//   node benches/live.mjs --consumer KIND IFACE       (what the driver spawns)
//
// Root only; creates the namespace `ftbl` and veth pair `ftblH`/`ftblP`
// (removing leftovers of a killed run first) and removes them at the end.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))

// ------------------------------------------------------------------ consumer

if (process.argv[2] === '--consumer') {
  await consumer(process.argv[3], process.argv[4])
  process.exit(0)
}

/** Captures IFACE until SIGTERM, prints "ready" once capturing, then one JSON line. */
async function consumer(kind, iface) {
  const BUFFER = 32 << 20
  if (kind === 'node_pcap') {
    let pcap
    try {
      pcap = createRequire(join(here, 'package.json'))('pcap')
    } catch (e) {
      console.error(`unavailable: cannot load the pcap package (npm install --prefix benches): ${String(e.message).split('\n')[0]}`)
      process.exit(3)
    }
    const session = pcap.createSession(iface, { filter: 'udp', buffer_size: BUFFER })
    let n = 0
    let ports = 0
    session.on('packet', (raw) => {
      const p = pcap.decode.packet(raw)
      n++
      const l4 = p.payload?.payload?.payload
      if (l4) ports ^= l4.sport ^ l4.dport
    })
    process.on('SIGTERM', () => {
      const s = session.stats()
      session.close()
      process.stdout.write(JSON.stringify({ packets: n, drops: s.ps_drop, received: s.ps_recv, ports }) + '\n')
      process.exit(0)
    })
    process.stdout.write('ready\n')
    await new Promise(() => {}) // until SIGTERM
  }
  const { capture } = await import(join(here, '..', 'dist', 'index.mjs'))
  const src = capture(iface).filter('udp')
  process.on('SIGTERM', () => src.stop())
  let n = 0
  let ports = 0
  let iterate
  if (kind === 'flowtap-flows') {
    iterate = async () => {
      for await (const ev of src.flows({ udpIdleMs: 3_600_000 })) if (ev.type === 'flow.end') n += ev.origStats.packets + ev.respStats.packets
    }
  } else if (kind === 'flowtap-packets') {
    iterate = async () => {
      for await (const p of src.packets()) {
        n++
        ports ^= p.srcPort ^ p.dstPort
      }
    }
  } else if (kind === 'flowtap-batches') {
    iterate = async () => {
      for await (const b of src.keepBytes(false).packetBatches()) {
        n += b.length
        const { srcPort, dstPort } = b.columns
        for (let i = 0; i < b.length; i++) ports ^= srcPort[i] ^ dstPort[i]
      }
    }
  } else {
    console.error(`unknown consumer ${kind}`)
    process.exit(2)
  }
  // opened() is asked before the first batch can arrive (it misses an
  // open that happened before it was called).
  const opened = src.opened()
  const done = iterate()
  if (!(await opened)) {
    await done.catch((e) => console.error(`unavailable: ${e.code ?? ''} ${e.message}`))
    process.exit(3)
  }
  process.stdout.write('ready\n')
  await done
  const live = src.stats().live
  process.stdout.write(JSON.stringify({ packets: n, decoded: src.stats().packets, drops: live.kernelDrops, received: live.received, ports }) + '\n')
}

// -------------------------------------------------------------------- driver

const argv = process.argv.slice(2)
const arg = (name, d) => {
  const i = argv.indexOf(`--${name}`)
  if (i < 0) return d
  const v = argv[i + 1]
  if (v === undefined) throw new Error(`--${name} needs a value`)
  return v
}
const PACKETS = Number(arg('packets', 2_000_000))
const SECONDS = Number(arg('seconds', 0))
const RUNS = Number(arg('runs', 3))
const ALL = ['tcpdump', 'node_pcap', 'flowtap-flows', 'flowtap-packets', 'flowtap-batches']
const ONLY = arg('only', ALL.join(',')).split(',')
for (const o of ONLY) if (!ALL.includes(o)) throw new Error(`unknown contender ${o}; contenders: ${ALL.join(', ')}`)
if (!(PACKETS > 0) || !(RUNS > 0) || !(SECONDS >= 0)) throw new Error('--packets and --runs must be positive, --seconds not negative')
if (process.getuid?.() !== 0) {
  console.error('benches/live.mjs needs root (a network namespace, CAP_NET_RAW)')
  process.exit(1)
}

const NS = 'ftbl'
const HOST = 'ftblH'
const PEER = 'ftblP'
const HOST_IP = '10.212.0.1'
const NS_IP = '10.212.0.2'
// Routed to our end and dropped there: forwarding is off on ftblH, so no
// forwarding and no ICMP back; the capture sees only the flood.
const TARGET = '10.212.0.99'
const TICK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100

function sh(cmd, ...args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 120_000 })
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.error}`)
  return r.stdout
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

function teardown() {
  const pids = spawnSync('ip', ['netns', 'pids', NS], { encoding: 'utf8' }).stdout ?? ''
  for (const pid of pids.split('\n').filter(Boolean)) spawnSync('kill', ['-9', pid])
  spawnSync('ip', ['netns', 'del', NS])
  if (existsSync(`/sys/class/net/${HOST}`)) spawnSync('ip', ['link', 'del', HOST])
}

function setup() {
  teardown()
  sh('ip', 'netns', 'add', NS)
  // gso_max_segs 1: no GSO super-packets (the flood is UDP anyway).
  sh('ip', 'link', 'add', HOST, 'gso_max_segs', '1', 'type', 'veth', 'peer', 'name', PEER, 'gso_max_segs', '1')
  sh('ip', 'link', 'set', PEER, 'netns', NS)
  spawnSync('sysctl', ['-qw', `net.ipv6.conf.${HOST}.disable_ipv6=1`])
  sh('sysctl', '-qw', `net.ipv4.conf.${HOST}.forwarding=0`)
  sh('ip', 'addr', 'add', `${HOST_IP}/24`, 'dev', HOST)
  sh('ip', 'link', 'set', HOST, 'up')
  const mac = readFileSync(`/sys/class/net/${HOST}/address`, 'utf8').trim()
  const ns = (...a) => sh('ip', 'netns', 'exec', NS, ...a)
  ns('sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1')
  ns('ip', 'addr', 'add', `${NS_IP}/24`, 'dev', PEER)
  ns('ip', 'link', 'set', PEER, 'up')
  ns('ip', 'link', 'set', 'lo', 'up')
  ns('ip', 'neigh', 'replace', TARGET, 'lladdr', mac, 'dev', PEER)
}

/**
 * CPU seconds a process has used, all threads: the sum of their
 * `schedstat` run times (nanoseconds; threads that exited drop out, which
 * does not happen while a capture runs), else utime + stime from `stat`
 * (clock ticks, 10 ms).
 */
function procCpu(pid) {
  try {
    let ns = 0
    for (const t of readdirSync(`/proc/${pid}/task`)) ns += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0])
    if (ns > 0) return ns / 1e9
  } catch {
    // no schedstat: fall back to stat
  }
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(f[11]) + Number(f[12])) / TICK
}

function waitFor(child, stream, text, ms = 15_000) {
  return new Promise((resolve, reject) => {
    let buf = ''
    const fail = (why) => {
      clearTimeout(t)
      reject(new Error(`${why}: ${buf.trim().split('\n').slice(-2).join(' ')}`))
    }
    const t = setTimeout(() => fail(`no "${text}" within ${ms} ms`), ms)
    stream.on('data', (d) => {
      buf += d.toString()
      if (buf.includes(text)) {
        clearTimeout(t)
        resolve()
      }
    })
    child.once('exit', (code) => fail(`exited with ${code}`))
  })
}

/** Waits until the process has used no CPU for 300 ms (it drained the ring), at most 10 s. */
async function drained(pid) {
  let last = procCpu(pid)
  let quiet = 0
  for (let i = 0; i < 100 && quiet < 3; i++) {
    await sleep(100)
    const c = procCpu(pid)
    quiet = c - last <= 0.002 ? quiet + 1 : 0
    last = c
  }
}

const children = new Set()
function start(cmd, args) {
  const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(p)
  p.once('exit', () => children.delete(p))
  let out = ''
  let err = ''
  p.stdout.on('data', (d) => (out += d.toString()))
  p.stderr.on('data', (d) => (err += d.toString()))
  return { p, out: () => out, err: () => err, exited: new Promise((r) => p.once('close', r)) }
}

async function measure(name, flood) {
  const tcpdump = name === 'tcpdump'
  const c = tcpdump
    ? start('tcpdump', ['-Z', 'root', '-n', '-i', HOST, '-B', String(32 << 10), '-w', '/dev/null', 'udp'])
    : start(process.execPath, [fileURLToPath(import.meta.url), '--consumer', name, HOST])
  try {
    await (tcpdump ? waitFor(c.p, c.p.stderr, 'listening on') : waitFor(c.p, c.p.stdout, 'ready'))
  } catch (e) {
    c.p.kill('SIGKILL')
    await c.exited
    const reason = c.err().match(/unavailable: (.*)/)?.[1] ?? e.message
    return { unavailable: reason.split('\n')[0] }
  }
  const cpu0 = procCpu(c.p.pid)
  const sent = JSON.parse(sh('ip', 'netns', 'exec', NS, flood, TARGET, '9000', String(PACKETS), String(SECONDS)))
  await drained(c.p.pid)
  const cpu = procCpu(c.p.pid) - cpu0
  // A ring block still being filled reaches user space after its timeout
  // (libpcap: 1 s; flowtap: 50 ms): let the last one retire before stopping.
  await sleep(1500)
  c.p.kill(tcpdump ? 'SIGINT' : 'SIGTERM')
  const timer = setTimeout(() => c.p.kill('SIGKILL'), 10_000)
  await c.exited
  clearTimeout(timer)
  let r
  if (tcpdump) {
    const num = (re) => Number(re.exec(c.err())?.[1] ?? NaN)
    r = { packets: num(/(\d+) packets? captured/), drops: num(/(\d+) packets? dropped by kernel/), received: num(/(\d+) packets? received by filter/) }
  } else {
    try {
      r = JSON.parse(c.out().trim().split('\n').pop())
    } catch {
      return { unavailable: `printed no result: ${c.err().trim().split('\n')[0]}` }
    }
  }
  return { sent: sent.sent, senderPps: sent.pps, packets: r.packets, drops: r.drops, received: r.received, cpu: Number(cpu.toFixed(4)) }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

async function main() {
  const flood = join(here, 'data', 'udp_flood')
  mkdirSync(dirname(flood), { recursive: true })
  sh('cc', '-O2', '-o', flood, join(here, 'c', 'udp_flood.c'))
  if (ONLY.some((n) => n.startsWith('flowtap')) && !existsSync(join(here, '..', 'dist', 'index.mjs'))) {
    throw new Error('dist/ is missing: npm run build first')
  }
  const cleanup = () => {
    for (const p of children) p.kill('SIGKILL')
    teardown()
  }
  for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => (cleanup(), process.exit(130)))
  setup()
  const raw = Object.fromEntries(ONLY.map((n) => [n, []]))
  try {
    for (let run = 0; run < RUNS; run++) {
      // Rotate the order so no contender always follows the same one.
      const order = ONLY.map((_, i) => ONLY[(i + run) % ONLY.length])
      for (const name of order) {
        const r = await measure(name, flood)
        raw[name].push(r)
        console.error(`run ${run + 1}/${RUNS} ${name}: ${JSON.stringify(r)}`)
      }
    }
  } finally {
    cleanup()
  }

  const rows = ONLY.map((name) => {
    const ok = raw[name].filter((r) => !r.unavailable)
    if (ok.length === 0) return { name, unavailable: raw[name][0].unavailable }
    return {
      name,
      runs: ok.length,
      sent: median(ok.map((r) => r.sent)),
      senderPps: Math.round(median(ok.map((r) => r.senderPps))),
      captured: median(ok.map((r) => r.packets)),
      drops: median(ok.map((r) => r.drops)),
      cpuSeconds: Number(median(ok.map((r) => r.cpu)).toFixed(3)),
      cpuPerMillion: Number(median(ok.map((r) => (r.cpu / Math.max(1, r.packets)) * 1e6)).toFixed(3)),
    }
  })
  const base = rows.find((r) => r.name === 'tcpdump' && !r.unavailable)
  const fmt = (n) => n.toLocaleString('en')
  let md = `# Live capture: ${fmt(PACKETS)} UDP datagrams per run${SECONDS ? ` (at most ${SECONDS} s)` : ''} over a veth pair, ${RUNS} runs (median)\n\n`
  md += 'Sender: `c/udp_flood.c` (sendmmsg, 64 per call, 1024 source ports) in a namespace, at its maximum rate; every capture with the filter `udp` and a 32 MiB buffer. '
  md += 'CPU: run time of the capturing process (all threads, from /proc schedstat) from ready until it drained the traffic.\n\n'
  md += '| capturing process | sent | sender pkt/s | captured | kernel drops | CPU s | CPU s per million packets | ÷ tcpdump |\n|---|---:|---:|---:|---:|---:|---:|---:|\n'
  for (const r of rows) {
    if (r.unavailable) md += `| ${r.name} | unavailable: ${r.unavailable} | | | | | | |\n`
    else md += `| ${r.name} | ${fmt(r.sent)} | ${fmt(r.senderPps)} | ${fmt(r.captured)} | ${fmt(r.drops)} | ${r.cpuSeconds} | ${r.cpuPerMillion} | ${base?.cpuPerMillion ? (r.cpuPerMillion / base.cpuPerMillion).toFixed(2) : '-'} |\n`
  }
  const load = os.loadavg()[0].toFixed(2)
  md += `\nMachine: ${os.cpus().length} cores (${os.cpus()[0]?.model.trim()}), Linux ${os.release()}, Node ${process.version}, load average ${load} at the end, ${new Date().toISOString().slice(0, 10)}.\n`
  md += `Command: \`node benches/live.mjs --packets ${PACKETS}${SECONDS ? ` --seconds ${SECONDS}` : ''} --runs ${RUNS}${ONLY.length < ALL.length ? ` --only ${ONLY.join(',')}` : ''}\`.\n`
  mkdirSync(join(here, 'results'), { recursive: true })
  writeFileSync(join(here, 'results', 'live.md'), md)
  const meta = { cores: os.cpus().length, cpu: os.cpus()[0]?.model.trim(), kernel: os.release(), node: process.version, loadavg: os.loadavg(), date: new Date().toISOString() }
  writeFileSync(join(here, 'results', 'live.json'), JSON.stringify({ packets: PACKETS, seconds: SECONDS, runs: RUNS, meta, rows, raw }, null, 2) + '\n')
  process.stdout.write(md)
}

await main()
