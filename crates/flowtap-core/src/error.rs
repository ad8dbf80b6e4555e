//! Errors of the core, each with a stable machine-readable code.
//!
//! Codes are part of the public API: the Node binding and the TypeScript
//! error classes use the same strings, so a code never changes meaning.

use std::fmt;

/// Stable error codes shared by Rust, the Node binding and TypeScript.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The bytes are not a capture, or a record/block inside it is corrupt.
    CaptureFormat,
    /// A well-formed capture that uses something we do not read (version…).
    CaptureUnsupported,
    /// The capture ends in the middle of a record.
    CaptureTruncated,
    /// A limit was exceeded (e.g. a record larger than `max_packet_len`).
    LimitExceeded,
    /// Reading from the underlying stream failed.
    Io,
    /// An option or argument is invalid.
    InvalidArgument,
}

impl ErrorCode {
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::CaptureFormat => "ERR_CAPTURE_FORMAT",
            ErrorCode::CaptureUnsupported => "ERR_CAPTURE_UNSUPPORTED",
            ErrorCode::CaptureTruncated => "ERR_CAPTURE_TRUNCATED",
            ErrorCode::LimitExceeded => "ERR_LIMIT_EXCEEDED",
            ErrorCode::Io => "ERR_IO",
            ErrorCode::InvalidArgument => "ERR_INVALID_ARG",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error of the core. `offset` is the byte offset in the capture stream of
/// the record or block that failed, where one is known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("not a pcap or pcapng capture (first bytes {magic:#010x})")]
    UnknownFormat { magic: u32 },
    #[error("corrupt capture at byte {offset}: {detail}")]
    Format { offset: u64, detail: String },
    #[error("unsupported capture at byte {offset}: {detail}")]
    Unsupported { offset: u64, detail: String },
    #[error("capture cut short: the record at byte {offset} needs {needed} more bytes")]
    Truncated { offset: u64, needed: u64 },
    #[error("record at byte {offset} claims {len} bytes, above the limit of {limit}")]
    RecordTooLarge { offset: u64, len: u64, limit: u64 },
    #[error("read failed at byte {offset}: {detail}")]
    Io { offset: u64, detail: String },
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl Error {
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::UnknownFormat { .. } | Error::Format { .. } => ErrorCode::CaptureFormat,
            Error::Unsupported { .. } => ErrorCode::CaptureUnsupported,
            Error::Truncated { .. } => ErrorCode::CaptureTruncated,
            Error::RecordTooLarge { .. } => ErrorCode::LimitExceeded,
            Error::Io { .. } => ErrorCode::Io,
            Error::InvalidArgument(_) => ErrorCode::InvalidArgument,
        }
    }

    /// Byte offset in the capture stream where the problem is, if known.
    pub fn offset(&self) -> Option<u64> {
        match self {
            Error::UnknownFormat { .. } => Some(0),
            Error::Format { offset, .. }
            | Error::Unsupported { offset, .. }
            | Error::Truncated { offset, .. }
            | Error::RecordTooLarge { offset, .. }
            | Error::Io { offset, .. } => Some(*offset),
            Error::InvalidArgument(_) => None,
        }
    }
}
