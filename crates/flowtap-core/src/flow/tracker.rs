//! [`FlowTracker`]: decoded packets in, bidirectional flow records out.
//!
//! Each IP packet is assigned to a flow (see [`super::key`]). The flow's
//! originator follows Zeek: the sender of the first packet, unless Zeek's
//! rule for new connections flips it — for TCP a first packet that is not a
//! plain SYN from a likely server port (and the later flips of
//! [`TcpConn::on_packet`]: a SYN-ACK seen first), for UDP a first packet
//! from a likely server port to a port that is not one (Zeek's
//! `UDPAnalyzer::WantConnection`, ports in
//! [`ZEEK_DEFAULT_LIKELY_SERVER_PORTS_UDP`]); never towards the IPv4
//! broadcast address. ICMP is never flipped: a reply seen first makes its
//! sender the originator, with the reply's type as `orig_port` and the
//! request's as `resp_port`, as in Zeek's conn.log; a one-way message (an
//! error) is a flow of its own per direction.
//!
//! Flows end on FIN/RST (after a close delay, so retransmitted FINs and the
//! last ACK stay in the flow), on idling past their class's timeout, on
//! eviction from a full table, on reuse of the 5-tuple by a new TCP
//! connection, or at the end of input; every end is a [`FlowEvent::End`]
//! with its [`EndReason`].
//!
//! IP fragments are reassembled first ([`crate::defrag`]): a datagram counts
//! once, when its last fragment arrives, as one packet of the completing
//! frame's wire length (as tshark and Zeek count it).
//!
//! Memory: the table keeps a compact state per flow (the key once, 32-bit
//! counters that widen on overflow, the TCP bookkeeping); a [`FlowRecord`]
//! is built only when an event is emitted, and its Community ID only when
//! asked for. With IPv4 keys a flow costs about 190 bytes all-in (slot and
//! hash index); see `benches/src/bin/flow_scale.rs`.
//!
//! Contract: memory is bounded by `max_flows` flows, the defragmenter's
//! limits, and the events not yet taken with [`FlowTracker::take_events`];
//! time comes from the packets (deterministic replay) or from
//! [`FlowTracker::expire`]; no method panics.

use std::net::IpAddr;

use super::community_id::{
    community_id_v1_digest, community_id_v1_packet_defined, encode_v1, icmp_port_equivalents,
    sctp_ports,
};
use super::key::{FlowKey, Side};
use super::table::{FlowTable, Removal, Removed};
use super::tcp_state::{
    flip_new_connection, tcp_payload_len, TcpConn, ZEEK_DEFAULT_LIKELY_SERVER_PORTS,
};
use crate::capture::Frame;
use crate::decode::{decode, ip_flags, tcp_flags, Net, PacketInfo, Transport};
use crate::defrag::{DefragOptions, DefragStats, Defragmenter, Outcome};
use crate::LinkType;

const S: u64 = 1_000_000_000;

const PROTO_UDP: u8 = 17;
const PROTO_SCTP: u8 = 132;

/// UDP ports in Zeek's `likely_server_ports` when it runs with its default
/// scripts (the server ports the analyzers of `scripts/base/protocols` and
/// `scripts/base/packet-protocols` register, Zeek 9.1.0-dev).
pub const ZEEK_DEFAULT_LIKELY_SERVER_PORTS_UDP: &[u16] = &[
    53, 67, 88, 123, 137, 161, 162, 389, 443, 514, 1812, 2123, 2152, 3389, 3544, 4011, 4754, 4789,
    5060, 5072, 5353, 5355, 6081, 20000,
];

/// Limits and timeouts of a [`FlowTracker`].
#[derive(Debug, Clone, Copy)]
pub struct FlowOptions {
    /// Flows tracked at once; beyond it the least recently seen is evicted.
    pub max_flows: usize,
    /// Idle timeout of an established (or mid-stream) TCP flow.
    pub tcp_idle_ns: u64,
    /// Timeout of a TCP flow whose handshake has not completed.
    pub tcp_handshake_ns: u64,
    /// How long a closed (FIN/RST) TCP flow is kept for stragglers.
    pub tcp_close_delay_ns: u64,
    pub udp_idle_ns: u64,
    /// Idle timeout of every other protocol (ICMP, …).
    pub other_idle_ns: u64,
    /// Put the outermost VLAN id in the flow key.
    pub vlan_keying: bool,
    /// Community ID seed.
    pub community_id_seed: u16,
    /// Reassemble IP fragments before tracking (`None`: fragments other
    /// than the first count in no flow).
    pub defrag: Option<DefragOptions>,
    /// Number of the first flow (flows are numbered from it in order of
    /// first packet; the uid derives from the number). Trackers that run
    /// side by side over one capture (fanout workers) take disjoint ranges
    /// so their uids never collide.
    pub first_seq: u64,
}

impl Default for FlowOptions {
    fn default() -> Self {
        FlowOptions {
            max_flows: 1_000_000,
            tcp_idle_ns: 300 * S,
            tcp_handshake_ns: 5 * S,
            tcp_close_delay_ns: 5 * S,
            udp_idle_ns: 60 * S,
            other_idle_ns: 30 * S,
            vlan_keying: false,
            community_id_seed: 0,
            defrag: Some(DefragOptions::default()),
            first_seq: 0,
        }
    }
}

/// Timeout classes of the flow table.
const CLASS_TCP: u8 = 0;
const CLASS_TCP_HANDSHAKE: u8 = 1;
const CLASS_TCP_CLOSED: u8 = 2;
const CLASS_UDP: u8 = 3;
const CLASS_OTHER: u8 = 4;

/// Why a flow ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    Fin,
    Rst,
    Idle,
    Evicted,
    EndOfInput,
    /// A new connection (a SYN with a new sequence number, or after a
    /// close) started on the same addresses and ports.
    Reused,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Fin => "fin",
            EndReason::Rst => "rst",
            EndReason::Idle => "idle",
            EndReason::Evicted => "evicted",
            EndReason::EndOfInput => "end-of-input",
            EndReason::Reused => "reused",
        }
    }
}

/// Counters of one direction of a flow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirStats {
    pub packets: u64,
    /// Bytes on the wire (frame lengths), as tshark's conversation tables.
    pub wire_bytes: u64,
    /// Bytes of IP packets (header included), as Zeek's `*_ip_bytes`.
    pub ip_bytes: u64,
    /// Transport payload bytes on the wire (captured or not), from the IP
    /// length: Zeek's `orig_bytes`/`resp_bytes` for UDP and ICMP.
    pub payload_bytes: u64,
}

// `FlowRecord::bits` and `FlowState::bits`.
/// The flow has TCP bookkeeping.
const B_TCP: u8 = 1 << 0;
/// The first packet had a Community ID.
const B_CID: u8 = 1 << 1;
/// A non-TCP flow whose roles were flipped at its first packet.
const B_FLIPPED: u8 = 1 << 2;
/// UDP history letters: `D` (originator) and `d` (responder) recorded,
/// and `d` recorded before `D`.
const B_HIST_ORIG: u8 = 1 << 3;
const B_HIST_RESP: u8 = 1 << 4;
const B_HIST_RESP_FIRST: u8 = 1 << 5;

/// One bidirectional flow, oriented originator → responder.
#[derive(Debug, Clone)]
pub struct FlowRecord {
    /// Sequence number of the flow in this tracker (0, 1, …), stable for
    /// its lifetime; see [`FlowRecord::uid`].
    pub seq: u64,
    pub proto: u8,
    pub ipv6: bool,
    pub vlan: u16,
    pub orig_addr: [u8; 16],
    pub orig_port: u16,
    pub resp_addr: [u8; 16],
    pub resp_port: u16,
    pub first_ns: u64,
    pub last_ns: u64,
    pub orig: DirStats,
    pub resp: DirStats,
    /// TCP bookkeeping (conn_state, history, sequence-space bytes).
    pub tcp: Option<TcpConn>,
    cid_seed: u16,
    bits: u8,
}

impl FlowRecord {
    /// Zeek-style connection uid (`C` and 17 base-62 digits), distinct per
    /// flow and the same for the same input.
    pub fn uid(&self) -> String {
        uid(self.seq)
    }

    /// The Community ID's digest, computed now from the flow's tuple (see
    /// [`FlowRecord::community_id`]); none for flows whose first packet it
    /// is not defined for.
    pub fn community_id_digest(&self) -> Option<[u8; 20]> {
        if self.bits & B_CID == 0 {
            return None;
        }
        let addr = |a: &[u8; 16]| -> IpAddr {
            if self.ipv6 {
                IpAddr::from(*a)
            } else {
                IpAddr::from([a[0], a[1], a[2], a[3]])
            }
        };
        Some(community_id_v1_digest(
            self.cid_seed,
            self.proto,
            addr(&self.orig_addr),
            addr(&self.resp_addr),
            self.orig_port,
            self.resp_port,
        ))
    }

    /// The Community ID v1 (`1:…`), or an empty string when undefined.
    pub fn community_id(&self) -> String {
        self.community_id_digest()
            .as_ref()
            .map(encode_v1)
            .unwrap_or_default()
    }

    /// The originator is the receiver of the flow's first packet (Zeek
    /// flipped the roles an odd number of times).
    pub fn flipped(&self) -> bool {
        match &self.tcp {
            Some(t) => t.flipped(),
            None => self.bits & B_FLIPPED != 0,
        }
    }

    /// Zeek's conn.log `history`. TCP: the TCP state machine's letters. UDP:
    /// `^` if the roles were flipped at the first packet, then `D` at the
    /// originator's first packet and `d` at the responder's, in the order
    /// they came — a datagram counts even when empty, as Zeek records the
    /// letter for every UDP packet whose checksum is not bad. Every other
    /// protocol (ICMP included): empty, as Zeek records no letters for it.
    pub fn history(&self) -> &str {
        if let Some(t) = &self.tcp {
            return t.history();
        }
        let b = self.bits;
        let o = b & B_HIST_ORIG != 0;
        let r = b & B_HIST_RESP != 0;
        let letters = match (o, r, b & B_HIST_RESP_FIRST != 0) {
            (true, true, false) => "^Dd",
            (true, true, true) => "^dD",
            (true, false, _) => "^D",
            (false, true, _) => "^d",
            (false, false, _) => "^",
        };
        if b & B_FLIPPED != 0 {
            letters
        } else {
            &letters[1..]
        }
    }

    /// Zeek's `conn_state`: the TCP state machine's for TCP; for UDP, as
    /// Zeek's script derives it from which sides sent (`SF` both, `S0` the
    /// originator only, `SHR` the responder only); `OTH` otherwise.
    pub fn conn_state(&self) -> &'static str {
        match (&self.tcp, self.proto) {
            (Some(t), _) => t.conn_state().as_str(),
            (None, PROTO_UDP) => match (self.orig.packets > 0, self.resp.packets > 0) {
                (true, true) => "SF",
                (true, false) => "S0",
                (false, true) => "SHR",
                (false, false) => "OTH",
            },
            _ => "OTH",
        }
    }
}

/// What the tracker reports.
#[derive(Debug, Clone)]
pub enum FlowEvent {
    /// A new flow, with its first packet counted.
    Start(FlowRecord),
    End(FlowRecord, EndReason),
}

/// The TCP header fields of a [`Tracked`] packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSegment {
    /// As in [`crate::decode::tcp_flags`].
    pub flags: u16,
    pub seq: u32,
    pub ack: u32,
    pub window: u16,
}

/// One packet as the tracker counted it, handed to the callback of
/// [`FlowTracker::on_packet_with`].
#[derive(Debug, Clone, Copy)]
pub struct Tracked<'a> {
    /// The flow's [`FlowRecord::seq`]: the same for every packet of the flow
    /// and never reused by another flow of this tracker.
    pub seq: u64,
    /// Sent by the originator, in the orientation after this packet (a
    /// packet that flipped the roles is from the responder if it came from
    /// the first packet's sender).
    pub from_orig: bool,
    /// This packet flipped the roles: from now on the other endpoint is the
    /// originator (streams kept per direction must swap).
    pub flipped: bool,
    /// This packet started the flow.
    pub started: bool,
    pub proto: u8,
    /// The TCP header, for TCP packets.
    pub tcp: Option<TcpSegment>,
    /// The captured transport payload (of the reassembled datagram when
    /// this packet completed one).
    pub payload: &'a [u8],
    /// The payload's length on the wire (from the IP length; at least
    /// `payload.len()` unless the headers lie).
    pub payload_len_wire: u32,
    pub ts_ns: u64,
}

/// Counters of a tracker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowStats {
    pub flows: u64,
    pub active: u64,
    pub ended_fin: u64,
    pub ended_rst: u64,
    pub ended_idle: u64,
    pub evicted: u64,
    pub ended_end_of_input: u64,
    pub ended_reused: u64,
    /// Packets that belong to no flow (not IP, or IP without a usable header).
    pub not_tracked: u64,
    /// IP fragments counted in no flow: buffered or dropped by the
    /// reassembly, or every fragment but the first when it is off.
    pub fragments: u64,
}

/// Both directions' counters, `[packets, wire, ip, payload]` for the
/// originator then the responder, in 32 bits until one would overflow, in
/// 64 bits (on the heap) from then on.
#[derive(Debug, Clone)]
struct Counters {
    small: [u32; 8],
    wide: Option<Box<[u64; 8]>>,
}

impl Counters {
    const fn new() -> Self {
        Counters {
            small: [0; 8],
            wide: None,
        }
    }

    #[inline]
    fn add(&mut self, from_orig: bool, v: [u64; 4]) {
        let b = if from_orig { 0 } else { 4 };
        if self.wide.is_none() {
            let s = &mut self.small;
            let n = [
                s[b] as u64 + v[0],
                s[b + 1] as u64 + v[1],
                s[b + 2] as u64 + v[2],
                s[b + 3] as u64 + v[3],
            ];
            if n.iter().all(|&x| x <= u32::MAX as u64) {
                for k in 0..4 {
                    s[b + k] = n[k] as u32;
                }
                return;
            }
            self.wide = Some(Box::new(self.small.map(u64::from)));
        }
        if let Some(w) = self.wide.as_mut() {
            for k in 0..4 {
                w[b + k] = w[b + k].saturating_add(v[k]);
            }
        }
    }

    fn swap(&mut self) {
        self.small.rotate_left(4);
        if let Some(w) = self.wide.as_mut() {
            w.rotate_left(4);
        }
    }

    fn get(&self, from_orig: bool) -> DirStats {
        let b = if from_orig { 0 } else { 4 };
        let v = |k: usize| match &self.wide {
            Some(w) => w[b + k],
            None => self.small[b + k] as u64,
        };
        DirStats {
            packets: v(0),
            wire_bytes: v(1),
            ip_bytes: v(2),
            payload_bytes: v(3),
        }
    }
}

/// What the table keeps per flow; the key (addresses, ports) and the last
/// time seen are the table's.
#[derive(Debug, Clone)]
struct FlowState {
    seq: u64,
    first_ns: u64,
    counters: Counters,
    /// Meaningful when `bits & B_TCP`; kept inline (not boxed) because a
    /// heap block would cost TCP flows more than it saves the others.
    tcp: TcpConn,
    /// Which key endpoint is the originator.
    orig_side: Side,
    bits: u8,
}

/// See the module docs.
pub struct FlowTracker {
    table: FlowTable<FlowState>,
    defrag: Option<Defragmenter>,
    opts: FlowOptions,
    events: Vec<FlowEvent>,
    next_seq: u64,
    stats: FlowStats,
}

/// splitmix64: a bijection, so distinct flows get distinct uids.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The Zeek-style uid of the flow numbered `seq`.
pub fn uid(seq: u64) -> String {
    const B62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    // The 128-bit number mix(!seq):mix(seq) in base 62, least significant
    // digit first. Long division over 32-bit limbs: u128 division is a
    // library call, and this runs for every flow event.
    let (lo, hi) = (mix(seq), mix(!seq));
    let mut limbs = [(hi >> 32) as u32, hi as u32, (lo >> 32) as u32, lo as u32];
    let mut s = String::with_capacity(18);
    s.push('C');
    for _ in 0..17 {
        let mut rem = 0u64;
        for l in limbs.iter_mut() {
            let cur = (rem << 32) | u64::from(*l);
            *l = (cur / 62) as u32;
            rem = cur % 62;
        }
        s.push(B62[rem as usize] as char);
    }
    s
}

/// Sizes of the tracker's per-flow types, for memory reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowSizes {
    /// One slab slot: packed key, list links, last-seen time, flow state.
    pub slot: usize,
    /// The flow state inside a slot.
    pub state: usize,
    pub tcp_conn: usize,
    /// The record built for events.
    pub record: usize,
}

impl FlowTracker {
    pub fn new(opts: FlowOptions) -> Self {
        let timeouts = [
            opts.tcp_idle_ns,
            opts.tcp_handshake_ns,
            opts.tcp_close_delay_ns,
            opts.udp_idle_ns,
            opts.other_idle_ns,
        ];
        FlowTracker {
            table: FlowTable::new(opts.max_flows, &timeouts),
            defrag: opts.defrag.map(Defragmenter::new),
            opts,
            events: Vec::new(),
            next_seq: opts.first_seq,
            stats: FlowStats::default(),
        }
    }

    /// Sizes of the per-flow types.
    pub fn sizes() -> FlowSizes {
        FlowSizes {
            slot: FlowTable::<FlowState>::slot_size(),
            state: std::mem::size_of::<FlowState>(),
            tcp_conn: std::mem::size_of::<TcpConn>(),
            record: std::mem::size_of::<FlowRecord>(),
        }
    }

    /// Bytes the flow table has allocated (slab and hash index; not the
    /// heap blocks of IPv6 keys, wide counters or rare TCP state).
    pub fn table_bytes(&self) -> usize {
        self.table.allocated_bytes()
    }

    pub fn stats(&self) -> FlowStats {
        FlowStats {
            active: self.table.len() as u64,
            ..self.stats
        }
    }

    /// Counters of the fragment reassembly, if it is on.
    pub fn defrag_stats(&self) -> Option<DefragStats> {
        self.defrag.as_ref().map(|d| *d.stats())
    }

    /// Events produced since the last call, in order.
    pub fn take_events(&mut self) -> Vec<FlowEvent> {
        std::mem::take(&mut self.events)
    }

    /// Events waiting to be taken.
    pub fn pending_events(&self) -> usize {
        self.events.len()
    }

    fn class_of(st: &FlowState, proto: u8) -> u8 {
        if st.bits & B_TCP != 0 {
            let t = &st.tcp;
            if t.is_closed() {
                CLASS_TCP_CLOSED
            } else if t.is_established() {
                CLASS_TCP
            } else {
                CLASS_TCP_HANDSHAKE
            }
        } else if proto == PROTO_UDP {
            CLASS_UDP
        } else {
            CLASS_OTHER
        }
    }

    /// The public record of a flow.
    fn record(&self, key: &FlowKey, st: &FlowState, last_ns: u64) -> FlowRecord {
        let lo = (key.lo_addr, key.lo_port);
        let hi = (key.hi_addr, key.hi_port);
        let (o, r) = match st.orig_side {
            Side::Lo => (lo, hi),
            Side::Hi => (hi, lo),
        };
        FlowRecord {
            seq: st.seq,
            proto: key.proto,
            ipv6: key.ipv6,
            vlan: key.vlan,
            orig_addr: o.0,
            orig_port: o.1,
            resp_addr: r.0,
            resp_port: r.1,
            first_ns: st.first_ns,
            last_ns,
            orig: st.counters.get(true),
            resp: st.counters.get(false),
            tcp: (st.bits & B_TCP != 0).then(|| st.tcp.clone()),
            cid_seed: self.opts.community_id_seed,
            bits: st.bits,
        }
    }

    fn end(&mut self, gone: Removed<FlowState>, reason: EndReason) {
        match reason {
            EndReason::Fin => self.stats.ended_fin += 1,
            EndReason::Rst => self.stats.ended_rst += 1,
            EndReason::Idle => self.stats.ended_idle += 1,
            EndReason::Evicted => self.stats.evicted += 1,
            EndReason::EndOfInput => self.stats.ended_end_of_input += 1,
            EndReason::Reused => self.stats.ended_reused += 1,
        }
        let rec = self.record(&gone.key, &gone.value, gone.last_seen);
        self.events.push(FlowEvent::End(rec, reason));
    }

    /// Ends every flow idle at `now_ns` (packet time or a clock).
    pub fn expire(&mut self, now_ns: u64) {
        // The defragmenter's clock must move with every packet and with the
        // live sources' clock too, not only with the next fragment: else a
        // datagram that never completes stays buffered past its timeout for
        // as long as no other fragment arrives (found by tests/hostile.rs).
        if let Some(d) = self.defrag.as_mut() {
            d.expire(now_ns);
        }
        let mut ended = Vec::new();
        self.table
            .expire(now_ns, |gone, removal| ended.push((gone, removal)));
        for (gone, removal) in ended {
            let reason = match removal {
                Removal::Evicted => EndReason::Evicted,
                Removal::Idle => Self::closed_reason(&gone.value).unwrap_or(EndReason::Idle),
            };
            self.end(gone, reason);
        }
    }

    /// Ends every flow (end of input or close); fragments of incomplete
    /// datagrams are discarded (and counted).
    pub fn finish(&mut self) {
        while !self.finish_some(usize::MAX) {}
    }

    /// [`FlowTracker::finish`] in steps: ends at most `max` flows (least
    /// recently seen first) and says whether none is left. A caller that
    /// takes the events between steps never holds the end events of a
    /// whole table at once.
    pub fn finish_some(&mut self, max: usize) -> bool {
        if let Some(d) = self.defrag.as_mut() {
            d.flush();
        }
        for _ in 0..max {
            let Some(id) = self.table.least_recent() else {
                return true;
            };
            if let Some(gone) = self.table.remove(id) {
                let reason = Self::closed_reason(&gone.value).unwrap_or(EndReason::EndOfInput);
                self.end(gone, reason);
            }
        }
        self.table.is_empty()
    }

    /// Counts one decoded packet in its flow, starting the flow if needed.
    pub fn on_packet(&mut self, frame: &Frame<'_>, info: &PacketInfo) {
        self.on_packet_with(frame, info, |_| {});
    }

    /// [`FlowTracker::on_packet`], then `f` with the packet as counted in its
    /// flow — the hook for the next layer (TCP reassembly, sessions).
    ///
    /// `f` is called at most once per call: not for packets that belong to
    /// no flow (not IP, fragments still being reassembled or dropped). It is
    /// called after every event this packet caused is in the queue — the
    /// `End` of flows it made expire, evicted or replaced (reuse) and the
    /// `Start` of its own flow — so a consumer that drains
    /// [`FlowTracker::take_events`] from `f` (or right after this call)
    /// learns that a flow ended before it sees the packet of a new flow that
    /// may reuse its 5-tuple. `f` runs on the caller's thread and gets
    /// borrowed data: the payload is not copied.
    pub fn on_packet_with<F>(&mut self, frame: &Frame<'_>, info: &PacketInfo, mut f: F)
    where
        F: FnMut(&Tracked<'_>),
    {
        self.expire(frame.ts_ns);
        let vlan = if self.opts.vlan_keying {
            info.vlan_id
        } else {
            0
        };
        if info.ip_flags & ip_flags::FRAGMENT != 0 {
            if let Some(d) = self.defrag.as_mut() {
                match d.push(frame.ts_ns, frame.data, info) {
                    Outcome::Complete(datagram) => {
                        let inner = decode(LinkType::RAW, &datagram, datagram.len() as u32);
                        let whole = Frame {
                            origlen: datagram.len() as u32,
                            link_type: LinkType::RAW,
                            data: &datagram,
                            ..*frame
                        };
                        self.track(&whole, &inner, frame.origlen, vlan, &mut f);
                    }
                    Outcome::NotAFragment => self.track(frame, info, frame.origlen, vlan, &mut f),
                    Outcome::Buffered | Outcome::Dropped(_) => self.stats.fragments += 1,
                }
                return;
            }
        }
        self.track(frame, info, frame.origlen, vlan, &mut f);
    }

    /// Counts a whole packet (or reassembled datagram) of `wire_len` bytes
    /// on the wire in its flow.
    fn track<F>(
        &mut self,
        frame: &Frame<'_>,
        info: &PacketInfo,
        wire_len: u32,
        vlan: u16,
        f: &mut F,
    ) where
        F: FnMut(&Tracked<'_>),
    {
        let ts = frame.ts_ns;
        let alen = match info.net {
            Net::Ipv4 => 4,
            Net::Ipv6 => 16,
            _ => {
                self.stats.not_tracked += 1;
                return;
            }
        };
        if info.ip_flags & ip_flags::FRAGMENT != 0 && info.frag_offset != 0 {
            self.stats.fragments += 1;
            return;
        }
        let is_tcp = info.transport == Transport::Tcp;
        let mut one_way = false;
        let (sport, dport) = match info.transport {
            Transport::Tcp | Transport::Udp => (info.src_port, info.dst_port),
            // Requests and their replies share a flow, as in Zeek and the
            // Community ID: the type and its counterpart stand for ports.
            Transport::Icmpv4 | Transport::Icmpv6 => {
                let v6 = info.transport == Transport::Icmpv6;
                let (t, c, ow) = icmp_port_equivalents(v6, info.icmp_type, info.icmp_code);
                one_way = ow;
                (t, c)
            }
            _ if info.ip_proto == PROTO_SCTP => sctp_ports(info, frame.data).unwrap_or((0, 0)),
            _ => (0, 0),
        };
        let (key, side) = if one_way {
            let (src, dst) = (&info.src[..alen], &info.dst[..alen]);
            let k = FlowKey::directed(info.ip_proto, src, dst, sport, dport, vlan);
            (k, Side::Lo)
        } else {
            let v6 = alen == 16;
            FlowKey::from_addrs(info.ip_proto, v6, info.src, info.dst, sport, dport, vlan)
        };

        let mut found = self.table.find(&key);
        if let (true, Some(id)) = (is_tcp && info.tcp_flags & tcp_flags::SYN != 0, found) {
            // A new SYN on a finished (or differently numbered) connection
            // starts a new flow, as Zeek's IsReuse decides.
            let reused = self.table.get(id).is_some_and(|st| {
                st.bits & B_TCP != 0 && st.tcp.is_reuse(info.tcp_flags, info.seq)
            });
            if reused {
                if let Some(old) = self.table.remove(id) {
                    let reason = Self::closed_reason(&old.value).unwrap_or(EndReason::Reused);
                    self.end(old, reason);
                }
                found = None;
            }
        }
        let (id, started) = match found {
            Some(id) => (id, false),
            None => {
                let st = self.new_state(frame, info, side, sport, dport);
                let (id, evicted) = self.table.insert(key, st, ts, CLASS_OTHER);
                if let Some(old) = evicted {
                    self.end(old, EndReason::Evicted);
                }
                self.stats.flows += 1;
                (id, true)
            }
        };
        let ip_bytes = ip_len(frame, info);
        let payload_wire = if is_tcp {
            tcp_payload_len(frame.data, info).unwrap_or(info.payload_len)
        } else if info.payload_offset > info.l3_offset {
            // Zeek counts UDP and ICMP payloads from the IP length.
            let headers = (info.payload_offset - info.l3_offset) as u64;
            ip_bytes.saturating_sub(headers).min(u32::MAX as u64) as u32
        } else {
            info.payload_len
        };
        let Some(st) = self.table.get_mut(id) else {
            return;
        };
        let mut from_orig = side == st.orig_side;
        let mut flipped = false;
        if is_tcp && st.bits & B_TCP != 0 {
            flipped = st.tcp.on_packet(
                from_orig,
                ts,
                info.tcp_flags,
                info.seq,
                info.ack,
                payload_wire,
                info.window,
            );
            if flipped {
                st.orig_side = other(st.orig_side);
                st.counters.swap();
                from_orig = !from_orig;
            }
        } else if info.transport == Transport::Udp {
            // Zeek's UDP analyzer: `D`/`d` once per side, for every packet.
            let bit = if from_orig { B_HIST_ORIG } else { B_HIST_RESP };
            if st.bits & bit == 0 {
                if !from_orig && st.bits & B_HIST_ORIG == 0 {
                    st.bits |= B_HIST_RESP_FIRST;
                }
                st.bits |= bit;
            }
        }
        st.counters.add(
            from_orig,
            [1, wire_len as u64, ip_bytes, payload_wire as u64],
        );
        let class = Self::class_of(st, info.ip_proto);
        let seq = st.seq;
        if started {
            if let (Some(key), Some(st)) = (self.table.key(id), self.table.get(id)) {
                let rec = self.record(&key, st, ts);
                self.events.push(FlowEvent::Start(rec));
            }
        }
        self.table.touch(id, ts, class);
        let payload = payload_of(frame, info);
        f(&Tracked {
            seq,
            from_orig,
            flipped,
            started,
            proto: info.ip_proto,
            tcp: is_tcp.then_some(TcpSegment {
                flags: info.tcp_flags,
                seq: info.seq,
                ack: info.ack,
                window: info.window,
            }),
            payload,
            payload_len_wire: payload_wire,
            ts_ns: ts,
        });
    }

    /// `Fin` or `Rst` for a TCP flow that closed, else `None`.
    fn closed_reason(st: &FlowState) -> Option<EndReason> {
        if st.bits & B_TCP == 0 {
            return None;
        }
        match (st.tcp.is_closed(), st.tcp.saw_rst()) {
            (true, true) => Some(EndReason::Rst),
            (true, false) => Some(EndReason::Fin),
            _ => None,
        }
    }

    fn new_state(
        &mut self,
        frame: &Frame<'_>,
        info: &PacketInfo,
        side: Side,
        sport: u16,
        dport: u16,
    ) -> FlowState {
        let seq = self.next_seq;
        self.next_seq += 1;
        // The sender of the first packet originates unless Zeek's rule for
        // new connections flips it (see the module docs); later TCP flips
        // come from the TCP state.
        let broadcast = info.net == Net::Ipv4 && info.dst[..4] == [255, 255, 255, 255];
        let flip = !broadcast
            && match info.transport {
                Transport::Tcp => flip_new_connection(info.tcp_flags, sport, dport, |p| {
                    ZEEK_DEFAULT_LIKELY_SERVER_PORTS.contains(&p)
                }),
                Transport::Udp => {
                    let likely = |p| ZEEK_DEFAULT_LIKELY_SERVER_PORTS_UDP.contains(&p);
                    likely(sport) && !likely(dport)
                }
                _ => false,
            };
        let mut bits = 0;
        let mut tcp = TcpConn::new();
        if info.transport == Transport::Tcp {
            bits |= B_TCP;
            if flip {
                tcp.flip_roles();
            }
        } else if flip {
            bits |= B_FLIPPED;
        }
        if community_id_v1_packet_defined(info, frame.data) {
            bits |= B_CID;
        }
        FlowState {
            seq,
            first_ns: frame.ts_ns,
            counters: Counters::new(),
            tcp,
            orig_side: if flip { other(side) } else { side },
            bits,
        }
    }
}

/// The captured transport payload, up to the end of the IP packet.
fn payload_of<'a>(frame: &Frame<'a>, info: &PacketInfo) -> &'a [u8] {
    let at = info.payload_offset as usize;
    if at == 0 {
        return &[];
    }
    let end = at.saturating_add(info.payload_len as usize);
    frame.data.get(at..end.min(frame.data.len())).unwrap_or(&[])
}

/// Bytes of the IP packet as its header states them (what Zeek counts in
/// `*_ip_bytes`), falling back to the frame for lengths that cannot be used.
fn ip_len(frame: &Frame<'_>, info: &PacketInfo) -> u64 {
    let d = frame.data;
    let l3 = info.l3_offset as usize;
    let from_frame = (frame.origlen as u64).saturating_sub(l3 as u64);
    let be16 = |at: usize| {
        d.get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]) as u64)
    };
    let stated = match info.net {
        Net::Ipv4 => be16(l3 + 2).filter(|&n| n >= 20),
        Net::Ipv6 => be16(l3 + 4).filter(|&n| n > 0).map(|n| n + 40),
        _ => None,
    };
    stated.unwrap_or(from_frame)
}

fn other(s: Side) -> Side {
    match s {
        Side::Lo => Side::Hi,
        Side::Hi => Side::Lo,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::decode;
    use crate::LinkType;

    const A: [u8; 4] = [10, 0, 0, 1];
    const B: [u8; 4] = [10, 0, 0, 2];

    /// A raw IPv4 packet; TCP when `flags` is Some, else UDP.
    fn pkt(
        src: [u8; 4],
        dst: [u8; 4],
        sp: u16,
        dp: u16,
        flags: Option<u8>,
        seq: u32,
        data: &[u8],
    ) -> Vec<u8> {
        let l4_len = if flags.is_some() { 20 } else { 8 } + data.len();
        let mut v = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 0, 0, 0];
        v[2..4].copy_from_slice(&((20 + l4_len) as u16).to_be_bytes());
        v[9] = if flags.is_some() { 6 } else { 17 };
        v.extend_from_slice(&src);
        v.extend_from_slice(&dst);
        v.extend_from_slice(&sp.to_be_bytes());
        v.extend_from_slice(&dp.to_be_bytes());
        match flags {
            Some(f) => {
                v.extend_from_slice(&seq.to_be_bytes());
                v.extend_from_slice(&0u32.to_be_bytes());
                v.extend_from_slice(&[0x50, f, 0xff, 0xff, 0, 0, 0, 0]);
            }
            None => {
                v.extend_from_slice(&(l4_len as u16).to_be_bytes());
                v.extend_from_slice(&[0, 0]);
            }
        }
        v.extend_from_slice(data);
        v
    }

    fn feed(t: &mut FlowTracker, ts_s: u64, p: &[u8]) {
        let frame = Frame {
            ts_ns: ts_s * S,
            origlen: p.len() as u32,
            interface: 0,
            link_type: LinkType::RAW,
            offset: 0,
            data: p,
        };
        let info = decode(frame.link_type, p, frame.origlen);
        t.on_packet(&frame, &info);
    }

    fn ends(t: &mut FlowTracker) -> Vec<(FlowRecord, EndReason)> {
        t.take_events()
            .into_iter()
            .filter_map(|e| match e {
                FlowEvent::End(r, why) => Some((r, why)),
                FlowEvent::Start(_) => None,
            })
            .collect()
    }

    const SYN: u8 = 0x02;
    const SYNACK: u8 = 0x12;
    const ACK: u8 = 0x10;
    const PSHACK: u8 = 0x18;
    const FINACK: u8 = 0x11;

    fn handshake_and_close(t: &mut FlowTracker, sp: u16, start: u64) {
        feed(t, start, &pkt(A, B, sp, 80, Some(SYN), 100, b""));
        feed(t, start, &pkt(B, A, 80, sp, Some(SYNACK), 500, b""));
        feed(t, start, &pkt(A, B, sp, 80, Some(ACK), 101, b""));
        feed(
            t,
            start + 1,
            &pkt(A, B, sp, 80, Some(PSHACK), 101, b"GET /"),
        );
        feed(
            t,
            start + 1,
            &pkt(B, A, 80, sp, Some(PSHACK), 501, b"200 OK!"),
        );
        feed(t, start + 2, &pkt(A, B, sp, 80, Some(FINACK), 106, b""));
        feed(t, start + 2, &pkt(B, A, 80, sp, Some(FINACK), 508, b""));
        feed(t, start + 2, &pkt(A, B, sp, 80, Some(ACK), 107, b""));
    }

    #[test]
    fn a_tcp_connection_from_syn_to_fin() {
        let mut t = FlowTracker::new(FlowOptions::default());
        handshake_and_close(&mut t, 40000, 10);
        let evs = t.take_events();
        assert_eq!(evs.len(), 1, "one start event");
        let FlowEvent::Start(start) = &evs[0] else {
            panic!("{evs:?}")
        };
        assert_eq!((start.orig_port, start.resp_port), (40000, 80));
        assert!(start.community_id().starts_with("1:"));
        assert_eq!(start.uid(), uid(0));
        // Closed flows stay for the close delay, then end with `fin`.
        t.expire(13 * S);
        assert!(ends(&mut t).is_empty());
        t.expire(18 * S);
        let ended = ends(&mut t);
        assert_eq!(ended.len(), 1);
        let (r, why) = &ended[0];
        assert_eq!(*why, EndReason::Fin);
        assert_eq!(r.conn_state(), "SF");
        assert_eq!(r.tcp.as_ref().unwrap().history(), "ShADdFf");
        assert_eq!((r.orig.packets, r.resp.packets), (5, 3));
        assert_eq!((r.orig.payload_bytes, r.resp.payload_bytes), (5, 7));
        assert_eq!(r.tcp.as_ref().unwrap().orig_bytes(), 5);
        assert_eq!(r.orig.ip_bytes, 5 * 40 + 5);
        assert_eq!(t.stats().ended_fin, 1);
    }

    #[test]
    fn a_new_syn_after_the_close_starts_a_new_flow() {
        let mut t = FlowTracker::new(FlowOptions::default());
        handshake_and_close(&mut t, 40000, 10);
        feed(&mut t, 13, &pkt(A, B, 40000, 80, Some(SYN), 9000, b""));
        let ended = ends(&mut t);
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].1, EndReason::Fin);
        assert_eq!(t.stats().flows, 2);
        assert_eq!(t.stats().active, 1);
    }

    #[test]
    fn udp_flows_idle_out_and_pair_both_directions() {
        let mut t = FlowTracker::new(FlowOptions::default());
        feed(&mut t, 0, &pkt(A, B, 5353, 53, None, 0, b"q"));
        feed(&mut t, 0, &pkt(B, A, 53, 5353, None, 0, b"answer"));
        assert_eq!(t.stats().active, 1);
        t.expire(59 * S);
        assert!(ends(&mut t).is_empty());
        t.expire(60 * S);
        let ended = ends(&mut t);
        assert_eq!(ended.len(), 1);
        let (r, why) = &ended[0];
        assert_eq!(*why, EndReason::Idle);
        assert_eq!((r.orig_port, r.resp_port), (5353, 53));
        assert_eq!((r.orig.packets, r.resp.packets), (1, 1));
        assert_eq!(r.conn_state(), "SF");
    }

    #[test]
    fn a_reply_from_a_server_port_seen_first_is_oriented_to_the_client() {
        let mut t = FlowTracker::new(FlowOptions::default());
        feed(&mut t, 0, &pkt(B, A, 53, 40000, None, 0, b"answer"));
        feed(&mut t, 1, &pkt(A, B, 40000, 53, None, 0, b"q"));
        t.finish();
        let ended = ends(&mut t);
        let (r, why) = &ended[0];
        assert_eq!(*why, EndReason::EndOfInput);
        assert_eq!(
            (r.orig_addr[..4].to_vec(), r.orig_port),
            (A.to_vec(), 40000)
        );
        assert_eq!((r.orig.packets, r.resp.packets), (1, 1));
        // Zeek: FlipRoles writes `^` before the packet's `d`.
        assert_eq!(r.history(), "^dD");
        assert!(r.flipped());
        assert_eq!(r.conn_state(), "SF");
    }

    #[test]
    fn udp_between_two_server_ports_keeps_the_first_sender() {
        // Zeek's UDP rule flips only towards a port that is not a likely
        // server port (53 and 5353 both are).
        let mut t = FlowTracker::new(FlowOptions::default());
        feed(&mut t, 0, &pkt(B, A, 53, 5353, None, 0, b"answer"));
        t.finish();
        let ended = ends(&mut t);
        let r = &ended[0].0;
        assert_eq!((r.orig_addr[..4].to_vec(), r.orig_port), (B.to_vec(), 53));
        assert_eq!(
            (r.history(), r.flipped(), r.conn_state()),
            ("D", false, "S0")
        );
    }

    #[test]
    fn udp_history_counts_empty_datagrams_and_payload_from_the_ip_length() {
        let mut t = FlowTracker::new(FlowOptions::default());
        feed(&mut t, 0, &pkt(A, B, 40000, 9999, None, 0, b""));
        feed(&mut t, 0, &pkt(B, A, 9999, 40000, None, 0, b""));
        feed(&mut t, 0, &pkt(A, B, 40000, 9999, None, 0, b"abc"));
        t.finish();
        let r = &ends(&mut t)[0].0;
        assert_eq!(r.history(), "Dd");
        assert_eq!((r.orig.payload_bytes, r.resp.payload_bytes), (3, 0));
        assert_eq!((r.orig.ip_bytes, r.resp.ip_bytes), (28 + 31, 28));
    }

    /// A raw IPv4 ICMP packet.
    fn icmp(src: [u8; 4], dst: [u8; 4], ty: u8, code: u8, data: &[u8]) -> Vec<u8> {
        let mut v = vec![0x45, 0, 0, 0, 0, 1, 0, 0, 64, 1, 0, 0];
        v[2..4].copy_from_slice(&((28 + data.len()) as u16).to_be_bytes());
        v.extend_from_slice(&src);
        v.extend_from_slice(&dst);
        v.extend_from_slice(&[ty, code, 0, 0, 0, 7, 0, 1]);
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn an_icmp_reply_seen_first_originates_as_in_zeek() {
        // Zeek keeps the sender of the first packet as originator for ICMP
        // (no WantConnection flip): orig_p is the reply's type.
        let mut t = FlowTracker::new(FlowOptions::default());
        feed(&mut t, 0, &icmp(B, A, 0, 0, b"pingpong"));
        feed(&mut t, 1, &icmp(A, B, 8, 0, b"pingpong"));
        feed(&mut t, 2, &icmp(B, A, 0, 0, b"pingpong"));
        t.finish();
        let ended = ends(&mut t);
        assert_eq!(ended.len(), 1);
        let r = &ended[0].0;
        assert_eq!((r.orig_addr[..4].to_vec(), r.orig_port), (B.to_vec(), 0));
        assert_eq!((r.resp_addr[..4].to_vec(), r.resp_port), (A.to_vec(), 8));
        assert_eq!((r.orig.packets, r.resp.packets), (2, 1));
        assert_eq!((r.orig.payload_bytes, r.resp.payload_bytes), (16, 8));
        assert_eq!((r.history(), r.conn_state()), ("", "OTH"));
        assert!(r.community_id().starts_with("1:"));
    }

    #[test]
    fn one_way_icmp_messages_are_a_flow_per_direction() {
        let mut t = FlowTracker::new(FlowOptions::default());
        feed(&mut t, 0, &icmp(A, B, 3, 3, b"x"));
        feed(&mut t, 1, &icmp(B, A, 3, 3, b"x"));
        feed(&mut t, 2, &icmp(A, B, 3, 3, b"x"));
        t.finish();
        let mut ended = ends(&mut t);
        ended.sort_by_key(|e| e.0.seq);
        assert_eq!(ended.len(), 2);
        let (a, b) = (&ended[0].0, &ended[1].0);
        assert_eq!((a.orig_addr[..4].to_vec(), a.orig.packets), (A.to_vec(), 2));
        assert_eq!((b.orig_addr[..4].to_vec(), b.orig.packets), (B.to_vec(), 1));
        assert_eq!((a.orig_port, a.resp_port), (3, 3));
        assert_ne!(a.community_id(), b.community_id());
    }

    #[test]
    fn the_community_id_is_the_first_packets() {
        use crate::flow::community_id::community_id_v1_packet;
        for (p, seed) in [
            (pkt(B, A, 80, 40000, Some(SYNACK), 1, b""), 0),
            (pkt(A, B, 40000, 53, None, 0, b"q"), 7),
            (icmp(B, A, 0, 0, b""), 0),
            (icmp(A, B, 3, 1, b""), 3),
        ] {
            let mut t = FlowTracker::new(FlowOptions {
                community_id_seed: seed,
                ..FlowOptions::default()
            });
            feed(&mut t, 0, &p);
            let evs = t.take_events();
            let FlowEvent::Start(r) = &evs[0] else {
                panic!("{evs:?}")
            };
            let info = decode(LinkType::RAW, &p, p.len() as u32);
            assert_eq!(
                Some(r.community_id()),
                community_id_v1_packet(seed, &info, &p)
            );
        }
    }

    #[test]
    fn the_packet_hook_sees_ends_before_the_new_flow() {
        let mut t = FlowTracker::new(FlowOptions::default());
        let mut seen = Vec::new();
        let mut ev_log = Vec::new();
        let mut feed_with = |t: &mut FlowTracker, ts: u64, p: &[u8]| {
            let frame = Frame {
                ts_ns: ts * S,
                origlen: p.len() as u32,
                interface: 0,
                link_type: LinkType::RAW,
                offset: 0,
                data: p,
            };
            let info = decode(frame.link_type, p, frame.origlen);
            let mut got = None;
            let mut evs = Vec::new();
            t.on_packet_with(&frame, &info, |k| {
                got = Some((k.seq, k.from_orig, k.started, k.payload.to_vec(), k.tcp));
            });
            evs.extend(t.take_events().into_iter().map(|e| match e {
                FlowEvent::Start(r) => ("start", r.seq),
                FlowEvent::End(r, _) => ("end", r.seq),
            }));
            ev_log.push(evs);
            seen.push(got);
        };
        feed_with(&mut t, 10, &pkt(A, B, 40000, 80, Some(SYN), 100, b""));
        feed_with(&mut t, 10, &pkt(B, A, 80, 40000, Some(SYNACK), 500, b""));
        feed_with(
            &mut t,
            11,
            &pkt(A, B, 40000, 80, Some(PSHACK), 101, b"GET /"),
        );
        feed_with(&mut t, 12, &pkt(A, B, 40000, 80, Some(FINACK), 106, b""));
        feed_with(&mut t, 12, &pkt(B, A, 80, 40000, Some(FINACK), 501, b""));
        // The same 5-tuple, a new connection: the old one ends first.
        feed_with(&mut t, 13, &pkt(A, B, 40000, 80, Some(SYN), 9000, b""));
        feed_with(&mut t, 13, &[0u8; 4]);
        let s: Vec<_> = seen
            .iter()
            .map(|g| g.as_ref().map(|g| (g.0, g.1, g.2)))
            .collect();
        assert_eq!(
            s,
            vec![
                Some((0, true, true)),
                Some((0, false, false)),
                Some((0, true, false)),
                Some((0, true, false)),
                Some((0, false, false)),
                Some((1, true, true)),
                None,
            ]
        );
        assert_eq!(seen[2].as_ref().unwrap().3, b"GET /");
        assert_eq!(seen[1].as_ref().unwrap().4.unwrap().seq, 500);
        assert_eq!(ev_log[0], vec![("start", 0)]);
        assert_eq!(ev_log[5], vec![("end", 0), ("start", 1)]);
    }

    #[test]
    fn the_packet_hook_reports_flips_and_reassembled_payloads() {
        let mut t = FlowTracker::new(FlowOptions::default());
        let mut flips = Vec::new();
        let mut run = |t: &mut FlowTracker, p: &[u8]| {
            let frame = Frame {
                ts_ns: S,
                origlen: p.len() as u32,
                interface: 0,
                link_type: LinkType::RAW,
                offset: 0,
                data: p,
            };
            let info = decode(frame.link_type, p, frame.origlen);
            let mut out = None;
            t.on_packet_with(&frame, &info, |k| {
                out = Some((
                    k.from_orig,
                    k.flipped,
                    k.payload.to_vec(),
                    k.payload_len_wire,
                ))
            });
            flips.push(out);
        };
        // A SYN-ACK from a port that is no likely server port, then its SYN:
        // Zeek flips at the SYN, which then comes from the originator.
        let mut syn_ack = pkt(B, A, 4000, 40000, Some(SYNACK), 500, b"");
        syn_ack[28..32].copy_from_slice(&101u32.to_be_bytes());
        run(&mut t, &syn_ack);
        run(&mut t, &pkt(A, B, 40000, 4000, Some(SYN), 100, b""));
        // A UDP datagram in two fragments.
        let whole = pkt(A, B, 7000, 53, None, 0, &[7u8; 24]);
        let frag = |mf_off: u16, body: &[u8]| {
            let mut v = whole[..20].to_vec();
            v[2..4].copy_from_slice(&((20 + body.len()) as u16).to_be_bytes());
            v[6..8].copy_from_slice(&mf_off.to_be_bytes());
            v.extend_from_slice(body);
            v
        };
        run(&mut t, &frag(0x2000, &whole[20..36]));
        run(&mut t, &frag(2, &whole[36..]));
        assert_eq!(flips[0], Some((true, false, vec![], 0)));
        assert_eq!(flips[1], Some((true, true, vec![], 0)));
        assert_eq!(flips[2], None);
        assert_eq!(flips[3], Some((true, false, vec![7u8; 24], 24)));
    }

    #[test]
    fn counters_widen_instead_of_wrapping() {
        let mut c = Counters::new();
        c.add(true, [1, 10, 20, 30]);
        c.add(false, [1, u32::MAX as u64, 5, 0]);
        assert!(c.wide.is_none());
        c.add(false, [1, 1, 5, 0]);
        assert!(c.wide.is_some());
        assert_eq!(
            c.get(false),
            DirStats {
                packets: 2,
                wire_bytes: u32::MAX as u64 + 1,
                ip_bytes: 10,
                payload_bytes: 0
            }
        );
        assert_eq!(c.get(true).ip_bytes, 20);
        c.swap();
        assert_eq!(c.get(true).packets, 2);
    }

    #[test]
    fn a_syn_ack_seen_first_is_oriented_to_its_receiver() {
        let mut t = FlowTracker::new(FlowOptions::default());
        // The SYN-ACK acknowledges the SYN's sequence number + 1.
        let mut syn_ack = pkt(B, A, 80, 40000, Some(SYNACK), 500, b"");
        syn_ack[28..32].copy_from_slice(&101u32.to_be_bytes());
        feed(&mut t, 0, &syn_ack);
        feed(&mut t, 0, &pkt(A, B, 40000, 80, Some(SYN), 100, b""));
        t.finish();
        let ended = ends(&mut t);
        assert_eq!(ended.len(), 1);
        let (r, _) = &ended[0];
        assert_eq!((r.orig_port, r.resp_port), (40000, 80));
        assert_eq!((r.orig.packets, r.resp.packets), (1, 1));
        // With Zeek's default likely-server ports the SYN-ACK from port 80
        // is flipped at once (`^h`); its SYN then arrives from the
        // originator (`S`). Zeek run bare (no server ports) logs `Hs^`.
        assert_eq!(r.tcp.as_ref().unwrap().history(), "^hS");
    }

    #[test]
    fn a_full_table_evicts_the_least_recently_seen_flow() {
        let mut t = FlowTracker::new(FlowOptions {
            max_flows: 2,
            ..FlowOptions::default()
        });
        feed(&mut t, 1, &pkt(A, B, 1001, 53, None, 0, b"a"));
        feed(&mut t, 2, &pkt(A, B, 1002, 53, None, 0, b"b"));
        feed(&mut t, 3, &pkt(A, B, 1001, 53, None, 0, b"a"));
        feed(&mut t, 4, &pkt(A, B, 1003, 53, None, 0, b"c"));
        let ended = ends(&mut t);
        assert_eq!(ended.len(), 1);
        assert_eq!(
            (ended[0].0.orig_port, ended[0].1),
            (1002, EndReason::Evicted)
        );
        assert_eq!(t.stats().evicted, 1);
        assert_eq!(t.stats().active, 2);
    }

    #[test]
    fn non_ip_and_later_fragments_are_counted_not_tracked() {
        let mut t = FlowTracker::new(FlowOptions::default());
        feed(&mut t, 0, &[0x00; 10]);
        let mut frag = pkt(A, B, 1, 2, None, 0, b"xxxxxxxx");
        frag[6..8].copy_from_slice(&0x0001u16.to_be_bytes()); // offset 8 bytes
        feed(&mut t, 0, &frag);
        let s = t.stats();
        assert_eq!((s.not_tracked, s.fragments, s.active), (1, 1, 0));
    }

    #[test]
    fn a_fragmented_datagram_counts_once_in_its_flow() {
        let whole = pkt(A, B, 7000, 53, None, 0, &[7u8; 24]); // UDP 8 + 24
        let frag = |mf_off: u16, body: &[u8]| {
            let mut v = whole[..20].to_vec();
            v[2..4].copy_from_slice(&((20 + body.len()) as u16).to_be_bytes());
            v[6..8].copy_from_slice(&mf_off.to_be_bytes());
            v.extend_from_slice(body);
            v
        };
        let first = frag(0x2000, &whole[20..36]); // MF, offset 0
        let last = frag(2, &whole[36..]); // offset 16 bytes
        let mut t = FlowTracker::new(FlowOptions::default());
        feed(&mut t, 1, &first);
        assert_eq!((t.stats().flows, t.stats().fragments), (0, 1));
        feed(&mut t, 1, &last);
        t.finish();
        let ended = ends(&mut t);
        assert_eq!(ended.len(), 1);
        let r = &ended[0].0;
        assert_eq!((r.orig_port, r.resp_port, r.proto), (7000, 53, 17));
        assert_eq!(r.orig.packets, 1);
        assert_eq!(r.orig.ip_bytes, whole.len() as u64);
        assert_eq!(r.orig.wire_bytes, last.len() as u64);
        assert_eq!(r.orig.payload_bytes, 24);
        assert_eq!(t.defrag_stats().unwrap().datagrams_reassembled, 1);
    }

    #[test]
    fn uid_digits_are_the_128_bit_number_in_base_62() {
        const B62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        for seq in [0u64, 1, 2, 61, 62, 1 << 40, u64::MAX - 1, u64::MAX] {
            let mut n = mix(seq) as u128 | ((mix(!seq) as u128) << 64);
            let mut want = String::from("C");
            for _ in 0..17 {
                want.push(B62[(n % 62) as usize] as char);
                n /= 62;
            }
            assert_eq!(uid(seq), want);
        }
    }

    #[test]
    fn uids_are_distinct_and_deterministic() {
        let a: Vec<String> = (0..1000).map(uid).collect();
        let mut b = a.clone();
        b.sort();
        b.dedup();
        assert_eq!(b.len(), 1000);
        assert_eq!(uid(7), uid(7));
        assert!(a.iter().all(|u| u.len() == 18 && u.starts_with('C')));
    }
}

#[cfg(test)]
mod size {
    /// Memory per tracked flow is a goal of its own (≤ 200 bytes idle, slot
    /// and index together); keep the slot from growing unnoticed.
    #[test]
    fn slot_size() {
        let s = super::FlowTracker::sizes();
        assert!(s.slot <= 184, "{s:?}");
        assert!(s.record <= 256, "{s:?}");
    }
}
