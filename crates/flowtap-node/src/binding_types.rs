//! Plain data that crosses the boundary: options in, batches and stats out.

use flowtap_core::batch::{PacketBatch, ADDR_STRIDE, COLUMNS};
use flowtap_core::capture::ReaderOptions;
use flowtap_core::source::{SourceOptions, SourceStats};
use napi::bindgen_prelude::{
    BigInt, BigUint64ArraySlice, BufferSlice, Uint16ArraySlice, Uint32ArraySlice, Uint8ArraySlice,
};
use napi::Env;
use napi_derive::napi;

use crate::binding_error::BindingError;
use crate::binding_flows::BindingFlowBatch;
use crate::binding_plugins::BindingPluginBatch;
use crate::binding_pool::{give_back, Returned};
use crate::binding_sessions::BindingStreamBatch;

/// Options of a capture source. Validated by the TypeScript layer; the
/// binding clamps nothing silently and rejects out-of-range values.
#[napi(object)]
#[derive(Default)]
pub struct BindingOpenOptions {
    /// Packets per batch at most. @default 4096
    pub batch_packets: Option<u32>,
    /// Packet bytes per batch at most (a first packet always fits). @default 4194304
    pub batch_bytes: Option<u32>,
    /// Copy packet bytes into batches; off gives headers only. @default true
    pub keep_bytes: Option<bool>,
    /// Largest captured packet accepted from the file. @default 262144
    pub max_packet_bytes: Option<u32>,
    /// Keep only packets matching this filter (tcpdump syntax).
    pub filter: Option<String>,
}

impl BindingOpenOptions {
    pub fn to_core(&self) -> Result<SourceOptions, BindingError> {
        let d = SourceOptions::default();
        let bad = |m: String| BindingError {
            code: "ERR_INVALID_ARG".into(),
            message: m,
            offset: None,
        };
        let batch_packets = self.batch_packets.unwrap_or(d.batch_packets as u32);
        if !(1..=1 << 20).contains(&batch_packets) {
            return Err(bad(format!(
                "batchSize must be 1..=1048576, got {batch_packets}"
            )));
        }
        let max_packet_len = self.max_packet_bytes.unwrap_or(d.reader.max_packet_len);
        if !(64..=64 << 20).contains(&max_packet_len) {
            return Err(bad(format!(
                "maxPacketBytes must be 64..=67108864, got {max_packet_len}"
            )));
        }
        Ok(SourceOptions {
            reader: ReaderOptions {
                max_packet_len,
                max_block_len: d.reader.max_block_len.max(max_packet_len + 64),
                ..d.reader
            },
            batch_packets: batch_packets as usize,
            batch_bytes: self.batch_bytes.map_or(d.batch_bytes, |b| b as usize),
            keep_bytes: self.keep_bytes.unwrap_or(d.keep_bytes),
        })
    }
}

/// One batch of packets in struct-of-arrays form. Column `c` of a width is
/// the slice `[c * capacity, c * capacity + length)` of that width's array;
/// `batchLayout()` names the columns. The arrays are external memory owned
/// by JS; when collected, their vectors return to the batch pool.
#[napi(object, object_from_js = false)]
pub struct BindingBatch<'env> {
    pub length: u32,
    pub capacity: u32,
    pub ts: BigUint64ArraySlice<'env>,
    pub u8: Uint8ArraySlice<'env>,
    pub u16: Uint16ArraySlice<'env>,
    pub u32: Uint32ArraySlice<'env>,
    /// 32 bytes per packet: source then destination address (IPv4 in the
    /// first 4 bytes of each 16).
    pub addrs: Uint8ArraySlice<'env>,
    /// Packet bytes back to back; `dataOffset` and `caplen` columns index it.
    pub data: BufferSlice<'env>,
}

/// Hands a vector to JS as an external array of type `$ty`, to come back
/// to the pool as `Returned::$kind` when V8 collects it.
macro_rules! external {
    ($env:expr, $ty:ident, $vec:expr, $kind:ident) => {{
        let mut v = $vec;
        $ty::from_external($env, v.as_mut_ptr(), v.len(), v, |_, v| {
            give_back(Returned::$kind(v))
        })?
    }};
}

impl<'env> BindingBatch<'env> {
    pub fn new(env: &'env Env, b: PacketBatch) -> napi::Result<Self> {
        let (length, capacity) = (b.len() as u32, b.capacity() as u32);
        let s = b.into_storage();
        // SAFETY (every `from_external`): the pointer and length come from a
        // live vector that moves into the finalizer hint, so the memory stays
        // valid, and untouched by Rust, until V8 finalizes the array; column
        // vectors are never empty (capacity >= 1).
        unsafe {
            Ok(BindingBatch {
                length,
                capacity,
                ts: external!(env, BigUint64ArraySlice, s.ts_ns, TsNs),
                u8: external!(env, Uint8ArraySlice, s.u8s, U8s),
                u16: external!(env, Uint16ArraySlice, s.u16s, U16s),
                u32: external!(env, Uint32ArraySlice, s.u32s, U32s),
                addrs: external!(env, Uint8ArraySlice, s.addrs, Addrs),
                data: if s.data.is_empty() {
                    // Headers only: an empty JS buffer, and the arena goes
                    // straight back to the pool.
                    give_back(Returned::Data(s.data));
                    BufferSlice::from_data(env, Vec::new())?
                } else {
                    external!(env, BufferSlice, s.data, Data)
                },
            })
        }
    }
}

/// What one `nextBatch()` call produced: a batch, the end, or an error
/// (which always comes after the batch holding the packets before it).
#[napi(object, object_from_js = false)]
#[derive(Default)]
pub struct BindingBatchResult<'env> {
    pub batch: Option<BindingBatch<'env>>,
    /// In flow and session mode: the flow events of this step.
    pub flows: Option<BindingFlowBatch>,
    /// In session mode: a JSON array of this step's session records.
    pub sessions: Option<String>,
    /// With streams on: this step's reassembled stream pieces.
    pub streams: Option<BindingStreamBatch>,
    /// With plugins: claims, pieces and closes of the flows they claimed.
    pub plugins: Option<BindingPluginBatch>,
    pub error: Option<BindingError>,
    pub done: bool,
    /// Live capture: the worker whose packets these are.
    pub worker: Option<u32>,
    /// Live capture: nothing arrived within the poll interval.
    pub idle: Option<bool>,
    /// Live capture: the first result, once every ring is open.
    pub opened: Option<bool>,
}

#[napi(object, object_from_js = false)]
pub struct BindingLinkTypeCount {
    pub link_type: u32,
    pub name: String,
    pub packets: f64,
}

/// Running totals of a source (see `SourceStats` in the core).
#[napi(object, object_from_js = false)]
pub struct BindingStats {
    pub format: Option<String>,
    pub packets: f64,
    pub bytes: f64,
    pub wire_bytes: f64,
    pub link_types: Vec<BindingLinkTypeCount>,
    pub ipv4: f64,
    pub ipv6: f64,
    pub arp: f64,
    pub tcp: f64,
    pub udp: f64,
    pub icmp: f64,
    pub other: f64,
    pub fragments: f64,
    pub malformed: f64,
    pub truncated: f64,
    pub first_ts_ns: Option<BigInt>,
    pub last_ts_ns: Option<BigInt>,
    /// Byte offset of the next unread record.
    pub position: f64,
    /// In flow and session mode: the analysis layers' counters.
    pub analysis: Option<BindingAnalysisStats>,
    /// Live capture: ring and worker counters.
    pub live: Option<BindingLiveCounters>,
}

/// Per-worker counters, as JavaScript receives them.
#[napi(object, object_from_js = false)]
#[derive(Clone, Default)]
pub struct BindingWorkerStats {
    pub worker: u32,
    /// Packets the kernel passed to this ring (delivered + dropped).
    pub received: f64,
    /// Packets the kernel dropped because the ring was full.
    pub kernel_drops: f64,
    /// Times the ring froze its queue (TPACKET_V3 `tp_freeze_q_cnt`).
    pub freezes: f64,
    /// Packets handed to the decoder.
    pub packets: f64,
}

/// A live capture's own counters.
#[napi(object, object_from_js = false)]
pub struct BindingLiveCounters {
    pub workers: Vec<BindingWorkerStats>,
    /// The pcap link type of the interface.
    pub link_type: u32,
}

/// Counters of flow tracking, reassembly and parsing, so that every bound
/// that was hit is visible (see `AnalyzeStats`, `FlowStats` and
/// `MemcapStats` in the core).
#[napi(object, object_from_js = false)]
#[derive(Clone, Default)]
pub struct BindingAnalysisStats {
    pub flows: f64,
    pub active_flows: f64,
    pub flows_evicted: f64,
    pub not_tracked: f64,
    pub fragments: f64,
    pub parsed_http: f64,
    pub parsed_dns: f64,
    pub parsed_tls: f64,
    pub unparsed: f64,
    pub http_transactions: f64,
    pub dns_transactions: f64,
    pub tls_hellos: f64,
    pub anomalies: f64,
    pub stream_bytes: f64,
    pub gaps: f64,
    pub gap_bytes: f64,
    pub memcap_limit: f64,
    pub memcap_used: f64,
    pub memcap_peak: f64,
    pub memcap_hits: f64,
    /// Of connections already finished:
    pub ooo_limit_hits: f64,
    pub retransmitted_bytes: f64,
    pub inconsistent_overlaps: f64,
    pub after_end_bytes: f64,
    pub beyond_depth_bytes: f64,
    pub plugin_flows: f64,
    pub plugin_bytes: f64,
    pub plugin_released: f64,
}

impl BindingAnalysisStats {
    /// Adds another analyzer's counters (fanout workers split one capture;
    /// their memcaps add up to the configured one).
    pub fn add(&mut self, o: &Self) {
        let pairs = [
            (&mut self.flows, o.flows),
            (&mut self.active_flows, o.active_flows),
            (&mut self.flows_evicted, o.flows_evicted),
            (&mut self.not_tracked, o.not_tracked),
            (&mut self.fragments, o.fragments),
            (&mut self.parsed_http, o.parsed_http),
            (&mut self.parsed_dns, o.parsed_dns),
            (&mut self.parsed_tls, o.parsed_tls),
            (&mut self.unparsed, o.unparsed),
            (&mut self.http_transactions, o.http_transactions),
            (&mut self.dns_transactions, o.dns_transactions),
            (&mut self.tls_hellos, o.tls_hellos),
            (&mut self.anomalies, o.anomalies),
            (&mut self.stream_bytes, o.stream_bytes),
            (&mut self.gaps, o.gaps),
            (&mut self.gap_bytes, o.gap_bytes),
            (&mut self.memcap_limit, o.memcap_limit),
            (&mut self.memcap_used, o.memcap_used),
            (&mut self.memcap_peak, o.memcap_peak),
            (&mut self.memcap_hits, o.memcap_hits),
            (&mut self.ooo_limit_hits, o.ooo_limit_hits),
            (&mut self.retransmitted_bytes, o.retransmitted_bytes),
            (&mut self.inconsistent_overlaps, o.inconsistent_overlaps),
            (&mut self.after_end_bytes, o.after_end_bytes),
            (&mut self.beyond_depth_bytes, o.beyond_depth_bytes),
            (&mut self.plugin_flows, o.plugin_flows),
            (&mut self.plugin_bytes, o.plugin_bytes),
            (&mut self.plugin_released, o.plugin_released),
        ];
        for (a, b) in pairs {
            *a += b;
        }
    }

    pub fn of(a: &flowtap_core::analyze::Analyzer) -> Self {
        let f = a.tracker().stats();
        let s = a.stats();
        let m = a.memcap_stats();
        let n = |v: u64| v as f64;
        BindingAnalysisStats {
            flows: n(f.flows),
            active_flows: n(f.active),
            flows_evicted: n(f.evicted),
            not_tracked: n(f.not_tracked),
            fragments: n(f.fragments),
            parsed_http: n(s.detected[0]),
            parsed_dns: n(s.detected[1]),
            parsed_tls: n(s.detected[2]),
            unparsed: n(s.undetected),
            http_transactions: n(s.http_transactions),
            dns_transactions: n(s.dns_transactions),
            tls_hellos: n(s.tls_handshakes),
            anomalies: n(s.anomalies),
            stream_bytes: n(s.stream_bytes),
            gaps: n(s.gaps),
            gap_bytes: n(s.gap_bytes),
            memcap_limit: n(m.limit),
            memcap_used: n(m.used),
            memcap_peak: n(m.peak),
            memcap_hits: n(m.hits),
            plugin_flows: n(s.plugin_flows),
            plugin_bytes: n(s.plugin_bytes),
            plugin_released: n(s.plugin_released),
            ooo_limit_hits: n(m.totals.ooo_limit_hits),
            retransmitted_bytes: n(m.totals.retransmitted_bytes),
            inconsistent_overlaps: n(m.totals.inconsistent_overlaps),
            after_end_bytes: n(m.totals.after_end_bytes),
            beyond_depth_bytes: n(m.totals.beyond_depth_bytes),
        }
    }
}

impl BindingStats {
    pub fn new(
        s: &SourceStats,
        format: Option<&str>,
        position: u64,
        analysis: Option<BindingAnalysisStats>,
    ) -> Self {
        BindingStats {
            analysis,
            live: None,
            format: format.map(str::to_string),
            packets: s.packets as f64,
            bytes: s.bytes as f64,
            wire_bytes: s.wire_bytes as f64,
            link_types: s
                .link_types
                .iter()
                .map(|(l, n)| BindingLinkTypeCount {
                    link_type: l.0 as u32,
                    name: l.name().to_string(),
                    packets: *n as f64,
                })
                .collect(),
            ipv4: s.ipv4 as f64,
            ipv6: s.ipv6 as f64,
            arp: s.arp as f64,
            tcp: s.tcp as f64,
            udp: s.udp as f64,
            icmp: s.icmp as f64,
            other: s.other as f64,
            fragments: s.fragments as f64,
            malformed: s.malformed as f64,
            truncated: s.truncated as f64,
            first_ts_ns: s.first_ts_ns.map(BigInt::from),
            last_ts_ns: s.last_ts_ns.map(BigInt::from),
            position: position as f64,
        }
    }
}

/// Names of the batch columns per width, in index order.
#[napi(object, object_from_js = false)]
pub struct BindingLayout {
    pub u8: Vec<String>,
    pub u16: Vec<String>,
    pub u32: Vec<String>,
    pub addr_stride: u32,
}

/// The column layout of every batch, read once by the TypeScript layer so
/// the two sides cannot drift apart.
#[napi]
pub fn batch_layout() -> BindingLayout {
    let names = |c: &[&str]| c.iter().map(|s| s.to_string()).collect();
    BindingLayout {
        u8: names(COLUMNS.0),
        u16: names(COLUMNS.1),
        u32: names(COLUMNS.2),
        addr_stride: ADDR_STRIDE as u32,
    }
}
