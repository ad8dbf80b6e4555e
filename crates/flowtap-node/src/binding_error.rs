//! Errors as they cross to JavaScript: a stable `code`, a message and, for
//! capture errors, the byte offset. They travel as values in the batch
//! result (not as thrown N-API errors) so the TypeScript layer can build its
//! typed error classes with every field intact.

use flowtap_core::Error;
use napi_derive::napi;

/// A failure, as TypeScript receives it.
#[napi(object, object_from_js = false)]
pub struct BindingError {
    /// Stable code, e.g. `ERR_CAPTURE_FORMAT`.
    pub code: String,
    pub message: String,
    /// Byte offset in the capture of the record that failed, when known.
    pub offset: Option<f64>,
}

impl From<&Error> for BindingError {
    fn from(e: &Error) -> Self {
        BindingError {
            code: e.code().as_str().to_string(),
            message: e.to_string(),
            offset: e.offset().map(|o| o as f64),
        }
    }
}

impl BindingError {
    pub fn io(path: &str, e: &std::io::Error) -> Self {
        let code = match e.kind() {
            std::io::ErrorKind::NotFound => "ERR_FILE_NOT_FOUND",
            std::io::ErrorKind::PermissionDenied => "ERR_PERMISSION",
            _ => "ERR_IO",
        };
        BindingError {
            code: code.to_string(),
            message: format!("{path}: {e}"),
            offset: None,
        }
    }

    /// A rejected option; TypeScript validates first, so this is a second
    /// line of defence.
    pub fn invalid_arg(message: String) -> Self {
        BindingError {
            code: flowtap_core::ErrorCode::InvalidArgument
                .as_str()
                .to_string(),
            message,
            offset: None,
        }
    }

    pub fn internal(what: &str) -> Self {
        BindingError {
            code: "ERR_INTERNAL".to_string(),
            message: format!("internal error in flowtap: {what}"),
            offset: None,
        }
    }

    /// Panics if the environment asks for one at `point` (the
    /// fault-injection hook of the tests that prove a panic in the addon
    /// becomes a JS error: `FLOWTAP_TEST_PANIC=open|reader|worker`). Read
    /// once per capture, at the point named.
    pub fn inject_panic(point: &str) {
        if std::env::var("FLOWTAP_TEST_PANIC").as_deref() == Ok(point) {
            panic!("FLOWTAP_TEST_PANIC={point}: injected panic");
        }
    }

    pub fn closed() -> Self {
        BindingError {
            code: "ERR_CLOSED".to_string(),
            message: "the capture is closed".to_string(),
            offset: None,
        }
    }
}
