// Injection benchmark (issue 11): the same frames onto the same veth,
// side by side in one run — flowtap's TX ring in batches from TypeScript
// (`inject().sendAll`) and from Rust alone (benches/src/bin/tx_ring.rs), one
// sendto() per frame (C, AF_PACKET), and node_pcap's session.inject() per
// frame.
// Reports frames/s and CPU seconds per million frames of the sending
// process. Needs root; creates and removes its own veth pair.
//
//   node benches/inject.mjs [--frames N] [--size BYTES] [--runs R]
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const arg = (name, d) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? Number(process.argv[i + 1]) : d
}
const FRAMES = arg('frames', 1_000_000)
const SIZE = arg('size', 64)
const RUNS = arg('runs', 3)
const A = 'ftbenchA'
const B = 'ftbenchB'

function sh(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`)
  return r.stdout
}

// Frames are views into one large buffer, as frames from a capture batch
// or a network read are. (A 64-byte `new Uint8Array(64)` lives on V8's heap
// and costs about 1 µs to hand to native code the first time, whatever the
// library.)
function frames() {
  const arena = new Uint8Array(FRAMES * SIZE)
  const out = []
  for (let i = 0; i < FRAMES; i++) {
    const f = arena.subarray(i * SIZE, (i + 1) * SIZE)
    f.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x88, 0xb5], 0)
    new DataView(arena.buffer, i * SIZE).setUint32(14, i)
    out.push(f)
  }
  return out
}

/** Runs `fn` in this process; wall and CPU seconds. */
async function timed(fn) {
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  const sent = await fn()
  const seconds = (performance.now() - t0) / 1000
  const c = process.cpuUsage(c0)
  return { frames: sent, seconds, cpu: (c.user + c.system) / 1e6 }
}

const contenders = {
  async flowtap_tx_ring(all) {
    const { inject } = await import(join(here, '..', 'dist', 'index.mjs'))
    return timed(async () => {
      const tx = inject(A)
      for (let at = 0; at < all.length; at += 4096) await tx.sendAll(all.slice(at, at + 4096))
      await tx.drain(30_000)
      const s = tx.stats()
      tx.close()
      return s.sent
    })
  },
  async flowtap_tx_ring_rust() {
    sh('cargo', ['build', '--release', '-q', '-p', 'flowtap-bench', '--bin', 'tx_ring'])
    return JSON.parse(sh(join(here, '..', 'target', 'release', 'tx_ring'), [A, String(FRAMES), String(SIZE)]))
  },
  async sendto_per_frame() {
    const bin = join(here, 'data', 'sendto_frames')
    mkdirSync(dirname(bin), { recursive: true })
    sh('cc', ['-O2', '-o', bin, join(here, 'c', 'sendto_frames.c')])
    return JSON.parse(sh(bin, [A, String(FRAMES), String(SIZE)]))
  },
  async node_pcap_inject(all) {
    let pcap
    try {
      pcap = createRequire(import.meta.url)('pcap')
    } catch (e) {
      return { unavailable: String(e.message).split('\n')[0] }
    }
    return timed(async () => {
      const session = pcap.createSession(A, { filter: 'ether proto 0x88b6' })
      let n = 0
      for (const f of all) {
        session.inject(Buffer.from(f.buffer, f.byteOffset, f.byteLength))
        n++
      }
      session.close()
      return n
    })
  },
}

spawnSync('ip', ['link', 'del', A])
sh('ip', ['link', 'add', A, 'type', 'veth', 'peer', 'name', B])
for (const n of [A, B]) {
  spawnSync('sysctl', ['-qw', `net.ipv6.conf.${n}.disable_ipv6=1`])
  sh('ip', ['link', 'set', n, 'up'])
}
const all = frames()
const results = {}
try {
  for (let run = 0; run < RUNS; run++) {
    for (const [name, fn] of Object.entries(contenders)) {
      const r = await fn(all)
      ;(results[name] ??= []).push(r)
      console.error(name, JSON.stringify(r))
    }
  }
} finally {
  spawnSync('ip', ['link', 'del', A])
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const rows = Object.entries(results).map(([name, rs]) => {
  if (rs[0].unavailable) return { name, unavailable: rs[0].unavailable }
  const rate = median(rs.map((r) => r.frames / r.seconds))
  const cpuPerM = median(rs.map((r) => (r.cpu / r.frames) * 1e6))
  return { name, framesPerSecond: Math.round(rate), cpuSecondsPerMillion: Number(cpuPerM.toFixed(3)), frames: rs[0].frames, runs: rs.length }
})
const base = rows.find((r) => r.name === 'flowtap_tx_ring')
let md = `# Injection: ${FRAMES} frames of ${SIZE} bytes onto a veth pair, ${RUNS} runs each (median)\n\n`
md += '| contender | frames/s | CPU s per million frames | flowtap ÷ it (rate) |\n|---|---:|---:|---:|\n'
for (const r of rows) {
  if (r.unavailable) md += `| ${r.name} | unavailable: ${r.unavailable} | | |\n`
  else md += `| ${r.name} | ${r.framesPerSecond.toLocaleString('en')} | ${r.cpuSecondsPerMillion} | ${(base.framesPerSecond / r.framesPerSecond).toFixed(2)}× |\n`
}
md += `\nMachine: ${spawnSync('nproc', { encoding: 'utf8' }).stdout.trim()} cores, ${process.version}, ${new Date().toISOString().slice(0, 10)}.\n`
mkdirSync(join(here, 'results'), { recursive: true })
writeFileSync(join(here, 'results', 'inject.md'), md)
writeFileSync(join(here, 'results', 'inject.json'), JSON.stringify({ frames: FRAMES, size: SIZE, runs: RUNS, rows, raw: results }, null, 2))
process.stdout.write(md)
