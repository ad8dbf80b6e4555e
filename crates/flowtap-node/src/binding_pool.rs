//! Recycles the vectors of batches that JavaScript has garbage-collected.
//!
//! Each batch hands its vectors to JS as external typed arrays; when V8
//! frees one, its finalizer puts the vector back here and the next batch is
//! built in it. Fresh memory costs a page fault per 4 KiB (measured: half the
//! time of a byte-keeping read went to faulting new arenas in), reused
//! memory does not.
//!
//! V8 frees external arrays in bursts, at the major collection that external
//! memory growth triggers (every few dozen batches), so the pool must hold a
//! burst to bridge the gap to the next one. Bound: at most [`KEEP`] vectors
//! of each kind and [`KEEP_BYTES`] bytes in all; beyond that they are freed.
//! When no capture is open the pool is emptied ([`release_if_idle`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use flowtap_core::batch::BatchStorage;

/// Vectors kept per kind.
pub const KEEP: usize = 64;
/// Bytes kept in all vectors together.
pub const KEEP_BYTES: usize = 128 << 20;

#[derive(Default)]
struct Pool {
    bytes: usize,
    ts_ns: Vec<Vec<u64>>,
    u8s: Vec<Vec<u8>>,
    u16s: Vec<Vec<u16>>,
    u32s: Vec<Vec<u32>>,
    addrs: Vec<Vec<u8>>,
    data: Vec<Vec<u8>>,
}

static POOL: Mutex<Option<Pool>> = Mutex::new(None);
/// Captures that hold a source; the pool lives while one does.
static OPEN: AtomicUsize = AtomicUsize::new(0);

/// Counts an open capture.
pub fn opened() {
    OPEN.fetch_add(1, Ordering::AcqRel);
}

/// Counts a closed capture and empties the pool when none is open.
pub fn closed() {
    if OPEN.fetch_sub(1, Ordering::AcqRel) == 1 {
        release_if_idle();
    }
}

/// Frees every pooled vector if no capture is open.
pub fn release_if_idle() {
    let freed = {
        let mut g = POOL.lock().unwrap_or_else(|p| p.into_inner());
        if OPEN.load(Ordering::Acquire) != 0 {
            return;
        }
        g.take()
    };
    drop(freed);
}

fn with<R>(f: impl FnOnce(&mut Pool) -> R) -> R {
    let mut g = POOL.lock().unwrap_or_else(|p| p.into_inner());
    f(g.get_or_insert_with(Pool::default))
}

/// Vectors for the next batch: recycled ones where available.
pub fn take() -> BatchStorage {
    fn pop<T>(bytes: &mut usize, list: &mut Vec<Vec<T>>) -> Vec<T> {
        let v = list.pop().unwrap_or_default();
        *bytes -= v.capacity() * size_of::<T>();
        v
    }
    with(|p| BatchStorage {
        ts_ns: pop(&mut p.bytes, &mut p.ts_ns),
        u8s: pop(&mut p.bytes, &mut p.u8s),
        u16s: pop(&mut p.bytes, &mut p.u16s),
        u32s: pop(&mut p.bytes, &mut p.u32s),
        addrs: pop(&mut p.bytes, &mut p.addrs),
        data: pop(&mut p.bytes, &mut p.data),
    })
}

/// A byte vector (for an analyzer's next arena): a recycled one if any.
pub fn take_bytes() -> Vec<u8> {
    with(|p| {
        let v = p.data.pop().unwrap_or_default();
        p.bytes -= v.capacity();
        v
    })
}

/// `v` as a JS `Uint8Array` over its memory, returned to the pool when V8
/// collects it.
pub fn external_bytes(v: Vec<u8>) -> napi::bindgen_prelude::Uint8Array {
    use napi::bindgen_prelude::Uint8Array;
    if v.is_empty() {
        give_back(Returned::Data(v));
        return Uint8Array::new(Vec::new());
    }
    let mut v = std::mem::ManuallyDrop::new(v);
    let (ptr, len, cap) = (v.as_mut_ptr(), v.len(), v.capacity());
    // SAFETY: the vector's buffer is leaked here and rebuilt, with the
    // same pointer, length and capacity, only in the finalizer, after
    // which V8 no longer touches it.
    unsafe {
        Uint8Array::with_external_data(ptr, len, move |p, l| {
            give_back(Returned::Data(Vec::from_raw_parts(p, l, cap)))
        })
    }
}

fn keep<T>(bytes: &mut usize, list: &mut Vec<Vec<T>>, v: Vec<T>) {
    let size = v.capacity() * size_of::<T>();
    let in_use = OPEN.load(Ordering::Acquire) > 0;
    if in_use && list.len() < KEEP && size > 0 && *bytes + size <= KEEP_BYTES {
        *bytes += size;
        list.push(v);
    }
}

/// Which vector of a batch a finalizer returns.
pub enum Returned {
    TsNs(Vec<u64>),
    U8s(Vec<u8>),
    U16s(Vec<u16>),
    U32s(Vec<u32>),
    Addrs(Vec<u8>),
    Data(Vec<u8>),
}

pub fn give_back(r: Returned) {
    with(|p| match r {
        Returned::TsNs(v) => keep(&mut p.bytes, &mut p.ts_ns, v),
        Returned::U8s(v) => keep(&mut p.bytes, &mut p.u8s, v),
        Returned::U16s(v) => keep(&mut p.bytes, &mut p.u16s, v),
        Returned::U32s(v) => keep(&mut p.bytes, &mut p.u32s, v),
        Returned::Addrs(v) => keep(&mut p.bytes, &mut p.addrs, v),
        Returned::Data(v) => keep(&mut p.bytes, &mut p.data, v),
    })
}

/// Puts a batch that never went to JS straight back into the pool.
pub fn recycle(b: flowtap_core::batch::PacketBatch) {
    let s = b.into_storage();
    give_back(Returned::TsNs(s.ts_ns));
    give_back(Returned::U8s(s.u8s));
    give_back(Returned::U16s(s.u16s));
    give_back(Returned::U32s(s.u32s));
    give_back(Returned::Addrs(s.addrs));
    give_back(Returned::Data(s.data));
}
