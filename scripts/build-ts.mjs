// Builds the TypeScript facade: one ESM and one CommonJS bundle of ts/
// (the native loader in binding/ stays external and is shared), the CLI, and
// the .d.ts files. dist/ and ts/ sit at the same depth, so the relative
// import of ../binding/index.js resolves from both.
import { build } from 'esbuild'
import { execFileSync } from 'node:child_process'
import { chmodSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
rmSync('dist', { recursive: true, force: true })
const common = {
  bundle: true,
  platform: 'node',
  target: 'node18',
  sourcemap: true,
  external: ['../binding/index.js', '../binding/load.cjs'],
  logLevel: 'warning',
}
await build({ ...common, entryPoints: ['ts/index.ts'], format: 'esm', outfile: 'dist/index.mjs' })
await build({ ...common, entryPoints: ['ts/index.ts'], format: 'cjs', outfile: 'dist/index.cjs' })
await build({
  ...common,
  entryPoints: ['ts/cli.ts'],
  format: 'cjs',
  outfile: 'dist/cli.cjs',
  banner: { js: '#!/usr/bin/env node' },
})
chmodSync('dist/cli.cjs', 0o755)
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.json'], { stdio: 'inherit' })
