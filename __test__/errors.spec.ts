// Error handling: typed classes with stable codes, offsets, and every good
// packet delivered before the damage.
import test from 'ava'
import {
  CaptureError,
  CaptureFormatError,
  CaptureTruncatedError,
  CaptureUnsupportedError,
  FileNotFoundError,
  FlowtapError,
  InvalidArgumentError,
  LimitExceededError,
  openPcap,
} from 'flowtap'
import { readFileSync } from 'node:fs'
import { corpus, example, haveCorpus } from './helpers.js'

async function drain(input: string | Uint8Array): Promise<{ packets: number; error: unknown }> {
  let packets = 0
  try {
    for await (const b of openPcap(input).packetBatches()) packets += b.length
    return { packets, error: undefined }
  } catch (error) {
    return { packets, error }
  }
}

test('a missing file is FileNotFoundError', async (t) => {
  const { error } = await drain('/nonexistent/trace.pcap')
  t.true(error instanceof FileNotFoundError)
  t.is((error as FlowtapError).code, 'ERR_FILE_NOT_FOUND')
  t.regex((error as Error).message, /nonexistent\/trace\.pcap/)
})

test('bytes that are not a capture are ERR_CAPTURE_FORMAT at offset 0', async (t) => {
  const { packets, error } = await drain(new TextEncoder().encode('GET / HTTP/1.1\r\n\r\n'))
  t.is(packets, 0)
  t.true(error instanceof CaptureFormatError)
  t.is((error as CaptureError).code, 'ERR_CAPTURE_FORMAT')
  t.is((error as CaptureError).offset, 0)
})

test('a cut-off last record yields the packets before it, then CaptureTruncatedError', async (t) => {
  const whole = readFileSync(example('any-sll2-nanosecond.pcap'))
  const cut = whole.subarray(0, whole.length - 10)
  const { packets, error } = await drain(cut)
  t.is(packets, 62)
  t.true(error instanceof CaptureTruncatedError)
  t.is((error as CaptureError).code, 'ERR_CAPTURE_TRUNCATED')
  t.true((error as CaptureError).offset! > 0 && (error as CaptureError).offset! < cut.length)
})

test('invalid options throw InvalidArgumentError synchronously', (t) => {
  const bad = [{ batchSize: 0 }, { batchSize: 1.5 }, { maxPacketBytes: 1 }, { keepBytes: 'yes' }, { batchBytes: -1 }]
  for (const o of bad) {
    const e = t.throws(() => openPcap(example('loopback-http-dns.pcapng'), o as never))
    t.true(e instanceof InvalidArgumentError)
    t.is((e as FlowtapError).code, 'ERR_INVALID_ARG')
  }
  t.throws(() => openPcap(42 as never), { instanceOf: InvalidArgumentError })
  t.throws(() => openPcap(''), { instanceOf: InvalidArgumentError })
})

test('a record over maxPacketBytes is LimitExceededError', async (t) => {
  let packets = 0
  const e = await t.throwsAsync(async () => {
    for await (const _ of openPcap(example('loopback-http-dns.pcapng'), { maxPacketBytes: 1000 }).packets()) packets++
  })
  t.true(e instanceof LimitExceededError)
  t.is((e as FlowtapError).code, 'ERR_LIMIT_EXCEEDED')
  t.true(packets > 0)
})

const corpusTest = haveCorpus ? test : test.skip

corpusTest('corrupt record header after 18 packets: 18 packets then a typed error', async (t) => {
  const { packets, error } = await drain(corpus('suricata_smtp-to-comma_corrupt.pcap'))
  t.is(packets, 18)
  t.true(error instanceof LimitExceededError)
  t.is((error as CaptureError).offset, 3695)
  t.is((error as CaptureError).path, corpus('suricata_smtp-to-comma_corrupt.pcap'))
})

corpusTest('unsupported versions are CaptureUnsupportedError', async (t) => {
  for (const f of ['libpcap_pcap-invalid-version-1.pcap', 'libpcap_pcapng-invalid-vers-1.pcapng']) {
    const { packets, error } = await drain(corpus(f))
    t.is(packets, 0, f)
    t.true(error instanceof CaptureUnsupportedError, f)
    t.is((error as FlowtapError).code, 'ERR_CAPTURE_UNSUPPORTED')
  }
})
