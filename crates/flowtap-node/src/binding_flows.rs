//! Flow events as they cross to JavaScript: one struct-of-arrays batch per
//! `nextBatch()`, numbers in typed arrays and the three strings of a flow
//! (uid, Community ID, TCP history) in string arrays.

use flowtap_core::flow::tracker::{EndReason, FlowEvent, FlowOptions};
use napi::bindgen_prelude::{BigUint64Array, Uint16Array, Uint8Array};
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
        let bad = |m: String| BindingError {
            code: "ERR_INVALID_ARG".into(),
            message: m,
            offset: None,
        };
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
        })
    }
}

/// Numbers per event in [`BindingFlowBatch::counts`], in this order.
pub const COUNTS: &[&str] = &[
    "seq",
    "firstNs",
    "lastNs",
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
    "durationNs",
];

/// `connState` codes: an index into this list.
pub const CONN_STATES: &[&str] = &[
    "S0", "S1", "SF", "REJ", "S2", "S3", "RSTO", "RSTR", "RSTOS0", "RSTRH", "SH", "SHR", "OTH",
];

/// `reason` codes: 0 for a start event, then an index + 1 into this list.
pub const REASONS: &[&str] = &["fin", "rst", "idle", "evicted", "end-of-input", "reused"];

/// Flow events in struct-of-arrays form; event `i`'s numbers are
/// `counts[i * COUNTS.length …]`, its endpoints `addrs[i * 32 …]` (origin
/// then responder, 16 bytes each) and `ports[i * 2 …]`.
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
    pub counts: BigUint64Array,
    pub addrs: Uint8Array,
    pub uid: Vec<String>,
    pub community_id: Vec<String>,
    pub history: Vec<String>,
}

impl From<Vec<FlowEvent>> for BindingFlowBatch {
    fn from(events: Vec<FlowEvent>) -> Self {
        let n = events.len();
        let mut b = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let mut ports = Vec::with_capacity(2 * n);
        let mut vlan = Vec::with_capacity(n);
        let mut counts = Vec::with_capacity(COUNTS.len() * n);
        let mut addrs = Vec::with_capacity(32 * n);
        let (mut uid, mut cid, mut history) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for ev in &events {
            let (r, kind, reason) = match ev {
                FlowEvent::Start(r) => (r, 0u8, 0u8),
                FlowEvent::End(r, why) => (r, 1, reason_code(*why)),
            };
            b.0.push(kind);
            b.1.push(reason);
            b.2.push(r.proto);
            b.3.push(r.ipv6 as u8);
            let cs = r.conn_state();
            b.4.push(CONN_STATES.iter().position(|c| *c == cs).unwrap_or(255) as u8);
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
            counts.extend_from_slice(&[
                r.seq,
                r.first_ns,
                r.last_ns,
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
                dur,
            ]);
            addrs.extend_from_slice(&r.orig_addr);
            addrs.extend_from_slice(&r.resp_addr);
            uid.push(r.uid());
            cid.push(r.community_id());
            history.push(
                r.tcp
                    .as_ref()
                    .map_or(String::new(), |t| t.history().to_string()),
            );
        }
        BindingFlowBatch {
            length: n as u32,
            kind: Uint8Array::new(b.0),
            reason: Uint8Array::new(b.1),
            proto: Uint8Array::new(b.2),
            ipv6: Uint8Array::new(b.3),
            conn_state: Uint8Array::new(b.4),
            ports: Uint16Array::new(ports),
            vlan: Uint16Array::new(vlan),
            counts: BigUint64Array::new(counts),
            addrs: Uint8Array::new(addrs),
            uid,
            community_id: cid,
            history,
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
    pub conn_states: Vec<String>,
    pub reasons: Vec<String>,
}

#[napi]
pub fn flow_layout() -> BindingFlowLayout {
    let v = |c: &[&str]| c.iter().map(|s| s.to_string()).collect();
    BindingFlowLayout {
        counts: v(COUNTS),
        conn_states: v(CONN_STATES),
        reasons: v(REASONS),
    }
}
