// `flowtap capture` on loopback, run as a user would (needs root; CI runs as root).
import test from 'ava'
import { spawn } from 'node:child_process'
import dgram from 'node:dgram'
import { join } from 'node:path'
import { root } from './helpers.js'

const cli = join(root, 'dist', 'cli.cjs')
const isRoot = process.getuid?.() === 0

function needRoot(t: { fail(m: string): void; log(m: string): void }): boolean {
  if (isRoot) return true
  if (process.env.CI) t.fail('live capture tests must run as root in CI')
  else t.log('skipped: live capture needs root (CAP_NET_RAW)')
  return false
}

/** Runs the CLI; resolves when it exits. `onReady` runs once it reports capturing. */
function capture(args: string[], onReady: () => void): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [cli, 'capture', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    let ready = false
    const kill = setTimeout(() => p.kill('SIGKILL'), 20_000)
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    p.stderr.on('data', (d: Buffer) => {
      stderr += d.toString()
      if (!ready && stderr.includes('capturing on')) {
        ready = true
        onReady()
      }
    })
    p.on('error', reject)
    p.on('close', (code) => {
      clearTimeout(kill)
      resolve({ code, stdout, stderr })
    })
  })
}

function sendUdp(port: number, n: number): void {
  const s = dgram.createSocket('udp4')
  let sent = 0
  for (let i = 0; i < n; i++) s.send(Buffer.from(`flowtap-${i}`), port, '127.0.0.1', () => ++sent === n && s.close())
}

test('capture --packets --count N prints N matching packets and exits', async (t) => {
  if (!needRoot(t)) return
  const port = 40_000 + (process.pid % 10_000)
  const r = await capture(['-i', 'lo', '-f', `udp and dst port ${port}`, '--count', '20'], () => sendUdp(port, 30))
  t.is(r.code, 0, r.stderr)
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l))
  t.is(lines.length, 20)
  t.true(lines.every((p) => p.protocol === 'udp' && p.dstPort === port))
  t.regex(r.stderr, /dropped by the kernel/)
})

test('capture --flows --duration ends open flows when it stops', async (t) => {
  if (!needRoot(t)) return
  const port = 30_000 + (process.pid % 10_000)
  const r = await capture(['-i', 'lo', '-f', `udp port ${port}`, '--flows', '--duration', '1'], () => sendUdp(port, 5))
  t.is(r.code, 0, r.stderr)
  const flows = r.stdout.trim().split('\n').map((l) => JSON.parse(l))
  t.is(flows.length, 1)
  t.is(flows[0]['id.resp_p'], port)
  t.is(flows[0].orig_pkts, 5)
  t.is(flows[0].proto, 'udp')
})

test('capture on a missing interface fails before capturing', async (t) => {
  const r = await capture(['-i', 'nosuchif0'], () => {})
  t.is(r.code, 1)
  t.regex(r.stderr, /ERR_NO_SUCH_INTERFACE|ERR_PERMISSION/)
  t.notRegex(r.stderr, /capturing on/)
})
