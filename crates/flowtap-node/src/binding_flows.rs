//! Flow events as they cross to JavaScript: one struct-of-arrays batch per
//! `nextBatch()`: numbers in typed arrays, the strings of all events in one
//! JS string.

use flowtap_core::analyze::{AnalyzeOptions, Protocols};
use flowtap_core::flow::tracker::{EndReason, FlowEvent, FlowOptions};
use flowtap_core::reassembly::ReassemblyOptions;
use flowtap_core::session::{Protocol, SessionOptions};
use napi::bindgen_prelude::{BigUint64Array, Float64Array, Uint16Array, Uint32Array, Uint8Array};
use napi_derive::napi;

use crate::binding_error::BindingError;

/// Flow tracking options; times in milliseconds. Validated by TypeScript.
#[napi(object)]
#[derive(Default, Clone)]
pub struct BindingFlowOptions {
    /// @default 1000000
    pub max_flows: Option<u32>,
    /// @default 300000
    pub tcp_idle_ms: Option<f64>,
    /// @default 5000
    pub tcp_handshake_ms: Option<f64>,
    /// @default 5000
    pub tcp_close_delay_ms: Option<f64>,
    /// @default 60000
    pub udp_idle_ms: Option<f64>,
    /// @default 30000
    pub other_idle_ms: Option<f64>,
    /// @default false
    pub vlan_keying: Option<bool>,
    /// Reassemble IP fragments before tracking. @default true
    pub defrag: Option<bool>,
}

impl BindingFlowOptions {
    pub fn to_core(&self) -> Result<FlowOptions, BindingError> {
        let d = FlowOptions::default();
        let bad = BindingError::invalid_arg;
        let ms = |name: &str, v: Option<f64>, default: u64| -> Result<u64, BindingError> {
            match v {
                None => Ok(default),
                Some(x) if x.is_finite() && x > 0.0 && x <= 1e12 => Ok((x * 1e6) as u64),
                Some(x) => Err(bad(format!(
                    "{name} must be a positive number of ms, got {x}"
                ))),
            }
        };
        let max_flows = self.max_flows.unwrap_or(d.max_flows as u32);
        if max_flows == 0 {
            return Err(bad("maxFlows must be at least 1".into()));
        }
        Ok(FlowOptions {
            max_flows: max_flows as usize,
            tcp_idle_ns: ms("tcpIdleMs", self.tcp_idle_ms, d.tcp_idle_ns)?,
            tcp_handshake_ns: ms("tcpHandshakeMs", self.tcp_handshake_ms, d.tcp_handshake_ns)?,
            tcp_close_delay_ns: ms(
                "tcpCloseDelayMs",
                self.tcp_close_delay_ms,
                d.tcp_close_delay_ns,
            )?,
            udp_idle_ns: ms("udpIdleMs", self.udp_idle_ms, d.udp_idle_ns)?,
            other_idle_ns: ms("otherIdleMs", self.other_idle_ms, d.other_idle_ns)?,
            vlan_keying: self.vlan_keying.unwrap_or(d.vlan_keying),
            community_id_seed: 0,
            defrag: if self.defrag.unwrap_or(true) {
                d.defrag
            } else {
                None
            },
            first_seq: 0,
        })
    }
}

/// Session and stream options. Validated by TypeScript; checked again here.
#[napi(object)]
#[derive(Default, Clone)]
pub struct BindingAnalyzeOptions {
    /// Parsers to run: any of "http", "dns", "tls". @default all
    pub protocols: Option<Vec<String>>,
    /// Report reassembled stream pieces. @default false
    pub streams: Option<bool>,
    /// Hand flow events to JS as well. @default true
    pub flow_events: Option<bool>,
    /// First body bytes kept per HTTP message. @default 0
    pub body_capture_bytes: Option<u32>,
    /// Bytes delivered per stream direction. @default unlimited
    pub stream_depth_bytes: Option<f64>,
    /// Out-of-order bytes buffered per direction. @default 1048576
    pub max_ooo_bytes: Option<f64>,
    /// Out-of-order bytes buffered across all flows. @default 268435456
    pub memcap_bytes: Option<f64>,
    /// Parsers in JavaScript and the flows they claim.
    pub plugins: Option<Vec<crate::binding_plugins::BindingPluginSpec>>,
}

impl BindingAnalyzeOptions {
    pub fn to_core(&self, flows: FlowOptions) -> Result<AnalyzeOptions, BindingError> {
        let bad = BindingError::invalid_arg;
        let bytes = |name: &str, v: Option<f64>, default: u64| -> Result<u64, BindingError> {
            match v {
                None => Ok(default),
                Some(x) if (1.0..=9.0e15).contains(&x) && x.fract() == 0.0 => Ok(x as u64),
                Some(x) => Err(bad(format!("{name} must be a positive integer, got {x}"))),
            }
        };
        let protocols = match &self.protocols {
            None => Protocols::ALL,
            Some(list) => {
                let mut p = Protocols::NONE;
                for name in list {
                    match name.as_str() {
                        "http" => p.http = true,
                        "dns" => p.dns = true,
                        "tls" => p.tls = true,
                        other => return Err(bad(format!("unknown protocol {other:?}"))),
                    }
                }
                p
            }
        };
        let r = ReassemblyOptions::default();
        let d = AnalyzeOptions::default();
        Ok(AnalyzeOptions {
            flows,
            reassembly: ReassemblyOptions {
                max_ooo_bytes: bytes("maxOooBytes", self.max_ooo_bytes, r.max_ooo_bytes)?,
                depth: bytes("streamDepthBytes", self.stream_depth_bytes, r.depth)?,
                ..r
            },
            memcap: bytes("memcapBytes", self.memcap_bytes, d.memcap)?,
            sessions: SessionOptions {
                body_capture: self.body_capture_bytes.unwrap_or(0) as usize,
                ..SessionOptions::default()
            },
            protocols,
            streams: self.streams.unwrap_or(false),
            plugins: crate::binding_plugins::to_core(self.plugins.as_deref().unwrap_or_default())?,
        })
    }
}

/// Numbers per event in [`BindingFlowBatch::counts`], in this order. They
/// are exact as doubles (below 2^53); the nanosecond times, which are not,
/// travel as `bigint`s in [`TIMES`].
pub const COUNTS: &[&str] = &[
    "seq",
    "origPackets",
    "origIpBytes",
    "origWireBytes",
    "origPayloadBytes",
    "respPackets",
    "respIpBytes",
    "respWireBytes",
    "respPayloadBytes",
    "origBytes",
    "respBytes",
];

/// Times per event in [`BindingFlowBatch::times`], in this order.
pub const TIMES: &[&str] = &["firstNs", "lastNs", "durationNs"];

/// `connState` codes: an index into this list.
pub const CONN_STATES: &[&str] = &[
    "S0", "S1", "SF", "REJ", "S2", "S3", "RSTO", "RSTR", "RSTOS0", "RSTRH", "SH", "SHR", "OTH",
];

/// `reason` codes: 0 for a start event, then an index + 1 into this list.
pub const REASONS: &[&str] = &["fin", "rst", "idle", "evicted", "end-of-input", "reused"];

/// Length of a uid in [`BindingFlowBatch::text`].
pub const UID_LEN: usize = 18;

/// Flow events in struct-of-arrays form; event `i`'s numbers are
/// `counts[i * COUNTS.length …]`, its times `times[i * TIMES.length …]`, its
/// endpoints `addrs[i * 32 …]` (originator then responder, 16 bytes each)
/// and `ports[i * 2 …]`.
///
/// The strings of all events share one JS string, `text`, so a batch costs
/// one string allocation rather than three per event (JS then takes
/// substrings, which V8 makes without copying): event `i`'s text runs from
/// `textEnd[i - 1]` (0 for the first) to `textEnd[i]` and holds its uid
/// (18 characters), its Community ID (`cidLen[i]` characters, 0 where
/// undefined) and its history, in that order. All of it is ASCII.
#[napi(object, object_from_js = false)]
pub struct BindingFlowBatch {
    pub length: u32,
    /// 0 start, 1 end.
    pub kind: Uint8Array,
    pub reason: Uint8Array,
    pub proto: Uint8Array,
    pub ipv6: Uint8Array,
    pub conn_state: Uint8Array,
    pub ports: Uint16Array,
    pub vlan: Uint16Array,
    pub counts: Float64Array,
    pub times: BigUint64Array,
    pub addrs: Uint8Array,
    pub text: String,
    pub text_end: Uint32Array,
    pub cid_len: Uint8Array,
    /// The protocol the flow was parsed as (see [`SERVICES`]), on end events.
    pub service: Uint8Array,
}

/// `service` codes: 0 for none, then an index + 1 into this list (Zeek's
/// conn.log names).
pub const SERVICES: &[&str] = &["http", "dns", "ssl"];

fn service_code(p: Option<Protocol>) -> u8 {
    match p {
        None => 0,
        Some(Protocol::Http) => 1,
        Some(Protocol::Dns) => 2,
        Some(Protocol::Tls) => 3,
    }
}

impl BindingFlowBatch {
    /// The batch of `events`, each with the protocol its flow was parsed as.
    pub fn new<'a>(
        events: impl ExactSizeIterator<Item = (&'a FlowEvent, Option<Protocol>)>,
    ) -> Self {
        let n = events.len();
        let mut kind = Vec::with_capacity(n);
        let mut reason = Vec::with_capacity(n);
        let mut proto = Vec::with_capacity(n);
        let mut ipv6 = Vec::with_capacity(n);
        let mut conn_state = Vec::with_capacity(n);
        let mut ports = Vec::with_capacity(2 * n);
        let mut vlan = Vec::with_capacity(n);
        let mut counts = Vec::with_capacity(COUNTS.len() * n);
        let mut times = Vec::with_capacity(TIMES.len() * n);
        let mut addrs = Vec::with_capacity(32 * n);
        let mut text = String::with_capacity(n * (UID_LEN + 30 + 8));
        let mut text_end = Vec::with_capacity(n);
        let mut cid_len = Vec::with_capacity(n);
        let mut service = Vec::with_capacity(n);
        for (ev, parsed_as) in events {
            service.push(service_code(parsed_as));
            let (r, k, why) = match ev {
                FlowEvent::Start(r) => (r, 0u8, 0u8),
                FlowEvent::End(r, why) => (r, 1, reason_code(*why)),
            };
            kind.push(k);
            reason.push(why);
            proto.push(r.proto);
            ipv6.push(r.ipv6 as u8);
            let cs = r.conn_state();
            conn_state.push(CONN_STATES.iter().position(|c| *c == cs).unwrap_or(255) as u8);
            ports.extend_from_slice(&[r.orig_port, r.resp_port]);
            vlan.push(r.vlan);
            let (ob, rb, dur) = match &r.tcp {
                Some(t) => (t.orig_bytes(), t.resp_bytes(), t.duration_ns(r.first_ns)),
                None => (
                    r.orig.payload_bytes,
                    r.resp.payload_bytes,
                    r.last_ns.saturating_sub(r.first_ns),
                ),
            };
            counts.extend(
                [
                    r.seq,
                    r.orig.packets,
                    r.orig.ip_bytes,
                    r.orig.wire_bytes,
                    r.orig.payload_bytes,
                    r.resp.packets,
                    r.resp.ip_bytes,
                    r.resp.wire_bytes,
                    r.resp.payload_bytes,
                    ob,
                    rb,
                ]
                .map(|v| v as f64),
            );
            times.extend_from_slice(&[r.first_ns, r.last_ns, dur]);
            addrs.extend_from_slice(&r.orig_addr);
            addrs.extend_from_slice(&r.resp_addr);
            text.push_str(&r.uid());
            let before = text.len();
            text.push_str(&r.community_id());
            cid_len.push((text.len() - before) as u8);
            text.push_str(r.history());
            text_end.push(text.len() as u32);
        }
        BindingFlowBatch {
            length: n as u32,
            kind: Uint8Array::new(kind),
            reason: Uint8Array::new(reason),
            proto: Uint8Array::new(proto),
            ipv6: Uint8Array::new(ipv6),
            conn_state: Uint8Array::new(conn_state),
            ports: Uint16Array::new(ports),
            vlan: Uint16Array::new(vlan),
            counts: Float64Array::new(counts),
            times: BigUint64Array::new(times),
            addrs: Uint8Array::new(addrs),
            text,
            text_end: Uint32Array::new(text_end),
            cid_len: Uint8Array::new(cid_len),
            service: Uint8Array::new(service),
        }
    }
}

fn reason_code(r: EndReason) -> u8 {
    1 + match r {
        EndReason::Fin => 0,
        EndReason::Rst => 1,
        EndReason::Idle => 2,
        EndReason::Evicted => 3,
        EndReason::EndOfInput => 4,
        EndReason::Reused => 5,
    }
}

/// The flow batch layout, read once by TypeScript.
#[napi(object, object_from_js = false)]
pub struct BindingFlowLayout {
    pub counts: Vec<String>,
    pub times: Vec<String>,
    pub conn_states: Vec<String>,
    pub reasons: Vec<String>,
    pub services: Vec<String>,
}

#[napi]
pub fn flow_layout() -> BindingFlowLayout {
    let v = |c: &[&str]| c.iter().map(|s| s.to_string()).collect();
    BindingFlowLayout {
        counts: v(COUNTS),
        times: v(TIMES),
        conn_states: v(CONN_STATES),
        reasons: v(REASONS),
        services: v(SERVICES),
    }
}
