// ts_wasm.mjs MODE FILE: one pass of flowtap from dist/ over FILE, on
// whichever build the loader picked (NAPI_RS_FORCE_WASI=error: the
// WebAssembly one), printing one JSON line.
//   packets   packetBatches(), counting packets
//   sessions  sessionBatches(), counting session events
import { importFacade } from './report.mjs'

const [mode, file] = process.argv.slice(2)
const { openPcap, bindingTarget } = await importFacade()
const t0 = process.hrtime.bigint()
const src = openPcap(file)
let n = 0
if (mode === 'packets') for await (const b of src.packetBatches()) n += b.length
else if (mode === 'sessions') for await (const b of src.sessionBatches()) n += b.length
else throw new Error(`unknown mode ${mode}`)
const seconds = Number(process.hrtime.bigint() - t0) / 1e9
console.log(JSON.stringify({ name: `ts_${mode}`, bindingTarget, packets: src.stats().packets, events: n, seconds }))
