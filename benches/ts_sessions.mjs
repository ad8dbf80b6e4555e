// ts_sessions.mjs FILE: openPcap(FILE).sessionBatches() from dist/index.mjs,
// counting events by type; one JSON line with pps and sessions/s. The
// packet count is the source's stats().packets, as in ts_flows.mjs.
import { importFacade } from './report.mjs'

const file = process.argv[2]
if (!file) { console.error('usage: node ts_sessions.mjs FILE'); process.exit(2) }
const { openPcap } = await importFacade()
const t0 = process.hrtime.bigint()
const src = openPcap(file)
const byType = {}
let events = 0
for await (const b of src.sessionBatches()) {
  for (let i = 0; i < b.length; i++) {
    const t = b[i].type
    byType[t] = (byType[t] ?? 0) + 1
  }
  events += b.length
}
const seconds = Number(process.hrtime.bigint() - t0) / 1e9
const packets = src.stats().packets
const sessions = Object.entries(byType).filter(([t]) => !t.startsWith('flow')).reduce((s, [, n]) => s + n, 0)
console.log(JSON.stringify({ name: 'ts_sessions', packets, seconds, pps: packets / seconds, events, sessions, sessionsPerSec: sessions / seconds, byType }))
