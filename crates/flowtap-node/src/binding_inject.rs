//! `BindingInjector`: packet injection through the AF_PACKET transmit ring
//! (`flowtap_capture::tx`).
//!
//! Frames cross per batch: `sendBatch` takes an array of byte arrays and
//! copies each straight into its ring slot (the one copy), then kicks the
//! kernel once. Waiting for free slots (`writable`) and for the ring to
//! drain (`drain`) happen on libuv's pool, so JavaScript awaits instead of
//! spinning. Every call after `close()` is a no-op or an `ERR_IO` value.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use flowtap_capture::tx::{Injector, TxConfig};
use flowtap_capture::CaptureError;
// Borrowed views: no reference is created per frame (an owned
// `Uint8Array` costs one, about 1 µs per frame).
use napi::bindgen_prelude::{AsyncTask, Uint8ArraySlice};
use napi::{Env, Task};
use napi_derive::napi;

use crate::binding_error::BindingError;

/// Transmit ring options (see `inject()` in TypeScript for the defaults).
#[napi(object)]
#[derive(Default, Clone)]
pub struct BindingInjectOptions {
    pub frame_size: Option<u32>,
    pub frame_count: Option<u32>,
    pub qdisc_bypass: Option<bool>,
}

#[napi(object, object_from_js = false)]
pub struct BindingTxStats {
    pub queued: f64,
    pub sent: f64,
    pub bytes: f64,
    pub rejected: f64,
    pub kicks: f64,
    /// Frames queued and not yet taken by the kernel.
    pub in_flight: u32,
    /// Slots in the ring.
    pub capacity: u32,
    /// The largest frame accepted.
    pub max_frame: u32,
}

/// What `sendBatch` did: how many frames it queued (a prefix of the
/// batch), and the error that stopped it early, if any.
#[napi(object, object_from_js = false)]
pub struct BindingSendResult {
    pub queued: u32,
    pub error: Option<BindingError>,
}

fn capture_error(iface: &str, e: &CaptureError) -> BindingError {
    BindingError {
        code: e.code().to_string(),
        message: format!("{iface}: {e}"),
        offset: None,
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn closed() -> BindingError {
    BindingError {
        code: "ERR_IO".into(),
        message: "the injector is closed".into(),
        offset: None,
    }
}

#[napi]
pub struct BindingInjector {
    iface: String,
    inner: Arc<Mutex<Option<Injector>>>,
}

#[napi]
impl BindingInjector {
    /// Opens a transmit ring on `iface`: the injector, or the error.
    #[napi(factory)]
    pub fn create(iface: String) -> Self {
        BindingInjector {
            iface,
            inner: Arc::new(Mutex::new(None)),
        }
    }

    /// Opens the ring; returns the error instead of throwing it.
    #[napi]
    pub fn open(&self, options: Option<BindingInjectOptions>) -> Option<BindingError> {
        let o = options.unwrap_or_default();
        let d = TxConfig::default();
        let cfg = TxConfig {
            frame_size: o.frame_size.unwrap_or(d.frame_size),
            frame_count: o.frame_count.unwrap_or(d.frame_count),
            qdisc_bypass: o.qdisc_bypass.unwrap_or(d.qdisc_bypass),
        };
        match Injector::open(&self.iface, cfg) {
            Ok(i) => {
                *lock(&self.inner) = Some(i);
                None
            }
            Err(e) => Some(capture_error(&self.iface, &e)),
        }
    }

    /// Queues as many frames as there are free slots, in order, and kicks
    /// the kernel once. Stops at the first frame it refuses.
    #[napi]
    pub fn send_batch(&self, frames: Vec<Uint8ArraySlice<'_>>) -> BindingSendResult {
        let mut g = lock(&self.inner);
        let Some(inj) = g.as_mut() else {
            return BindingSendResult {
                queued: 0,
                error: Some(closed()),
            };
        };
        let mut queued = 0u32;
        let mut error = None;
        for f in &frames {
            match inj.queue(f) {
                Ok(true) => queued += 1,
                Ok(false) => break,
                Err(e) => {
                    error = Some(capture_error(&self.iface, &e));
                    break;
                }
            }
        }
        if queued > 0 {
            if let Err(e) = inj.flush() {
                error.get_or_insert(capture_error(&self.iface, &e));
            }
        }
        BindingSendResult { queued, error }
    }

    /// Kicks the kernel to send what is queued.
    #[napi]
    pub fn flush(&self) -> Option<BindingError> {
        let mut g = lock(&self.inner);
        let inj = g.as_mut()?;
        inj.flush().err().map(|e| capture_error(&self.iface, &e))
    }

    /// Resolves true once a slot is free, false after `timeoutMs`.
    #[napi(ts_return_type = "Promise<boolean>")]
    pub fn writable(&self, timeout_ms: u32) -> AsyncTask<Wait> {
        AsyncTask::new(Wait {
            inner: Arc::clone(&self.inner),
            timeout: Duration::from_millis(u64::from(timeout_ms)),
            drain: false,
        })
    }

    /// Resolves true once every queued frame has left, false after `timeoutMs`.
    #[napi(ts_return_type = "Promise<boolean>")]
    pub fn drain(&self, timeout_ms: u32) -> AsyncTask<Wait> {
        AsyncTask::new(Wait {
            inner: Arc::clone(&self.inner),
            timeout: Duration::from_millis(u64::from(timeout_ms)),
            drain: true,
        })
    }

    #[napi]
    pub fn stats(&self) -> Option<BindingTxStats> {
        let mut g = lock(&self.inner);
        let inj = g.as_mut()?;
        let s = inj.stats();
        Some(BindingTxStats {
            queued: s.queued as f64,
            sent: s.sent as f64,
            bytes: s.bytes as f64,
            rejected: s.rejected as f64,
            kicks: s.kicks as f64,
            in_flight: inj.in_flight(),
            capacity: inj.capacity(),
            max_frame: inj.max_frame() as u32,
        })
    }

    /// Releases the socket and the ring (frames still queued are dropped).
    #[napi]
    pub fn close(&self) {
        let old = lock(&self.inner).take();
        drop(old);
    }
}

pub struct Wait {
    inner: Arc<Mutex<Option<Injector>>>,
    timeout: Duration,
    drain: bool,
}

impl Task for Wait {
    type Output = bool;
    type JsValue = bool;

    fn compute(&mut self) -> napi::Result<bool> {
        // Waits in short steps so `sendBatch`/`close` on the JS thread never
        // wait long for the lock.
        let step = Duration::from_millis(10);
        let end = std::time::Instant::now() + self.timeout;
        loop {
            let left = end.saturating_duration_since(std::time::Instant::now());
            let mut g = lock(&self.inner);
            let Some(inj) = g.as_mut() else {
                return Ok(false);
            };
            let done = if self.drain {
                inj.drain(left.min(step))
            } else {
                inj.wait_writable(left.min(step))
            };
            match done {
                Ok(true) => return Ok(true),
                Ok(false) if left <= step => return Ok(false),
                Ok(false) => {}
                Err(_) => return Ok(false),
            }
        }
    }

    fn resolve(&mut self, _env: Env, out: bool) -> napi::Result<bool> {
        Ok(out)
    }
}
