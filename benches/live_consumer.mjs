// A capturing process for benches/live.mjs: captures IFACE until SIGTERM,
// then prints one JSON line with what it captured, the drops it saw and
// its own CPU seconds.
//
//   node benches/live_consumer.mjs flowtap-flows|flowtap-packets|node_pcap IFACE
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const [kind, iface] = process.argv.slice(2)
const here = dirname(fileURLToPath(import.meta.url))
const cpu = () => {
  const u = process.resourceUsage()
  return (u.userCPUTime + u.systemCPUTime) / 1e6
}
// CPU from the moment the capture is ready: process start-up (loading
// Node and the library) is not capturing.
let cpuAtReady = 0
const ready = () => {
  cpuAtReady = cpu()
  process.stdout.write('ready\n')
}
const out = (o) => process.stdout.write(JSON.stringify({ ...o, cpu: cpu() - cpuAtReady }) + '\n')

if (kind === 'node_pcap') {
  const pcap = createRequire(import.meta.url)('pcap')
  const session = pcap.createSession(iface, { filter: 'udp', buffer_size: 32 << 20 })
  let n = 0
  let ports = 0
  session.on('packet', (raw) => {
    const p = pcap.decode.packet(raw)
    n++
    ports += p.payload?.payload?.payload?.sport ?? 0
  })
  process.on('SIGTERM', () => {
    const s = session.stats()
    session.close()
    out({ packets: n, drops: s.ps_drop + s.ps_ifdrop, received: s.ps_recv, ports })
    process.exit(0)
  })
  ready()
} else {
  const { capture } = await import(join(here, '..', 'dist', 'index.mjs'))
  const src = capture(iface).filter('udp')
  process.on('SIGTERM', () => src.stop())
  const opened = src.opened().then((ok) => ok && ready())
  let n = 0
  if (kind === 'flowtap-flows') {
    for await (const ev of src.flows({ udpIdleMs: 600_000 })) if (ev.type === 'flow.end') n += ev.origStats.packets + ev.respStats.packets
  } else {
    for await (const b of src.keepBytes(false).packetBatches()) n += b.length
  }
  await opened
  const live = src.stats().live
  out({ packets: kind === 'flowtap-flows' ? n : src.stats().packets, decoded: src.stats().packets, flowsOrPackets: n, drops: live.kernelDrops, received: live.received })
}
