//! [`PacketBatch`]: many decoded packets in struct-of-arrays form plus one
//! arena holding their bytes — the unit that crosses to JavaScript.
//!
//! Layout: columns of the same width share one vector, column-major with a
//! stride of `capacity` (column `c`, packet `i` is at `c * capacity + i`), so
//! a binding can hand each vector to JS as one typed array without copying
//! and JS can take per-column views. Column indices are the `U8_*`, `U16_*`,
//! `U32_*` constants; [`COLUMNS`] lists them by name for bindings.
//!
//! Filling is two steps, so that they can run on two threads: `push_frame`
//! copies captured packets in, `decode_rows` decodes them into the columns.
//!
//! Bounds: a batch holds at most `capacity` packets and, once non-empty, at
//! most `max_bytes` of packet bytes; the builder refuses packets beyond that.

use crate::capture::Frame;
use crate::decode::{decode, PacketInfo};
use crate::source::SourceStats;
use crate::LinkType;

pub const U8_STATUS: usize = 0;
pub const U8_STOP: usize = 1;
pub const U8_NET: usize = 2;
pub const U8_TRANSPORT: usize = 3;
pub const U8_IP_PROTO: usize = 4;
pub const U8_TTL: usize = 5;
pub const U8_IP_FLAGS: usize = 6;
pub const U8_VLAN_COUNT: usize = 7;
pub const U8_ICMP_TYPE: usize = 8;
pub const U8_ICMP_CODE: usize = 9;
pub const U8_TCP_OPTS: usize = 10;
pub const U8_WSCALE: usize = 11;
pub const U8_COLUMNS: usize = 12;

pub const U16_LINK_TYPE: usize = 0;
pub const U16_ETHERTYPE: usize = 1;
pub const U16_VLAN_ID: usize = 2;
pub const U16_SRC_PORT: usize = 3;
pub const U16_DST_PORT: usize = 4;
pub const U16_TCP_FLAGS: usize = 5;
pub const U16_WINDOW: usize = 6;
pub const U16_FRAG_OFFSET: usize = 7;
pub const U16_MSS: usize = 8;
pub const U16_COLUMNS: usize = 9;

pub const U32_CAPLEN: usize = 0;
pub const U32_ORIGLEN: usize = 1;
pub const U32_INTERFACE: usize = 2;
/// Offset of the packet's first byte in the arena.
pub const U32_DATA_OFFSET: usize = 3;
/// Payload offset relative to the packet's first byte.
pub const U32_PAYLOAD_OFFSET: usize = 4;
pub const U32_PAYLOAD_LEN: usize = 5;
pub const U32_SEQ: usize = 6;
pub const U32_ACK: usize = 7;
pub const U32_IP_ID: usize = 8;
pub const U32_TS_VAL: usize = 9;
pub const U32_TS_ECR: usize = 10;
/// Offset of the network header in the packet (0 when there is none).
pub const U32_L3_OFFSET: usize = 11;
/// Offset of the transport header in the packet (0 when there is none).
pub const U32_L4_OFFSET: usize = 12;
pub const U32_COLUMNS: usize = 13;

/// Writes row `i` of several columns of one width (stride `cap`). Taking
/// the column vector as a plain slice keeps its pointer and length in
/// registers: stores through a `u8` pointer could alias `self`, which would
/// force reloads.
#[inline(always)]
fn put<T: Copy, const N: usize>(col: &mut [T], cap: usize, i: usize, vals: [(usize, T); N]) {
    for (c, v) in vals {
        col[c * cap + i] = v;
    }
}

/// How many packets ahead `decode_rows` prefetches packet headers.
const LOOKAHEAD: usize = 4;

/// A hint to load the cache line at `p`; never faults, whatever `p` is.
#[inline(always)]
fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 is a hint: it reads nothing architecturally and
    // does not fault on any address; SSE is part of the x86-64 baseline.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Bytes per packet in [`PacketBatch::addrs`]: 16 source then 16 destination.
pub const ADDR_STRIDE: usize = 32;

/// Column names by width, in index order, for bindings to publish.
pub const COLUMNS: (&[&str], &[&str], &[&str]) = (
    &[
        "status",
        "stop",
        "net",
        "transport",
        "ipProto",
        "ttl",
        "ipFlags",
        "vlanCount",
        "icmpType",
        "icmpCode",
        "tcpOpts",
        "wscale",
    ],
    &[
        "linkType",
        "ethertype",
        "vlanId",
        "srcPort",
        "dstPort",
        "tcpFlags",
        "window",
        "fragOffset",
        "mss",
    ],
    &[
        "caplen",
        "origlen",
        "interface",
        "dataOffset",
        "payloadOffset",
        "payloadLen",
        "seq",
        "ack",
        "ipId",
        "tsVal",
        "tsEcr",
        "l3Offset",
        "l4Offset",
    ],
);

/// The vectors behind a [`PacketBatch`], for reuse: a binding that gets its
/// buffers back from JS hands them to the next batch instead of allocating
/// (fresh memory costs a page fault per 4 KiB).
#[derive(Debug, Default)]
pub struct BatchStorage {
    pub ts_ns: Vec<u64>,
    pub u8s: Vec<u8>,
    pub u16s: Vec<u16>,
    pub u32s: Vec<u32>,
    pub addrs: Vec<u8>,
    pub data: Vec<u8>,
}

/// Decoded packets in struct-of-arrays form; see the module docs.
#[derive(Debug, Clone)]
pub struct PacketBatch {
    len: usize,
    capacity: usize,
    max_bytes: usize,
    pub ts_ns: Vec<u64>,
    pub u8s: Vec<u8>,
    pub u16s: Vec<u16>,
    pub u32s: Vec<u32>,
    pub addrs: Vec<u8>,
    /// Packet bytes, back to back (empty when bytes are not kept).
    pub data: Vec<u8>,
}

impl PacketBatch {
    /// An empty batch for up to `capacity` packets and `max_bytes` of packet
    /// bytes (a first packet is always accepted).
    pub fn new(capacity: usize, max_bytes: usize) -> Self {
        Self::with_storage(capacity, max_bytes, BatchStorage::default())
    }

    /// An empty batch built in reused vectors (their contents are cleared).
    pub fn with_storage(capacity: usize, max_bytes: usize, s: BatchStorage) -> Self {
        fn sized<T: Copy + Default>(mut v: Vec<T>, n: usize) -> Vec<T> {
            v.clear();
            v.resize(n, T::default());
            v
        }
        let capacity = capacity.max(1);
        let mut data = s.data;
        data.clear();
        // A reused arena keeps the capacity it grew to; a fresh one starts at
        // 1 MiB (or the bound) and doubles as needed.
        data.reserve(max_bytes.min(1 << 20));
        PacketBatch {
            len: 0,
            capacity,
            max_bytes,
            ts_ns: sized(s.ts_ns, capacity),
            u8s: sized(s.u8s, U8_COLUMNS * capacity),
            u16s: sized(s.u16s, U16_COLUMNS * capacity),
            u32s: sized(s.u32s, U32_COLUMNS * capacity),
            addrs: sized(s.addrs, ADDR_STRIDE * capacity),
            data,
        }
    }

    /// Gives the vectors back, e.g. to a pool.
    pub fn into_storage(self) -> BatchStorage {
        BatchStorage {
            ts_ns: self.ts_ns,
            u8s: self.u8s,
            u16s: self.u16s,
            u32s: self.u32s,
            addrs: self.addrs,
            data: self.data,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Column stride.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn is_full(&self) -> bool {
        self.len == self.capacity
    }

    /// Whether a packet of `caplen` bytes still fits.
    pub fn fits(&self, caplen: usize) -> bool {
        !self.is_full() && (self.len == 0 || self.data.len() + caplen <= self.max_bytes)
    }

    /// Appends one captured packet: its record fields and a copy of its
    /// bytes (the one copy a packet's bytes ever get). Header columns stay
    /// zero until [`decode_rows`](Self::decode_rows). Callers check
    /// [`fits`](Self::fits) first; a packet that does not fit is ignored and
    /// `false` returned.
    pub fn push_frame(&mut self, frame: &Frame<'_>) -> bool {
        if !self.fits(frame.data.len()) {
            return false;
        }
        let (i, cap) = (self.len, self.capacity);
        self.ts_ns[i] = frame.ts_ns;
        self.u16s[U16_LINK_TYPE * cap + i] = frame.link_type.0;
        let col: &mut [u32] = &mut self.u32s;
        col[U32_CAPLEN * cap + i] = frame.data.len() as u32;
        col[U32_ORIGLEN * cap + i] = frame.origlen;
        col[U32_INTERFACE * cap + i] = frame.interface;
        col[U32_DATA_OFFSET * cap + i] = self.data.len() as u32;
        self.data.extend_from_slice(frame.data);
        self.len += 1;
        true
    }

    /// Decodes every packet pushed so far into the header columns and
    /// counts them in `stats`. Without `keep_bytes` the arena is emptied
    /// afterwards (and the data offsets zeroed): only headers leave.
    pub fn decode_rows(&mut self, stats: &mut SourceStats, keep_bytes: bool) {
        self.decode_rows_each(stats, keep_bytes, |_, _| {});
    }

    /// [`decode_rows`](Self::decode_rows), handing every packet and its
    /// decoded headers to `f` as well (e.g. a flow tracker).
    pub fn decode_rows_each(
        &mut self,
        stats: &mut SourceStats,
        keep_bytes: bool,
        mut f: impl FnMut(&Frame<'_>, &PacketInfo),
    ) {
        let cap = self.capacity;
        for i in 0..self.len {
            let info = self.decode_row(i, stats, &mut f);
            self.set_info(i, &info);
        }
        if !keep_bytes {
            self.data.clear();
            self.u32s[U32_DATA_OFFSET * cap..U32_DATA_OFFSET * cap + self.len].fill(0);
        }
    }

    /// Decodes every row for `f` and counts it in `stats`, without filling
    /// the header columns: for consumers that keep nothing of the batch
    /// (flow tracking), which would otherwise pay for columns nobody reads.
    pub fn decode_each(&self, stats: &mut SourceStats, mut f: impl FnMut(&Frame<'_>, &PacketInfo)) {
        for i in 0..self.len {
            self.decode_row(i, stats, &mut f);
        }
    }

    fn decode_row(
        &self,
        i: usize,
        stats: &mut SourceStats,
        f: &mut impl FnMut(&Frame<'_>, &PacketInfo),
    ) -> PacketInfo {
        // Prefetch the headers a few packets ahead: the bytes were usually
        // written by another core (the reading thread), and waiting for each
        // packet's first cache line in turn dominated decoding.
        if i + LOOKAHEAD < self.len {
            let off = self.u32s[U32_DATA_OFFSET * self.capacity + i + LOOKAHEAD] as usize;
            prefetch(self.data.as_ptr().wrapping_add(off + 12));
        }
        let frame = self.frame(i);
        let info = decode(frame.link_type, frame.data, frame.origlen);
        stats.record(&frame, &info);
        f(&frame, &info);
        info
    }

    /// Row `i` as the frame it was pushed from (`offset` is not kept: 0).
    fn frame(&self, i: usize) -> Frame<'_> {
        let cap = self.capacity;
        let off = self.u32s[U32_DATA_OFFSET * cap + i] as usize;
        let len = self.u32s[U32_CAPLEN * cap + i] as usize;
        Frame {
            ts_ns: self.ts_ns[i],
            origlen: self.u32s[U32_ORIGLEN * cap + i],
            interface: self.u32s[U32_INTERFACE * cap + i],
            link_type: LinkType(self.u16s[U16_LINK_TYPE * cap + i]),
            offset: 0,
            data: self.data.get(off..off + len).unwrap_or(&[]),
        }
    }

    fn set_info(&mut self, i: usize, info: &PacketInfo) {
        let cap = self.capacity;
        let u8s = [
            (U8_STATUS, info.status as u8),
            (U8_STOP, info.stop as u8),
            (U8_NET, info.net as u8),
            (U8_TRANSPORT, info.transport as u8),
            (U8_IP_PROTO, info.ip_proto),
            (U8_TTL, info.ttl),
            (U8_IP_FLAGS, info.ip_flags),
            (U8_VLAN_COUNT, info.vlan_count),
            (U8_ICMP_TYPE, info.icmp_type),
            (U8_ICMP_CODE, info.icmp_code),
            (U8_TCP_OPTS, info.tcp_options.present),
            (U8_WSCALE, info.tcp_options.wscale),
        ];
        put(&mut self.u8s, cap, i, u8s);
        let u16s = [
            (U16_ETHERTYPE, info.ethertype),
            (U16_VLAN_ID, info.vlan_id),
            (U16_SRC_PORT, info.src_port),
            (U16_DST_PORT, info.dst_port),
            (U16_TCP_FLAGS, info.tcp_flags),
            (U16_WINDOW, info.window),
            (U16_FRAG_OFFSET, info.frag_offset),
            (U16_MSS, info.tcp_options.mss),
        ];
        put(&mut self.u16s, cap, i, u16s);
        let u32s = [
            (U32_PAYLOAD_OFFSET, info.payload_offset),
            (U32_PAYLOAD_LEN, info.payload_len),
            (U32_SEQ, info.seq),
            (U32_ACK, info.ack),
            (U32_IP_ID, info.ip_id),
            (U32_TS_VAL, info.tcp_options.ts_val),
            (U32_TS_ECR, info.tcp_options.ts_ecr),
            (U32_L3_OFFSET, info.l3_offset),
            (U32_L4_OFFSET, info.l4_offset),
        ];
        put(&mut self.u32s, cap, i, u32s);
        let a = i * ADDR_STRIDE;
        self.addrs[a..a + 16].copy_from_slice(&info.src);
        self.addrs[a + 16..a + 32].copy_from_slice(&info.dst);
    }

    pub fn u8_col(&self, c: usize) -> &[u8] {
        &self.u8s[c * self.capacity..c * self.capacity + self.len]
    }

    pub fn u16_col(&self, c: usize) -> &[u16] {
        &self.u16s[c * self.capacity..c * self.capacity + self.len]
    }

    pub fn u32_col(&self, c: usize) -> &[u32] {
        &self.u32s[c * self.capacity..c * self.capacity + self.len]
    }

    /// The bytes of packet `i` (empty when bytes are not kept).
    pub fn packet_data(&self, i: usize) -> &[u8] {
        if i >= self.len || self.data.is_empty() {
            return &[];
        }
        let off = self.u32_col(U32_DATA_OFFSET)[i] as usize;
        let len = self.u32_col(U32_CAPLEN)[i] as usize;
        self.data.get(off..off + len).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udp_frame(sport: u16) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&[
            0x45, 0, 0, 29, 0, 7, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ]);
        f.extend_from_slice(&sport.to_be_bytes());
        f.extend_from_slice(&[0, 53, 0, 9, 0, 0, b'x']);
        f
    }

    fn frame(data: &[u8], ts: u64) -> Frame<'_> {
        Frame {
            ts_ns: ts,
            origlen: data.len() as u32,
            interface: 3,
            link_type: LinkType::ETHERNET,
            offset: 0,
            data,
        }
    }

    #[test]
    fn columns_hold_what_decode_says() {
        let (a, b) = (udp_frame(1000), udp_frame(2000));
        let mut batch = PacketBatch::new(4, 1 << 20);
        assert!(batch.push_frame(&frame(&a, 5)));
        assert!(batch.push_frame(&frame(&b, 6)));
        let mut stats = SourceStats::default();
        batch.decode_rows(&mut stats, true);
        assert_eq!(batch.len(), 2);
        assert_eq!(stats.udp, 2);
        assert_eq!(&batch.ts_ns[..2], &[5, 6]);
        assert_eq!(batch.u16_col(U16_SRC_PORT), &[1000, 2000]);
        assert_eq!(batch.u16_col(U16_DST_PORT), &[53, 53]);
        assert_eq!(batch.u8_col(U8_IP_PROTO), &[17, 17]);
        assert_eq!(batch.u8_col(U8_TTL), &[64, 64]);
        assert_eq!(batch.u32_col(U32_INTERFACE), &[3, 3]);
        assert_eq!(batch.u32_col(U32_L4_OFFSET), &[34, 34]);
        assert_eq!(batch.u32_col(U32_PAYLOAD_LEN), &[1, 1]);
        assert_eq!(batch.packet_data(1), &b[..]);
        assert_eq!(&batch.addrs[..4], &[10, 0, 0, 1]);
        assert_eq!(&batch.addrs[16..20], &[10, 0, 0, 2]);
    }

    #[test]
    fn bounds_hold_and_headers_only_drops_bytes() {
        let a = udp_frame(1);
        let mut batch = PacketBatch::new(2, a.len() + 1);
        assert!(batch.push_frame(&frame(&a, 1)));
        // Over the byte bound: refused, though a slot is free.
        assert!(!batch.fits(a.len()));
        assert!(!batch.push_frame(&frame(&a, 2)));
        let mut stats = SourceStats::default();
        batch.decode_rows(&mut stats, false);
        assert!(batch.data.is_empty());
        assert_eq!(batch.u32_col(U32_DATA_OFFSET), &[0]);
        assert_eq!(batch.u16_col(U16_SRC_PORT), &[1]);
        // A first packet always fits, whatever the bound.
        let mut tiny = PacketBatch::new(1, 1);
        assert!(tiny.push_frame(&frame(&a, 1)));
        assert!(tiny.is_full());
    }
}
