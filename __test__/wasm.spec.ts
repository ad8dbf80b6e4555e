// The WebAssembly build (wasm32-wasip1) against the native addon, each in a
// child process of its own (NAPI_RS_FORCE_WASI=error makes the loader take
// the WebAssembly build or fail): the same sessions, flows and plugin
// messages from the same captures; live capture and capture filters fail
// with ERR_UNSUPPORTED_PLATFORM. The whole capture-file suite also runs on
// the WebAssembly build: `npm run test:wasm`.
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { example, root } from './helpers.js'

const haveWasm = existsSync(join(root, 'binding', 'flowtap.wasm32-wasip1.wasm'))

function run(wasm: boolean, body: string): unknown {
  const script = `
    import * as flowtap from ${JSON.stringify(join(root, 'dist', 'index.mjs'))}
    const { openPcap, capture, bindingTarget } = flowtap
    const out = await (async () => { ${body} })()
    console.log(JSON.stringify(out, (k, v) => (typeof v === 'bigint' ? String(v) : v)))
  `
  const env = { ...process.env }
  if (wasm) env.NAPI_RS_FORCE_WASI = 'error'
  else delete env.NAPI_RS_FORCE_WASI
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, env, encoding: 'utf8', timeout: 60_000 })
  if (r.status !== 0) throw new Error(`child (${wasm ? 'wasm' : 'native'}) exited ${r.status}: ${r.stderr}`)
  return JSON.parse(r.stdout.trim().split('\n').pop()!)
}

function needWasm(t: import('ava').ExecutionContext): boolean {
  if (haveWasm) return true
  if (process.env.CI) t.fail('no WebAssembly build: run `npm run build:wasm`')
  else t.log('skipped: no WebAssembly build (npm run build:wasm)')
  return false
}

test('the loader picks the WebAssembly build when forced, and says so', (t) => {
  if (!needWasm(t)) return
  t.is(run(true, 'return bindingTarget'), 'wasm32-wasi')
  t.regex(run(false, 'return bindingTarget') as string, /^x86_64-linux$/)
})

test('sessions, flows and plugin messages are the same on both builds', (t) => {
  if (!needWasm(t)) return
  const body = `
    const mod = await import(${JSON.stringify(join(root, 'examples', 'plugins', 'redis.ts'))})
    const redisOn = mod.redisOn ?? mod.default.redisOn
    const out = { sessions: [], flows: [], redis: [], packets: 0 }
    for await (const s of openPcap(${JSON.stringify(example('loopback-http-dns.pcapng'))}).sessions()) out.sessions.push(s)
    for await (const f of openPcap(${JSON.stringify(example('any-sll2-nanosecond.pcap'))}).flows()) out.flows.push(f)
    for await (const s of openPcap(${JSON.stringify(example('plugins/redis.pcap'))}).use(redisOn([16379])).sessions()) out.redis.push(s)
    for await (const b of openPcap(${JSON.stringify(example('plugins/mqtt.pcap'))}).packetBatches()) out.packets += b.length
    return out
  `
  const native = run(false, body) as Record<string, unknown[]>
  const wasm = run(true, body) as Record<string, unknown[]>
  t.true(native.sessions!.length > 0 && native.flows!.length > 0 && native.redis!.length === 64)
  t.deepEqual(wasm, native)
})

test('on the WebAssembly build, live capture and filters are ERR_UNSUPPORTED_PLATFORM', (t) => {
  if (!needWasm(t)) return
  const body = `
    const errors = []
    try { for await (const _ of capture('lo').packets()) {} } catch (e) { errors.push([e.constructor.name, e.code]) }
    try { for await (const _ of openPcap(${JSON.stringify(example('loopback-http-dns.pcapng'))}).filter('tcp').packets()) {} } catch (e) { errors.push([e.constructor.name, e.code]) }
    return errors
  `
  t.deepEqual(run(true, body), [
    ['UnsupportedPlatformError', 'ERR_UNSUPPORTED_PLATFORM'],
    ['UnsupportedPlatformError', 'ERR_UNSUPPORTED_PLATFORM'],
  ])
})
