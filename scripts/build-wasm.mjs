// Builds the WebAssembly binding (wasm32-wasip1, napi-rs's non-threaded
// flavor) into binding/: flowtap.wasm32-wasip1.wasm and the loaders napi
// generates for it (Node: flowtap.wasip1.cjs; browsers: flowtap.wasip1-browser.js).
// `--if-available`: skip (successfully) when no wasm toolchain is installed.
// rustup has no wasm targets here, so this uses the toolchain that
// ../shared/toolchains/wasm.sh installs (Debian's rustc-web in /usr/bin) when
// it is there, in a target directory of its own.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const env = { ...process.env, CARGO_TARGET_DIR: path.join(root, 'target', 'wasm') }
const debian = fs.existsSync('/usr/bin/cargo') && fs.existsSync('/usr/lib/rustlib/wasm32-wasip1/lib')
if (debian) {
  env.CARGO = '/usr/bin/cargo'
  env.RUSTC = '/usr/bin/rustc'
}
// --if-available (as `npm run build` passes it): no wasm toolchain, no wasm build.
if (process.argv.includes('--if-available') && !debian) {
  const rustup = spawnSync('rustc', ['--print', 'sysroot'], { encoding: 'utf8' })
  const sysroot = rustup.status === 0 ? rustup.stdout.trim() : ''
  if (!sysroot || !fs.existsSync(path.join(sysroot, 'lib', 'rustlib', 'wasm32-wasip1'))) {
    console.log('build:wasm: no wasm32-wasip1 toolchain (../shared/toolchains/wasm.sh installs one); skipped')
    process.exit(0)
  }
}
const args = ['napi', 'build', '--release', '--platform', '--target', 'wasm32-wasip1', '--manifest-path', 'crates/flowtap-node/Cargo.toml',
  '--package-json-path', 'package.json', '--output-dir', 'binding', '--js', 'index.js', '--dts', 'index.d.ts']
// napi regenerates the loader and its declarations from the wasm build,
// which lacks the Linux-only classes (BindingLive, BindingInjector): the
// native build's versions are kept.
const keep = ['index.js', 'index.d.ts'].map((f) => [f, fs.readFileSync(path.join(root, 'binding', f))])
const r = spawnSync('npx', args, { cwd: root, env, stdio: 'inherit' })
for (const [f, bytes] of keep) fs.writeFileSync(path.join(root, 'binding', f), bytes)
if (r.status !== 0) process.exit(r.status ?? 1)
// The debug copy napi leaves next to the release one would be loaded first.
fs.rmSync(path.join(root, 'binding', 'flowtap.wasm32-wasip1.debug.wasm'), { force: true })
