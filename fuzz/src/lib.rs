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

/// Runs one session-op input through a parser of `protocol`. Option byte:
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
