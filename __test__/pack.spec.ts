// The packages as published (scripts/pack.mjs: the root `flowtap` with
// optionalDependencies, and the platform packages), installed into fresh
// projects by npm with no Rust toolchain or C compiler on PATH: on this
// platform npm picks the linux-x64-gnu package; where no native binary
// matches (simulated with --cpu=wasm32) it picks the WebAssembly package
// and the loader falls back to it. Each install runs a small program that
// prints the sessions of a bundled capture, as ESM and as CommonJS.
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { root } from './helpers.js'

const work = mkdtempSync(join(tmpdir(), 'flowtap-pack-spec-'))
test.after.always(() => rmSync(work, { recursive: true, force: true }))

/** A PATH with node and npm only. */
function barePath(): string {
  const bin = join(work, 'bin')
  mkdirSync(bin, { recursive: true })
  for (const tool of ['node', 'npm']) {
    const from = tool === 'node' ? process.execPath : join(dirname(process.execPath), 'npm')
    if (!existsSync(join(bin, tool))) symlinkSync(from, join(bin, tool))
  }
  return bin
}

let packed: { root: string; platforms: Record<string, string> } | undefined
function pack(): { root: string; platforms: Record<string, string> } {
  if (packed) return packed
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'pack.mjs'), join(work, 'tarballs')], { cwd: root, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`pack.mjs failed: ${r.stderr}`)
  packed = JSON.parse(r.stdout.trim().split('\n').pop()!)
  return packed!
}

const ESM = `
import { openPcap, bindingTarget } from 'flowtap'
import { createRequire } from 'node:module'
const file = createRequire(import.meta.url).resolve('flowtap/package.json').replace(/package\\.json$/, 'examples/loopback-http-dns.pcapng')
const out = []
for await (const s of openPcap(file).sessions()) out.push(s.type === 'http' ? 'http ' + s.request?.uri + ' ' + s.response?.status : s.type === 'dns' ? 'dns ' + s.query?.questions[0]?.name : s.type)
console.log(JSON.stringify({ bindingTarget, sessions: out }))
`
const CJS = `
const { openPcap, bindingTarget } = require('flowtap')
const file = require.resolve('flowtap/package.json').replace(/package\\.json$/, 'examples/loopback-http-dns.pcapng')
;(async () => {
  const out = []
  for await (const s of openPcap(file).sessions()) out.push(s.type === 'http' ? 'http ' + s.request?.uri + ' ' + s.response?.status : s.type === 'dns' ? 'dns ' + s.query?.questions[0]?.name : s.type)
  console.log(JSON.stringify({ bindingTarget, sessions: out }))
})()
`
const SESSIONS = ['http /hello.txt 200', 'http /big.txt 200', 'http /hello.txt 200', 'http /missing 404', 'dns example.test', 'dns example.test', 'dns example.test']

/** A fresh project depending on the packed root, the platform packages resolved to their tarballs. */
function install(name: string, npmArgs: string[]): { dir: string; env: NodeJS.ProcessEnv } {
  const p = pack()
  const dir = join(work, name)
  mkdirSync(dir, { recursive: true })
  const overrides = Object.fromEntries(Object.entries(p.platforms).map(([plat, tgz]) => [`@flowtap/binding-${plat}`, `file:${tgz}`]))
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `t-${name}`, private: true, dependencies: { flowtap: `file:${p.root}` }, overrides }))
  writeFileSync(join(dir, 'esm.mjs'), ESM)
  writeFileSync(join(dir, 'cjs.cjs'), CJS)
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: barePath() }
  delete env.NAPI_RS_FORCE_WASI
  const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', ...npmArgs], { cwd: dir, env, encoding: 'utf8', timeout: 120_000 })
  if (r.status !== 0) throw new Error(`npm install failed: ${r.stderr}`)
  return { dir, env }
}

function runBoth(t: import('ava').ExecutionContext, dir: string, env: NodeJS.ProcessEnv, target: string) {
  for (const prog of ['esm.mjs', 'cjs.cjs']) {
    const r = spawnSync(process.execPath, [prog], { cwd: dir, env, encoding: 'utf8', timeout: 60_000 })
    t.is(r.status, 0, r.stderr)
    t.is(r.stderr, '', `${prog} writes nothing to stderr`)
    t.deepEqual(JSON.parse(r.stdout), { bindingTarget: target, sessions: SESSIONS }, prog)
  }
}

test.serial('npm installs the root and the linux-x64-gnu package; ESM and CommonJS read a bundled capture; no toolchain needed', (t) => {
  const bare = barePath()
  for (const tool of ['cargo', 'rustc', 'cc', 'gcc', 'node-gyp', 'python3']) {
    t.is(spawnSync(tool, ['--version'], { env: { PATH: bare } }).error?.message.includes('ENOENT'), true, `${tool} is not on the install PATH`)
  }
  const { dir, env } = install('native', [])
  t.deepEqual(readdirSync(join(dir, 'node_modules', '@flowtap')), ['binding-linux-x64-gnu'], 'only the matching platform package')
  runBoth(t, dir, env, 'x86_64-linux')
  // The addon needs nothing beyond the C runtime.
  const addon = join(dir, 'node_modules', '@flowtap', 'binding-linux-x64-gnu', 'flowtap.linux-x64-gnu.node')
  const ldd = spawnSync('ldd', [addon], { encoding: 'utf8' })
  t.is(ldd.status, 0)
  const libs = ldd.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s/)[0]!)
    .filter(Boolean)
  t.log(libs.join(' '))
  const runtime = /^(linux-vdso\.so\.1|libc\.so\.6|libm\.so\.6|libgcc_s\.so\.1|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|\/lib64\/ld-linux-x86-64\.so\.2)$/
  t.deepEqual(
    libs.filter((l) => !runtime.test(l)),
    [],
    'only the C runtime',
  )
})

test.serial('where no native binary matches, npm installs the WebAssembly package and the loader falls back to it', (t) => {
  if (!pack().platforms['wasm32-wasip1']) {
    if (process.env.CI) t.fail('no WebAssembly build to pack (npm run build:wasm)')
    else t.log('skipped: no WebAssembly build')
    return
  }
  const { dir, env } = install('wasm', ['--cpu=wasm32'])
  t.deepEqual(readdirSync(join(dir, 'node_modules', '@flowtap')), ['binding-wasm32-wasip1'])
  runBoth(t, dir, env, 'wasm32-wasi')
})
