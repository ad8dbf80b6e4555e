// Capture filters on files: tcpdump syntax through libpcap's compiler, the
// same packets tcpdump itself keeps.
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FilterError, InvalidArgumentError, openPcap } from 'flowtap'
import { corpus, example, haveCorpus } from './helpers.js'

const tcpdump = spawnSync('tcpdump', ['--version'], { encoding: 'utf8' })
const haveTcpdump = tcpdump.status === 0
const tmp = mkdtempSync(join(tmpdir(), 'flowtap-filter-'))
let seq = 0
test.after.always(() => rmSync(tmp, { recursive: true, force: true }))

/** Packets tcpdump keeps from `file` with `expr` (written out by tcpdump, counted by flowtap unfiltered). */
async function tcpdumpCount(file: string, expr: string): Promise<number> {
  const out = join(tmp, `f${seq++}.pcap`)
  const r = spawnSync('tcpdump', ['-r', file, '-w', out, expr], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`tcpdump failed: ${r.stderr}`)
  let n = 0
  for await (const b of openPcap(out).keepBytes(false).packetBatches()) n += b.length
  return n
}

async function count(file: string, expr: string): Promise<number> {
  let n = 0
  for await (const b of openPcap(file).filter(expr).keepBytes(false).packetBatches()) n += b.length
  return n
}

const cases: [string, string[]][] = [
  ['loopback-http-dns.pcapng', ['tcp', 'udp port 53', 'ip6', 'tcp[tcpflags] & tcp-syn != 0', 'not tcp', 'icmp or icmp6', 'len > 200']],
  ['any-sll2-nanosecond.pcap', ['tcp', 'udp', 'host 127.0.0.1', 'not ip']],
]
const corpusCases: [string, string[]][] = [
  ['zeek_wikipedia.pcap', ['tcp port 80', 'udp and port 53', 'net 10.0.0.0/8', 'ip6', 'tcp[tcpflags] & (tcp-fin|tcp-rst) != 0']],
  ['zeek_mixed-vlan-mpls.pcap', ['vlan', 'mpls', 'vlan and tcp', 'tcp']],
  ['zeek_ipv4_fragmented-3.pcap', ['ip[6:2] & 0x1fff != 0', 'udp']],
  ['suricata_decode-sll2-02.pcap', ['tcp', 'ip6']],
]

test('file filters keep exactly the packets tcpdump keeps', async (t) => {
  if (!haveTcpdump) {
    if (process.env.CI) t.fail('tcpdump is missing (.ci/run installs it)')
    else t.log('skipped: tcpdump is not installed')
    return
  }
  const all = [...cases.map(([f, e]) => [example(f), e] as const), ...(haveCorpus ? corpusCases.map(([f, e]) => [corpus(f), e] as const) : [])]
  let compared = 0
  for (const [file, exprs] of all) {
    for (const expr of exprs) {
      const want = await tcpdumpCount(file, expr)
      t.is(await count(file, expr), want, `${file}: ${expr}`)
      compared++
    }
  }
  t.true(compared >= 15)
})

test('flows and sessions see only the filtered packets', async (t) => {
  const src = openPcap(example('loopback-http-dns.pcapng')).filter('udp port 15353')
  const kinds = new Set<string>()
  for await (const s of src.sessions()) kinds.add(s.type)
  t.deepEqual([...kinds], ['dns'])
  const s = src.stats()
  t.is(s.protocols.tcp, 0)
  t.is(s.packets, s.protocols.udp)
})

test('an invalid filter is a FilterError with the compiler message, before any packet', async (t) => {
  const it = openPcap(example('loopback-http-dns.pcapng')).filter('tcp port eighty').packets()
  const e = await t.throwsAsync(it.next(), { instanceOf: FilterError })
  t.is(e?.code, 'ERR_FILTER')
  t.regex(e?.message ?? '', /eighty|syntax|unknown/)
  t.throws(() => openPcap(example('loopback-http-dns.pcapng')).filter(42 as unknown as string), { instanceOf: InvalidArgumentError })
})

test('an empty filter keeps everything', async (t) => {
  let n = 0
  for await (const b of openPcap(example('loopback-http-dns.pcapng')).filter('  ').packetBatches()) n += b.length
  t.is(n, 67)
})
