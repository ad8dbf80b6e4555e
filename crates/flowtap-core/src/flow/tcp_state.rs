//! Zeek's per-connection TCP bookkeeping for conn.log — `conn_state`,
//! `history`, `orig_bytes`/`resp_bytes` and Zeek's role flips — as a small
//! value fed one packet at a time.
//!
//! Semantics follow Zeek 9.1.0-dev (zeek/zeek a13de64fbbdb): the endpoint
//! state machine and sequence tracking of
//! `src/packet_analysis/protocol/tcp/TCPSessionAdapter.cc` (`Process`,
//! `init_endpoint`, `update_history`, `update_window`, `update_last_seq`,
//! `Update*State`, `ConnectionClosed`, `IsReuse`), `TCP_Endpoint::Size`,
//! `CheckHistory` (with its SYN-ACK flip) and the scaled letters of
//! `src/analyzer/protocol/tcp/TCP_Endpoint.cc`, `Session::ScaledHistoryEntry`,
//! `Connection::FlipRoles`, `TCPAnalyzer::WantConnection`, and the
//! `conn_state` function of `scripts/base/protocols/conn/main.zeek`.
//!
//! # Contract
//!
//! * Orientation. The caller keeps the endpoints and per-direction counters
//!   and passes `from_orig` in the *current* orientation. A connection starts
//!   oriented sender → receiver of its first packet; if
//!   [`flip_new_connection`] says so for that packet, the caller swaps its own
//!   endpoints and calls [`TcpConn::flip_roles`] before feeding it (Zeek's
//!   likely-server-port heuristic, history `^`). Zeek may flip once more by
//!   itself (a SYN-ACK first then an ACK or data: `^h`; a SYN answering a
//!   SYN-ACK seen first: `Hs^`): [`TcpConn::on_packet`] then returns `true`,
//!   the caller swaps its endpoints and counters again, and counts the packet
//!   that caused it for its sender's *new* role (`!from_orig`).
//!   [`TcpConn::flipped`] tells whether the current orientation differs from
//!   the first packet's one.
//! * Packets. `payload_len` is the TCP payload length on the wire (IP length
//!   minus headers, [`tcp_payload_len`]), not the captured bytes. A packet
//!   whose checksum fails (when checksums are validated, [`tcp_checksum_ok`])
//!   goes to [`TcpConn::on_bad_checksum`] instead of `on_packet`, as Zeek drops
//!   it after recording `C`/`c`. A new connection starts, instead of feeding
//!   the packet, when [`TcpConn::is_reuse`] says so (Zeek's connection reuse).
//! * Not done here: timers (Zeek's attempt, inactivity and close-delay
//!   timeouts) — the caller ends flows; content gaps (`G`/`g`) need
//!   reassembly — a reassembler reports them through
//!   [`TcpConn::on_content_gap`]; closing is never deferred for undelivered
//!   data (Zeek defers it while its reassembler holds data above a hole).
//! * History is kept up to [`HISTORY_CAPACITY`] letters; later letters are
//!   dropped ([`TcpConn::history_truncated`]); `conn_state` does not depend on
//!   the dropped part. The repeat checks of `S`/`H`/`F`/`R` compare relative
//!   sequence numbers modulo 2^32 (Zeek: 64-bit), which differs only for
//!   repeats exactly a multiple of 4 GiB apart.
//! * Size: 80 bytes, plus a heap block of about 100 bytes allocated on the
//!   first retransmission, zero window, bad checksum, gap, sequence wrap,
//!   SYN at a new sequence number, or history letter past the 16th.
//!   No method panics; sequence arithmetic wraps as in Zeek's C++.

use crate::decode::{tcp_flags, Net, PacketInfo, Transport};

/// History letters kept; later ones are dropped.
pub const HISTORY_CAPACITY: usize = 24;

/// TCP ports in Zeek's `likely_server_ports` when it runs with its default
/// scripts (registered by the analyzers of `scripts/base/protocols`, Zeek
/// 9.1.0-dev). With `-b`, only the ports of the analyzers loaded count.
pub const ZEEK_DEFAULT_LIKELY_SERVER_PORTS: &[u16] = &[
    21, 22, 25, 53, 79, 80, 81, 88, 135, 139, 143, 389, 443, 445, 465, 502, 514, 563, 585, 587,
    614, 631, 636, 989, 990, 992, 993, 995, 1080, 1434, 1883, 2811, 3128, 3268, 3306, 3389, 5222,
    5223, 5269, 5432, 6379, 6666, 6667, 6668, 6669, 8000, 8080, 8888, 20000,
];

/// Zeek's `TOO_LARGE_SEQ_DELTA`.
const TOO_LARGE_SEQ_DELTA: i32 = 1_048_576;

// Zeek's TCP_Endpoint::HistoryMasks; a responder's are shifted by 8.
const H_SYN: u16 = 0x1;
const H_FIN: u16 = 0x2;
const H_RST: u16 = 0x4;
const H_FIN_RST: u16 = 0x8;
const H_DATA: u16 = 0x10;
const H_ACK: u16 = 0x20;
const H_MULTI: u16 = 0x40;

// Scaled ("logarithmic") history letters, per endpoint.
const K_CHECKSUM: usize = 0;
const K_GAP: usize = 1;
const K_RXMIT: usize = 2;
const K_WIN0: usize = 3;
const SCALED_LETTER: [u8; 4] = [b'C', b'G', b'T', b'W'];

// `TcpConn::flags`.
const F_FLIPPED: u8 = 1 << 0;
const F_CLOSE_COMPLETE: u8 = 1 << 1;
const F_SAW_RST: u8 = 1 << 2;
const F_HIST_TRUNCATED: u8 = 1 << 3;
const F_RSTOS0_SHIFT: u8 = 4;
const F_RSTOS0_MASK: u8 = 0b111 << F_RSTOS0_SHIFT;

// `TcpConn::st[i]`: state (bits 0-2), previous state (bits 3-5), FIN seen,
// close reported (Zeek's `did_close`).
const ST_PREV_SHIFT: u8 = 3;
const ST_FIN_SEEN: u8 = 1 << 6;
const ST_DID_CLOSE: u8 = 1 << 7;

// States of the matcher of Zeek's RSTOS0 pattern `/\^?S[^HAFGIQ]*R.*/`,
// run over the whole history as it is written (so truncation cannot change
// the verdict).
const RX_START: u8 = 0;
const RX_CARET: u8 = 1;
const RX_AFTER_S: u8 = 2;
const RX_MATCH: u8 = 3;
const RX_DEAD: u8 = 4;

fn seq_delta(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

/// A TCP endpoint's state (Zeek's `TCP_ENDPOINT_*`, `c$orig$state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum EndpointState {
    /// Nothing seen from this side.
    #[default]
    Inactive = 0,
    /// SYN seen, no ACK.
    SynSent = 1,
    /// SYN-ACK seen, no initial SYN.
    SynAckSent = 2,
    /// Data seen, but no SYN.
    Partial = 3,
    Established = 4,
    /// FIN seen.
    Closed = 5,
    /// RST seen.
    Reset = 6,
}

impl EndpointState {
    fn from_bits(b: u8) -> Self {
        match b & 0b111 {
            1 => Self::SynSent,
            2 => Self::SynAckSent,
            3 => Self::Partial,
            4 => Self::Established,
            5 => Self::Closed,
            6 => Self::Reset,
            _ => Self::Inactive,
        }
    }

    /// Zeek's script-level name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inactive => "TCP_INACTIVE",
            Self::SynSent => "TCP_SYN_SENT",
            Self::SynAckSent => "TCP_SYN_ACK_SENT",
            Self::Partial => "TCP_PARTIAL",
            Self::Established => "TCP_ESTABLISHED",
            Self::Closed => "TCP_CLOSED",
            Self::Reset => "TCP_RESET",
        }
    }

    fn is_handshake(self) -> bool {
        matches!(self, Self::Inactive | Self::SynSent | Self::SynAckSent)
    }
}

/// Zeek's conn.log `conn_state`, spelled as Zeek spells it.
// The variants keep Zeek's spelling, which is all capitals.
#[allow(clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnState {
    /// Connection attempt seen, no reply.
    S0,
    /// Established, not terminated.
    S1,
    /// Normal establishment and termination.
    SF,
    /// Connection attempt rejected.
    REJ,
    /// Established, close attempt by the originator seen (no reply).
    S2,
    /// Established, close attempt by the responder seen (no reply).
    S3,
    /// Established, the originator aborted (RST).
    RSTO,
    /// The responder sent a RST.
    RSTR,
    /// The originator sent a SYN then a RST; no SYN-ACK seen.
    RSTOS0,
    /// The responder sent a SYN-ACK then a RST; no SYN seen.
    RSTRH,
    /// The originator sent a SYN then a FIN; no SYN-ACK seen.
    SH,
    /// The responder sent a SYN-ACK then a FIN; no SYN seen.
    SHR,
    /// No SYN seen, just midstream traffic.
    OTH,
}

impl ConnState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::S0 => "S0",
            Self::S1 => "S1",
            Self::SF => "SF",
            Self::REJ => "REJ",
            Self::S2 => "S2",
            Self::S3 => "S3",
            Self::RSTO => "RSTO",
            Self::RSTR => "RSTR",
            Self::RSTOS0 => "RSTOS0",
            Self::RSTRH => "RSTRH",
            Self::SH => "SH",
            Self::SHR => "SHR",
            Self::OTH => "OTH",
        }
    }
}

impl std::fmt::Display for ConnState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Sequence bookkeeping of one endpoint (Zeek's `TCP_Endpoint`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Endpoint {
    start_seq: u32,
    /// One past the last sequence number sent.
    last_seq: u32,
    /// Highest ack received for this endpoint's data.
    ack_seq: u32,
    /// Relative sequence numbers (mod 2^32) of the last FIN and RST (the
    /// last SYN's, almost always 0, is in `Rare`).
    last_fin: u32,
    last_rst: u32,
}

/// What most connections never need: 32-bit sequence wraps, the scaled
/// history counters (Zeek's `chk_cnt`/`gap_cnt`/`rxmt_cnt`/`win0_cnt` and
/// their thresholds), a last SYN at a relative sequence number other than 0,
/// per physical endpoint; and the history once it outgrows the inline bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rare {
    seq_wraps: [u32; 2],
    ack_wraps: [u32; 2],
    count: [[u32; 4]; 2],
    threshold: [[u32; 4]; 2],
    last_syn: [u32; 2],
    hist: [u8; HISTORY_CAPACITY],
}

impl Default for Rare {
    fn default() -> Self {
        Rare {
            seq_wraps: [0; 2],
            ack_wraps: [0; 2],
            count: [[0; 4]; 2],
            threshold: [[1; 4]; 2],
            last_syn: [0; 2],
            hist: [0; HISTORY_CAPACITY],
        }
    }
}

/// History letters kept inline; a longer history moves to `Rare`.
const HIST_INLINE: usize = 16;

/// One TCP connection's Zeek bookkeeping. See the module docs.
///
/// Endpoints are stored by physical index: 0 is the sender of the first
/// packet; the originator is index 0, or 1 once the roles flipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpConn {
    ep: [Endpoint; 2],
    /// Zeek's connection `last_time` (0 before any packet).
    last_ts_ns: u64,
    rare: Option<Box<Rare>>,
    /// Zeek's `hist_seen`: originator masks in bits 0-7, responder's in
    /// 8-15, by the orientation at the time (a flip does not move them).
    hist_seen: u16,
    st: [u8; 2],
    flags: u8,
    hist_len: u8,
    /// The history while it is at most `HIST_INLINE` letters long.
    hist: [u8; HIST_INLINE],
}

impl Default for TcpConn {
    fn default() -> Self {
        Self::new()
    }
}

impl TcpConn {
    pub const fn new() -> Self {
        TcpConn {
            ep: [Endpoint {
                start_seq: 0,
                last_seq: 0,
                ack_seq: 0,
                last_fin: 0,
                last_rst: 0,
            }; 2],
            last_ts_ns: 0,
            rare: None,
            hist_seen: 0,
            st: [0; 2],
            flags: 0,
            hist_len: 0,
            hist: [0; HIST_INLINE],
        }
    }

    // ------------------------------------------------------------ accessors

    /// Zeek's `conn_state` for this connection as it stands.
    pub fn conn_state(&self) -> ConnState {
        let os = self.orig_state();
        let rs = self.resp_state();
        let inactive = |s| matches!(s, EndpointState::Inactive | EndpointState::Partial);
        let (o_inactive, r_inactive) = (inactive(os), inactive(rs));
        use EndpointState as E;
        if rs == E::Reset {
            if matches!(os, E::SynSent | E::SynAckSent)
                || (os == E::Reset && self.orig_bytes() == 0 && self.resp_bytes() == 0)
            {
                ConnState::REJ
            } else if o_inactive {
                ConnState::RSTRH
            } else {
                ConnState::RSTR
            }
        } else if os == E::Reset {
            if !r_inactive {
                ConnState::RSTO
            } else if self.rstos0_state() == RX_MATCH {
                ConnState::RSTOS0
            } else {
                ConnState::OTH
            }
        } else if rs == E::Closed && os == E::Closed {
            ConnState::SF
        } else if os == E::Closed {
            if r_inactive {
                ConnState::SH
            } else {
                ConnState::S2
            }
        } else if rs == E::Closed {
            if o_inactive {
                ConnState::SHR
            } else {
                ConnState::S3
            }
        } else if os == E::SynSent && rs == E::Inactive {
            ConnState::S0
        } else if os == E::Established && rs == E::Established {
            ConnState::S1
        } else {
            ConnState::OTH
        }
    }

    /// Zeek's `history`: uppercase letters for the originator, lowercase for
    /// the responder, in the current orientation of each letter's time.
    pub fn history(&self) -> &str {
        // Only ASCII letters and '^' are ever stored.
        let len = self.hist_len as usize;
        let bytes = match &self.rare {
            Some(r) if len > HIST_INLINE => r.hist.get(..len),
            _ => self.hist.get(..len),
        };
        std::str::from_utf8(bytes.unwrap_or(&[])).unwrap_or("")
    }

    /// Letters were dropped because the history reached [`HISTORY_CAPACITY`].
    pub fn history_truncated(&self) -> bool {
        self.flags & F_HIST_TRUNCATED != 0
    }

    /// Zeek's `orig_bytes` (`c$orig$size`): payload bytes from the
    /// originator's sequence space, 0 when it cannot be tracked.
    pub fn orig_bytes(&self) -> u64 {
        self.size(self.orig_idx())
    }

    /// Zeek's `resp_bytes`.
    pub fn resp_bytes(&self) -> u64 {
        self.size(self.orig_idx() ^ 1)
    }

    pub fn orig_state(&self) -> EndpointState {
        self.state(self.orig_idx())
    }

    pub fn resp_state(&self) -> EndpointState {
        self.state(self.orig_idx() ^ 1)
    }

    /// The handshake is over for Zeek's timers: some endpoint left the
    /// inactive/SYN/SYN-ACK states (Zeek then switches from the handshake
    /// inactivity timeout to `tcp_inactivity_timeout`). True for mid-stream
    /// (partial) connections too.
    pub fn is_established(&self) -> bool {
        !(self.state(0).is_handshake() && self.state(1).is_handshake())
    }

    /// Zeek saw the connection close completely: a RST, a FIN from both
    /// sides, or a FIN while the other side was never seen. Zeek removes the
    /// connection `tcp_close_delay` (5 s) after the last packet from then on;
    /// later packets still belong to it until then.
    pub fn is_closed(&self) -> bool {
        self.flags & F_CLOSE_COMPLETE != 0
    }

    /// A RST was seen from either side.
    pub fn saw_rst(&self) -> bool {
        self.flags & F_SAW_RST != 0
    }

    /// The originator is the receiver of the first packet (roles flipped an
    /// odd number of times).
    pub fn flipped(&self) -> bool {
        self.flags & F_FLIPPED != 0
    }

    /// Zeek's connection `last_time`: the time of the last packet fed before
    /// both sides had closed (0 when none was fed). Zeek's `duration` is this
    /// minus the first packet's time.
    pub fn last_ts_ns(&self) -> u64 {
        self.last_ts_ns
    }

    /// Zeek's `duration` given the first packet's time (0 when no packet was
    /// fed or time went backwards).
    pub fn duration_ns(&self, first_ts_ns: u64) -> u64 {
        self.last_ts_ns.saturating_sub(first_ts_ns)
    }

    // -------------------------------------------------------------- events

    /// Swaps originator and responder and records `^` (Zeek's
    /// `Connection::FlipRoles`). Call it before the first packet when
    /// [`flip_new_connection`] says so; Zeek's own later flips happen inside
    /// [`TcpConn::on_packet`].
    pub fn flip_roles(&mut self) {
        self.flags ^= F_FLIPPED;
        self.push_history(b'^');
    }

    /// Whether a packet with these flags and sequence number starts a new
    /// connection on this 5-tuple instead of belonging to this one (Zeek's
    /// `TCPSessionAdapter::IsReuse`): a SYN (or a SYN-ACK when the originator
    /// was never seen) whose sequence number differs from the initial one,
    /// or any SYN once a side has closed.
    pub fn is_reuse(&self, flags: u16, seq: u32) -> bool {
        let (syn, ack) = (flags & tcp_flags::SYN != 0, flags & tcp_flags::ACK != 0);
        if !syn {
            return false;
        }
        let o = self.orig_idx();
        let r = o ^ 1;
        let mut conn_orig = o;
        if ack {
            if self.state(o) != EndpointState::Inactive {
                return false;
            }
            conn_orig = r;
        }
        if self.st[0] & ST_DID_CLOSE != 0 || self.st[1] & ST_DID_CLOSE != 0 {
            return true;
        }
        if seq == self.ep[conn_orig].start_seq {
            return false;
        }
        // A SYN that answers a SYN-ACK seen first: a reordered handshake.
        !(!ack
            && self.state(conn_orig) == EndpointState::SynAckSent
            && self.state(r) == EndpointState::Inactive
            && seq == self.ep[r].start_seq)
    }

    /// A packet whose TCP checksum failed: Zeek records `C`/`c` (scaled:
    /// the 1st, 10th, 100th … time) and otherwise ignores the packet.
    pub fn on_bad_checksum(&mut self, from_orig: bool) {
        let i = self.phys(from_orig);
        self.scaled(i, K_CHECKSUM);
    }

    /// A content gap found by a reassembler in `from_orig`'s stream: `G`/`g`
    /// (scaled), recorded only while both endpoints are established or
    /// cleanly closing, as Zeek does.
    pub fn on_content_gap(&mut self, from_orig: bool) {
        use EndpointState as E;
        let clean = |i| {
            self.state(i) == E::Established
                || (self.state(i) == E::Closed && self.prev_state(i) == E::Established)
        };
        if clean(0) && clean(1) {
            let i = self.phys(from_orig);
            self.scaled(i, K_GAP);
        }
    }

    /// Feeds one TCP packet (`flags` as in [`tcp_flags`]; only the low 8 bits
    /// count, as in Zeek). Returns `true` when Zeek flipped the roles while
    /// processing it: the sender is now on the `!from_orig` side (see the
    /// module docs).
    #[allow(clippy::too_many_arguments)]
    pub fn on_packet(
        &mut self,
        from_orig: bool,
        ts_ns: u64,
        flags: u16,
        seq: u32,
        ack: u32,
        payload_len: u32,
        window: u16,
    ) -> bool {
        let was_flipped = self.flags & F_FLIPPED;
        let f = Flags(flags & 0xff);
        let e = self.phys(from_orig);
        let p = e ^ 1;
        let len = payload_len;

        // Sequence space this segment consumes: SYN and FIN one each; a
        // RST's payload is not part of the stream.
        let mut seg_len = len.wrapping_add(f.syn() as u32 + f.fin() as u32);
        if f.rst() {
            seg_len = seg_len.wrapping_sub(len);
        }
        let seq_end = seq.wrapping_add(seg_len);

        self.init_endpoint(e, f, seq, seq_end);
        let rel_seq = seq.wrapping_sub(self.ep[e].start_seq);
        // May flip the roles (a SYN-ACK seen first, then an ACK or data).
        self.update_history(e, f, rel_seq, len);
        if window == 0
            && !f.rst()
            && self.state(p) != EndpointState::Closed
            && self.state(e) != EndpointState::Reset
        {
            self.scaled(e, K_WIN0);
        }
        if self.st[0] & self.st[1] & ST_DID_CLOSE == 0 {
            self.last_ts_ns = ts_ns;
        }
        if f.fin() {
            self.st[e] |= ST_FIN_SEEN;
        }
        if f.rst() {
            self.flags |= F_SAW_RST;
        }
        if f.ack() {
            if self.state(p) == EndpointState::Inactive {
                // Number the peer as if its SYN had been seen.
                let s = ack.wrapping_sub(1);
                let ep = &mut self.ep[p];
                (ep.start_seq, ep.ack_seq, ep.last_seq) = (s, s, s);
            } else if !self.ack_underflow(p, ack) && !f.rst() {
                // Acks in RSTs are not trusted.
                self.update_ack_seq(p, ack);
            }
        }
        // Zeek passes the sender's role as it was when the packet arrived,
        // even if update_history flipped the roles.
        self.update_last_seq(e, seq_end, f, len);
        if self.update_state_machine(e, seq, len, from_orig, f) {
            self.connection_closed(e);
        }
        self.flags & F_FLIPPED != was_flipped
    }

    // -------------------------------------------------------------- internals

    fn orig_idx(&self) -> usize {
        (self.flags & F_FLIPPED) as usize
    }

    /// Physical endpoint of a sender given in the current orientation.
    fn phys(&self, from_orig: bool) -> usize {
        self.orig_idx() ^ (!from_orig as usize)
    }

    fn is_orig_now(&self, i: usize) -> bool {
        i == self.orig_idx()
    }

    fn state(&self, i: usize) -> EndpointState {
        EndpointState::from_bits(self.st[i])
    }

    fn prev_state(&self, i: usize) -> EndpointState {
        EndpointState::from_bits(self.st[i] >> ST_PREV_SHIFT)
    }

    fn set_state(&mut self, i: usize, s: EndpointState) {
        let cur = self.st[i] & 0b111;
        if s as u8 != cur {
            self.st[i] =
                (self.st[i] & (ST_FIN_SEEN | ST_DID_CLOSE)) | (cur << ST_PREV_SHIFT) | s as u8;
        }
    }

    fn seq_wraps(&self, i: usize) -> u32 {
        self.rare.as_ref().map_or(0, |r| r.seq_wraps[i])
    }

    fn ack_wraps(&self, i: usize) -> u32 {
        self.rare.as_ref().map_or(0, |r| r.ack_wraps[i])
    }

    fn last_syn(&self, i: usize) -> u32 {
        self.rare.as_ref().map_or(0, |r| r.last_syn[i])
    }

    fn rare_mut(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }

    /// Zeek's `TCP_Endpoint::Size`.
    fn size(&self, i: usize) -> u64 {
        let ep = &self.ep[i];
        let ack64 = ((self.ack_wraps(i) as u64) << 32) | ep.ack_seq as u64;
        let start = ep.start_seq as u64;
        if self.prev_state(i) == EndpointState::SynSent
            && self.state(i) == EndpointState::Reset
            && self.state(i ^ 1) == EndpointState::Inactive
            && !(ack64 == start || ack64 == start + 1)
        {
            // A half-open connection found and aborted: the sequence
            // numbers say nothing about data.
            return 0;
        }
        let last64 = ((self.seq_wraps(i) as u64) << 32) | ep.last_seq as u64;
        // Neither the SYN nor the FIN octet is data.
        let size = last64.max(ack64).wrapping_sub(start).saturating_sub(1);
        if self.st[i] & ST_FIN_SEEN != 0 {
            size.saturating_sub(1)
        } else {
            size
        }
    }

    fn push_history(&mut self, c: u8) {
        let len = self.hist_len as usize;
        if len < HIST_INLINE {
            self.hist[len] = c;
            self.hist_len += 1;
        } else if len < HISTORY_CAPACITY {
            let inline = self.hist;
            let rare = self.rare_mut();
            if len == HIST_INLINE {
                rare.hist[..HIST_INLINE].copy_from_slice(&inline);
            }
            rare.hist[len] = c;
            self.hist_len += 1;
        } else {
            self.flags |= F_HIST_TRUNCATED;
        }
        let rx = match (self.rstos0_state(), c) {
            (RX_START, b'^') => RX_CARET,
            (RX_START | RX_CARET, b'S') => RX_AFTER_S,
            (RX_START | RX_CARET, _) => RX_DEAD,
            (RX_AFTER_S, b'R') => RX_MATCH,
            (RX_AFTER_S, b'H' | b'A' | b'F' | b'G' | b'I' | b'Q') => RX_DEAD,
            (s, _) => s,
        };
        self.flags = (self.flags & !F_RSTOS0_MASK) | (rx << F_RSTOS0_SHIFT);
    }

    fn rstos0_state(&self) -> u8 {
        (self.flags & F_RSTOS0_MASK) >> F_RSTOS0_SHIFT
    }

    /// Zeek's `TCP_Endpoint::AddHistory`: the letter in the endpoint's case.
    fn add_history(&mut self, i: usize, code: u8) {
        let c = if self.is_orig_now(i) {
            code
        } else {
            code.to_ascii_lowercase()
        };
        self.push_history(c);
    }

    /// Zeek's `TCP_Endpoint::CheckHistory`: records `code` unless its mask
    /// was seen; returns whether it was. Flips the roles of a connection
    /// that began with a SYN-ACK once an ACK or data shows up.
    fn check_history(&mut self, i: usize, mask: u16, code: u8) -> bool {
        if (code == b'A' || code == b'D') && self.history() == "H" {
            self.flip_roles();
            // "H^" becomes "^h", as if the missing SYN had been seen.
            self.hist_len = 0;
            self.flags &= !(F_RSTOS0_MASK | F_HIST_TRUNCATED);
            self.push_history(b'^');
            self.push_history(b'h');
        }
        let (mask, code) = if self.is_orig_now(i) {
            (mask, code)
        } else {
            (mask << 8, code.to_ascii_lowercase())
        };
        if self.hist_seen & mask == 0 {
            self.hist_seen |= mask;
            self.push_history(code);
            false
        } else {
            true
        }
    }

    /// Zeek's `Session::ScaledHistoryEntry` (base 10).
    fn scaled(&mut self, i: usize, kind: usize) {
        let rare = self.rare_mut();
        rare.count[i][kind] = rare.count[i][kind].wrapping_add(1);
        if rare.count[i][kind] != rare.threshold[i][kind] {
            return;
        }
        let next = rare.threshold[i][kind].wrapping_mul(10);
        if next <= rare.threshold[i][kind] {
            // Wrapped: restart the count, keep the threshold.
            rare.count[i][kind] = 0;
        } else {
            rare.threshold[i][kind] = next;
        }
        self.add_history(i, SCALED_LETTER[kind]);
    }

    /// Zeek's `init_endpoint`.
    fn init_endpoint(&mut self, i: usize, f: Flags, seq: u32, seq_end: u32) {
        let state = self.state(i);
        let prev = self.prev_state(i);
        let ep = &mut self.ep[i];
        match state {
            EndpointState::Inactive => {
                if f.syn() {
                    (ep.start_seq, ep.ack_seq, ep.last_seq) = (seq, seq, seq_end);
                } else {
                    // A partial connection: number it as if a SYN had been
                    // seen, without marking this packet a duplicate.
                    let s = seq.wrapping_sub(1);
                    (ep.start_seq, ep.ack_seq, ep.last_seq) = (s, s, seq);
                }
            }
            EndpointState::SynSent | EndpointState::SynAckSent => {
                if f.syn() && seq != ep.start_seq {
                    (ep.start_seq, ep.ack_seq, ep.last_seq) = (seq, seq, seq_end);
                }
            }
            EndpointState::Established | EndpointState::Partial => {
                if f.syn() {
                    (ep.start_seq, ep.ack_seq, ep.last_seq) = (seq, seq, seq_end);
                }
            }
            EndpointState::Reset => {
                // A SYN after a RST that initialized the numbering: the RST
                // may have been injected, so start over.
                if f.syn() && prev == EndpointState::Inactive {
                    (ep.start_seq, ep.ack_seq, ep.last_seq) = (seq, seq, seq_end);
                }
            }
            EndpointState::Closed => {}
        }
    }

    /// Zeek's `update_history`.
    fn update_history(&mut self, i: usize, f: Flags, rel_seq: u32, len: u32) {
        let bits = f.syn() as u8 + f.fin() as u8 + f.rst() as u8;
        if bits > 1 {
            if f.fin() && f.rst() {
                self.check_history(i, H_FIN_RST, b'I');
            } else {
                self.check_history(i, H_MULTI, b'Q');
            }
        } else if bits == 1 {
            if f.syn() {
                let code = if f.ack() { b'H' } else { b'S' };
                if self.check_history(i, H_SYN, code) && rel_seq != self.last_syn(i) {
                    self.add_history(i, code);
                }
                if rel_seq != self.last_syn(i) {
                    self.rare_mut().last_syn[i] = rel_seq;
                }
            }
            if f.fin() {
                // A FIN's number comes after the data it carries.
                let fin_seq = rel_seq.wrapping_add(len);
                if self.check_history(i, H_FIN, b'F') && fin_seq != self.ep[i].last_fin {
                    self.add_history(i, b'F');
                }
                self.ep[i].last_fin = fin_seq;
            }
            if f.rst() {
                if self.check_history(i, H_RST, b'R') && rel_seq != self.ep[i].last_rst {
                    self.add_history(i, b'R');
                }
                self.ep[i].last_rst = rel_seq;
            }
        } else if len > 0 {
            self.check_history(i, H_DATA, b'D');
        } else if f.ack() {
            self.check_history(i, H_ACK, b'A');
        }
    }

    /// Zeek's `get_relative_seq` underflow test for an ack of `p`'s data.
    fn ack_underflow(&self, p: usize, ack: u32) -> bool {
        let last = self.ep[p].ack_seq;
        let mut wraps = self.ack_wraps(p);
        let delta = seq_delta(ack, last);
        if delta < 0 {
            if wraps != 0 && ack > last {
                wraps -= 1;
            }
        } else if delta > 0 && ack < last {
            wraps = wraps.wrapping_add(1);
        }
        wraps == 0 && seq_delta(ack, self.ep[p].start_seq) < 0
    }

    /// Zeek's `update_ack_seq`.
    fn update_ack_seq(&mut self, p: usize, ack: u32) {
        let delta = seq_delta(ack, self.ep[p].ack_seq);
        // An ack of 0 far ahead is more likely broken than a wrap.
        if ack == 0 && delta > TOO_LARGE_SEQ_DELTA {
            return;
        }
        if delta > 0 {
            if ack < self.ep[p].ack_seq {
                let r = self.rare_mut();
                r.ack_wraps[p] = r.ack_wraps[p].wrapping_add(1);
            }
            self.ep[p].ack_seq = ack;
        }
    }

    fn set_last_seq(&mut self, i: usize, seq: u32) {
        if seq < self.ep[i].last_seq {
            let r = self.rare_mut();
            r.seq_wraps[i] = r.seq_wraps[i].wrapping_add(1);
        }
        self.ep[i].last_seq = seq;
    }

    /// Zeek's `update_last_seq`.
    fn update_last_seq(&mut self, i: usize, seq_end: u32, f: Flags, len: u32) {
        let delta = seq_delta(seq_end, self.ep[i].last_seq);
        let ep = self.ep[i];
        if (f.syn() || f.rst()) && !(-TOO_LARGE_SEQ_DELTA..=TOO_LARGE_SEQ_DELTA).contains(&delta) {
            // Implausible jump in a SYN or RST: ignore its number.
        } else if f.fin() && ep.last_seq == ep.start_seq.wrapping_add(1) {
            // Only the SYN seen so far: trust the FIN even backwards
            // (connections over 2 GB seen by SYN and FIN only).
            self.set_last_seq(i, seq_end);
        } else if self.state(i) == EndpointState::Reset {
            // Nothing after a RST is trusted.
        } else if delta > 0 {
            self.set_last_seq(i, seq_end);
        } else if len > 0 {
            self.scaled(i, K_RXMIT);
        }
    }

    /// Zeek's `UpdateStateMachine` (events and weirds left out); returns
    /// whether the sender closed (Zeek's `do_close`).
    fn update_state_machine(
        &mut self,
        e: usize,
        seq: u32,
        len: u32,
        is_orig: bool,
        f: Flags,
    ) -> bool {
        use EndpointState as E;
        let p = e ^ 1;
        let mut do_close = false;
        match self.state(e) {
            E::Inactive => {
                if f.syn() {
                    if is_orig {
                        self.set_state(e, if f.ack() { E::SynAckSent } else { E::SynSent });
                    } else {
                        if !f.ack() && self.state(p) == E::SynAckSent && seq == self.ep[e].start_seq
                        {
                            // The SYN arrived after the SYN-ACK: flip and
                            // establish.
                            self.flip_roles();
                            self.set_state(p, E::Established);
                        }
                        if self.state(p) == E::SynSent {
                            self.set_state(p, E::Established);
                        }
                        self.set_state(e, E::Established);
                    }
                }
                if f.fin() {
                    self.set_state(e, E::Closed);
                    do_close = true;
                }
                if f.rst() {
                    self.set_state(e, E::Reset);
                    do_close = true;
                }
                if self.state(e) == E::Inactive {
                    let orig_state = self.state(self.orig_idx());
                    if !is_orig && len == 0 && orig_state == E::SynSent {
                        // An ack of the SYN before the SYN-ACK: not partial.
                    } else if f.ack() && self.state(p) == E::Established {
                        // The SYN was missed, the SYN-ACK seen: establish.
                        self.set_state(e, E::Established);
                    } else {
                        self.set_state(e, E::Partial);
                    }
                }
            }
            E::SynSent | E::SynAckSent => {
                if f.fin() {
                    self.set_state(e, E::Closed);
                    do_close = true;
                }
                if f.rst() {
                    self.set_state(e, E::Reset);
                    do_close = true;
                }
            }
            E::Established | E::Partial => {
                if f.syn()
                    && self.state(e) == E::Partial
                    && self.state(p) == E::Inactive
                    && !f.ack()
                {
                    self.set_state(e, E::SynSent);
                }
                if f.fin() && !f.rst() {
                    self.set_state(e, E::Closed);
                    if self.state(p) == E::Reset && self.prev_state(p) == E::Closed {
                        // FIN then RST from the peer: a normal close after all.
                        self.set_state(p, E::Closed);
                    }
                    do_close = true;
                }
                if f.rst() {
                    self.set_state(e, E::Reset);
                    do_close = true;
                }
            }
            E::Closed => {
                // A RST after our FIN counts unless both sides had closed.
                if f.rst() && self.state(p) != E::Closed {
                    self.set_state(e, E::Reset);
                    if self.st[e] & ST_DID_CLOSE == 0 {
                        do_close = true;
                    }
                }
            }
            E::Reset => {}
        }
        do_close
    }

    /// Zeek's `ConnectionClosed` (without reassembly, nothing is pending).
    fn connection_closed(&mut self, e: usize) {
        if self.st[e] & ST_DID_CLOSE != 0 {
            return;
        }
        self.st[e] |= ST_DID_CLOSE;
        let p = e ^ 1;
        if self.state(e) == EndpointState::Reset
            || self.st[p] & ST_DID_CLOSE != 0
            || self.state(p) == EndpointState::Inactive
        {
            self.flags |= F_CLOSE_COMPLETE;
        }
    }
}

#[derive(Clone, Copy)]
struct Flags(u16);

impl Flags {
    fn syn(self) -> bool {
        self.0 & tcp_flags::SYN != 0
    }
    fn fin(self) -> bool {
        self.0 & tcp_flags::FIN != 0
    }
    fn rst(self) -> bool {
        self.0 & tcp_flags::RST != 0
    }
    fn ack(self) -> bool {
        self.0 & tcp_flags::ACK != 0
    }
}

/// Whether Zeek flips the roles of a new connection at its first packet
/// (`TCPAnalyzer::WantConnection`, with the default `partial_connection_ok`
/// and `tcp_SYN_ack_ok`): only when that packet is not a plain SYN and its
/// source port is a likely server port — and, if the destination port is
/// one too, only for a non-SYN packet whose source port is the smaller.
/// Zeek does not flip when the destination (the would-be originator) is the
/// IPv4 broadcast address 255.255.255.255; the caller checks that.
pub fn flip_new_connection(
    flags: u16,
    src_port: u16,
    dst_port: u16,
    is_likely_server_port: impl Fn(u16) -> bool,
) -> bool {
    let (syn, ack) = (flags & tcp_flags::SYN != 0, flags & tcp_flags::ACK != 0);
    if syn && !ack {
        return false;
    }
    if !is_likely_server_port(src_port) {
        return false;
    }
    if is_likely_server_port(dst_port) {
        !syn && src_port < dst_port
    } else {
        true
    }
}

/// End of the IP packet (per its length field) in the frame, and whether it
/// is IPv4. IPv4 with total length 0 (segmentation offload) ends with the
/// captured bytes, as in Zeek.
fn ip_end(data: &[u8], info: &PacketInfo) -> Option<(usize, bool)> {
    let l3 = info.l3_offset as usize;
    let be16 = |at: usize| -> Option<usize> {
        let b = data.get(at..at + 2)?;
        Some(u16::from_be_bytes([b[0], b[1]]) as usize)
    };
    match info.net {
        Net::Ipv4 => match be16(l3 + 2)? {
            0 => Some((data.len(), true)),
            total => Some((l3 + total, true)),
        },
        Net::Ipv6 => Some((l3 + 40 + be16(l3 + 4)?, false)),
        _ => None,
    }
}

/// The TCP segment: header offset and length of header plus payload by the
/// IP length fields.
fn tcp_segment(data: &[u8], info: &PacketInfo) -> Option<(usize, usize, bool)> {
    if info.transport != Transport::Tcp || info.l4_offset == 0 {
        return None;
    }
    let (end, v4) = ip_end(data, info)?;
    let l4 = info.l4_offset as usize;
    Some((l4, end.checked_sub(l4)?, v4))
}

/// The TCP payload length on the wire, from the IP length fields (what Zeek
/// calls `len`; the captured payload may be shorter). `None` when the packet
/// has no decoded TCP header.
pub fn tcp_payload_len(data: &[u8], info: &PacketInfo) -> Option<u32> {
    let (l4, seg, _) = tcp_segment(data, info)?;
    let hdr = (*data.get(l4 + 12)? >> 4) as usize * 4;
    Some(seg.checked_sub(hdr)? as u32)
}

/// Whether the TCP checksum is right; `None` when it cannot be checked
/// (no TCP header, or the snaplen cut the segment — Zeek checks only whole
/// segments).
pub fn tcp_checksum_ok(data: &[u8], info: &PacketInfo) -> Option<bool> {
    let (l4, seg, v4) = tcp_segment(data, info)?;
    let bytes = data.get(l4..l4.checked_add(seg)?)?;
    let mut sum: u64 = 0;
    let mut add = |b: &[u8]| {
        let mut chunks = b.chunks_exact(2);
        for c in &mut chunks {
            sum += u16::from_be_bytes([c[0], c[1]]) as u64;
        }
        if let [last] = chunks.remainder() {
            sum += (*last as u64) << 8;
        }
    };
    if v4 {
        add(&info.src[..4]);
        add(&info.dst[..4]);
    } else {
        add(&info.src);
        add(&info.dst);
    }
    add(&[0, 6]);
    add(&(seg as u32).to_be_bytes());
    add(bytes);
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    Some(sum == 0xffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: u16 = tcp_flags::FIN;
    const S: u16 = tcp_flags::SYN;
    const R: u16 = tcp_flags::RST;
    const P: u16 = tcp_flags::PSH;
    const A: u16 = tcp_flags::ACK;

    /// A scripted conversation between a client (ISN `c`) and a server
    /// (ISN `s`) that keeps sequence/ack numbers consistent and tracks which
    /// of them is the originator, as a caller would.
    struct Talk {
        conn: TcpConn,
        client_is_orig: bool,
        c_seq: u32,
        s_seq: u32,
        ts: u64,
    }

    impl Talk {
        fn new(c: u32, s: u32) -> Self {
            Talk {
                conn: TcpConn::new(),
                client_is_orig: true,
                c_seq: c,
                s_seq: s,
                ts: 1_000,
            }
        }

        /// The server's packet comes first: it starts as the originator.
        fn server_first(c: u32, s: u32) -> Self {
            Talk {
                client_is_orig: false,
                ..Talk::new(c, s)
            }
        }

        /// The caller's creation-time flip (likely server port).
        fn flip(&mut self) {
            self.conn.flip_roles();
            self.client_is_orig = !self.client_is_orig;
        }

        fn feed(
            &mut self,
            client: bool,
            flags: u16,
            seq: u32,
            ack: u32,
            len: u32,
            win: u16,
        ) -> bool {
            self.ts += 1_000;
            let from_orig = client == self.client_is_orig;
            let flipped = self
                .conn
                .on_packet(from_orig, self.ts, flags, seq, ack, len, win);
            if flipped {
                self.client_is_orig = !self.client_is_orig;
            }
            flipped
        }

        /// `client` (or the server) sends; numbers advance by the segment.
        fn send(&mut self, client: bool, flags: u16, len: u32) -> bool {
            self.send_win(client, flags, len, 1024)
        }

        fn send_win(&mut self, client: bool, flags: u16, len: u32, win: u16) -> bool {
            let (seq, ack) = if client {
                (self.c_seq, self.s_seq)
            } else {
                (self.s_seq, self.c_seq)
            };
            let ack = if flags & A != 0 { ack } else { 0 };
            let flipped = self.feed(client, flags, seq, ack, len, win);
            let adv = len.wrapping_add((flags & S != 0) as u32 + (flags & F != 0) as u32);
            if flags & R == 0 {
                if client {
                    self.c_seq = self.c_seq.wrapping_add(adv);
                } else {
                    self.s_seq = self.s_seq.wrapping_add(adv);
                }
            }
            flipped
        }

        /// A packet with explicit numbers (retransmissions, odd numbers).
        fn raw(&mut self, client: bool, flags: u16, seq: u32, ack: u32, len: u32) -> bool {
            self.feed(client, flags, seq, ack, len, 1024)
        }

        fn handshake(&mut self) {
            self.send(true, S, 0);
            self.send(false, S | A, 0);
            self.send(true, A, 0);
        }

        fn check(&self, state: ConnState, history: &str) {
            assert_eq!(
                (self.conn.conn_state(), self.conn.history()),
                (state, history),
                "{:?}",
                self.conn
            );
        }
    }

    #[test]
    fn small() {
        assert_eq!(std::mem::size_of::<TcpConn>(), 80);
    }

    #[test]
    fn sf_full_connection() {
        let mut t = Talk::new(1000, 5000);
        t.handshake();
        assert!(t.conn.is_established());
        t.send(true, P | A, 100);
        t.send(false, A, 0);
        t.send(false, P | A, 300);
        t.send(true, A, 0);
        t.send(true, F | A, 0);
        assert!(!t.conn.is_closed());
        t.send(false, F | A, 0);
        assert!(t.conn.is_closed());
        t.send(true, A, 0);
        t.check(ConnState::SF, "ShADadFf");
        assert_eq!((t.conn.orig_bytes(), t.conn.resp_bytes()), (100, 300));
        assert!(!t.conn.saw_rst() && !t.conn.flipped());
        // Packets at 2 µs … 11 µs; the final ACK comes after both FINs and
        // is not in Zeek's duration.
        assert_eq!(t.conn.last_ts_ns(), 10_000);
        assert_eq!(t.conn.duration_ns(2_000), 8_000);
    }

    #[test]
    fn s0_attempt_only() {
        let mut t = Talk::new(1, 2);
        t.send(true, S, 0);
        assert!(!t.conn.is_established() && !t.conn.is_closed());
        t.check(ConnState::S0, "S");
        // A retransmitted SYN (same number): no letter, same connection.
        assert!(!t.conn.is_reuse(S, 1));
        t.raw(true, S, 1, 0, 0);
        t.check(ConnState::S0, "S");
        assert_eq!((t.conn.orig_bytes(), t.conn.resp_bytes()), (0, 0));
        // A SYN with another number starts a new connection.
        assert!(t.conn.is_reuse(S, 77));
        assert!(!t.conn.is_reuse(A, 77));
    }

    #[test]
    fn s1_established() {
        let mut t = Talk::new(10, 20);
        t.handshake();
        t.send(true, P | A, 5);
        t.send(false, A, 0);
        t.send(false, P | A, 7);
        t.check(ConnState::S1, "ShADad");
        assert_eq!((t.conn.orig_bytes(), t.conn.resp_bytes()), (5, 7));
        assert_eq!(t.conn.orig_state(), EndpointState::Established);
        assert_eq!(t.conn.resp_state().as_str(), "TCP_ESTABLISHED");
        // The SYN-ACK again is not a reuse; any SYN after a close is.
        assert!(!t.conn.is_reuse(S | A, 20));
        t.send(true, F | A, 0);
        assert!(t.conn.is_reuse(S, 10));
    }

    #[test]
    fn rej_syn_answered_by_rst() {
        let mut t = Talk::new(10, 0);
        t.send(true, S, 0);
        t.raw(false, R | A, 0, 11, 0);
        t.check(ConnState::REJ, "Sr");
        assert!(t.conn.is_closed() && t.conn.saw_rst());
    }

    #[test]
    fn s2_and_s3_one_sided_close() {
        let mut t = Talk::new(10, 20);
        t.handshake();
        t.send(true, F | A, 0);
        t.check(ConnState::S2, "ShAF");
        assert!(!t.conn.is_closed());

        let mut t = Talk::new(10, 20);
        t.handshake();
        t.send(false, F | A, 0);
        t.check(ConnState::S3, "ShAf");
    }

    #[test]
    fn rsto_and_rstr() {
        let mut t = Talk::new(10, 20);
        t.handshake();
        t.send(true, P | A, 10);
        t.send(true, R | A, 0);
        t.check(ConnState::RSTO, "ShADR");
        assert!(t.conn.is_closed());
        assert_eq!(t.conn.orig_bytes(), 10);

        let mut t = Talk::new(10, 20);
        t.handshake();
        t.send(false, R, 0);
        t.check(ConnState::RSTR, "ShAr");
    }

    #[test]
    fn rstos0_syn_then_rst() {
        let mut t = Talk::new(10, 20);
        t.send(true, S, 0);
        t.send(true, R, 0);
        t.check(ConnState::RSTOS0, "SR");
        // Not when the originator's history has an A between S and R.
        let mut t = Talk::new(10, 20);
        t.send(true, S, 0);
        t.raw(true, A, 11, 99, 0);
        t.raw(true, R, 11, 0, 0);
        t.check(ConnState::OTH, "SAR");
    }

    #[test]
    fn rstrh_synack_then_rst() {
        // A SYN-ACK from port 80 seen first: Zeek flips at creation.
        let mut t = Talk::server_first(10, 20);
        t.flip();
        t.raw(false, S | A, 20, 11, 0);
        t.raw(false, R, 21, 0, 0);
        t.check(ConnState::RSTRH, "^hr");
    }

    #[test]
    fn sh_and_shr_half_open_close() {
        let mut t = Talk::new(10, 20);
        t.send(true, S, 0);
        t.send(true, F, 0);
        t.check(ConnState::SH, "SF");
        // A FIN while the peer was never seen completes the close.
        assert!(t.conn.is_closed());

        let mut t = Talk::server_first(10, 20);
        t.flip();
        t.raw(false, S | A, 20, 11, 0);
        t.raw(false, F | A, 21, 11, 0);
        t.check(ConnState::SHR, "^hf");
    }

    #[test]
    fn oth_midstream() {
        let mut t = Talk::new(100, 200);
        t.send(true, P | A, 50);
        t.send(false, A, 0);
        t.check(ConnState::OTH, "Da");
        assert!(t.conn.is_established());
        assert_eq!(t.conn.orig_state(), EndpointState::Partial);
        // Sizes count from the first packet as if a SYN preceded it.
        assert_eq!((t.conn.orig_bytes(), t.conn.resp_bytes()), (50, 0));
    }

    #[test]
    fn synack_first_then_ack_flips_in_history() {
        // Zeek does not flip a lone SYN-ACK (it may be a stealth scan) but
        // does once an ACK or data follows: "H" becomes "^h".
        let mut t = Talk::server_first(1000, 9000);
        assert!(!t.raw(false, S | A, 9000, 1001, 0));
        t.check(ConnState::OTH, "H");
        assert!(t.raw(true, A, 1001, 9001, 0));
        assert!(t.conn.flipped() && t.client_is_orig);
        // The ACK is recorded after the rewrite, as the originator's.
        t.check(ConnState::OTH, "^hA");
        assert_eq!(t.conn.orig_state(), EndpointState::Partial);
        assert_eq!(t.conn.resp_state(), EndpointState::SynAckSent);
    }

    #[test]
    fn synack_then_syn_reordered_handshake() {
        // Like handshake-reorder.pcap: the SYN-ACK is captured before the
        // SYN. Zeek's history: "Hs^" then the rest in the new orientation.
        let mut t = Talk::server_first(1000, 9000);
        t.raw(false, S | A, 9000, 1001, 0);
        assert!(t.raw(true, S, 1000, 0, 0));
        assert!(t.client_is_orig);
        t.check(ConnState::S1, "Hs^");
        assert_eq!(t.conn.orig_state(), EndpointState::Established);
        assert_eq!(t.conn.resp_state(), EndpointState::Established);
        t.raw(true, A, 1001, 9001, 0);
        t.raw(true, P | A, 1001, 9001, 20);
        t.raw(false, A, 9001, 1021, 0);
        t.raw(false, P | A, 9001, 1021, 30);
        t.raw(true, F | A, 1021, 9031, 0);
        t.raw(false, F | A, 9031, 1022, 0);
        t.check(ConnState::SF, "Hs^ADadFf");
        assert_eq!((t.conn.orig_bytes(), t.conn.resp_bytes()), (20, 30));
    }

    #[test]
    fn flip_decision_at_creation() {
        let likely = |p: u16| p == 80;
        assert!(flip_new_connection(S | A, 80, 6705, likely));
        assert!(flip_new_connection(P | A, 80, 6705, likely));
        assert!(!flip_new_connection(S, 80, 6705, likely));
        assert!(!flip_new_connection(S | A, 6705, 80, likely));
        // Both ports likely: only a non-SYN from the smaller port flips.
        let both = |p: u16| p == 80 || p == 8080;
        assert!(!flip_new_connection(S | A, 80, 8080, both));
        assert!(flip_new_connection(A, 80, 8080, both));
        assert!(!flip_new_connection(A, 8080, 80, both));
        let default = |p: u16| ZEEK_DEFAULT_LIKELY_SERVER_PORTS.contains(&p);
        assert!(flip_new_connection(P | A, 443, 50000, default));
        assert!(!flip_new_connection(P | A, 50000, 443, default));
    }

    #[test]
    fn retransmissions_scale_by_ten() {
        let mut t = Talk::new(10, 20);
        t.handshake();
        t.send(true, P | A, 100);
        for n in 1..=1000 {
            t.raw(true, P | A, 11, 21, 100);
            let want = match n {
                1..=9 => "ShADT",
                10..=99 => "ShADTT",
                100..=999 => "ShADTTT",
                _ => "ShADTTTT",
            };
            assert_eq!(t.conn.history(), want, "after {n} retransmissions");
        }
        // The responder's count separately, in lowercase.
        t.send(false, P | A, 10);
        t.raw(false, P | A, 21, 111, 10);
        t.check(ConnState::S1, "ShADTTTTdt");
        assert_eq!((t.conn.orig_bytes(), t.conn.resp_bytes()), (100, 10));
    }

    #[test]
    fn zero_window_checksum_and_gap_letters() {
        let mut t = Talk::new(10, 20);
        t.handshake();
        t.send_win(false, A, 0, 0);
        t.check(ConnState::S1, "ShAaw");
        t.conn.on_bad_checksum(true);
        t.conn.on_content_gap(false);
        assert_eq!(t.conn.history(), "ShAawCg");
        for _ in 0..9 {
            t.conn.on_bad_checksum(true);
        }
        assert_eq!(t.conn.history(), "ShAawCgC");
        // No gap letters before the connection is established.
        let mut t = Talk::new(10, 20);
        t.send(true, S, 0);
        t.conn.on_content_gap(true);
        assert_eq!(t.conn.history(), "S");
        // A zero window in a RST is not interesting.
        let mut t = Talk::new(10, 20);
        t.handshake();
        t.send_win(true, R, 0, 0);
        t.check(ConnState::RSTO, "ShAR");
    }

    #[test]
    fn multi_flag_letters_once() {
        let mut t = Talk::new(10, 20);
        t.raw(true, S | F, 10, 0, 0);
        t.raw(true, F | R, 11, 0, 0);
        t.raw(true, S | F, 10, 0, 0);
        t.raw(true, F | R, 11, 0, 0);
        assert_eq!(t.conn.history(), "QI");
    }

    #[test]
    fn control_letters_repeat_at_new_numbers() {
        let mut t = Talk::new(10, 20);
        t.handshake();
        t.send(true, F | A, 0);
        // A retransmitted FIN (same number): no letter.
        t.raw(true, F | A, 11, 21, 0);
        assert_eq!(t.conn.history(), "ShAF");
        // A FIN at a new number (after 5 more bytes): F again.
        t.raw(true, F | A, 11, 21, 5);
        assert_eq!(t.conn.history(), "ShAFF");
        // A new SYN renumbers a SYN_SENT endpoint (relative number 0, so no
        // letter) but not a reset one.
        let mut t = Talk::new(10, 20);
        t.send(true, S, 0);
        t.raw(true, S, 99, 0, 0);
        assert_eq!(t.conn.history(), "S");
        t.raw(true, R, 100, 0, 0);
        t.raw(true, S, 5000, 0, 0);
        assert_eq!(t.conn.history(), "SRS");
        // RSTs at new numbers repeat too.
        t.raw(true, R, 6000, 0, 0);
        t.raw(true, R, 6000, 0, 0);
        assert_eq!(t.conn.history(), "SRSR");
    }

    #[test]
    fn sequence_wraparound_in_byte_counts() {
        // The client's ISN is just below 2^32: its 300 bytes cross the wrap.
        let mut t = Talk::new(u32::MAX - 100, 5);
        t.handshake();
        t.send(true, P | A, 200);
        t.send(false, A, 0);
        t.send(true, P | A, 100);
        t.send(false, A, 0);
        t.send(true, F | A, 0);
        t.send(false, F | A, 0);
        t.check(ConnState::SF, "ShADaFf");
        assert_eq!((t.conn.orig_bytes(), t.conn.resp_bytes()), (300, 0));

        // Over 4 GiB: the sequence space wraps three times.
        let mut t = Talk::new(7, 5);
        t.handshake();
        let total: u64 = 3 * (1 << 32) + 12_345;
        let mut sent = 0u64;
        while sent < total {
            let n = (total - sent).min(1 << 20) as u32;
            t.send(true, A, n);
            t.send(false, A, 0);
            sent += n as u64;
        }
        t.send(true, F | A, 0);
        t.send(false, F | A, 0);
        t.check(ConnState::SF, "ShADaFf");
        assert_eq!((t.conn.orig_bytes(), t.conn.resp_bytes()), (total, 0));
    }

    #[test]
    fn half_open_rst_reports_no_size() {
        // SYN; the peer acks far ahead without a SYN-ACK (it stays inactive);
        // then a RST: Zeek reports 0 bytes rather than the jump.
        let mut t = Talk::new(10, 76);
        t.send(true, S, 0);
        t.raw(false, A, 77, 500, 0);
        assert_eq!(t.conn.resp_state(), EndpointState::Inactive);
        t.raw(true, R, 11, 0, 0);
        t.check(ConnState::RSTOS0, "SaR");
        assert_eq!(t.conn.orig_bytes(), 0);
    }

    #[test]
    fn history_is_bounded() {
        let mut t = Talk::new(10, 20);
        t.send(true, S, 0);
        for i in 0..40u32 {
            t.raw(true, R, 11 + i * 7, 0, 0);
        }
        assert_eq!(t.conn.history().len(), HISTORY_CAPACITY);
        assert!(t.conn.history_truncated());
        assert_eq!(&t.conn.history()[..2], "SR");
        assert_eq!(t.conn.conn_state(), ConnState::RSTOS0);
        // The RSTOS0 pattern sees letters beyond the capacity too.
        let mut c = TcpConn::new();
        c.push_history(b'S');
        for _ in 0..30 {
            c.push_history(b'T');
        }
        assert_eq!(c.rstos0_state(), RX_AFTER_S);
        c.push_history(b'R');
        assert_eq!(c.rstos0_state(), RX_MATCH);
        assert!(!c.history().contains('R'));
    }

    #[test]
    fn ns_bit_is_ignored() {
        let mut t = Talk::new(10, 20);
        t.send(true, S | tcp_flags::NS, 0);
        t.check(ConnState::S0, "S");
    }

    proptest::proptest! {
        /// Any packet sequence: no panic, bounded history, sane accessors.
        #[test]
        fn never_panics(
            pkts in proptest::collection::vec(
                proptest::prelude::any::<(bool, u16, u32, u32, u32, u16, u8)>(), 0..64),
            seqs in proptest::collection::vec(proptest::prelude::any::<u32>(), 4),
        ) {
            let mut c = TcpConn::new();
            let mut ts = 0u64;
            for (from_orig, flags, seq, ack, len, win, extra) in pkts {
                // Mostly numbers near a few ISNs, so the state machine moves.
                let pick = |v: u32| seqs[(v % 4) as usize].wrapping_add(v % 3000);
                let (seq, ack) = if extra & 1 == 0 { (pick(seq), pick(ack)) } else { (seq, ack) };
                let len = if extra & 2 == 0 { len % 1500 } else { len };
                match extra >> 5 {
                    0 => c.on_bad_checksum(from_orig),
                    1 => c.on_content_gap(from_orig),
                    2 if c.is_reuse(flags, seq) => c = TcpConn::new(),
                    3 => c.flip_roles(),
                    _ => {}
                }
                ts += 1;
                c.on_packet(from_orig, ts, flags, seq, ack, len, win);
                proptest::prop_assert!(c.history().len() <= HISTORY_CAPACITY);
                let _ = (c.conn_state().as_str(), c.orig_bytes(), c.resp_bytes());
                let _ = (c.is_established(), c.is_closed(), c.orig_state().as_str());
            }
        }

        #[test]
        fn wire_helpers_never_panic(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            l3 in 0u32..300,
            l4 in 0u32..300,
        ) {
            let len = data.len() as u32;
            let mut info = crate::decode::decode(crate::LinkType::ETHERNET, &data, len);
            let _ = (tcp_payload_len(&data, &info), tcp_checksum_ok(&data, &info));
            info.transport = Transport::Tcp;
            info.net = if l3 % 2 == 0 { Net::Ipv4 } else { Net::Ipv6 };
            (info.l3_offset, info.l4_offset) = (l3, l4);
            let _ = (tcp_payload_len(&data, &info), tcp_checksum_ok(&data, &info));
        }
    }

    #[test]
    fn wire_helpers() {
        // Ethernet + IPv4 + TCP (PSH-ACK, 4 payload bytes) with a valid
        // checksum, and 4 bytes of Ethernet padding.
        let mut f = vec![0u8; 14];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f.extend_from_slice(&[
            0x45, 0, 0, 44, 0, 1, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ]);
        let mut tcp = vec![0u8; 20];
        tcp[0..2].copy_from_slice(&1234u16.to_be_bytes());
        tcp[2..4].copy_from_slice(&80u16.to_be_bytes());
        tcp[4..8].copy_from_slice(&7u32.to_be_bytes());
        tcp[12] = 5 << 4;
        tcp[13] = 0x18;
        tcp[14..16].copy_from_slice(&512u16.to_be_bytes());
        tcp.extend_from_slice(b"abcd");
        let mut sum: u32 = 0x0a00 + 0x0001 + 0x0a00 + 0x0002 + 6 + 24;
        for c in tcp.chunks(2) {
            sum += u16::from_be_bytes([c[0], c[1]]) as u32;
        }
        while sum >> 16 != 0 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        tcp[16..18].copy_from_slice(&(!(sum as u16)).to_be_bytes());
        f.extend_from_slice(&tcp);
        f.extend_from_slice(&[0, 0, 0, 0]);

        let info = crate::decode::decode(crate::LinkType::ETHERNET, &f, f.len() as u32);
        assert_eq!(info.transport, Transport::Tcp);
        assert_eq!(tcp_payload_len(&f, &info), Some(4));
        assert_eq!(tcp_checksum_ok(&f, &info), Some(true));
        let mut bad = f.clone();
        bad[14 + 20 + 20] ^= 1;
        assert_eq!(tcp_checksum_ok(&bad, &info), Some(false));
        // Cut by the snaplen: the length still comes from the IP header; the
        // checksum cannot be checked.
        let cut = &f[..f.len() - 6];
        let info = crate::decode::decode(crate::LinkType::ETHERNET, cut, f.len() as u32);
        assert_eq!(tcp_payload_len(cut, &info), Some(4));
        assert_eq!(tcp_checksum_ok(cut, &info), None);
        // Not TCP.
        assert_eq!(tcp_payload_len(&f, &PacketInfo::default()), None);
    }
}
