/// <reference lib="dom" />
// The browser example (examples/browser/) in headless Chromium (Debian's
// chromium, driven by playwright-core): the page loads flowtap's
// WebAssembly build, a capture is dropped on it, and its flow and session
// tables must match what the native addon reports for the same file. The
// screenshot goes to test-output/browser-example.png.
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { createReadStream, existsSync, mkdirSync, readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { extname, join, normalize } from 'node:path'
import { openPcap } from 'flowtap'
import { example, root } from './helpers.js'

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium'
const here = join(root, 'examples', 'browser')
const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.map': 'application/json' }

function serve(dir: string): Promise<Server> {
  const server = createServer((req, res) => {
    const p = normalize(join(dir, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)))
    const file = p.endsWith('/') ? join(p, 'index.html') : p
    if (!file.startsWith(dir) || !existsSync(file)) {
      res.writeHead(404).end()
      return
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' })
    createReadStream(file).pipe(res)
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)))
}

async function expected(file: string): Promise<{ flows: number; sessions: number }> {
  let flows = 0
  let sessions = 0
  for await (const ev of openPcap(file).flows()) if (ev.type === 'flow.end') flows++
  for await (const _ of openPcap(file).sessions()) sessions++
  return { flows, sessions }
}

test('drop a capture on the browser example: its flows and sessions, from the WebAssembly build', async (t) => {
  const missing = !existsSync(CHROMIUM) ? `no Chromium at ${CHROMIUM}` : !existsSync(join(root, 'binding', 'flowtap.wasm32-wasip1.wasm')) ? 'no WebAssembly build' : undefined
  if (missing) {
    if (process.env.CI) t.fail(missing)
    else t.log(`skipped: ${missing}`)
    return
  }
  const b = spawnSync(process.execPath, [join(here, 'build.mjs')], { encoding: 'utf8' })
  t.is(b.status, 0, b.stderr)
  const { chromium } = await import('playwright-core')
  const server = await serve(here)
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } })
    const errors: string[] = []
    page.on('pageerror', (e) => errors.push(String(e)))
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`)
    await page.waitForFunction(() => document.body.dataset.state === 'ready', undefined, { timeout: 30_000 })
    t.regex((await page.textContent('#status')) ?? '', /ready \(wasm32-wasi\)/)
    for (const name of ['loopback-http-dns.pcapng', 'any-sll2-nanosecond.pcap']) {
      // Drop the file as a user would: a DataTransfer carrying it, on the drop zone.
      const bytes = [...readFileSync(example(name))]
      await page.evaluate(
        ([name, bytes]) => {
          const dt = new DataTransfer()
          dt.items.add(new File([new Uint8Array(bytes as number[])], name as string))
          document.getElementById('drop')!.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }))
        },
        [name, bytes],
      )
      await page.waitForFunction(() => document.body.dataset.state === 'done' || document.body.dataset.state === 'error', undefined, { timeout: 30_000 })
      const got = await page.evaluate(() => ({
        state: document.body.dataset.state,
        flows: document.querySelectorAll('#flows tbody tr').length,
        sessions: document.querySelectorAll('#sessions tbody tr').length,
        status: document.getElementById('status')!.textContent,
        first: document.querySelector('#sessions tbody tr')?.textContent ?? '',
      }))
      t.log(got.status)
      t.is(got.state, 'done', got.status ?? '')
      const want = await expected(example(name))
      t.deepEqual({ flows: got.flows, sessions: got.sessions }, want, name)
      if (name.startsWith('loopback')) {
        t.regex(got.first, /http.*GET .*hello\.txt → 200/)
        mkdirSync(join(root, 'test-output'), { recursive: true })
        const shot = join(root, 'test-output', 'browser-example.png')
        await page.screenshot({ path: shot, fullPage: true })
        t.true(readFileSync(shot).length > 10_000)
        t.log(`screenshot: ${shot}`)
      }
    }
    t.deepEqual(errors, [])
  } finally {
    await browser.close()
    server.close()
  }
})
