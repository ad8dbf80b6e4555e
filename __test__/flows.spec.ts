// Flow events through the public API and the CLI, against Zeek's conn.log.
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { FlowtapError, InvalidArgumentError, LimitExceededError, openPcap, type FlowEnd, type FlowEvent } from 'flowtap'
import { corpus, corpusDir, example, haveCorpus, root } from './helpers.js'

const corpusTest = haveCorpus ? test : test.skip

async function collect(it: AsyncIterable<FlowEvent>): Promise<FlowEvent[]> {
  const out: FlowEvent[] = []
  for await (const ev of it) out.push(ev)
  return out
}

/** Zeek conn.log (TSV) rows by their 5-tuple. */
function zeekConnLog(path: string): Map<string, Record<string, string>> {
  const text = readFileSync(path, 'utf8')
  const fields = text.split('\n').find((l) => l.startsWith('#fields'))!.split('\t').slice(1)
  const rows = new Map<string, Record<string, string>>()
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue
    const v = line.split('\t')
    const row = Object.fromEntries(fields.map((f, i) => [f, v[i]!]))
    rows.set(`${row['id.orig_h']} ${row['id.orig_p']} ${row['id.resp_h']} ${row['id.resp_p']} ${row.proto}`, row)
  }
  return rows
}

corpusTest('flows() of a browsing trace match Zeek conn.log field for field', async (t) => {
  const events = await collect(openPcap(corpus('zeek_wikipedia.pcap')).flows())
  const starts = events.filter((e) => e.type === 'flow.start')
  const ends = events.filter((e): e is FlowEnd => e.type === 'flow.end')
  t.is(starts.length, 34)
  t.is(ends.length, 34)
  t.deepEqual(starts.map((e) => e.uid).sort(), ends.map((e) => e.uid).sort())
  const zeek = zeekConnLog(join(corpusDir, 'expected', 'zeek_wikipedia.pcap.source', 'opt.basic', 'conn.log'))
  t.is(zeek.size, 34)
  const proto = (n: number) => ({ 6: 'tcp', 17: 'udp', 1: 'icmp', 58: 'icmp' })[n] ?? String(n)
  for (const f of ends) {
    const key = `${f.orig.addr} ${f.orig.port} ${f.resp.addr} ${f.resp.port} ${proto(f.proto)}`
    const z = zeek.get(key)
    t.truthy(z, `Zeek has no flow ${key}`)
    if (!z) continue
    t.is(f.connState as string, String(z.conn_state), key)
    t.is(f.history || '-', String(z.history), key)
    t.is(f.origStats.packets, Number(z.orig_pkts), key)
    t.is(f.origStats.ipBytes, Number(z.orig_ip_bytes), key)
    t.is(f.respStats.packets, Number(z.resp_pkts), key)
    t.is(f.respStats.ipBytes, Number(z.resp_ip_bytes), key)
    if (z.orig_bytes !== '-') {
      t.is(f.origBytes, Number(z.orig_bytes), key)
      t.is(f.respBytes, Number(z.resp_bytes), key)
    }
    t.regex(f.communityId, /^1:[A-Za-z0-9+/]{27}=$/)
  }
})

test('event types narrow on `type`', async (t) => {
  let tcpEnds = 0
  for await (const ev of openPcap(example('loopback-http-dns.pcapng')).flows()) {
    switch (ev.type) {
      case 'flow.start':
        t.is(typeof ev.uid, 'string')
        break
      case 'flow.end':
        t.true(['fin', 'rst', 'idle', 'evicted', 'end-of-input', 'reused'].includes(ev.reason))
        if (ev.proto === 6) {
          tcpEnds++
          t.is(ev.connState, 'SF')
        }
        break
    }
  }
  // Four HTTP connections over IPv4 and IPv6, one DNS-over-TCP query.
  t.is(tcpEnds, 5)
})

test('maxFlows bounds the table: the least recently seen flow is evicted', async (t) => {
  const events = await collect(openPcap(example('loopback-http-dns.pcapng')).flows({ maxFlows: 1 }))
  const ends = events.filter((e): e is FlowEnd => e.type === 'flow.end')
  t.true(ends.some((e) => e.reason === 'evicted'))
  t.is(events.filter((e) => e.type === 'flow.start').length, ends.length)
})

test('flow options are validated where they are given', (t) => {
  const src = openPcap(example('loopback-http-dns.pcapng'))
  for (const bad of [{ maxFlows: 0 }, { tcpIdleMs: -1 }, { udpIdleMs: Number.NaN }, { defrag: 'yes' }]) {
    const e = t.throws(() => src.flows(bad as never))
    t.true(e instanceof InvalidArgumentError)
    t.is((e as FlowtapError).code, 'ERR_INVALID_ARG')
  }
  t.is(src.openIterations, 0)
})

test('builder settings apply to later iterations; iteration options override them', async (t) => {
  const src = openPcap(example('loopback-http-dns.pcapng')).maxFlows(1).flowTimeouts({ udpIdleMs: 1000 })
  const ends = (await collect(src.flows())).filter((e): e is FlowEnd => e.type === 'flow.end')
  t.true(ends.some((e) => e.reason === 'evicted'))
  const wide = (await collect(src.flows({ maxFlows: 1000 }))).filter((e): e is FlowEnd => e.type === 'flow.end')
  t.false(wide.some((e) => e.reason === 'evicted'))
  for (const bad of [() => src.maxFlows(0), () => src.flowTimeouts({ tcpIdleMs: 0 }), () => src.flowTimeouts({ nope: 1 } as never)]) {
    const e = t.throws(bad)
    t.true(e instanceof InvalidArgumentError)
  }
  // A rejected setting leaves the previous ones in place.
  const again = (await collect(src.flows())).filter((e): e is FlowEnd => e.type === 'flow.end')
  t.true(again.some((e) => e.reason === 'evicted'))
})

test('flow events serialize to plain objects', async (t) => {
  const events = await collect(openPcap(example('loopback-http-dns.pcapng')).flows())
  const end = events.find((e): e is FlowEnd => e.type === 'flow.end' && e.proto === 6)!
  const json = JSON.parse(JSON.stringify(end)) as Record<string, unknown>
  t.is(json.type, 'flow.end')
  t.is(json.uid, end.uid)
  t.is(json.history, end.history)
  t.is(json.durationNs, end.durationNs.toString())
  t.deepEqual(json.orig, { addr: end.orig.addr, port: end.orig.port })
  t.deepEqual(json.origStats, { ...end.origStats })
  t.regex(end.communityId, /^1:[A-Za-z0-9+/]{27}=$/)
  t.regex(end.uid, /^C[0-9A-Za-z]{17}$/)
  const { inspect } = await import('node:util')
  t.true(inspect(end).includes(end.uid))
})

test('break in a flows() loop closes the file', async (t) => {
  const src = openPcap(example('loopback-http-dns.pcapng'))
  for await (const _ of src.flows()) break
  t.is(src.openIterations, 0)
})

corpusTest('a damaged capture: the flows before the damage end, then the typed error', async (t) => {
  const events: FlowEvent[] = []
  const e = await t.throwsAsync(async () => {
    for await (const ev of openPcap(corpus('suricata_smtp-to-comma_corrupt.pcap')).flows()) events.push(ev)
  })
  t.true(e instanceof LimitExceededError)
  const end = events.find((ev): ev is FlowEnd => ev.type === 'flow.end')
  t.is(end?.reason, 'end-of-input')
  t.is((end?.origStats.packets ?? 0) + (end?.respStats.packets ?? 0), 18)
})

test('flowtap flows prints Zeek conn.log fields, in start order', (t) => {
  const r = spawnSync(process.execPath, [join(root, 'dist', 'cli.cjs'), 'flows', example('loopback-http-dns.pcapng')], {
    encoding: 'utf8',
  })
  t.is(r.status, 0, r.stderr)
  const rows = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
  t.true(rows.length >= 8)
  for (const k of ['ts', 'uid', 'id.orig_h', 'id.orig_p', 'id.resp_h', 'id.resp_p', 'proto', 'service', 'duration', 'orig_bytes', 'resp_bytes', 'conn_state', 'history', 'orig_pkts', 'orig_ip_bytes', 'resp_pkts', 'resp_ip_bytes', 'community_id']) {
    t.true(k in rows[0], k)
  }
  const ts = rows.map((x) => x.ts as number)
  t.deepEqual(ts, [...ts].sort((a, b) => a - b))
  const http = rows.find((x) => x['id.resp_p'] === 18080 && x.proto === 'tcp')
  t.is(http.conn_state, 'SF')
  t.regex(http.history, /^ShAD/)
})
