/// Errors from opening or running a live capture. Each maps to a stable
/// `ERR_*` code ([`CaptureError::code`]) that the binding exposes to JS.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    #[error("permission denied opening a packet socket: CAP_NET_RAW is required")]
    Permission(#[source] std::io::Error),
    #[error("no such interface: {0}")]
    NoSuchInterface(String),
    #[error("invalid filter: {0}")]
    Filter(String),
    #[error("frame of {len} bytes does not fit: the interface takes at most {max} (MTU plus link header)")]
    FrameTooLarge { len: usize, max: usize },
    #[error("{context}: {source}")]
    Io {
        context: &'static str,
        #[source]
        source: std::io::Error,
    },
}

impl CaptureError {
    /// The stable code surfaced at the N-API boundary.
    pub fn code(&self) -> &'static str {
        match self {
            CaptureError::Permission(_) => "ERR_PERMISSION",
            CaptureError::NoSuchInterface(_) => "ERR_NO_SUCH_INTERFACE",
            CaptureError::Filter(_) => "ERR_FILTER",
            CaptureError::FrameTooLarge { .. } => "ERR_FRAME_TOO_LARGE",
            CaptureError::Io { .. } => "ERR_IO",
        }
    }
}
