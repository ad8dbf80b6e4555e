// The public packet API: iteration, batches, typed fields, bytes input, CJS.
import test from 'ava'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { openPcap, Packet, PacketBatch, type CaptureStats } from 'flowtap'
import { example } from './helpers.js'

const LO = example('loopback-http-dns.pcapng')
const SLL2 = example('any-sll2-nanosecond.pcap')

test('packets() yields every packet with decoded fields', async (t) => {
  const src = openPcap(LO)
  const all: Packet[] = []
  for await (const p of src.packets()) all.push(p)
  t.is(all.length, 67)
  const first = all[0]!
  t.is(first.index, 0)
  t.is(first.timestampNs, 1795331306283818480n)
  t.is(first.linkTypeName, 'ethernet')
  t.is(first.network, 'ipv4')
  t.is(first.src, '127.0.0.1')
  t.is(first.dst, '127.0.0.1')
  t.is(first.protocol, 'tcp')
  t.is(first.srcPort, 54948)
  t.is(first.dstPort, 18080)
  const tcp = first.tcp
  t.truthy(tcp)
  t.true(tcp!.flags.syn)
  t.false(tcp!.flags.ack)
  t.is(tcp!.options.mss, 65495)
  t.true(tcp!.options.sackPermitted)
  t.truthy(tcp!.options.timestamp)
  t.is(first.status, 'ok')
  t.is(first.payload.length, 0)
  t.is(first.data.length, first.caplen)
  t.is(first.date.getTime(), 1795331306283)

  const v6 = all[25]!
  t.is(v6.network, 'ipv6')
  t.is(v6.src, '::1')
  t.is(v6.ip?.version, 6)
  t.is(v6.srcPort, 47244)

  const dns = all.filter((p) => p.udp !== undefined)
  t.is(dns.length, 4)
  t.true(dns.every((p) => p.udp!.dstPort === 15353 || p.udp!.srcPort === 15353))
  // A DNS query for example.test carries the name in its payload.
  t.true(Buffer.from(dns[0]!.payload).includes(Buffer.from('\x07example\x04test')))

  const icmp = all.filter((p) => p.icmp !== undefined)
  t.deepEqual(
    icmp.map((p) => p.icmp!.type),
    [8, 0, 8, 0],
  )

  // The HTTP response bodies are in the payloads, in order.
  const http = all.filter((p) => p.srcPort === 18080 && p.payload.length > 0)
  t.true(Buffer.concat(http.map((p) => p.payload)).includes(Buffer.from('hello from flowtap')))

  const s: CaptureStats = src.stats()
  t.is(s.packets, 67)
  t.is(s.format, 'pcapng')
  t.deepEqual(s.protocols, { ipv4: 55, ipv6: 12, arp: 0, tcp: 59, udp: 4, icmp: 4, other: 0 })
  t.deepEqual(s.linkTypes, [{ linkType: 1, name: 'ethernet', packets: 67 }])
  t.is(s.firstTimestampNs, 1795331306283818480n)
  t.is(s.lastTimestampNs, 1795331306575037385n)
  t.is(src.openIterations, 0)
})

test('packetBatches() covers the same packets in bounded batches', async (t) => {
  const src = openPcap(LO, { batchSize: 10 })
  let n = 0
  let batches = 0
  const ports: number[] = []
  for await (const b of src.packetBatches()) {
    t.true(b instanceof PacketBatch)
    t.true(b.length >= 1 && b.length <= 10)
    t.is(b.firstIndex, n)
    t.is(b.columns.caplen.length, b.length)
    t.is(b.columns.timestampNs.length, b.length)
    for (let i = 0; i < b.length; i++) ports.push(b.columns.srcPort[i]!)
    n += b.length
    batches++
  }
  t.is(n, 67)
  t.is(batches, 7)
  const viaPackets: number[] = []
  for await (const p of openPcap(LO).packets()) viaPackets.push(p.srcPort)
  t.deepEqual(ports, viaPackets)
})

test('a batch is iterable and get() checks its bounds', async (t) => {
  for await (const b of openPcap(LO).packetBatches()) {
    const viaIter = [...b].map((p) => p.index)
    t.deepEqual(viaIter, Array.from({ length: b.length }, (_, i) => i))
    t.is(b.get(3).index, 3)
    t.throws(() => b.get(b.length), { instanceOf: RangeError })
    break
  }
})

test('bytes in memory read the same as the file', async (t) => {
  const fromFile: string[] = []
  for await (const p of openPcap(SLL2).packets()) fromFile.push(JSON.stringify(p))
  const fromBytes: string[] = []
  for await (const p of openPcap(new Uint8Array(readFileSync(SLL2))).packets()) fromBytes.push(JSON.stringify(p))
  t.is(fromFile.length, 63)
  t.deepEqual(fromBytes, fromFile)
})

test('SLL2 and nanosecond pcap decode', async (t) => {
  const src = openPcap(SLL2)
  const first = (await src.packets().next()).value as Packet
  t.is(first.linkType, 276)
  t.is(first.linkTypeName, 'linux_sll2')
  t.is(first.timestampNs, 1795331306283817839n)
  t.is(first.src, '127.0.0.1')
  t.is(first.dstPort, 18080)
})

test('keepBytes: false drops bytes but keeps every header field', async (t) => {
  const lean: string[] = []
  for await (const p of openPcap(LO, { keepBytes: false }).packets()) {
    t.is(p.data.length, 0)
    t.is(p.payload.length, 0)
    lean.push(JSON.stringify(p))
  }
  const full: string[] = []
  for await (const p of openPcap(LO).packets()) full.push(JSON.stringify(p))
  t.deepEqual(lean, full)
})

test('toJSON gives the CLI summary', async (t) => {
  const it = openPcap(LO).packets()
  const p = (await it.next()).value as Packet
  await it.return?.()
  t.like(p.toJSON(), {
    index: 0,
    ts: '1795331306.283818480',
    linkType: 'ethernet',
    network: 'ipv4',
    protocol: 'tcp',
    src: '127.0.0.1',
    srcPort: 54948,
    dstPort: 18080,
    tcpFlags: 'S',
    status: 'ok',
    layer: 'tcp',
  })
})

test('the source is async-iterable and each iteration starts over', async (t) => {
  const src = openPcap(LO)
  let a = 0
  for await (const _ of src) a++
  let b = 0
  for await (const _ of src) b++
  t.is(a, 67)
  t.is(b, 67)
})

test('the CommonJS entry point works', async (t) => {
  const require = createRequire(import.meta.url)
  const cjs = require('flowtap') as typeof import('flowtap')
  let n = 0
  for await (const _ of cjs.openPcap(LO).packets()) n++
  t.is(n, 67)
  t.is(typeof cjs.CaptureFormatError, 'function')
})
