// Session parser plugins: the Redis and MQTT examples on traffic captured
// from the real servers and clients, the same messages on re-segmented and
// reordered streams, gaps reaching onGap, isolation of a throwing plugin,
// no JS for flows a declarative match does not claim. Live captures:
// plugins-live.spec.ts.
import test from 'ava'
import { readFileSync } from 'node:fs'
import {
  defineDatagramParser,
  defineStreamParser,
  openPcap,
  InvalidArgumentError,
  type PacketSource,
  type Plugin,
  type SessionEvent,
} from 'flowtap'
import { redisOn, type RedisCommand } from '../examples/plugins/redis.js'
import { mqttAnywhere, mqttOn, type MqttPacket } from '../examples/plugins/mqtt.js'
import { example } from './helpers.js'
import { rewriteTcp } from './tcp-rewrite.js'

const REDIS = example('plugins/redis.pcap')
const MQTT = example('plugins/mqtt.pcap')
const redis = redisOn([16379])
const mqtt = mqttOn([11883])

async function collect(src: PacketSource, plugins?: Plugin[]): Promise<SessionEvent[]> {
  const out: SessionEvent[] = []
  for await (const s of src.sessions(plugins ? { plugins } : undefined)) out.push(s)
  return out
}

const redisOf = (events: SessionEvent[]): RedisCommand[] => events.flatMap((s) => (s.type === 'redis' ? [s.message] : []))
const mqttOf = (events: SessionEvent[]): MqttPacket[] => events.flatMap((s) => (s.type === 'mqtt' ? [s.message] : []))

/** Messages without their times, for comparing captures whose packets differ. */
function key(m: object): string {
  return JSON.stringify(m, (k, v) => (typeof v === 'bigint' || k.endsWith('Ns') ? undefined : v))
}

test('Redis: every command redis-cli sent, paired with its reply, pipelining included', async (t) => {
  const src = openPcap(REDIS).use(redis)
  const cmds = redisOf(await collect(src))
  const count = (c: string) => cmds.filter((m) => m.command === c).length
  // The script in scripts/make-plugin-captures.sh: 13 single commands (a
  // 100 kB SET and GET among them), 50 pipelined SETs and the ECHO
  // redis-cli --pipe adds.
  t.is(cmds.length, 64)
  t.is(count('SET'), 52)
  t.is(count('GET'), 3)
  t.is(count('ECHO'), 1)
  t.true(cmds.every((m) => m.reply !== undefined && !m.gap), 'every command answered')
  t.deepEqual(cmds.find((m) => m.command === 'LRANGE')!.reply, ['a', 'b', 'c'])
  t.deepEqual(cmds.find((m) => m.command === 'HGETALL')!.reply, ['f1', 'v1', 'f2', 'v2'])
  t.is(cmds.find((m) => m.command === 'GET' && m.args[0] === 'missing')!.reply, null)
  t.regex(cmds.find((m) => m.command === 'NOSUCHCOMMAND')!.error!, /^ERR unknown command/)
  const big = cmds.find((m) => m.command === 'SET' && m.args[0] === 'big')!
  t.is(big.requestBytes, 100_033)
  t.is(big.args[1]!.length, 256, 'arguments are cut to 256 bytes')
  t.is(cmds.find((m) => m.command === 'GET' && m.args[0] === 'big')!.replyBytes, 100_011)
  const piped = cmds.filter((m) => m.command === 'SET' && m.args[0]!.startsWith('key:'))
  t.is(piped.length, 50)
  t.true(piped.every((m, i) => m.args[0] === `key:${i + 1}` && m.reply === 'OK' && m.inline))
  const s = src.stats().analysis!
  t.is(s.pluginFlows, 14)
  t.is(s.pluginBytes, s.streamBytes, 'every stream byte went to the plugin')
  t.like(src.pluginCounters(), { sessions: 14, predicateCalls: 0, errors: 0 })
})

test('MQTT 3.1.1 and 5: every control packet, as tshark decodes them', async (t) => {
  const msgs = mqttOf(await collect(openPcap(MQTT).use(mqtt)))
  const byType: Record<string, number> = {}
  for (const m of msgs) byType[m.type] = (byType[m.type] ?? 0) + 1
  // tshark -d tcp.port==11883,mqtt -T fields -e mqtt.msgtype
  t.deepEqual(byType, { CONNECT: 6, CONNACK: 6, SUBSCRIBE: 2, SUBACK: 2, PUBLISH: 9, PUBACK: 4, PUBREC: 2, PUBREL: 2, PUBCOMP: 2, DISCONNECT: 6 })
  t.true(msgs.every((m) => !m.malformed && !m.truncated))
  t.deepEqual(msgs.filter((m) => m.type === 'CONNECT').map((m) => [m.clientId, m.version]).sort(), [
    ['pub311', 4],
    ['pub311b', 4],
    ['pub5', 5],
    ['pubr', 4],
    ['sub311', 4],
    ['sub5', 5],
  ])
  const v5pub = msgs.find((m) => m.type === 'PUBLISH' && m.version === 5 && m.direction === 'orig')!
  t.like(v5pub, { topic: 'sensors/temp', payload: '22.0', qos: 2, payloadLength: 4 })
  t.deepEqual(v5pub.properties?.[0x26], [['unit', 'celsius']])
  t.deepEqual(msgs.find((m) => m.clientId === 'pub311b')!.will, { topic: 'status/pub', qos: 0, retain: false, payloadLength: 4 })
  t.like(msgs.find((m) => m.topic === 'status/retained')!, { retain: true, qos: 1, packetId: 1 })
})

test('a predicate finds MQTT on any port, and is asked only about flows nothing else claimed', async (t) => {
  const byPort = mqttOf(await collect(openPcap(MQTT).use(mqtt)))
  const src = openPcap(MQTT).use(mqttAnywhere)
  const byTest = mqttOf(await collect(src))
  t.deepEqual(byTest.map(key), byPort.map(key))
  t.like(src.pluginCounters(), { predicateCalls: 6, sessions: 6, declined: 0 })
  // On HTTP and DNS traffic the built-in parsers claim every TCP/UDP flow:
  // the predicate is never called.
  const web = openPcap(example('loopback-http-dns.pcapng')).use(mqttAnywhere)
  const events = await collect(web)
  t.is(events.filter((e) => e.type === 'http').length, 4)
  t.like(web.pluginCounters(), { predicateCalls: 0, sessions: 0 })
  // On Redis the predicate says no: every flow declined, given back to Rust.
  const declined = openPcap(REDIS).use(mqttAnywhere)
  t.deepEqual(mqttOf(await collect(declined)), [])
  t.like(declined.pluginCounters(), { predicateCalls: 14, sessions: 0, declined: 14 })
  t.is(declined.stats().analysis!.pluginReleased, 14)
})

test('declarative matching runs no JS for flows a plugin does not claim', async (t) => {
  let creates = 0
  let chunks = 0
  const counting = defineStreamParser<number>({
    name: 'counting',
    match: { ports: [9] },
    create: () => {
      creates++
      return { onData: (_d, c) => void (chunks += c.length) }
    },
  })
  const src = openPcap(REDIS).use(counting)
  t.deepEqual(await collect(src), [])
  t.is(creates, 0)
  t.is(chunks, 0)
  t.is(src.stats().analysis!.pluginFlows, 0)
  t.like(src.pluginCounters(), { sessions: 0, chunks: 0, predicateCalls: 0 })
})

test('the same messages on 7-byte segments, on segments delivered last-first, and on 1-byte segments', async (t) => {
  const cleanCmds = redisOf(await collect(openPcap(REDIS).use(redis)))
  const clean = cleanCmds.map(key)
  const raw = readFileSync(REDIS)
  for (const o of [{ segment: 7 }, { segment: 7, reverse: true }, { segment: 100, reverse: true }, { segment: 1000, reverse: true }]) {
    const src = openPcap(rewriteTcp(raw, o)).use(redis)
    const got = redisOf(await collect(src))
    const a = src.stats().analysis!
    if (o.segment === 7 && o.reverse) {
      // A 32 kB packet in 7-byte pieces, last first: 4,678 segments out of
      // order, beyond the 1,024 buffered per direction. The bound holds,
      // is counted, and the plugin sees the gaps.
      t.true(a.oooLimitHits > 0 && a.gaps > 0)
      // Only the two 100 kB exchanges are cut (a command lost whole shows as
      // '' with its reply).
      const cut = got.filter((m) => m.gap).map((m) => `${m.command} ${m.args[0] ?? ''}`)
      t.true(cut.length === 2 && cut.every((c) => c === 'SET big' || c === 'GET big' || c === ' '), cut.join())
      t.true(cut.includes('GET big'))
      const isCut = (m: RedisCommand) => m.args[0] === 'big' && m.command !== 'DEL'
      t.deepEqual(got.filter((m) => !m.gap).map(key), cleanCmds.filter((m) => !isCut(m)).map(key))
      continue
    }
    t.deepEqual(got.map(key), clean, JSON.stringify(o))
    t.is(a.gaps, 0)
  }
  const mclean = mqttOf(await collect(openPcap(MQTT).use(mqtt))).map(key)
  for (const o of [{ segment: 1 }, { segment: 3, reverse: true }]) {
    const got = mqttOf(await collect(openPcap(rewriteTcp(readFileSync(MQTT), o)).use(mqtt))).map(key)
    t.deepEqual(got, mclean, JSON.stringify(o))
  }
})

test('a lost segment reaches onGap with its length; the commands before it are intact', async (t) => {
  const gaps: { direction: string; length: number; offset: number }[] = []
  const seen = new Map<string, number>()
  const probe = defineStreamParser<never>({
    name: 'probe',
    match: { ports: [16379] },
    create: (flow) => ({
      onData: (d, c) => void seen.set(`${flow.uid}/${d}`, (seen.get(`${flow.uid}/${d}`) ?? 0) + c.length),
      onGap: (direction, length, info) => void gaps.push({ direction, length, offset: info.offset }),
    }),
  })
  // Only the 100 kB SET request and reply come in packets over 30 kB; the
  // second 1000-byte segment of the first such packet is lost.
  const lossy = rewriteTcp(readFileSync(REDIS), { segment: 1000, drop: 1, dropFrom: 30_000 })
  const src = openPcap(lossy).use(probe, redis)
  const events = await collect(src)
  t.deepEqual(gaps, [{ direction: 'orig', length: 1000, offset: 1000 }])
  // With both plugins on port 16379, the first registered one has the flows.
  t.deepEqual(redisOf(events), [])
  const withRedis = redisOf(await collect(openPcap(lossy).use(redis)))
  const big = withRedis.find((m) => m.command === 'SET' && m.args[0] === 'big')!
  t.true(big.gap, 'the command cut by the gap says so')
  t.is(big.reply, 'OK')
  t.is(withRedis.filter((m) => !m.gap).length, 63, 'every other command is intact')
})

test('a throwing plugin ends its session on that flow with session.error; other flows and parsers go on', async (t) => {
  let flows = 0
  const flaky = defineDatagramParser<{ bytes: number }>({
    name: 'flaky',
    match: { ports: [15353] },
    priority: 'first',
    create: () => {
      const n = ++flows
      return {
        onDatagram: (_d, p) => {
          if (n === 1) throw new RangeError('boom')
          return { bytes: p.length }
        },
      }
    },
  })
  const src = openPcap(example('loopback-http-dns.pcapng')).use(flaky)
  const events = await collect(src)
  const errors = events.filter((e) => e.type === 'session.error')
  t.is(errors.length, 1)
  const e = errors[0]!
  t.true(e.type === 'session.error' && e.error instanceof RangeError && e.plugin === 'flaky' && e.code === 'ERR_PLUGIN_THREW')
  t.is(events.filter((s) => s.type === ('flaky' as string)).length, 2, 'the other UDP flow: query and response')
  t.is(events.filter((s) => s.type === 'http').length, 4, 'built-in parsers unaffected')
  t.is(events.filter((s) => s.type === 'dns').length, 1, 'DNS over TCP still parsed')
  t.is(src.stats().analysis!.pluginReleased, 1)
  t.like(src.pluginCounters(), { errors: 1, sessions: 2 })
})

test('a first-priority plugin takes port-80-style flows from the built-in HTTP parser', async (t) => {
  const firstLines = defineStreamParser<string>({
    name: 'firstline',
    match: { ports: [18080], signatures: [{ bytes: 'GET ', direction: 'orig' }] },
    priority: 'first',
    create: () => {
      let done = false
      return {
        onData: (d, c) => {
          if (done || d !== 'orig') return
          done = true
          return Buffer.from(c).toString('latin1').split('\r\n')[0]
        },
      }
    },
  })
  const events = await collect(openPcap(example('loopback-http-dns.pcapng')).use(firstLines))
  t.is(events.filter((s) => s.type === 'http').length, 0)
  const lines = events.flatMap((s) => (s.type === ('firstline' as string) ? [(s as unknown as { message: string }).message] : []))
  // One line per connection: curl fetched hello.txt and big.txt over IPv4, hello.txt over IPv6, then /missing.
  t.deepEqual(lines.sort(), ['GET /big.txt HTTP/1.1', 'GET /hello.txt HTTP/1.1', 'GET /hello.txt HTTP/1.1', 'GET /missing HTTP/1.1'])
})

test('bad plugin definitions are typed errors', (t) => {
  const ok = { name: 'x', match: { ports: [1] }, create: () => ({ onData: () => undefined }) }
  t.throws(() => defineStreamParser({ ...ok, name: 'http' }), { instanceOf: InvalidArgumentError })
  t.throws(() => defineStreamParser({ ...ok, match: {} }), { instanceOf: InvalidArgumentError })
  t.throws(() => defineStreamParser({ ...ok, match: { ports: [70000] } }), { instanceOf: InvalidArgumentError })
  t.throws(() => defineStreamParser({ ...ok, match: { signatures: [''] } }), { instanceOf: InvalidArgumentError })
  t.throws(() => openPcap(REDIS).use(defineStreamParser(ok), defineStreamParser(ok)), { instanceOf: InvalidArgumentError, message: /two plugins/ })
  t.throws(() => openPcap(REDIS).sessions({ plugins: [{} as Plugin] }), { instanceOf: InvalidArgumentError })
})

test('typing: SessionMessageMap narrows plugin messages by type and protocol', async (t) => {
  let n = 0
  for await (const s of openPcap(REDIS).use(redis).sessions()) {
    switch (s.protocol) {
      case 'redis':
        if (s.type === 'redis') {
          // s.message is RedisCommand here (a type error otherwise).
          const c: string = s.message.command
          n += c.length > 0 ? 1 : 0
        }
        break
      case 'http':
        t.fail('no HTTP here')
    }
  }
  t.is(n, 64)
})
