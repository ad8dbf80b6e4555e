// Loads the binding through napi-rs's generated loader (index.js), which
// picks the native addon for this platform or falls back to the WebAssembly
// build. NAPI_RS_FORCE_WASI=1 is accepted as well as the loader's own 'true'
// (prefer WebAssembly) and 'error' (WebAssembly or fail). Node's one-time
// "WASI is an experimental feature" warning is not passed on: flowtap's
// output (the CLI's stderr above all) stays the same on both builds.
'use strict'
if (process.env.NAPI_RS_FORCE_WASI === '1') process.env.NAPI_RS_FORCE_WASI = 'true'
const emitWarning = process.emitWarning
process.emitWarning = function (warning, ...rest) {
  if (String(warning && warning.message ? warning.message : warning).includes('WASI is an experimental feature')) return
  return emitWarning.call(this, warning, ...rest)
}
try {
  module.exports = require('./index.js')
} finally {
  process.emitWarning = emitWarning
}
