// Live capture against real programs: a network namespace this file creates
// holds a real HTTP server (python3 -m http.server) and a real DNS server
// (dnsmasq); clients (curl, Node's resolver, UDP senders) run here and the
// capture runs on our end of the veth pair. Root only; CI runs as root, so
// there every test here runs.
import test from 'ava'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import dgram from 'node:dgram'
import { Resolver } from 'node:dns/promises'
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { capture, openPcap, type FlowEvent, type SessionEvent } from 'flowtap'
import { root } from './helpers.js'

const isRoot = process.getuid?.() === 0
const id = process.pid % 200
const NS = `ftl${process.pid}`
const HOST = `ftlh${process.pid % 100_000}`
const PEER = `ftlp${process.pid % 100_000}`
const HOST_IP = `10.211.${id}.1`
const NS_IP = `10.211.${id}.2`
const tmp = mkdtempSync(join(tmpdir(), 'flowtap-live-'))
const children: ChildProcess[] = []
let ready = false

function sh(cmd: string, ...args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 })
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.error}`)
  return r.stdout
}

/** Starts a program inside the namespace; killed when the file ends. */
function inNs(cmd: string, ...args: string[]): ChildProcess {
  const p = spawn('ip', ['netns', 'exec', NS, cmd, ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
  children.push(p)
  return p
}

async function until(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

test.before(async () => {
  if (!isRoot) return
  spawnSync('ip', ['netns', 'del', NS])
  spawnSync('ip', ['link', 'del', HOST])
  sh('ip', 'netns', 'add', NS)
  sh('ip', 'link', 'add', HOST, 'type', 'veth', 'peer', 'name', PEER)
  sh('ip', 'link', 'set', PEER, 'netns', NS)
  // IPv4 only: no router solicitations or DAD noise in the counts.
  spawnSync('sysctl', ['-qw', `net.ipv6.conf.${HOST}.disable_ipv6=1`])
  sh('ip', 'addr', 'add', `${HOST_IP}/24`, 'dev', HOST)
  sh('ip', 'link', 'set', HOST, 'up')
  sh('ip', 'netns', 'exec', NS, 'sysctl', '-qw', `net.ipv6.conf.all.disable_ipv6=1`)
  sh('ip', 'netns', 'exec', NS, 'ip', 'addr', 'add', `${NS_IP}/24`, 'dev', PEER)
  sh('ip', 'netns', 'exec', NS, 'ip', 'link', 'set', PEER, 'up')
  sh('ip', 'netns', 'exec', NS, 'ip', 'link', 'set', 'lo', 'up')
  // The HTTP server's files.
  const www = join(tmp, 'www')
  sh('mkdir', '-p', www)
  writeFileSync(join(www, 'index.html'), '<html>flowtap</html>\n')
  writeFileSync(join(www, 'big.bin'), Buffer.alloc(200_000, 7))
  inNs('python3', '-m', 'http.server', '8080', '--bind', NS_IP, '--directory', www)
  inNs(
    'dnsmasq',
    '--no-daemon',
    '--no-resolv',
    '--no-hosts',
    '--bind-interfaces',
    `--listen-address=${NS_IP}`,
    '--port=53',
    `--pid-file=${join(tmp, 'dnsmasq.pid')}`,
    '--user=root',
    '--address=/example.test/10.9.9.9',
    '--address=/flowtap.test/10.9.9.10',
  )
  await until('the HTTP server', () => spawnSync('curl', ['-s', '-o', '/dev/null', `http://${NS_IP}:8080/`]).status === 0)
  ready = true
})

test.after.always(() => {
  for (const p of children) p.kill('SIGKILL')
  if (isRoot) {
    spawnSync('ip', ['link', 'del', HOST])
    spawnSync('ip', ['netns', 'del', NS])
  }
  rmSync(tmp, { recursive: true, force: true })
})

function need(t: { fail(m: string): void; log(m: string): void }): boolean {
  if (isRoot && ready) return true
  if (process.env.CI) t.fail(isRoot ? 'the namespace could not be set up' : 'live capture tests must run as root in CI')
  else t.log('skipped: live capture needs root (CAP_NET_RAW) and network namespaces')
  return false
}

/** Sends `n` datagrams carrying their sequence number, `burst` at a time. */
async function sendSeq(n: number, port: number, burst = 200, srcPorts = 1): Promise<void> {
  const socks = Array.from({ length: srcPorts }, () => dgram.createSocket('udp4'))
  for (let i = 0; i < n; i += burst) {
    await Promise.all(
      Array.from({ length: Math.min(burst, n - i) }, (_, k) => {
        const seq = i + k
        const b = Buffer.alloc(16)
        b.write('flowtap!', 0)
        b.writeUInt32BE(seq, 8)
        return new Promise((r) => socks[seq % srcPorts]!.send(b, port, NS_IP, r))
      }),
    )
    await new Promise((r) => setImmediate(r))
  }
  for (const s of socks) s.close()
}

test.serial('every UDP datagram is captured exactly once, with no drops', async (t) => {
  if (!need(t)) return
  const src = capture(HOST).filter('udp and dst port 9999').ring({ blockTimeoutMs: 10 })
  const seen = new Map<number, number>()
  const done = (async () => {
    for await (const p of src.packets()) {
      const d = Buffer.from(p.payload.buffer, p.payload.byteOffset, p.payload.byteLength)
      if (d.length >= 12 && d.toString('latin1', 0, 8) === 'flowtap!') {
        const seq = d.readUInt32BE(8)
        seen.set(seq, (seen.get(seq) ?? 0) + 1)
      }
    }
  })()
  t.true(await src.opened())
  await sendSeq(5000, 9999)
  await new Promise((r) => setTimeout(r, 200))
  src.stop()
  await done
  t.is(seen.size, 5000)
  t.true([...seen.values()].every((n) => n === 1), 'no duplicates')
  const live = src.stats().live!
  t.is(live.kernelDrops, 0)
  t.is(live.received, 5000)
  t.is(src.stats().packets, 5000)
})

function sessionKey(s: SessionEvent): string {
  if (s.type === 'http') return `http ${s.request?.method} ${s.request?.uri} ${s.response?.status} ${s.response?.body.length}`
  if (s.type === 'dns') {
    const q = s.query?.questions[0]
    const a = s.response?.answers.map((r) => JSON.stringify(r.data)).join(',')
    return `dns ${q?.name} ${q?.qtypeName} ${s.response?.rcodeName} ${a}`
  }
  return s.type
}

function flowKey(f: FlowEvent): string {
  return f.type === 'flow.end' ? `${f.proto} ${f.orig.addr}:${f.orig.port} ${f.resp.addr}:${f.resp.port} ${f.origStats.packets}/${f.respStats.packets} ${f.connState}` : ''
}

test.serial('real HTTP and DNS: live sessions equal those of tcpdump’s capture and of the recording', async (t) => {
  if (!need(t)) return
  const recorded = join(tmp, 'recorded.pcapng')
  const dumped = join(tmp, 'tcpdump.pcap')
  const tcpdump = spawn('tcpdump', ['-Z', 'root', '--immediate-mode', '-i', HOST, '-U', '-w', dumped, 'tcp port 8080 or udp port 53'], { stdio: ['ignore', 'ignore', 'pipe'] })
  children.push(tcpdump)
  let tcpdumpReady = false
  let tcpdumpErr = ''
  tcpdump.stderr!.on('data', (d: Buffer) => {
    tcpdumpErr += d.toString()
    if (d.toString().includes('listening on')) tcpdumpReady = true
  })
  const src = capture(HOST).filter('tcp port 8080 or udp port 53').record(recorded).ring({ blockTimeoutMs: 10 })
  const live: SessionEvent[] = []
  const done = (async () => {
    for await (const s of src.sessions()) live.push(s)
  })()
  t.true(await src.opened())
  await until('tcpdump', () => tcpdumpReady)
  try {
    const resolver = new Resolver({ timeout: 2000, tries: 1 })
    resolver.setServers([NS_IP])
    t.deepEqual(await resolver.resolve4('www.example.test'), ['10.9.9.9'])
    t.deepEqual(await resolver.resolve4('flowtap.test'), ['10.9.9.10'])
    await t.throwsAsync(resolver.resolve4('missing.invalid'))
    // Keep-alive (two requests on one connection), a 404, a HEAD.
    for (const args of [
      [`http://${NS_IP}:8080/index.html`, '-o', '/dev/null', `http://${NS_IP}:8080/big.bin`, '-o', '/dev/null'],
      [`http://${NS_IP}:8080/nope`, '-o', '/dev/null'],
      ['-I', `http://${NS_IP}:8080/index.html`, '-o', '/dev/null'],
    ]) {
      const r = spawnSync('curl', ['-s', ...args], { timeout: 10_000 })
      t.is(r.status, 0, `curl ${args.join(' ')}`)
    }
    await new Promise((r) => setTimeout(r, 300))
  } finally {
    src.stop()
    await done
    tcpdump.kill('SIGINT')
    await new Promise((r) => tcpdump.once('close', r))
  }

  const fromFile = async (f: string) => {
    const out: string[] = []
    for await (const s of openPcap(f).sessions()) out.push(sessionKey(s))
    return out.sort()
  }
  const got = live.map(sessionKey).sort()
  t.true(got.filter((k) => k.startsWith('http ')).length >= 4, got.join('\n'))
  t.true(got.some((k) => k.startsWith('dns missing.invalid')), 'the NXDOMAIN answer')
  t.deepEqual(got, await fromFile(dumped), 'same sessions as tcpdump’s capture of the same traffic')
  t.deepEqual(got, await fromFile(recorded), 'same sessions as the recording')

  const flows = async (f: string) => {
    const out: string[] = []
    for await (const e of openPcap(f).flows()) if (e.type === 'flow.end') out.push(flowKey(e))
    return out.sort()
  }
  t.deepEqual(await flows(recorded), await flows(dumped), 'the recording holds what tcpdump saw')
  t.is(src.stats().live?.kernelDrops, 0)
})

test.serial('fanout over 2 workers: every flow on exactly one worker, nothing lost or duplicated', async (t) => {
  if (!need(t)) return
  const src = capture(HOST).filter(`host ${NS_IP} and (udp port 9998 or tcp port 8080)`).fanout(2, 'hash').ring({ blockTimeoutMs: 10 })
  const byFlow = new Map<string, Set<number>>()
  let udp = 0
  const done = (async () => {
    for await (const p of src.packets()) {
      const [a, b] = [`${p.src}:${p.srcPort}`, `${p.dst}:${p.dstPort}`].sort()
      const k = `${p.protocol} ${a} ${b}`
      const set = byFlow.get(k) ?? new Set<number>()
      set.add(p.worker)
      byFlow.set(k, set)
      if (p.protocol === 'udp') udp++
    }
  })()
  t.true(await src.opened())
  await sendSeq(2000, 9998, 100, 200) // 200 source ports, 10 datagrams each
  for (let i = 0; i < 6; i++) t.is(spawnSync('curl', ['-s', '-o', '/dev/null', `http://${NS_IP}:8080/index.html`]).status, 0)
  await new Promise((r) => setTimeout(r, 300))
  src.stop()
  await done
  t.is(udp, 2000, 'every datagram once')
  const flows = [...byFlow.entries()]
  t.true(flows.filter(([k]) => k.startsWith('tcp')).length >= 6)
  t.true(
    flows.every(([, w]) => w.size === 1),
    'both directions of each flow on one worker',
  )
  const workers = src.stats().live!.workers
  t.is(workers.length, 2)
  t.true(
    workers.every((w) => w.packets > 0),
    `both workers used: ${workers.map((w) => w.packets)}`,
  )
  t.is(src.stats().live?.kernelDrops, 0)
})

test.serial('a paused consumer: the kernel drops and counts, memory stays flat, resuming works', async (t) => {
  if (!need(t)) return
  const src = capture(HOST).filter('udp and dst port 9997').ring({ blockSize: 65536, blockCount: 4, blockTimeoutMs: 10 })
  const it = src.packets()
  const first = it.next()
  t.true(await src.opened())
  const rss0 = process.memoryUsage().rss
  await sendSeq(30_000, 9997, 500)
  await new Promise((r) => setTimeout(r, 200))
  const paused = src.stats().live!
  t.true(paused.kernelDrops > 0, `drops counted while paused (${paused.kernelDrops})`)
  const growth = process.memoryUsage().rss - rss0
  t.true(growth < 64 << 20, `RSS grew ${growth} bytes`)
  t.false((await first).done)
  let n = 1
  const more = (async () => {
    for (;;) {
      const r = await it.next()
      if (r.done) return
      n++
    }
  })()
  await sendSeq(100, 9997)
  await new Promise((r) => setTimeout(r, 300))
  src.stop()
  await more
  const s = src.stats().live!
  t.is(n + s.kernelDrops, 30_100, 'every datagram either delivered or counted as dropped')
})

test.serial('errors before the first packet: unknown interface, bad filter, no CAP_NET_RAW', async (t) => {
  if (!need(t)) return
  await t.throwsAsync(capture('nosuchif0').packets().next(), { code: 'ERR_NO_SUCH_INTERFACE' })
  const e = await t.throwsAsync(capture(HOST).filter('udp port eighty').packets().next(), { code: 'ERR_FILTER' })
  t.regex(e?.message ?? '', /eighty/)
  const script = `import('${join(root, 'dist', 'index.mjs')}').then(async ({ capture }) => {
    try { await capture('${HOST}').packets().next(); console.log('opened') } catch (e) { console.log(e.code, e.message) }
  })`
  const r = spawnSync('setpriv', ['--inh-caps=-net_raw', '--bounding-set=-net_raw', process.execPath, '-e', script], { encoding: 'utf8', timeout: 10_000 })
  t.is(r.status, 0, r.stderr)
  t.regex(r.stdout, /^ERR_PERMISSION .*CAP_NET_RAW/)
})

test.serial('opening and closing 1000 captures leaks no fd, thread or memory', async (t) => {
  if (!need(t)) return
  const fds = () => readdirSync('/proc/self/fd').length
  const threads = () => readdirSync('/proc/self/task').length
  // Warm up (the thread pool, the allocator) before taking the baseline.
  for (let i = 0; i < 5; i++) {
    const src = capture(HOST).ring({ blockSize: 65536, blockCount: 2 })
    const p = src.packets().next()
    await src.opened()
    src.close()
    await p
  }
  const [fd0, th0, rss0] = [fds(), threads(), process.memoryUsage().rss]
  for (let i = 0; i < 1000; i++) {
    const src = capture(HOST).ring({ blockSize: 65536, blockCount: 2 })
    const p = src.packets().next()
    await src.opened()
    src.close()
    await p
  }
  t.is(fds(), fd0)
  t.is(threads(), th0)
  const growth = process.memoryUsage().rss - rss0
  t.true(growth < 32 << 20, `RSS grew ${growth} bytes`)
})
