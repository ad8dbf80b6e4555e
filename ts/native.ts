/**
 * The native binding and the batch column layout it publishes. Internal:
 * nothing here is part of the public API.
 *
 * @module
 * @internal
 */
import binding from '../binding/load.cjs'
import type {
  BindingAnalyzeOptions,
  BindingBatch,
  BindingBatchResult,
  BindingCapture,
  BindingFlowBatch,
  BindingFlowOptions,
  BindingOpenOptions,
  BindingStats,
  BindingStreamBatch,
} from '../binding/index.js'

export type { BindingAnalyzeOptions, BindingStreamBatch }
export type BindingPluginBatch = import('../binding/index.js').BindingPluginBatch
export type BindingPluginSpec = import('../binding/index.js').BindingPluginSpec
export type BindingInjectOptions = import('../binding/index.js').BindingInjectOptions
export type { BindingBatch, BindingBatchResult, BindingCapture, BindingFlowBatch, BindingFlowOptions, BindingOpenOptions, BindingStats }

export const native = binding as typeof import('../binding/index.js')


const layout = native.batchLayout()

function indexOf(names: string[]): Record<string, number> {
  const out: Record<string, number> = {}
  names.forEach((n, i) => {
    out[n] = i
  })
  return out
}

/** Column indices by name, per width, exactly as the core lays them out. */
export const U8 = indexOf(layout.u8)
export const U16 = indexOf(layout.u16)
export const U32 = indexOf(layout.u32)
export const ADDR_STRIDE = layout.addrStride
