// Runs the capture-file specs on the WebAssembly build: ava with
// NAPI_RS_FORCE_WASI=error, so the loader takes binding/*.wasm or fails.
// Live capture, injection, capture filters (libpcap's compiler is native)
// and the native-only resource tests are not in this list. Without a
// WebAssembly build it says so and fails under CI.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const SPECS = ['packets', 'lifecycle', 'errors', 'corpus', 'flows', 'sessions', 'plugins', 'cli']
if (!existsSync(path.join(root, 'binding', 'flowtap.wasm32-wasip1.wasm'))) {
  console.error('test:wasm: no WebAssembly build (npm run build:wasm)')
  process.exit(process.env.CI ? 1 : 0)
}
const files = SPECS.map((s) => `__test__/${s}.spec.ts`)
const r = spawnSync('npx', ['ava', ...files], { cwd: root, stdio: 'inherit', env: { ...process.env, NAPI_RS_FORCE_WASI: 'error' } })
process.exit(r.status ?? 1)
