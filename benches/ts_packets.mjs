// Contender "TS packets()": the TypeScript facade's per-packet iterator.
// Every packet becomes a Packet object; we read caplen and both ports
// through its lazy getters.
//
//   node benches/ts_packets.mjs FILE
import { fileArg, importFacade, report } from './report.mjs'

const file = fileArg('ts_packets.mjs')
const { openPcap } = await importFacade()

const t0 = performance.now()
const src = openPcap(file)
let n = 0
let bytes = 0
let ports = 0
for await (const p of src.packets()) {
  n++
  bytes += p.caplen
  ports ^= p.srcPort ^ p.dstPort
}
const seconds = (performance.now() - t0) / 1000
report('ts_packets', { packets: n, bytes, ports, seconds })
