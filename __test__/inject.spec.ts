// Injection and replay over a veth pair this file creates, captured live on
// the other end (root only; CI runs as root, so there these tests run).
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { capture, FrameTooLargeError, inject, NoSuchInterfaceError, openPcap, replay, type SessionEvent } from 'flowtap'
import { corpus, example, haveCorpus, root } from './helpers.js'

const isRoot = process.getuid?.() === 0
const tag = String(process.pid % 10_000)
const A = `ftjA${tag}`
const B = `ftjB${tag}`

function ip(...args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`)
}

test.before(() => {
  if (!isRoot) return
  spawnSync('ip', ['link', 'del', A])
  ip('link', 'add', A, 'type', 'veth', 'peer', 'name', B)
  for (const n of [A, B]) {
    // Only our frames cross: no IPv6 autoconfiguration, no addresses.
    spawnSync('sysctl', ['-qw', `net.ipv6.conf.${n}.disable_ipv6=1`])
    // Loopback captures hold frames far above 1500 bytes.
    ip('link', 'set', n, 'mtu', '65535', 'up')
  }
})

test.after.always(() => {
  if (isRoot) spawnSync('ip', ['link', 'del', A])
})

function needRoot(t: { fail(m: string): void; log(m: string): void }): boolean {
  if (isRoot) return true
  if (process.env.CI) t.fail('injection tests must run as root in CI')
  else t.log('skipped: injection needs root (CAP_NET_RAW)')
  return false
}

/** An Ethernet frame with a local experimental ethertype, a marker and a sequence number. */
function frame(seq: number, len: number): Uint8Array {
  const f = new Uint8Array(len)
  f.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x88, 0xb5], 0)
  f.set(Buffer.from('flowtapX'), 14)
  new DataView(f.buffer).setUint32(22, seq)
  for (let i = 26; i < len; i++) f[i] = (seq + i) & 0xff
  return f
}

test.serial('injected frames arrive byte-identical; a frame over the MTU is refused and counted', async (t) => {
  if (!needRoot(t)) return
  const live = capture(B).filter('ether proto 0x88b5').ring({ blockTimeoutMs: 5 })
  const got: Uint8Array[] = []
  const done = (async () => {
    for await (const b of live.packetBatches()) for (let i = 0; i < b.length; i++) got.push(b.get(i).data!.slice())
  })()
  t.true(await live.opened())
  const frames = Array.from({ length: 3000 }, (_, i) => frame(i, 60 + ((i * 37) % 1400)))
  try {
    const tx = inject(A, { frameCount: 256 })
    await tx.sendAll(frames)
    t.true(await tx.drain())
    const s = tx.stats()
    tx.close()
    t.is(s.queued, 3000)
    t.is(s.sent, 3000)
    t.true(s.kicks < s.queued / 4, `one kick carries many frames (${s.kicks} kicks)`)
    // At a 1500-byte MTU a 1600-byte frame cannot go; the one before it does.
    ip('link', 'set', A, 'mtu', '1500')
    try {
      const small = inject(A)
      t.is(small.stats().maxFrame, 1518)
      const e = t.throws(() => small.sendBatch([frame(3000, 60), frame(3001, 1600)]), { instanceOf: FrameTooLargeError })
      t.is(e?.code, 'ERR_FRAME_TOO_LARGE')
      t.is((e as FrameTooLargeError | undefined)?.queued, 1)
      t.true(await small.drain())
      t.is(small.stats().rejected, 1)
      small.close()
    } finally {
      ip('link', 'set', A, 'mtu', '65535')
    }
    await new Promise((r) => setTimeout(r, 100))
  } finally {
    live.stop()
    await done
  }
  t.is(got.length, 3001)
  t.true(got.slice(0, 3000).every((g, i) => Buffer.compare(g, frames[i]!) === 0), 'byte-identical, in order')
  t.is(Buffer.compare(got[3000]!, frame(3000, 60)), 0)
  t.is(live.stats().live?.kernelDrops, 0)
})

test.serial('inject: typed errors and no fd leak over 1000 open/close', async (t) => {
  if (!needRoot(t)) return
  t.throws(() => inject('nosuchif0'), { instanceOf: NoSuchInterfaceError })
  t.throws(() => inject(A, { frameSize: 100 }), { code: 'ERR_INVALID_ARG' })
  const { readdirSync } = await import('node:fs')
  const fds = () => readdirSync('/proc/self/fd').length
  const before = fds()
  for (let i = 0; i < 1000; i++) inject(A, { frameCount: 8 }).close()
  t.is(fds(), before)
})

/** What sessions() gives, reduced to fields that do not depend on capture time. */
function key(s: SessionEvent): string {
  switch (s.type) {
    case 'http':
      return `http ${s.request?.method} ${s.request?.uri} ${s.response?.status}`
    case 'dns':
      return `dns ${s.query?.questions[0]?.name ?? s.response?.questions[0]?.name} ${s.response?.rcode}`
    case 'tls.client_hello':
      return `tls.ch ${s.serverName} ${s.ja3}`
    case 'tls.server_hello':
      return `tls.sh ${s.cipherSuite} ${s.ja3s}`
    default:
      return s.type
  }
}

test.serial('replaying captures over veth gives the flows and sessions of the file', async (t) => {
  if (!needRoot(t)) return
  // Short captures: replayed at full speed, a capture spanning minutes
  // would merge flows that the UDP idle timeout split in the file.
  const files = [example('loopback-http-dns.pcapng'), ...(haveCorpus ? [corpus('zeek_http_pipelined-requests.pcap'), corpus('zeek_tls_tls13-ech.pcap')] : [])]
  for (const file of files) {
    const want: string[] = []
    for await (const s of openPcap(file).sessions()) want.push(key(s))
    const wantFlows: string[] = []
    for await (const f of openPcap(file).flows()) if (f.type === 'flow.end') wantFlows.push(`${f.orig.addr}:${f.orig.port} ${f.resp.addr}:${f.resp.port} ${f.origStats.packets}/${f.respStats.packets}`)

    // Sessions from one replay, flows from a second one.
    const got: string[] = []
    const gotFlows: string[] = []
    for (const round of ['sessions', 'flows'] as const) {
      const live = capture(B).promiscuous().ring({ blockTimeoutMs: 5 })
      const done = (async () => {
        if (round === 'sessions') for await (const s of live.sessions()) got.push(key(s))
        else {
          for await (const f of live.flows()) {
            if (f.type === 'flow.end') gotFlows.push(`${f.orig.addr}:${f.orig.port} ${f.resp.addr}:${f.resp.port} ${f.origStats.packets}/${f.respStats.packets}`)
          }
        }
      })()
      t.true(await live.opened())
      const r = await replay(openPcap(file), A, { top: true })
      t.is(r.rejected, 0, file)
      await new Promise((res) => setTimeout(res, 100))
      live.stop()
      await done
      t.is(live.stats().packets, r.packets, `${file}: every frame captured`)
    }
    t.deepEqual(got.sort(), want.sort(), `${file}: sessions`)
    t.deepEqual(gotFlows.sort(), wantFlows.sort(), `${file}: flows`)
  }
})

test.serial('flowtap replay sends a capture and reports it', async (t) => {
  if (!needRoot(t)) return
  const cli = join(root, 'dist', 'cli.cjs')
  const live = capture(B).promiscuous().ring({ blockTimeoutMs: 5 })
  let n = 0
  const done = (async () => {
    for await (const b of live.packetBatches()) n += b.length
  })()
  await live.opened()
  const r = spawnSync(process.execPath, [cli, 'replay', example('loopback-http-dns.pcapng'), '-i', A, '--speed', '100'], { encoding: 'utf8' })
  t.is(r.status, 0, r.stderr)
  t.regex(r.stderr, /sent 67 packets/)
  await new Promise((res) => setTimeout(res, 100))
  live.stop()
  await done
  t.is(n, 67)
})
