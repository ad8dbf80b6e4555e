// Plugins on live captures of lo: a real redis-cli against a real
// redis-server, and a slow plugin backing up into the ring.
import test from 'ava'
import { spawn, spawnSync } from 'node:child_process'
import dgram from 'node:dgram'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer } from 'node:net'
import type { ChildProcess } from 'node:child_process'
import { capture, defineDatagramParser, openPcap, type LiveSource, type PacketSource, type SessionEvent } from 'flowtap'
import { redisOn, type RedisCommand } from '../examples/plugins/redis.js'

async function collect(src: PacketSource): Promise<SessionEvent[]> {
  const out: SessionEvent[] = []
  for await (const s of src.sessions()) out.push(s)
  return out
}

const redisOf = (events: SessionEvent[]): RedisCommand[] => events.flatMap((s) => (s.type === 'redis' ? [s.message] : []))

/** A TCP port nothing listens on now (so a stale server cannot answer for ours). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

/** Ends a child process: SIGTERM, then SIGKILL if it is still there after 2 s. */
async function stopProcess(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return
  const exited = new Promise<void>((r) => p.once('exit', () => r()))
  p.kill('SIGTERM')
  const timer = setTimeout(() => p.kill('SIGKILL'), 2000)
  await exited
  clearTimeout(timer)
}

function key(m: object): string {
  return JSON.stringify(m, (k, v) => (typeof v === 'bigint' || k.endsWith('Ns') ? undefined : v))
}

const needRoot = process.getuid?.() !== 0 ? 'needs root' : spawnSync('redis-server', ['--version']).status !== 0 ? 'needs redis-server' : undefined

test.serial('live: a plugin on a capture of lo sees the commands a real redis-cli sends', async (t) => {
  if (needRoot) {
    if (process.env.CI) t.fail(needRoot)
    else t.log(`skipped: ${needRoot}`)
    return
  }
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'flowtap-plugin-'))
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  let src: LiveSource | undefined
  try {
    for (let i = 0; i < 50 && spawnSync('redis-cli', ['-p', String(port), 'PING']).stdout?.toString().trim() !== 'PONG'; i++) {
      await new Promise((r) => setTimeout(r, 100))
    }
    const recorded = join(dir, 'live.pcapng')
    src = capture('lo').filter(`tcp port ${port}`).record(recorded).ring({ blockTimeoutMs: 10 }).use(redisOn([port]))
    const live = src
    const events: SessionEvent[] = []
    const done = (async () => {
      for await (const s of live.sessions()) events.push(s)
    })()
    t.true(await live.opened())
    const cli = (...args: string[]) => spawnSync('redis-cli', ['-p', String(port), ...args], { timeout: 5000 }).stdout.toString().trim()
    t.is(cli('SET', 'live', 'yes'), 'OK')
    t.is(cli('GET', 'live'), 'yes')
    t.is(cli('INCRBY', 'n', '41'), '41')
    const pipe = spawnSync('redis-cli', ['-p', String(port), '--pipe'], { input: Array.from({ length: 20 }, (_, i) => `SET p${i} ${i}\r\n`).join(''), timeout: 5000 })
    t.is(pipe.status, 0)
    await new Promise((r) => setTimeout(r, 200))
    live.stop()
    await done
    const cmds = redisOf(events)
    t.deepEqual(
      cmds.filter((m) => !m.command.startsWith('SET P') && m.command !== 'ECHO').slice(0, 3).map((m) => [m.command, m.args, m.reply]),
      [
        ['SET', ['live', 'yes'], 'OK'],
        ['GET', ['live'], 'yes'],
        ['INCRBY', ['n', '41'], 41],
      ],
    )
    t.is(cmds.filter((m) => m.command === 'SET' && m.args[0]!.startsWith('p')).length, 20)
    // The recording, read back as a file, gives the same messages.
    const fromFile = redisOf(await collect(openPcap(recorded).use(redisOn([port]))))
    t.deepEqual(fromFile.map(key), cmds.map(key))
  } finally {
    src?.close()
    await stopProcess(server)
    rmSync(dir, { recursive: true, force: true })
  }
})

test.serial('live: a slow plugin backs up into the ring: the kernel drops and counts, memory stays bounded, nothing is lost silently', async (t) => {
  if (needRoot) {
    if (process.env.CI) t.fail(needRoot)
    else t.log(`skipped: ${needRoot}`)
    return
  }
  // The sink's port, chosen by the kernel: free now.
  const sink = dgram.createSocket('udp4')
  await new Promise<void>((r) => sink.bind(0, '127.0.0.1', r))
  const port = sink.address().port
  let seen = 0
  const slow = defineDatagramParser<never>({
    name: 'slow',
    match: { ports: [port] },
    create: () => ({
      onDatagram: () => {
        seen++
        const until = performance.now() + 0.25
        while (performance.now() < until) {
          // 0.25 ms per datagram: far slower than the sender.
        }
      },
    }),
  })
  const src = capture('lo').filter(`udp and port ${port}`).ring({ blockSize: 65536, blockCount: 4, blockTimeoutMs: 10 }).dedupLoopback(false).use(slow)
  const done = (async () => {
    for await (const _ of src.sessions()) {
      // the plugin returns nothing
    }
  })()
  try {
    t.true(await src.opened())
    const rss0 = process.memoryUsage().rss
    const out = dgram.createSocket('udp4')
    const sent = 10_000
    for (let i = 0; i < sent; i++) {
      // Distinct payloads: lo's de-duplication compares frames.
      const payload = Buffer.alloc(200, 7)
      payload.writeUInt32BE(i)
      await new Promise<void>((r) => out.send(payload, port, '127.0.0.1', () => r()))
    }
    out.close()
    const growth = process.memoryUsage().rss - rss0
    await new Promise((r) => setTimeout(r, 200))
    src.stop()
    await done
    const live = src.stats().live!
    t.log(`sent ${sent}, kernel received ${live.received}, dropped ${live.kernelDrops}, plugin saw ${seen}; RSS +${(growth / 1048576).toFixed(1)} MiB`)
    t.true(live.kernelDrops > 0, 'the ring filled and the kernel counted drops')
    // On lo the kernel shows each datagram twice (out and in), and with
    // de-duplication off both copies go to the plugin.
    t.is(live.received, 2 * sent, 'the kernel saw every datagram')
    t.is(seen + live.kernelDrops, live.received, 'each copy was either parsed or counted as dropped')
    t.true(growth < 64 << 20, `RSS grew ${growth} bytes`)
  } finally {
    sink.close()
    src.close()
  }
})
