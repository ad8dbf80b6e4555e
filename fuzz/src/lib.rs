//! Input formats shared by the fuzz targets and by `seedgen`, which writes
//! their seed corpora from real captures.
//!
//! * Packet sequences (`defrag`, `flow`): records of
//!   `[link selector u8][time step u8][len u16 LE][len bytes]`.
//! * TCP segment sequences (`reassembly`): records of
//!   `[ctl u8][seq u32 LE][ack u32 LE][cut u8][len u16 LE][len bytes]`.
//! * Session op sequences (`session_*`): one option byte, then records of
//!   `[op u8][len u16 LE][len bytes]`.
//!
//! A record cut short by the end of the input is used with what remains,
//! so every byte string is a valid input.
//!
//! Each target's body is a `run` function here, with no libFuzzer in it:
//! `crates/flowtap-core/tests/fuzz_regressions.rs` includes this file and
//! replays the saved crash inputs through the very same checks.

use flowtap_core::LinkType;

/// The link types the decoder knows, plus one it does not.
pub const LINKS: [LinkType; 11] = [
    LinkType::ETHERNET,
    LinkType::RAW,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType::NULL,
    LinkType::LOOP,
    LinkType::LINUX_SLL,
    LinkType::LINUX_SLL2,
    LinkType::RAW_BSD12,
    LinkType::RAW_BSD14,
    LinkType(147),
];

pub fn link(sel: u8) -> LinkType {
    LINKS[sel as usize % LINKS.len()]
}

/// The selector of a link type in [`LINKS`] (0, Ethernet, for others).
pub fn link_sel(l: LinkType) -> u8 {
    LINKS.iter().position(|&x| x == l).unwrap_or(0) as u8
}

/// A little cursor over the fuzz input.
pub struct Input<'a>(pub &'a [u8]);

impl<'a> Input<'a> {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
}

/// One frame of a packet-sequence input.
pub struct PacketRec<'a> {
    pub link: LinkType,
    /// Time step from the previous packet: the byte times 100 ms, so that
    /// sequences reach the timeouts (5 s … 300 s) quickly.
    pub step_ns: u64,
    /// The frame claims more bytes on the wire than captured.
    pub cut: bool,
    pub data: &'a [u8],
}

pub fn packets(data: &[u8]) -> impl Iterator<Item = PacketRec<'_>> {
    let mut inp = Input(data);
    std::iter::from_fn(move || {
        if inp.is_empty() {
            return None;
        }
        let sel = inp.u8();
        let step = inp.u8();
        let len = inp.u16() as usize;
        Some(PacketRec {
            link: link(sel & 0x7f),
            step_ns: step as u64 * 100_000_000,
            cut: sel & 0x80 != 0,
            data: inp.bytes(len),
        })
    })
}

pub fn write_packet(out: &mut Vec<u8>, l: LinkType, step: u8, data: &[u8]) {
    let data = &data[..data.len().min(u16::MAX as usize)];
    out.push(link_sel(l));
    out.push(step);
    out.extend_from_slice(&(data.len() as u16).to_le_bytes());
    out.extend_from_slice(data);
}

/// One session-parser call of an op-sequence input.
pub enum Op<'a> {
    Data(bool, &'a [u8]),
    Gap(bool, u64),
    End(bool),
}

pub fn ops(data: &[u8]) -> impl Iterator<Item = Op<'_>> {
    let mut inp = Input(data);
    std::iter::from_fn(move || {
        if inp.is_empty() {
            return None;
        }
        let op = inp.u8();
        let orig = op & 1 == 0;
        let len = inp.u16();
        Some(match (op >> 1) % 8 {
            // Gaps: small ones, or huge ones from the length's high bits.
            5 => Op::Gap(orig, len as u64),
            6 => Op::Gap(orig, (len as u64) << 32 | len as u64),
            7 => Op::End(orig),
            _ => Op::Data(orig, inp.bytes(len as usize)),
        })
    })
}

pub fn write_data_op(out: &mut Vec<u8>, orig: bool, data: &[u8]) {
    for c in data.chunks(u16::MAX as usize) {
        out.push(if orig { 0 } else { 1 });
        out.extend_from_slice(&(c.len() as u16).to_le_bytes());
        out.extend_from_slice(c);
    }
}

/// Small limits, so that short inputs reach them.
pub fn small_session_opts() -> flowtap_core::session::SessionOptions {
    flowtap_core::session::SessionOptions {
        max_header_block: 512,
        max_headers: 4,
        max_header_name: 16,
        max_value: 32,
        body_capture: 8,
        max_pending_requests: 4,
        max_handshake: 512,
        max_list: 4,
        dns_max_pending: 4,
        dns_timeout_ns: 100,
    }
}

/// Runs one session-op input (the `session_*` targets) through a parser of `protocol`. Option byte:
/// bit 0 small limits, bit 1 UDP (DNS datagrams).
pub fn run_session(protocol: flowtap_core::session::Protocol, data: &[u8]) {
    use flowtap_core::session::{new_parser, Direction, SessionOptions};
    let Some((&cfg, rest)) = data.split_first() else {
        return;
    };
    let small = cfg & 1 != 0;
    let udp = cfg & 2 != 0;
    let opts = if small {
        small_session_opts()
    } else {
        SessionOptions::default()
    };
    // The bound tests/session_no_panic.rs checks for the small limits; for
    // the defaults, the module promises "a few hundred KiB".
    let bound = if small {
        2 * (1 << 17) + 64 * 1024
    } else {
        1 << 20
    };
    let dir = |o: bool| if o { Direction::Orig } else { Direction::Resp };
    let mut p = new_parser(protocol, udp, &opts);
    let mut out = Vec::new();
    let mut ts = 0;
    for op in ops(rest) {
        ts += 10;
        match op {
            Op::Data(o, b) if udp => p.on_datagram(dir(o), ts, b, &mut out),
            Op::Data(o, b) => p.on_data(dir(o), ts, b, &mut out),
            Op::Gap(o, n) => p.on_gap(dir(o), ts, n, &mut out),
            Op::End(o) => p.on_end(dir(o), ts, &mut out),
        }
        assert!(p.memory_usage() <= bound, "memory {}", p.memory_usage());
        // Keep the event list from growing across a long input.
        if out.len() > 64 {
            out.clear();
        }
    }
    p.finish(ts + 10, &mut out);
}

/// Capture file reading: pcap and pcapng, through the reader alone and
/// through `PacketSource` batches, with default and with tiny limits.
pub mod capture {
    use flowtap_core::capture::{CaptureReader, ReaderOptions};
    use flowtap_core::decode::decode;
    use flowtap_core::source::{PacketSource, SourceOptions};

    pub fn run(data: &[u8]) {
        let small = ReaderOptions {
            buffer_size: 64,
            max_packet_len: 2048,
            max_block_len: 4096,
        };
        for opts in [ReaderOptions::default(), small] {
            if let Ok(mut r) = CaptureReader::new(data, opts) {
                let mut last = 0;
                while let Ok(Some(f)) = r.next_frame() {
                    assert!(f.data.len() <= opts.max_packet_len as usize);
                    let _ = decode(f.link_type, f.data, f.origlen);
                    last = f.offset;
                }
                assert!(r.position() >= last);
            }
        }
        let opts = SourceOptions {
            batch_packets: 3,
            batch_bytes: 4096,
            reader: small,
            keep_bytes: true,
        };
        if let Ok(mut src) = PacketSource::new(data, opts) {
            let mut n = 0u64;
            while let Ok(Some(b)) = src.next_batch() {
                assert!(b.len() <= 3);
                for i in 0..b.len() {
                    let _ = b.packet_data(i);
                }
                n += b.len() as u64;
            }
            assert_eq!(src.stats().packets, n);
            assert!(matches!(src.next_batch(), Ok(None)));
        }
    }
}

/// Packet decoding for every link type: no panic, and the offsets it
/// reports stay inside the frame.
pub mod decode {
    use super::link;
    use flowtap_core::decode::{decode, Status};

    pub fn run(data: &[u8]) {
        let Some((&sel, frame)) = data.split_first() else {
            return;
        };
        // High bit: the frame was cut by a snaplen (wire length larger).
        let origlen = frame.len() as u32 + if sel & 0x80 != 0 { 1000 } else { 0 };
        let info = decode(link(sel & 0x7f), frame, origlen);
        let end = info.payload_offset as u64 + info.payload_len as u64;
        assert!(
            end <= frame.len() as u64,
            "payload past the frame: {info:?}"
        );
        assert!(info.l3_offset as usize <= frame.len());
        assert!(info.l4_offset as usize <= frame.len());
        if sel & 0x80 == 0 {
            assert_ne!(info.status, Status::Truncated, "truncated without a cut");
        }
    }
}

/// IP defragmentation fed arbitrary frame sequences, with small limits so
/// they are reached; reassembled datagrams are decoded and pushed again
/// (nested fragmentation). The limits must hold after every call.
pub mod defrag {
    use super::packets;
    use flowtap_core::decode::decode;
    use flowtap_core::defrag::{DefragOptions, Defragmenter, Outcome};
    use flowtap_core::LinkType;

    pub fn run(data: &[u8]) {
        let opts = DefragOptions {
            max_datagrams: 8,
            max_bytes: 16 * 1024,
            max_fragments: 16,
            max_datagram_size: 65535,
            timeout_ns: 5_000_000_000,
        };
        let mut d = Defragmenter::new(opts);
        let mut ts = 0u64;
        for p in packets(data) {
            ts += p.step_ns;
            let origlen = p.data.len() as u32 + if p.cut { 100 } else { 0 };
            let info = decode(p.link, p.data, origlen);
            let mut out = d.push(ts, p.data, &info);
            let mut depth = 0;
            while let Outcome::Complete(dg) = out {
                assert!(dg.len() <= 65535 + 40 + 2048, "datagram of {}", dg.len());
                let info = decode(LinkType::RAW, &dg, dg.len() as u32);
                depth += 1;
                if depth > 3 {
                    break;
                }
                out = d.push(ts, &dg, &info);
            }
            assert!(d.datagrams() <= opts.max_datagrams);
            assert!(d.buffered_bytes() <= opts.max_bytes);
        }
        d.flush();
        assert_eq!(d.datagrams(), 0);
        assert_eq!(d.buffered_bytes(), 0);
    }
}

/// The flow tracker fed arbitrary frame sequences (with defragmentation and
/// a small flow table): the table never exceeds `max_flows`, and every flow
/// that starts ends exactly once.
pub mod flow {
    use super::packets;
    use flowtap_core::capture::Frame;
    use flowtap_core::decode::decode;
    use flowtap_core::defrag::DefragOptions;
    use flowtap_core::flow::tracker::{FlowEvent, FlowOptions, FlowTracker};

    pub fn run(data: &[u8]) {
        let opts = FlowOptions {
            max_flows: 4,
            vlan_keying: data.first().is_some_and(|b| b & 1 != 0),
            defrag: Some(DefragOptions {
                max_datagrams: 4,
                max_bytes: 8192,
                ..DefragOptions::default()
            }),
            ..FlowOptions::default()
        };
        let mut t = FlowTracker::new(opts);
        let (mut starts, mut ends) = (0u64, 0u64);
        let mut count = |evs: Vec<FlowEvent>| {
            for e in evs {
                match e {
                    FlowEvent::Start(_) => starts += 1,
                    FlowEvent::End(..) => ends += 1,
                }
            }
        };
        let mut ts = 0u64;
        for (i, p) in packets(data).enumerate() {
            ts += p.step_ns;
            let origlen = p.data.len() as u32 + if p.cut { 100 } else { 0 };
            let frame = Frame {
                ts_ns: ts,
                origlen,
                interface: 0,
                link_type: p.link,
                offset: i as u64,
                data: p.data,
            };
            let info = decode(p.link, p.data, origlen);
            t.on_packet_with(&frame, &info, |tr| {
                assert!(tr.payload.len() <= 65535 + 8);
            });
            assert!(t.stats().active <= opts.max_flows as u64);
            count(t.take_events());
        }
        t.finish();
        count(t.take_events());
        assert_eq!(t.stats().active, 0);
        assert_eq!(starts, ends, "every flow that starts ends once");
        assert_eq!(starts, t.stats().flows);
    }
}

/// TCP reassembly fed arbitrary segment sequences with small limits: per
/// direction the chunks form one contiguous stream (data and gaps abut from
/// offset 0, at most one End, last), the memcap is never exceeded, and
/// `finish` returns every byte charged.
pub mod reassembly {
    use super::Input;
    use flowtap_core::decode::tcp_flags::{ACK, FIN, PSH, RST, SYN, URG};
    use flowtap_core::reassembly::{
        Direction, Memcap, ReassemblyOptions, StreamChunk, TcpReassembler, TcpSegment,
    };

    #[derive(Default)]
    struct Check {
        pos: [u64; 2],
        ended: [bool; 2],
    }

    impl Check {
        fn chunk(&mut self, d: Direction, c: StreamChunk<'_>) {
            let i = d.index();
            assert!(!self.ended[i], "chunk after End: {c:?}");
            match c {
                StreamChunk::Data { offset, bytes } => {
                    assert_eq!(offset, self.pos[i], "data not contiguous");
                    assert!(!bytes.is_empty());
                    self.pos[i] += bytes.len() as u64;
                }
                StreamChunk::Gap { offset, len, .. } => {
                    assert_eq!(offset, self.pos[i], "gap not contiguous");
                    assert!(len > 0);
                    self.pos[i] += len;
                }
                StreamChunk::End { .. } => self.ended[i] = true,
            }
        }
    }

    pub fn run(data: &[u8]) {
        let mut inp = Input(data);
        let cfg = inp.u8();
        let opts = ReassemblyOptions {
            max_ooo_bytes: [1 << 20, 4096, 64, 0][(cfg & 3) as usize],
            max_ooo_segments: [1024, 16, 2, 0][(cfg >> 2 & 3) as usize],
            depth: if cfg & 0x10 != 0 { 3000 } else { u64::MAX },
            ack_gaps: cfg & 0x20 == 0,
        };
        let limit = if cfg & 0x40 != 0 { 2048 } else { 1 << 20 };
        let mut m = Memcap::new(limit);
        let mut r = TcpReassembler::new(opts);
        let mut chk = Check::default();
        while !inp.is_empty() {
            let ctl = inp.u8();
            let seq = inp.u32();
            let ack = inp.u32();
            let cut = inp.u8();
            let len = inp.u16();
            let payload = inp.bytes(len as usize);
            if ctl == 0xff {
                r.flush(&mut m, &mut |d, c| chk.chunk(d, c));
                continue;
            }
            let mut flags = 0;
            for (bit, f) in [(1, SYN), (2, FIN), (3, RST), (4, PSH), (5, ACK), (6, URG)] {
                if ctl & (1 << bit) != 0 {
                    flags |= f;
                }
            }
            let seg = TcpSegment {
                from_orig: ctl & 1 == 0,
                flags,
                seq,
                ack,
                payload,
                wire_len: payload.len() as u32 + cut as u32 * 64,
            };
            r.on_segment(&seg, &mut m, &mut |d, c| chk.chunk(d, c));
            assert!(m.used() <= limit);
            assert_eq!(m.used(), r.charged());
            for d in [Direction::Orig, Direction::Resp] {
                assert_eq!(r.next_offset(d), chk.pos[d.index()]);
            }
        }
        r.finish(&mut m, &mut |d, c| chk.chunk(d, c));
        assert_eq!(r.charged(), 0);
        assert_eq!(m.used(), 0);
        assert!(chk.ended.iter().all(|&e| e));
    }
}

/// The whole analyzer (flow tracking, defragmentation, reassembly, protocol
/// detection, HTTP/DNS/TLS parsing, stream pieces, plugin claims) over
/// arbitrary capture bytes, with small limits so that they are reached.
/// Plugin events are checked for order (claim, pieces, close) and flows
/// released on their claim must go quiet.
pub mod analyze {
    use std::collections::HashMap;

    use flowtap_core::analyze::{
        AnalyzeEvent, AnalyzeOptions, Analyzer, Direction, PluginEvent, PluginSpec, Plugins,
        Priority, Signature, StreamPiece,
    };
    use flowtap_core::capture::ReaderOptions;
    use flowtap_core::flow::tracker::FlowOptions;
    use flowtap_core::reassembly::ReassemblyOptions;
    use flowtap_core::session::Transport;
    use flowtap_core::source::{PacketSource, SourceOptions};

    /// Claim rules drawn from the input's last bytes: one of each kind.
    fn plugins(data: &[u8]) -> Plugins {
        let b = |i: usize| {
            data.get(data.len().wrapping_sub(1 + i))
                .copied()
                .unwrap_or(0)
        };
        let port = u16::from_be_bytes([b(0), b(1)]);
        let spec = |id, transport, ports: Vec<u16>, priority| PluginSpec {
            id,
            transport,
            ports,
            signatures: Vec::new(),
            priority,
            predicate: false,
        };
        let mut sig = spec(2, Transport::Tcp, Vec::new(), Priority::First);
        sig.signatures = vec![Signature {
            dir: (b(2) & 1 == 1).then_some(Direction::Orig),
            offset: (b(3) % 8) as usize,
            bytes: vec![b(4), b(5)],
        }];
        let mut ask = spec(3, Transport::Tcp, Vec::new(), Priority::Last);
        ask.predicate = true;
        let mut ask_udp = spec(4, Transport::Udp, vec![port, 53], Priority::Last);
        ask_udp.predicate = true;
        Plugins::new(vec![
            spec(0, Transport::Tcp, vec![port, 80], Priority::First),
            spec(1, Transport::Udp, vec![port], Priority::First),
            sig,
            ask,
            ask_udp,
        ])
    }

    #[derive(PartialEq)]
    enum State {
        Claimed,
        Released,
        Closed,
    }

    #[derive(Default)]
    struct Checker {
        flows: HashMap<u64, State>,
        claims: u64,
    }

    impl Checker {
        fn check(&mut self, a: &mut Analyzer) {
            let (events, arena) = a.take_events();
            // Given back after the batch: its events were made before.
            let mut release = Vec::new();
            for e in events {
                match e {
                    AnalyzeEvent::Stream(s) => {
                        if let StreamPiece::Data { start, len, .. } = s.piece {
                            assert!(start + len <= arena.len());
                        }
                    }
                    AnalyzeEvent::Plugin(p) => match p {
                        PluginEvent::Claim { flow, plugins, .. } => {
                            assert!(!plugins.is_empty());
                            assert!(self.flows.insert(flow.seq, State::Claimed).is_none());
                            self.claims += 1;
                            // Every third claim is given back.
                            if self.claims.is_multiple_of(3) {
                                release.push(flow.seq);
                            }
                        }
                        PluginEvent::Piece(r) => {
                            let st = self.flows.get(&r.flow);
                            assert!(st.is_some(), "a piece before its claim");
                            assert!(
                                st == Some(&State::Claimed),
                                "a piece after the close or release"
                            );
                            if let StreamPiece::Data { start, len, .. } = r.piece {
                                assert!(start + len <= arena.len());
                            }
                        }
                        PluginEvent::Close { flow, .. } => {
                            let st = self.flows.insert(flow, State::Closed);
                            assert!(
                                st == Some(State::Claimed),
                                "close of an unclaimed or released flow"
                            );
                        }
                    },
                    _ => {}
                }
            }
            for seq in release {
                a.release(seq);
                if self.flows.get(&seq) == Some(&State::Claimed) {
                    self.flows.insert(seq, State::Released);
                }
            }
        }
    }

    pub fn run(data: &[u8]) {
        let small = data.len() % 2 == 1;
        let mut opts = AnalyzeOptions {
            streams: !data.len().is_multiple_of(5),
            ..AnalyzeOptions::default()
        };
        if data.len() % 3 != 1 {
            opts.plugins = plugins(data);
        }
        if small {
            opts.flows = FlowOptions {
                max_flows: 4,
                ..FlowOptions::default()
            };
            opts.reassembly = ReassemblyOptions {
                max_ooo_bytes: 2048,
                max_ooo_segments: 8,
                ..ReassemblyOptions::default()
            };
            opts.memcap = 4096;
            opts.sessions = super::small_session_opts();
        }
        let sopts = SourceOptions {
            reader: ReaderOptions {
                buffer_size: 4096,
                ..ReaderOptions::default()
            },
            ..SourceOptions::default()
        };
        let Ok(mut src) = PacketSource::new(data, sopts) else {
            return;
        };
        let mut a = Analyzer::new(opts.clone());
        let mut chk = Checker::default();
        let mut n = 0;
        let _ = src.for_each(|f, info| {
            a.on_packet(f, info);
            n += 1;
            if n % 16 == 0 {
                chk.check(&mut a);
            }
            assert!(a.memcap_stats().used <= opts.memcap);
            assert!(a.tracker().stats().active <= opts.flows.max_flows as u64);
        });
        a.finish();
        chk.check(&mut a);
        assert_eq!(
            a.memcap_stats().used,
            0,
            "finish returns every byte charged"
        );
        assert_eq!(a.tracker().stats().active, 0);
        assert!(
            chk.flows.values().all(|s| *s != State::Claimed),
            "every claimed flow is closed at the end"
        );
    }
}
