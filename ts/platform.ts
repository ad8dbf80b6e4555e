/**
 * Which build of the binding this process runs on.
 *
 * @module
 */
import { native } from './native.js'

/**
 * The build of the binding this process loaded: `<arch>-<os>` of the native
 * addon (`x86_64-linux`), or `wasm32-wasi` for the WebAssembly fallback,
 * which reads capture files and bytes only (no live capture, injection or
 * capture filters: those throw `ERR_UNSUPPORTED_PLATFORM`).
 *
 * @category Sources
 */
export const bindingTarget: string = native.bindingTarget()
