// Contender "TS packetBatches()": the TypeScript facade's columnar batches.
// We read the caplen/srcPort/dstPort typed-array columns of every batch.
//
//   node benches/ts_batches.mjs FILE
import { fileArg, importFacade, report } from './report.mjs'

const file = fileArg('ts_batches.mjs')
const { openPcap } = await importFacade()

const t0 = performance.now()
const src = openPcap(file)
let n = 0
let bytes = 0
let ports = 0
for await (const b of src.packetBatches()) {
  n += b.length
  const c = b.columns
  for (let i = 0; i < b.length; i++) {
    bytes += c.caplen[i]
    ports ^= c.srcPort[i] ^ c.dstPort[i]
  }
}
const seconds = (performance.now() - t0) / 1000
report('ts_batches', { packets: n, bytes, ports, seconds })
