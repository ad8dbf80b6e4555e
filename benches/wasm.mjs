// The WebAssembly build against the native addon (issue: distribution):
// packets/s through packetBatches() and sessions/s through sessions(), the
// same capture, each build in its own process, alternating, R runs.
//
//   node benches/wasm.mjs --file FILE [--runs R]   (run.mjs --suite wasm passes the mixed capture)
//
// Writes benches/results/wasm.{json,md}.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '..')
const args = process.argv.slice(2)
const opt = (k, d) => (args.includes(k) ? args[args.indexOf(k) + 1] : d)
const file = opt('--file')
const runs = Number(opt('--runs', '3'))
if (!file) throw new Error('--file FILE is required')
if (!fs.existsSync(path.join(root, 'binding', 'flowtap.wasm32-wasip1.wasm'))) throw new Error('no WebAssembly build: npm run build:wasm')

function once(build, mode) {
  const env = { ...process.env }
  if (build === 'wasm') env.NAPI_RS_FORCE_WASI = 'error'
  else delete env.NAPI_RS_FORCE_WASI
  const r = spawnSync(process.execPath, [path.join(here, 'ts_wasm.mjs'), mode, file], { env, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`${build} ${mode}: ${r.stderr}`)
  return JSON.parse(r.stdout.trim().split('\n').pop())
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const rows = []
for (const mode of ['packets', 'sessions']) {
  const secs = { native: [], wasm: [] }
  let last = {}
  for (let r = 0; r < runs; r++) {
    for (const build of r % 2 ? ['wasm', 'native'] : ['native', 'wasm']) {
      const j = once(build, mode)
      secs[build].push(j.seconds)
      last[build] = j
      console.log(`run ${r + 1}/${runs} ${mode.padEnd(8)} ${build.padEnd(6)} ${j.seconds.toFixed(2)} s (${j.bindingTarget})`)
    }
  }
  if (last.native.events !== last.wasm.events) throw new Error(`${mode}: native ${last.native.events} events, wasm ${last.wasm.events}`)
  for (const build of ['native', 'wasm']) {
    const s = median(secs[build])
    rows.push({ mode, build, target: last[build].bindingTarget, seconds: s, min: Math.min(...secs[build]), max: Math.max(...secs[build]), packets: last[build].packets, events: last[build].events, packetsPerSec: last[build].packets / s, eventsPerSec: last[build].events / s })
  }
}
const by = (m, b) => rows.find((r) => r.mode === m && r.build === b)
const ratios = { packets: by('packets', 'wasm').packetsPerSec / by('packets', 'native').packetsPerSec, sessions: by('sessions', 'wasm').eventsPerSec / by('sessions', 'native').eventsPerSec }
const machine = { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version }
fs.mkdirSync(path.join(here, 'results'), { recursive: true })
fs.writeFileSync(path.join(here, 'results', 'wasm.json'), JSON.stringify({ suite: 'wasm', date: new Date().toISOString(), machine, file: path.relative(root, file), runs, rows, ratios }, null, 2) + '\n')
const md = [
  '### WebAssembly build vs native addon',
  '',
  `\`node benches/run.mjs --suite wasm --runs ${runs}\` on ${machine.cpus} × ${machine.model}, Node ${machine.node}; \`${path.relative(root, file)}\`; median of ${runs} runs (min–max), each build in its own process.`,
  '',
  '| task | build | median s (min–max) | packets/s | sessions/s |',
  '|---|---|---|---:|---:|',
  ...rows.map((r) => `| ${r.mode === 'packets' ? '`packetBatches()`' : '`sessions()`'} | ${r.target} | ${r.seconds.toFixed(2)} (${r.min.toFixed(2)}–${r.max.toFixed(2)}) | ${Math.round(r.packetsPerSec).toLocaleString('en-US')} | ${r.mode === 'sessions' ? Math.round(r.eventsPerSec).toLocaleString('en-US') : '–'} |`),
  '',
  `WebAssembly ÷ native: packets/s ${ratios.packets.toFixed(2)}, sessions/s ${ratios.sessions.toFixed(2)}. Same events from both (checked).`,
]
fs.writeFileSync(path.join(here, 'results', 'wasm.md'), md.join('\n') + '\n')
console.log('\n' + md.join('\n'))
