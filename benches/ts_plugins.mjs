// ts_plugins.mjs MODE FILE: one pass of flowtap's sessions() from dist/
// over FILE, in one of these modes, printing one JSON line:
//
//   builtin  the built-in HTTP/DNS/TLS parsers (no plugin)
//   trivial  one plugin claiming every TCP flow (priority first, no
//            built-in parser) whose onData only counts bytes
//   redis    the Redis example plugin (examples/plugins/redis.ts) on port
//            16379 — run with `node --import tsx`
//
// streamBytes / pluginBytes come from the source's stats(); jsBytes is what
// the plugin itself counted (equal to pluginBytes, or the run is wrong).
import { readFileSync } from 'node:fs'
import { importFacade } from './report.mjs'

const [mode, file] = process.argv.slice(2)
if (!mode || !file) {
  console.error('usage: node [--import tsx] benches/ts_plugins.mjs builtin|trivial|redis FILE')
  process.exit(2)
}
const { openPcap, defineStreamParser } = await importFacade()
let jsBytes = 0
let messages = 0
let options
if (mode === 'builtin') options = {}
else if (mode === 'trivial') {
  const count = defineStreamParser({
    name: 'count',
    match: { all: true },
    priority: 'first',
    create: () => ({
      onData: (_d, chunk) => {
        jsBytes += chunk.length
      },
    }),
  })
  options = { plugins: [count], protocols: [] }
} else if (mode === 'redis') {
  const { redisOn } = await import('../examples/plugins/redis.ts')
  options = { plugins: [redisOn([16379])], protocols: [] }
} else {
  console.error(`unknown mode ${mode}`)
  process.exit(2)
}
const t0 = process.hrtime.bigint()
const src = openPcap(file)
for await (const batch of src.sessionBatches(options)) messages += batch.length
const seconds = Number(process.hrtime.bigint() - t0) / 1e9
const a = src.stats().analysis
const hwm = Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0)
console.log(
  JSON.stringify({
    name: `ts_${mode}`,
    packets: src.stats().packets,
    seconds,
    streamBytes: a.streamBytes,
    pluginBytes: a.pluginBytes,
    jsBytes,
    messages,
    hwmKb: hwm,
  }),
)
