// Sessions, streams and the sessions/follow commands, against Zeek's logs
// and tshark's reassembled streams.
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { InvalidArgumentError, openPcap, type FlowEnd, type SessionEvent, type StreamEvent } from 'flowtap'
import { corpus, corpusDir, example, haveCorpus, root } from './helpers.js'

const corpusTest = haveCorpus ? test : test.skip
const cli = join(root, 'dist', 'cli.cjs')

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const x of it) out.push(x)
  return out
}

/** Rows of a Zeek TSV log. */
function zeekLog(path: string): Record<string, string>[] {
  const text = readFileSync(path, 'utf8')
  const fields = text.split('\n').find((l) => l.startsWith('#fields'))!.split('\t').slice(1)
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const v = l.split('\t')
      return Object.fromEntries(fields.map((f, i) => [f, v[i]!]))
    })
}

const dash = (v: unknown): string => (v === null || v === undefined || v === '' ? '-' : String(v))

function sessionsCli(file: string): Record<string, unknown>[] {
  const r = spawnSync(process.execPath, [cli, 'sessions', file], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(r.stderr)
  return r.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>)
}

corpusTest('flowtap sessions: http.log of a browsing trace matches Zeek field for field', (t) => {
  const all = sessionsCli(corpus('zeek_wikipedia.pcap')).filter((l) => l.log === 'http')
  const zeek = zeekLog(join(corpusDir, 'expected', 'zeek_wikipedia.pcap.source', 'opt.basic', 'http.log'))
  // Zeek does not analyze connections picked up mid-stream (conn_state
  // OTH); flowtap does, as tshark does: one more request, on port 35634.
  const ours = all.filter((l) => l['id.orig_p'] !== 35634)
  t.is(all.length, ours.length + 1)
  t.is(ours.length, zeek.length)
  const key = (r: Record<string, unknown>) => `${String(r['id.orig_h'])} ${String(r['id.orig_p'])} ${String(r.trans_depth)}`
  const byKey = new Map(ours.map((r) => [key(r), r]))
  const fields = ['method', 'host', 'uri', 'version', 'user_agent', 'request_body_len', 'response_body_len', 'status_code', 'status_msg']
  for (const z of zeek) {
    const o = byKey.get(key(z))
    t.truthy(o, key(z))
    for (const f of fields) t.is(dash(o?.[f]), z[f] ?? '', `${key(z)} ${f}`)
  }
})

corpusTest('flowtap sessions: dns.log of a browsing trace matches Zeek (unicast DNS)', (t) => {
  const ours = sessionsCli(corpus('zeek_wikipedia.pcap')).filter((l) => l.log === 'dns' && l['id.resp_p'] === 53)
  // mDNS (port 5353) is multicast: Zeek logs each message with its own rules.
  const zeek = zeekLog(join(corpusDir, 'expected', 'zeek_wikipedia.pcap.source', 'opt.basic', 'dns.log')).filter((r) => r['id.resp_p'] === '53')
  t.true(zeek.length > 10)
  t.is(ours.length, zeek.length)
  const key = (r: Record<string, unknown>) => `${String(r['id.orig_p'])} ${String(r.trans_id)} ${String(r.query)}`
  const byKey = new Map(ours.map((r) => [key(r), r]))
  for (const z of zeek) {
    const o = byKey.get(key(z))
    t.truthy(o, key(z))
    for (const f of ['qtype_name', 'qclass_name', 'rcode_name']) t.is(dash(o?.[f]), z[f] ?? '', `${key(z)} ${f}`)
    for (const f of ['TC', 'RD']) t.is(o?.[f] ? 'T' : 'F', z[f] ?? '', `${key(z)} ${f}`)
    const answers = (o?.answers as string[] | null) ?? []
    // Zeek sets AA and RA while logging answers, so a response without
    // answers says F whatever its flags; flowtap reports the flags.
    if (answers.length) for (const f of ['AA', 'RA']) t.is(o?.[f] ? 'T' : 'F', z[f] ?? '', `${key(z)} ${f}`)
    t.is(answers.length ? answers.join(',') : '-', z.answers ?? '', `${key(z)} answers`)
  }
})

corpusTest('flowtap sessions: ssl.log lines match Zeek on TLS 1.2, 1.3 and ECH', (t) => {
  const cases: [string, string][] = [
    ['zeek_tls_tls-fragmented-handshake.pcap', 'scripts.base.protocols.ssl.fragment'],
    ['zeek_tls_tls13_wolfssl.pcap', 'scripts.base.protocols.ssl.tls13_encrypted_handshake_events'],
    ['zeek_tls_tls13-ech.pcap', 'scripts.base.protocols.ssl.tls13-encrypted-client-hello'],
  ]
  for (const [name, dir] of cases) {
    const ours = sessionsCli(corpus(name)).filter((l) => l.log === 'ssl')
    const zeek = zeekLog(join(corpusDir, 'expected', `${name}.source`, dir, 'ssl.log'))
    t.is(ours.length, zeek.length, name)
    for (const z of zeek) {
      const o = ours.find((l) => String(l['id.orig_p']) === z['id.orig_p'])
      t.truthy(o, `${name} ${z['id.orig_p']}`)
      for (const f of ['version', 'cipher', 'server_name', 'next_protocol']) t.is(dash(o?.[f]), z[f] ?? '', `${name} ${f}`)
      t.is(o?.established ? 'T' : 'F', z.established ?? '', `${name} established`)
      t.regex(String(o?.ja4), /^t1[23][di]\d{4}[0-9a-z]{2}_[0-9a-f]{12}_[0-9a-f]{12}$/)
    }
  }
})

corpusTest('sessions() pairs pipelined requests and responses in order', async (t) => {
  const events = await collect(openPcap(corpus('zeek_http_pipelined-requests.pcap')).sessions())
  const http = events.filter((e): e is Extract<SessionEvent, { type: 'http' }> => e.type === 'http')
  const zeek = zeekLog(
    join(corpusDir, 'expected', 'zeek_http_pipelined-requests.pcap.source', 'scripts.base.protocols.http.http-pipelining', 'http.log'),
  )
  t.is(http.length, zeek.length)
  t.deepEqual(
    http.map((h) => `${h.request?.uri} ${h.response?.status}`),
    zeek.map((z) => `${z.uri} ${z.status_code}`),
  )
  for (const h of http) {
    t.is(typeof h.request?.startNs, 'bigint')
    t.true(h.request!.startNs <= h.response!.endNs)
  }
})

corpusTest('sessions(): TLS hellos carry SNI, versions and JA3 as tshark reads them', async (t) => {
  const events = await collect(openPcap(corpus('zeek_tls_tls13_wolfssl.pcap')).sessions({ protocols: ['tls'] }))
  const tsv = readFileSync(join(corpusDir, 'expected', 'zeek_tls_tls13_wolfssl.pcap.tls.tsv'), 'utf8').trim().split('\n').slice(1)
  const hellos = tsv.map((l) => l.split('\t')).filter((c) => c[3] === '1')
  const ours = events.filter((e) => e.type === 'tls.client_hello')
  t.is(ours.length, hellos.length)
  for (const [i, c] of hellos.entries()) {
    const h = ours[i]!
    if (h.type !== 'tls.client_hello') continue
    t.is(h.serverName ?? '', c[6]!)
    t.is(h.ja3Hash, c[9]!)
    t.regex(h.ja3, /^\d+,/)
  }
  const end = events.find((e) => e.type === 'tls.end')
  t.is(end?.type === 'tls.end' ? end.versionName : '', 'TLSv13')
  t.false(events.some((e) => e.type === 'http' || e.type === 'dns'))
})

test('sessions() of the example capture: HTTP over IPv4 and IPv6, DNS over UDP and TCP', async (t) => {
  const events = await collect(openPcap(example('loopback-http-dns.pcapng')).sessions())
  const http = events.filter((e) => e.type === 'http')
  t.deepEqual(
    http.map((e) => (e.type === 'http' ? `${e.request?.method} ${e.request?.uri} ${e.response?.status}` : '')).sort(),
    ['GET /big.txt 200', 'GET /hello.txt 200', 'GET /hello.txt 200', 'GET /missing 404'],
  )
  const dns = events.filter((e): e is Extract<SessionEvent, { type: 'dns' }> => e.type === 'dns')
  t.deepEqual(dns.map((d) => `${d.transport} ${d.query?.questions[0]?.qtypeName} ${d.response?.rcodeName}`).sort(), [
    'tcp A NOERROR',
    'udp A NOERROR',
    'udp AAAA NOERROR',
  ])
  for (const d of dns) t.is(d.query?.questions[0]?.name, 'example.test')
})

test('session options are validated', (t) => {
  const src = openPcap(example('loopback-http-dns.pcapng'))
  for (const bad of [{ protocols: ['smtp'] }, { protocols: 'http' }, { bodyCaptureBytes: -1 }, { memcapBytes: 0 }]) {
    const e = t.throws(() => src.sessions(bad as never))
    t.true(e instanceof InvalidArgumentError)
  }
  t.throws(() => src.protocols(['nope' as never]), { instanceOf: InvalidArgumentError })
  t.is(src.openIterations, 0)
})

test('bodyCaptureBytes keeps the first body bytes', async (t) => {
  const events = await collect(openPcap(example('loopback-http-dns.pcapng')).bodyCaptureBytes(5).sessions({ protocols: ['http'] }))
  const hello = events.find((e) => e.type === 'http' && e.request?.uri === '/hello.txt')
  t.true(hello?.type === 'http' && hello.response!.body.captured.length === 5)
})

/** tshark's follow summary: sha256 per (stream, node) with the endpoint. */
function followRows(name: string): { endpoint: string; bytes: number; sha256: string }[] {
  const text = readFileSync(join(corpusDir, 'expected', `${name}.follow.tsv`), 'utf8').trim().split('\n').slice(1)
  return text.map((l) => {
    const c = l.split('\t')
    return { endpoint: c[2]!, bytes: Number(c[4]), sha256: c[5]! }
  })
}

corpusTest('streams() delivers the bytes tshark reassembles', async (t) => {
  const name = 'zeek_http_pipelined-requests.pcap'
  const hashes = new Map<string, ReturnType<typeof createHash>>()
  const sizes = new Map<string, number>()
  for await (const c of openPcap(corpus(name)).streams()) {
    const ev: StreamEvent = c
    const from = ev.direction === 'orig' ? ev.flow.orig : ev.flow.resp
    const k = `${from.addr}:${from.port}`
    if (ev.type === 'stream.data') {
      if (!hashes.has(k)) hashes.set(k, createHash('sha256'))
      hashes.get(k)!.update(ev.bytes)
      sizes.set(k, (sizes.get(k) ?? 0) + ev.bytes.length)
    } else if (ev.type === 'stream.gap') t.fail(`unexpected gap ${k}`)
  }
  const rows = followRows(name)
  t.true(rows.length >= 2)
  for (const r of rows) {
    t.is(sizes.get(r.endpoint), r.bytes, r.endpoint)
    t.is(hashes.get(r.endpoint)?.digest('hex'), r.sha256, r.endpoint)
  }
})

corpusTest('flowtap follow writes one side of a flow, byte for byte as tshark', (t) => {
  const name = 'zeek_http_pipelined-requests.pcap'
  const rows = followRows(name)
  const [client, server] = [rows.find((r) => !r.endpoint.endsWith(':80'))!, rows.find((r) => r.endpoint.endsWith(':80'))!]
  for (const [flow, dir, row] of [
    [`${client.endpoint}-${server.endpoint}`, 'orig', client],
    [`${server.endpoint}-${client.endpoint}`, 'resp', server],
  ] as const) {
    const r = spawnSync(process.execPath, [cli, 'follow', corpus(name), '--flow', flow, '--direction', dir])
    t.is(r.status, 0, String(r.stderr))
    t.is(r.stdout.length, row.bytes)
    t.is(createHash('sha256').update(r.stdout).digest('hex'), row.sha256)
  }
  const none = spawnSync(process.execPath, [cli, 'follow', corpus(name), '--flow', '10.0.0.1:1-10.0.0.2:2', '--direction', 'orig'], { encoding: 'utf8' })
  t.is(none.status, 1)
  t.regex(none.stderr, /no TCP flow/)
  const bad = spawnSync(process.execPath, [cli, 'follow', corpus(name), '--flow', 'nonsense', '--direction', 'orig'], { encoding: 'utf8' })
  t.is(bad.status, 2)
})

test('flowtap flows fills service from the parsed sessions', (t) => {
  const r = spawnSync(process.execPath, [cli, 'flows', example('loopback-http-dns.pcapng')], { encoding: 'utf8' })
  t.is(r.status, 0, r.stderr)
  const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
  const http = rows.filter((x) => x['id.resp_p'] === 18080)
  t.true(http.length >= 3)
  for (const x of http) t.is(x.service, 'http')
  t.true(rows.some((x) => x.service === 'dns' && x.proto === 'tcp'))
  t.true(rows.some((x) => x.service === 'dns' && x.proto === 'udp'))
})

test('flows() leaves service empty; it parses nothing', async (t) => {
  const ends = (await collect(openPcap(example('loopback-http-dns.pcapng')).flows())).filter((e): e is FlowEnd => e.type === 'flow.end')
  t.true(ends.length > 0)
  for (const e of ends) t.is(e.service, '')
})

test('stats().analysis counts what the analysis layers did and every bound they hit', async (t) => {
  const src = openPcap(example('loopback-http-dns.pcapng'))
  await collect(src.sessions())
  const a = src.stats().analysis
  t.truthy(a)
  t.is(a?.httpTransactions, 4)
  t.is(a?.dnsTransactions, 3)
  t.is(a?.memcapLimit, 256 * 1024 * 1024)
  t.is(a?.memcapUsed, 0)
  t.is(a?.gaps, 0)
  t.true((a?.streamBytes ?? 0) > 10_000)
  t.true((a?.parsedHttp ?? 0) >= 3)
  const tight = openPcap(example('loopback-http-dns.pcapng'))
  await collect(tight.streams({ streamDepthBytes: 100 }))
  const d = tight.stats().analysis
  t.true((d?.beyondDepthBytes ?? 0) > 0)
  t.true((d?.gaps ?? 0) > 0)
  await collect(tight.packets())
  t.is(tight.stats().analysis, undefined)
})
