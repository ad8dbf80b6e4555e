// A Rust panic inside the addon becomes a typed JS error (InternalError,
// ERR_INTERNAL), never an aborted process: each case runs in a child
// process with FLOWTAP_TEST_PANIC set (the binding's fault-injection hook)
// and must reject, then keep running and exit normally.
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { example, root } from './helpers.js'

function child(point: string, body: string): { status: number | null; stdout: string; stderr: string } {
  const script = `
    import { openPcap, capture, InternalError } from ${JSON.stringify(join(root, 'dist', 'index.mjs'))}
    const src = ${body}
    try {
      for await (const _ of src) {}
      console.log('no error')
    } catch (e) {
      console.log(JSON.stringify({ internal: e instanceof InternalError, code: e.code, message: e.message }))
    }
    // Still alive, and the addon still works (without the injection).
    delete process.env.FLOWTAP_TEST_PANIC
    let n = 0
    for await (const _ of openPcap(${JSON.stringify(example('loopback-http-dns.pcapng'))}).packets()) n++
    console.log('alive', n)
  `
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, FLOWTAP_TEST_PANIC: point },
    encoding: 'utf8',
    timeout: 30_000,
  })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

function check(t: import('ava').ExecutionContext, r: ReturnType<typeof child>, what: RegExp) {
  t.is(r.status, 0, r.stderr)
  const [first, second] = r.stdout.trim().split('\n')
  const e = JSON.parse(first!)
  t.true(e.internal)
  t.is(e.code, 'ERR_INTERNAL')
  t.regex(e.message, what)
  t.regex(second ?? '', /^alive [1-9]\d*$/)
}

test('a panic on the decoding thread rejects the iteration with InternalError', (t) => {
  check(t, child('open', `openPcap(${JSON.stringify(example('loopback-http-dns.pcapng'))}).flows()`), /panic/)
})

test('a panic on the reading thread rejects the iteration with InternalError', (t) => {
  check(t, child('reader', `openPcap(${JSON.stringify(example('loopback-http-dns.pcapng'))}).packets()`), /panic/)
})

test('a panic in a live capture worker rejects the iteration with InternalError', (t) => {
  if (process.getuid?.() !== 0) {
    if (process.env.CI) t.fail('needs root')
    else t.log('skipped: needs root')
    return
  }
  check(t, child('worker', `capture('lo').packets()`), /panic/)
})
