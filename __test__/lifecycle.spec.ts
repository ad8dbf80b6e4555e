// Iteration lifecycle: break/return/throw close the file, AbortSignal
// cancels, and nothing leaks over many open/close cycles.
import test from 'ava'
import { AbortError, openPcap } from 'flowtap'
import { example, openFds } from './helpers.js'

const LO = example('loopback-http-dns.pcapng')

test('break closes the file', async (t) => {
  const src = openPcap(LO, { batchSize: 4 })
  for await (const p of src.packets()) {
    t.is(src.openIterations, 1)
    if (p.index === 5) break
  }
  t.is(src.openIterations, 0)
})

test('an exception in the loop body closes the file and propagates', async (t) => {
  const src = openPcap(LO)
  await t.throwsAsync(
    async () => {
      for await (const p of src.packetBatches()) {
        if (p.length) throw new Error('consumer failed')
      }
    },
    { message: 'consumer failed' },
  )
  t.is(src.openIterations, 0)
})

test('close() ends iterations in progress', async (t) => {
  const src = openPcap(LO, { batchSize: 5 })
  let n = 0
  for await (const _ of src.packets()) {
    n++
    if (n === 3) src.close()
  }
  // The batch in hand is finished; nothing after it is read.
  t.is(n, 5)
  t.is(src.openIterations, 0)
})

test('AbortSignal stops the iteration with AbortError', async (t) => {
  const src = openPcap(LO, { batchSize: 8 })
  const ac = new AbortController()
  let seen = 0
  const err = await t.throwsAsync(async () => {
    for await (const _ of src.packets({ signal: ac.signal })) {
      if (++seen === 10) ac.abort()
    }
  })
  t.true(err instanceof AbortError)
  t.is(err?.name, 'AbortError')
  t.is((err as AbortError).code, 'ABORT_ERR')
  t.is(seen, 10)
  t.is(src.openIterations, 0)
})

test('an already aborted signal rejects the first next()', async (t) => {
  const src = openPcap(LO)
  const err = await t.throwsAsync(src.packetBatches({ signal: AbortSignal.abort('stop') }).next())
  t.true(err instanceof AbortError)
  t.is((err as AbortError).cause, 'stop')
  t.is(src.openIterations, 0)
})

test.serial('open and close 1,000 times leaks no file descriptors', async (t) => {
  // Warm up first: the thread pool and the runtime open descriptors of
  // their own on first use.
  for (let i = 0; i < 10; i++) for await (const _ of openPcap(LO).packetBatches());
  const before = openFds()
  for (let i = 0; i < 1000; i++) {
    const src = openPcap(LO, { batchSize: 16 })
    for await (const _ of src.packets()) break
  }
  // Read to the end as well: the end must close too.
  for (let i = 0; i < 100; i++) for await (const _ of openPcap(LO).packetBatches());
  t.is(openFds(), before)
})

test('an abandoned iterator holds one batch and at most one read-ahead', async (t) => {
  // The consumer stops pulling: flowtap must not keep reading.
  const src = openPcap(LO, { batchSize: 2 })
  const it = src.packetBatches()
  await it.next()
  await new Promise((r) => setTimeout(r, 50))
  const pos = src.stats().packets
  // Decoded: the batch in hand and one read ahead (2 × 2 packets); the
  // reader thread may have read one more batch and queued another, undecoded.
  t.true(pos <= 4, `decoded ${pos} packets for a consumer that took 2`)
  await it.return?.()
  t.is(src.openIterations, 0)
})
