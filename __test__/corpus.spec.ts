// Every capture of the shared corpus through the public API: packet counts
// and link types match Wireshark's, damaged files end in typed errors after
// the packets before the damage, nothing crashes.
import test from 'ava'
import { CaptureError, FlowtapError, openPcap } from 'flowtap'
import { corpus, corpusFiles, expectedDamage, expectedLinkTypes, expectedPackets, haveCorpus, WTAP_TO_LINKTYPE } from './helpers.js'

if (!haveCorpus) {
  if (process.env.CI) throw new Error('the shared corpus is missing (expected ../shared/corpus or $FLOWTAP_CORPUS)')
  test('corpus (skipped: ../shared/corpus not found; set FLOWTAP_CORPUS)', (t) => t.pass())
}

/**
 * Where flowtap knowingly differs from capinfos (Wireshark 4.0.17), and why.
 */
const PACKETS_DIFFER: Record<string, { packets: number; why: string }> = {
  'suricata_bug-6875-01_fuzz.pcap': {
    packets: 1,
    why:
      'the second record header claims 1.4 GB; wiretap guesses another pcap variant with different record ' +
      'headers and reads a 1-byte second frame before failing, flowtap (like libpcap) stops at the bogus length',
  },
}

for (const name of corpusFiles()) {
  test(`corpus: ${name}`, async (t) => {
    const perIface = new Map<string, number>()
    let packets = 0
    let error: unknown
    const src = openPcap(corpus(name), { keepBytes: false })
    try {
      for await (const b of src.packetBatches()) {
        const { interface: iface, linkType } = b.columns
        for (let i = 0; i < b.length; i++) {
          const key = `${iface[i]}/${linkType[i]}`
          perIface.set(key, (perIface.get(key) ?? 0) + 1)
        }
        packets += b.length
      }
    } catch (e) {
      error = e
    }
    const differs = PACKETS_DIFFER[name]
    t.is(packets, differs?.packets ?? expectedPackets(name), differs?.why ?? 'packet count equals capinfos')

    const damage = expectedDamage(name)
    if (damage) {
      t.true(error instanceof FlowtapError, `damaged file must end in a typed error (${damage})`)
      t.true(error instanceof CaptureError, 'a capture error, with an offset')
      t.regex((error as FlowtapError).code, /^ERR_(CAPTURE_FORMAT|CAPTURE_UNSUPPORTED|CAPTURE_TRUNCATED|LIMIT_EXCEEDED)$/)
    } else {
      t.is(error, undefined, 'an intact file reads to the end')
    }

    // Packets per link type. Rows without an encapsulation are pcapng
    // statistics records, not packets. Per-interface numbers are compared
    // only for single-section files: Wireshark 4.0 reuses interface ids
    // across pcapng sections, flowtap numbers them globally as gopacket does.
    const expected = expectedLinkTypes(name).filter((r) => !Number.isNaN(r.encap) && r.encap !== 0)
    const multiSection = new Set([...perIface.keys()].map((k) => k.split('/')[0])).size > new Set(expected.map((r) => r.iface)).size
    const byEncap = new Map<number, number>()
    for (const r of expected) byEncap.set(r.encap, (byEncap.get(r.encap) ?? 0) + r.packets)
    if (differs) {
      // Counts differ by design; every packet read still has an expected link type.
      const allowed = [...byEncap.keys()].flatMap((e) => WTAP_TO_LINKTYPE[e] ?? [])
      for (const k of perIface.keys()) t.true(allowed.includes(Number(k.split('/')[1])), k)
      byEncap.clear()
    }
    for (const [encap, n] of byEncap) {
      const candidates = WTAP_TO_LINKTYPE[encap]
      t.truthy(candidates, `unmapped wiretap encapsulation ${encap}`)
      let got = 0
      for (const [k, v] of perIface) if (candidates!.includes(Number(k.split('/')[1]))) got += v
      t.is(got, n, `encapsulation ${encap}`)
    }
    if (!multiSection && !differs) {
      for (const { iface, encap, packets: n } of expected) {
        const got = WTAP_TO_LINKTYPE[encap]!.reduce((sum, lt) => sum + (perIface.get(`${iface}/${lt}`) ?? 0), 0)
        t.is(got, n, `interface ${iface}, encapsulation ${encap}`)
      }
    }
    t.is(src.stats().packets, packets)
    t.is(src.openIterations, 0)
  })
}
