// Shared by the Node contenders: the same one-line JSON the Rust contenders
// print, so benches/run.mjs can parse every contender alike.

/** Prints {"name","packets","seconds","pps","mbps","bytes","ports"}; mbps is 10^6 bytes/s of captured data. */
export function report(name, { packets, bytes, ports, seconds, extra = {} }) {
  const s = Math.max(seconds, 1e-9)
  process.stdout.write(
    JSON.stringify({
      name,
      packets,
      seconds: Number(seconds.toFixed(6)),
      pps: Math.round(packets / s),
      mbps: Number((bytes / 1e6 / s).toFixed(2)),
      bytes,
      ports,
      ...extra,
    }) + '\n',
  )
}

/** The capture path from argv, or exit 2 with a usage line. */
export function fileArg(script) {
  const file = process.argv[2]
  if (!file) {
    console.error(`usage: node benches/${script} FILE`)
    process.exit(2)
  }
  return file
}

/**
 * Imports the TypeScript facade from dist/. Exits 3 with
 * "unavailable: <reason>" on stderr when it is not built or cannot load,
 * which run.mjs reports as the contender being unavailable.
 */
export async function importFacade() {
  const url = new URL('../dist/index.mjs', import.meta.url)
  try {
    return await import(url)
  } catch (e) {
    const reason = e && e.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes('dist/index.mjs')
      ? 'dist/index.mjs not found (run `npm run build` first)'
      : `cannot load dist/index.mjs: ${String((e && e.message) || e).split('\n')[0]}`
    console.error(`unavailable: ${reason}`)
    process.exit(3)
  }
}
