// Contender "node_pcap": the `pcap` npm package (libpcap binding) reading
// the file offline, decoding every packet with pcap.decode.packet() as its
// users do, and reading caplen and the TCP/UDP ports of the decoded tree.
// Timed from opening the session to its 'complete' event. With
// --tcp-tracker every decoded packet also goes through node_pcap's
// TCPTracker (its TCP session reassembly, what its users run for streams),
// and the sessions it ended are counted.
//
//   node benches/node_pcap.mjs FILE [--tcp-tracker]   (needs `npm install --prefix benches`)
import { createRequire } from 'node:module'
import { fileArg, report } from './report.mjs'

const file = fileArg('node_pcap.mjs')
const require = createRequire(import.meta.url)
let pcap
try {
  pcap = require('pcap')
} catch (e) {
  console.error(`unavailable: cannot load the pcap package: ${String(e.message || e).split('\n')[0]}`)
  process.exit(3)
}

const tracking = process.argv.includes('--tcp-tracker')
const tracker = tracking ? new pcap.TCPTracker() : null
let tcpSessions = 0
if (tracker) tracker.on('session', (s) => s.on('end', () => tcpSessions++))
const t0 = performance.now()
const session = pcap.createOfflineSession(file)
let n = 0
let bytes = 0
let ports = 0
let errors = 0
session.on('packet', (raw) => {
  n++
  let pkt
  try {
    pkt = pcap.decode.packet(raw)
  } catch {
    // node_pcap throws on some malformed packets; count them, keep going.
    errors++
    bytes += raw.header.readUInt32LE(8)
    return
  }
  bytes += pkt.pcap_header.caplen
  const ip = pkt.payload && pkt.payload.payload
  const l4 = ip && ip.payload
  if (l4 && l4.sport !== undefined) ports ^= l4.sport ^ l4.dport
  if (tracker) {
    try {
      tracker.track_packet(pkt)
    } catch {
      errors++
    }
  }
})
session.on('complete', () => {
  const seconds = (performance.now() - t0) / 1000
  report(tracking ? 'node_pcap_tcp' : 'node_pcap', { packets: n, bytes, ports, seconds, extra: { decodeErrors: errors, tcpSessions } })
})
