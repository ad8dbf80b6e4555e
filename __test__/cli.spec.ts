// The flowtap command line, run as a user would.
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { corpus, example, haveCorpus, root } from './helpers.js'

const cli = join(root, 'dist', 'cli.cjs')
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' })

test('stats --json prints one object with the documented keys', (t) => {
  const r = run('stats', example('loopback-http-dns.pcapng'), '--json')
  t.is(r.status, 0, r.stderr)
  const o = JSON.parse(r.stdout)
  t.is(o.packets, 67)
  t.is(o.bytes, 26583)
  t.deepEqual(o.linkTypes, [{ linkType: 1, name: 'ethernet', packets: 67 }])
  t.deepEqual(o.protocols, { ipv4: 55, ipv6: 12, arp: 0, tcp: 59, udp: 4, icmp: 4, other: 0 })
  t.is(o.firstTs, '1795331306.283818480')
  t.is(o.lastTs, '1795331306.575037385')
  t.is(o.malformed, 0)
  t.false('error' in o)
})

test('stats prints a readable summary', (t) => {
  const r = run('stats', example('any-sll2-nanosecond.pcap'))
  t.is(r.status, 0)
  t.regex(r.stdout, /packets:\s+63/)
  t.regex(r.stdout, /linux_sll2 \(276\): 63/)
})

test('packets prints NDJSON and honours --limit', (t) => {
  const r = run('packets', example('loopback-http-dns.pcapng'), '--limit', '3')
  t.is(r.status, 0)
  const lines = r.stdout.trim().split('\n')
  t.is(lines.length, 3)
  const objs = lines.map((l) => JSON.parse(l))
  t.deepEqual(
    objs.map((o) => o.index),
    [0, 1, 2],
  )
  t.is(objs[0].tcpFlags, 'S')
  t.is(objs[1].tcpFlags, 'S.')
  const all = run('packets', example('loopback-http-dns.pcapng'))
  t.is(all.stdout.trim().split('\n').length, 67)
})

test('a missing file: one-line error naming it, non-zero exit', (t) => {
  const r = run('stats', '/nonexistent.pcap')
  t.is(r.status, 1)
  t.is(r.stderr.trim().split('\n').length, 1)
  t.regex(r.stderr, /nonexistent\.pcap.*ERR_FILE_NOT_FOUND/)
})

test('usage errors exit 2', (t) => {
  t.is(run('frobnicate', 'x').status, 2)
  t.is(run('stats').status, 2)
  t.is(run('packets', 'x', '--limit', 'many').status, 2)
  t.is(run('stats', 'x', '--bogus').status, 2)
})

const corpusTest = haveCorpus ? test : test.skip

corpusTest('stats --json on a damaged file: the counts so far, an error key, exit 1', (t) => {
  const r = run('stats', corpus('suricata_smtp-to-comma_corrupt.pcap'), '--json')
  t.is(r.status, 1)
  const o = JSON.parse(r.stdout)
  t.is(o.packets, 18)
  t.is(o.error.code, 'ERR_LIMIT_EXCEEDED')
  t.is(o.error.offset, 3695)
  t.regex(r.stderr, /smtp-to-comma_corrupt\.pcap/)
})

corpusTest('stats on a file that is not a capture', (t) => {
  const r = run('stats', corpus('MANIFEST.md'), '--json')
  t.is(r.status, 1)
  const o = JSON.parse(r.stdout)
  t.is(o.packets, 0)
  t.is(o.error.code, 'ERR_CAPTURE_FORMAT')
})

test('a progress bar on a terminal for a large file, none when piped', (t) => {
  // 33 MB: the sample capture's records repeated behind its header.
  const sample = readFileSync(example('any-sll2-nanosecond.pcap'))
  const records = sample.subarray(24)
  const copies = Math.ceil((33 << 20) / records.length)
  const dir = mkdtempSync(join(tmpdir(), 'flowtap-'))
  const big = join(dir, 'big.pcap')
  writeFileSync(big, Buffer.concat([sample.subarray(0, 24), ...Array(copies).fill(records)]))
  try {
    // `script` gives the CLI a pseudo-terminal, as a person's shell would.
    const tty = spawnSync('script', ['-qec', `${process.execPath} ${cli} stats ${big}`, '/dev/null'], { encoding: 'utf8' })
    t.is(tty.status, 0, tty.stderr)
    t.regex(tty.stdout, /\[#*\.*\]\s+\d+%\s+\d+ packets/)
    t.regex(tty.stdout, new RegExp(`packets:\\s+${63 * copies}`))
    const piped = run('stats', big)
    t.is(piped.status, 0)
    t.notRegex(piped.stderr, /%/)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
