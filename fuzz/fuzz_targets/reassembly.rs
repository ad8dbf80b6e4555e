//! TCP reassembly fed arbitrary segment sequences with small limits: per
//! direction the chunks form one contiguous stream (data and gaps abut from
//! offset 0, at most one End, last), the memcap is never exceeded, and
//! `finish` returns every byte charged.
#![no_main]

use flowtap_core::decode::tcp_flags::{ACK, FIN, PSH, RST, SYN, URG};
use flowtap_core::reassembly::{
    Direction, Memcap, ReassemblyOptions, StreamChunk, TcpReassembler, TcpSegment,
};
use flowtap_fuzz::Input;
use libfuzzer_sys::fuzz_target;

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

fuzz_target!(|data: &[u8]| {
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
});
