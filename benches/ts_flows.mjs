// Contenders "TS flows()" and "TS flowBatches()": the TypeScript facade's
// flow events, tracked in Rust and delivered to JS. We count the flow.end
// events and sum the packets they report (both directions); the packet
// count and rate are of the whole capture (the source's stats), like every
// other contender's.
//
//   node benches/ts_flows.mjs FILE            # openPcap(file).flows()
//   node benches/ts_flows.mjs --batches FILE  # openPcap(file).flowBatches()
import { importFacade, report } from './report.mjs'

const args = process.argv.slice(2)
const batches = args.includes('--batches')
const file = args.find((a) => !a.startsWith('--'))
if (!file) {
  console.error('usage: node benches/ts_flows.mjs [--batches] FILE')
  process.exit(2)
}
const { openPcap } = await importFacade()

const t0 = performance.now()
const src = openPcap(file)
let ends = 0
let starts = 0
let flowPackets = 0
const onEvent = (ev) => {
  if (ev.type === 'flow.end') {
    ends++
    flowPackets += ev.origStats.packets + ev.respStats.packets
  } else {
    starts++
  }
}
if (batches) {
  for await (const b of src.flowBatches()) for (let i = 0; i < b.length; i++) onEvent(b[i])
} else {
  for await (const ev of src.flows()) onEvent(ev)
}
const seconds = (performance.now() - t0) / 1000
const st = src.stats()
report(batches ? 'ts_flow_batches' : 'ts_flows', {
  packets: st.packets,
  bytes: st.bytes,
  ports: 0,
  seconds,
  extra: { flows: ends, flowStarts: starts, flowPackets },
})
