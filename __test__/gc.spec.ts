// Iterations abandoned without close(): garbage collection must release
// their files, sockets, mappings and threads. Run in a child process with
// --expose-gc so the test can force collections.
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { example, root } from './helpers.js'

const isRoot = process.getuid?.() === 0

function run(body: string): { fds: number[]; threads: number[]; maps: number[] } {
  const script = `
    const { readdirSync, readFileSync } = require('node:fs')
    const counts = () => [
      readdirSync('/proc/self/fd').length,
      readdirSync('/proc/self/task').length,
      // Ring mappings show as socket:[inode].
      readFileSync('/proc/self/maps', 'utf8').split('\\n').filter((l) => l.includes('socket:[')).length,
    ]
    const settle = async () => {
      for (let i = 0; i < 10; i++) { gc(); await new Promise((r) => setTimeout(r, 30)) }
    }
    ;(async () => {
      const flowtap = require(${JSON.stringify(join(root, 'dist', 'index.cjs'))})
      const out = { fds: [], threads: [], maps: [] }
      const take = () => { const [f, t, m] = counts(); out.fds.push(f); out.threads.push(t); out.maps.push(m) }
      ${body}
      console.log(JSON.stringify(out))
      process.exit(0)
    })().catch((e) => { console.error(e); process.exit(1) })
  `
  const r = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8', timeout: 60_000 })
  if (r.status !== 0) throw new Error(`status ${r.status} signal ${r.signal}: ${r.stderr} ${r.error ?? ''}`)
  return JSON.parse(r.stdout)
}

test('abandoned file iterations are released by garbage collection', (t) => {
  const r = run(`
    const file = ${JSON.stringify(example('loopback-http-dns.pcapng'))}
    // Warm up: the thread pool and the reader's first allocations.
    for await (const _ of flowtap.openPcap(file).packets()) break
    await settle(); take()
    // One step taken, then the iterator dropped without return().
    const abandon = async () => {
      const it = flowtap.openPcap(file, { batchSize: 1 }).flows()
      await it.next()
    }
    for (let i = 0; i < 50; i++) await abandon()
    await settle(); take()
  `)
  t.is(r.fds[1], r.fds[0], 'files closed')
  t.is(r.threads[1], r.threads[0], 'reader threads ended')
})

test('abandoned live captures are released by garbage collection', (t) => {
  if (!isRoot) {
    if (process.env.CI) t.fail('live capture tests must run as root in CI')
    else t.log('skipped: live capture needs root')
    return
  }
  // An iteration that has taken a packet and is then forgotten (a next()
  // still pending is a consumer still waiting, and keeps its capture, as a
  // pending read keeps a Node socket).
  const r = run(`
    const dgram = require('node:dgram')
    const port = 41000 + (process.pid % 1000)
    const sock = dgram.createSocket('udp4')
    const abandon = async () => {
      const src = flowtap.capture('lo').filter('udp port ' + port).ring({ blockSize: 65536, blockCount: 2, blockTimeoutMs: 5 })
      const it = src.packets()
      const first = it.next()
      await src.opened()
      sock.send('x', port, '127.0.0.1')
      await first
    }
    await abandon(); await settle(); take()
    for (let i = 0; i < 20; i++) await abandon()
    await settle(); await new Promise((r) => setTimeout(r, 500)); await settle(); take()
    sock.close()
  `)
  t.is(r.fds[1], r.fds[0], 'sockets and eventfds closed')
  t.is(r.threads[1], r.threads[0], 'worker threads joined')
  t.is(r.maps[1], r.maps[0], 'ring mappings unmapped')
})
