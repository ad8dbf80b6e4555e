/**
 * Errors of flowtap. Every error has a stable `code` shared with the Rust
 * core (`ErrorCode` there); match on `code` or on the class.
 *
 * @module
 */

/**
 * Stable error codes: the `code` of a {@link FlowtapError}; each code has its own class.
 *
 * @category Errors
 */
export type ErrorCode =
  | 'ERR_CAPTURE_FORMAT'
  | 'ERR_CAPTURE_UNSUPPORTED'
  | 'ERR_CAPTURE_TRUNCATED'
  | 'ERR_LIMIT_EXCEEDED'
  | 'ERR_FILE_NOT_FOUND'
  | 'ERR_PERMISSION'
  | 'ERR_IO'
  | 'ERR_INVALID_ARG'
  | 'ERR_NO_SUCH_INTERFACE'
  | 'ERR_FILTER'
  | 'ERR_UNSUPPORTED_PLATFORM'
  | 'ERR_FRAME_TOO_LARGE'
  | 'ERR_INTERNAL'

/**
 * Base class of every error flowtap throws (except {@link AbortError}).
 *
 * @category Errors
 */
export class FlowtapError extends Error {
  /** The stable code of the error (see {@link ErrorCode}). */
  readonly code: ErrorCode
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

/**
 * A problem with the capture data itself, at a known byte offset.
 *
 * @category Errors
 */
export class CaptureError extends FlowtapError {
  /** Byte offset in the capture of the record or block that failed. */
  readonly offset: number | undefined
  /** The file, when the source is a file. */
  readonly path: string | undefined
  constructor(code: ErrorCode, message: string, offset?: number, path?: string) {
    super(code, message)
    this.offset = offset
    this.path = path
  }
}

/**
 * Not a pcap/pcapng capture, or a record/block inside it is corrupt.
 *
 * @category Errors
 */
export class CaptureFormatError extends CaptureError {}
/**
 * A well-formed capture using something flowtap does not read (e.g. a version).
 *
 * @category Errors
 */
export class CaptureUnsupportedError extends CaptureError {}
/**
 * The capture ends in the middle of a record (e.g. a file still being written or cut short).
 *
 * @category Errors
 */
export class CaptureTruncatedError extends CaptureError {}
/**
 * A record exceeds a limit (`maxPacketBytes`); almost always corruption.
 *
 * @category Errors
 */
export class LimitExceededError extends CaptureError {}

/**
 * The file does not exist.
 *
 * @category Errors
 */
export class FileNotFoundError extends FlowtapError {}
/**
 * The file cannot be read with the current privileges.
 *
 * @category Errors
 */
export class PermissionError extends FlowtapError {}
/**
 * Reading failed for another reason.
 *
 * @category Errors
 */
export class IoError extends FlowtapError {}
/**
 * An option or argument is invalid; thrown synchronously where it is given.
 *
 * @category Errors
 */
export class InvalidArgumentError extends FlowtapError {}
/**
 * A live capture named an interface that does not exist (`ERR_NO_SUCH_INTERFACE`).
 *
 * @category Errors
 */
export class NoSuchInterfaceError extends FlowtapError {}
/**
 * A capture filter that libpcap's compiler rejected (`ERR_FILTER`); the message is the compiler's.
 *
 * @category Errors
 */
export class FilterError extends FlowtapError {}
/**
 * A frame longer than the interface takes (MTU plus link header); `queued` says how many frames of the batch went before it.
 *
 * @category Errors
 */
export class FrameTooLargeError extends FlowtapError {
  /** Frames of the batch queued before the refused one (set by {@link Injector.sendBatch}). */
  readonly queued?: number
}
/**
 * A feature this platform or build lacks, e.g. live capture outside Linux (`ERR_UNSUPPORTED_PLATFORM`).
 *
 * @category Errors
 */
export class UnsupportedPlatformError extends FlowtapError {}
/**
 * A bug in flowtap (a caught panic in the native core). Please report it.
 *
 * @category Errors
 */
export class InternalError extends FlowtapError {}

/**
 * Thrown when an `AbortSignal` stops an iteration; `code` matches Node's own.
 *
 * @category Errors
 */
export class AbortError extends Error {
  /** Always `ABORT_ERR`, the code of Node's own `AbortError`. */
  readonly code = 'ABORT_ERR'
  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'AbortError'
  }
}

/** The shape the native binding reports errors in. */
export interface NativeError {
  code: string
  message: string
  offset?: number
}

/** Builds the typed error for a native error report. */
export function fromNative(e: NativeError, path?: string): FlowtapError {
  switch (e.code) {
    case 'ERR_CAPTURE_FORMAT':
      return new CaptureFormatError(e.code, e.message, e.offset, path)
    case 'ERR_CAPTURE_UNSUPPORTED':
      return new CaptureUnsupportedError(e.code, e.message, e.offset, path)
    case 'ERR_CAPTURE_TRUNCATED':
      return new CaptureTruncatedError(e.code, e.message, e.offset, path)
    case 'ERR_LIMIT_EXCEEDED':
      return new LimitExceededError(e.code, e.message, e.offset, path)
    case 'ERR_FILE_NOT_FOUND':
      return new FileNotFoundError(e.code, e.message)
    case 'ERR_PERMISSION':
      return new PermissionError(e.code, e.message)
    case 'ERR_IO':
      return new IoError(e.code, e.message)
    case 'ERR_INVALID_ARG':
      return new InvalidArgumentError(e.code, e.message)
    case 'ERR_NO_SUCH_INTERFACE':
      return new NoSuchInterfaceError(e.code, e.message)
    case 'ERR_FILTER':
      return new FilterError(e.code, e.message)
    case 'ERR_FRAME_TOO_LARGE':
      return new FrameTooLargeError(e.code, e.message)
    case 'ERR_UNSUPPORTED_PLATFORM':
      return new UnsupportedPlatformError(e.code, e.message)
    default:
      return new InternalError('ERR_INTERNAL', `${e.code}: ${e.message}`)
  }
}
