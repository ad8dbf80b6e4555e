// Bundles the browser example: app.mts and the flowtap facade (ts/) for the
// browser, with the binding's WebAssembly build (napi-rs's browser loader,
// binding/flowtap.wasip1-browser.js, and the .wasm next to the bundle).
// Needs `npm run build:wasm` first. Output: examples/browser/dist/.
import { build } from 'esbuild'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '..', '..')
const wasm = path.join(root, 'binding', 'flowtap.wasm32-wasip1.wasm')
if (!fs.existsSync(wasm)) {
  console.error('examples/browser: no WebAssembly build (npm run build:wasm)')
  process.exit(1)
}
const out = path.join(here, 'dist')
fs.rmSync(out, { recursive: true, force: true })
await build({
  entryPoints: [path.join(here, 'app.mts')],
  outfile: path.join(out, 'app.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  sourcemap: true,
  logLevel: 'warning',
  alias: {
    'node:path': path.join(here, 'shims', 'path.ts'),
    'node:crypto': path.join(here, 'shims', 'crypto.ts'),
  },
  plugins: [
    {
      // The facade loads the binding through binding/load.cjs (Node's
      // loader); in the browser it is napi-rs's browser loader instead.
      name: 'flowtap-browser-binding',
      setup(b) {
        b.onResolve({ filter: /binding\/load\.cjs$/ }, () => ({ path: path.join(root, 'binding', 'flowtap.wasip1-browser.js') }))
      },
    },
  ],
})
fs.copyFileSync(wasm, path.join(out, 'flowtap.wasm32-wasip1.wasm'))
console.log(`examples/browser/dist: ${fs.readdirSync(out).join(', ')}`)
