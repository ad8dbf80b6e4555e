//! The reading stage of a capture, on a thread of its own (where threads
//! exist: on WebAssembly it reads in the caller, one batch per `recv`).
//!
//! A [`Reader`] owns the [`PacketSource`] and fills batches with captured
//! packets (record parsing and the one copy of their bytes) while the
//! consumer decodes the previous batch on libuv's pool and JavaScript works
//! on the one before: three stages on a 2-core machine instead of one.
//!
//! Bounds: the channel holds at most [`READ_AHEAD`] finished batches, so at
//! most `READ_AHEAD + 1` batches exist on this side; a consumer that stops
//! pulling stops the thread. Dropping the [`Reader`] disconnects the channel
//! (the thread ends at its next send) and joins the thread, so the input is
//! closed when the drop returns.

use std::panic::{catch_unwind, AssertUnwindSafe};
#[cfg(not(target_family = "wasm"))]
use std::sync::mpsc::sync_channel;
use std::sync::mpsc::Receiver;
use std::thread::JoinHandle;

use flowtap_core::batch::PacketBatch;
use flowtap_core::source::PacketSource;
use flowtap_core::Error;

use crate::binding_pool;

/// Finished batches waiting for the decoder.
#[cfg(not(target_family = "wasm"))]
pub const READ_AHEAD: usize = 1;

/// What the reading thread sends; `position` is the byte offset after it.
pub enum Read {
    Batch(PacketBatch, u64),
    End(u64),
    Failed(Error, u64),
    Panicked,
}

pub struct Reader {
    rx: Option<Receiver<Read>>,
    thread: Option<JoinHandle<()>>,
    /// The source itself when reading happens in `recv` (no threads).
    inline: Option<Box<PacketSource<'static>>>,
}

/// One batch from `src`, a panic included.
fn read_one(src: &mut PacketSource<'static>) -> Read {
    let read = catch_unwind(AssertUnwindSafe(|| {
        crate::binding_error::BindingError::inject_panic("reader");
        src.read_batch_in(binding_pool::take())
    }));
    let pos = src.position();
    match read {
        Ok(Ok(Some(b))) => Read::Batch(b, pos),
        Ok(Ok(None)) => Read::End(pos),
        Ok(Err(e)) => Read::Failed(e, pos),
        Err(_) => Read::Panicked,
    }
}

impl Reader {
    /// Reads in the caller: for targets without threads.
    #[cfg(target_family = "wasm")]
    pub fn spawn(src: PacketSource<'static>) -> std::io::Result<Reader> {
        Ok(Reader {
            rx: None,
            thread: None,
            inline: Some(Box::new(src)),
        })
    }

    #[cfg(not(target_family = "wasm"))]
    pub fn spawn(mut src: PacketSource<'static>) -> std::io::Result<Reader> {
        let (tx, rx) = sync_channel(READ_AHEAD);
        let thread = std::thread::Builder::new()
            .name("flowtap-reader".into())
            .spawn(move || loop {
                let msg = read_one(&mut src);
                let last = !matches!(msg, Read::Batch(..));
                // A send error means the consumer is gone: stop reading.
                if tx.send(msg).is_err() || last {
                    break;
                }
            })?;
        Ok(Reader {
            rx: Some(rx),
            thread: Some(thread),
            inline: None,
        })
    }

    /// The next message, waiting for the thread if it is still reading.
    pub fn recv(&mut self) -> Read {
        if let Some(src) = self.inline.as_mut() {
            let msg = read_one(src);
            if !matches!(msg, Read::Batch(..)) {
                self.inline = None;
            }
            return msg;
        }
        match self.rx.as_ref().map(Receiver::recv) {
            Some(Ok(m)) => m,
            // The thread ended without a last word: only a panic outside
            // the guarded read can do that.
            _ => Read::Panicked,
        }
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        // Disconnect first so a thread blocked on a full channel wakes up.
        drop(self.rx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
