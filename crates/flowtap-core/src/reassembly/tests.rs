use proptest::prelude::*;

use super::*;
use crate::decode::tcp_flags::{ACK, FIN, PSH, RST, SYN};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Data(u64, Vec<u8>),
    Gap(u64, u64, GapReason),
    End(StreamEnd),
}

struct Run {
    r: TcpReassembler,
    m: Memcap,
    ev: [Vec<Ev>; 2],
}

fn idx(d: Direction) -> usize {
    match d {
        Direction::Orig => 0,
        Direction::Resp => 1,
    }
}

impl Run {
    fn new() -> Self {
        Run::with(ReassemblyOptions::default(), Memcap::default())
    }

    fn with(opts: ReassemblyOptions, m: Memcap) -> Self {
        Run {
            r: TcpReassembler::new(opts),
            m,
            ev: [Vec::new(), Vec::new()],
        }
    }

    fn sink(ev: &mut [Vec<Ev>; 2]) -> impl FnMut(Direction, StreamChunk<'_>) + '_ {
        |d, c| {
            ev[idx(d)].push(match c {
                StreamChunk::Data { offset, bytes } => Ev::Data(offset, bytes.to_vec()),
                StreamChunk::Gap {
                    offset,
                    len,
                    reason,
                } => Ev::Gap(offset, len, reason),
                StreamChunk::End { reason } => Ev::End(reason),
            })
        }
    }

    /// A full segment (captured = wire).
    fn seg(&mut self, from_orig: bool, flags: u16, seq: u32, ack: u32, payload: &[u8]) {
        self.cut(from_orig, flags, seq, ack, payload, payload.len() as u32);
    }

    fn cut(&mut self, from_orig: bool, flags: u16, seq: u32, ack: u32, payload: &[u8], wire: u32) {
        let s = TcpSegment {
            from_orig,
            flags,
            seq,
            ack,
            payload,
            wire_len: wire,
        };
        self.r
            .on_segment(&s, &mut self.m, &mut Run::sink(&mut self.ev));
    }

    fn finish(&mut self) {
        self.r.finish(&mut self.m, &mut Run::sink(&mut self.ev));
    }

    fn events(&self, d: Direction) -> &[Ev] {
        &self.ev[idx(d)]
    }

    fn data(&self, d: Direction) -> Vec<u8> {
        let mut v = Vec::new();
        for e in self.events(d) {
            if let Ev::Data(_, b) = e {
                v.extend_from_slice(b);
            }
        }
        v
    }
}

/// Data and gaps start at 0, abut, and at most one End comes last; returns
/// the stream length covered.
fn check_contiguous(ev: &[Ev]) -> u64 {
    let mut pos = 0u64;
    for (i, e) in ev.iter().enumerate() {
        match e {
            Ev::Data(o, b) => {
                assert_eq!(*o, pos, "data at {o}, expected {pos}: {ev:?}");
                assert!(!b.is_empty(), "empty data chunk");
                pos += b.len() as u64;
            }
            Ev::Gap(o, l, _) => {
                assert_eq!(*o, pos, "gap at {o}, expected {pos}: {ev:?}");
                assert!(*l > 0, "empty gap");
                pos += l;
            }
            Ev::End(_) => assert_eq!(i, ev.len() - 1, "End not last: {ev:?}"),
        }
    }
    pos
}

const O: bool = true;
const R: bool = false;

#[test]
fn in_order_data_is_passed_through_without_copy() {
    let mut r = TcpReassembler::default();
    let mut m = Memcap::default();
    let payload = b"hello world".to_vec();
    let syn = TcpSegment {
        from_orig: true,
        flags: SYN,
        seq: 1000,
        ack: 0,
        payload: &[],
        wire_len: 0,
    };
    r.on_segment(&syn, &mut m, &mut |_, _| panic!("nothing to deliver"));
    let seg = TcpSegment {
        flags: ACK | PSH,
        seq: 1001,
        payload: &payload,
        wire_len: payload.len() as u32,
        ..syn
    };
    let mut seen = 0;
    r.on_segment(&seg, &mut m, &mut |d, c| {
        assert_eq!(d, Direction::Orig);
        let StreamChunk::Data { offset, bytes } = c else {
            panic!("{c:?}")
        };
        assert_eq!(offset, 0);
        assert_eq!(bytes.as_ptr(), payload.as_ptr(), "copied");
        seen += bytes.len();
    });
    assert_eq!(seen, payload.len());
    assert_eq!(m.used(), 0);
}

#[test]
fn syn_sets_offset_zero_and_syn_data_is_delivered() {
    let mut t = Run::new();
    t.seg(O, SYN, 41, 0, b"ab");
    t.seg(O, ACK, 44, 0, b"cd");
    t.seg(R, SYN | ACK, 7, 42, b"");
    t.seg(R, ACK, 8, 46, b"xyz");
    assert_eq!(
        t.events(Direction::Orig),
        [Ev::Data(0, b"ab".to_vec()), Ev::Data(2, b"cd".to_vec())]
    );
    assert_eq!(t.events(Direction::Resp), [Ev::Data(0, b"xyz".to_vec())]);
}

#[test]
fn sequence_numbers_wrap() {
    let mut t = Run::new();
    let isn = u32::MAX - 3;
    t.seg(O, SYN, isn, 0, b"");
    // Offsets 0..4 are seq MAX-2..=1, crossing zero.
    t.seg(O, ACK, isn.wrapping_add(5), 0, b"EFGH");
    t.seg(O, ACK, isn.wrapping_add(1), 0, b"ABCD");
    t.seg(O, ACK, 5, 0, b"IJ");
    assert_eq!(t.data(Direction::Orig), b"ABCDEFGHIJ");
    check_contiguous(t.events(Direction::Orig));
    assert_eq!(t.r.next_offset(Direction::Orig), 10);
}

#[test]
fn long_stream_wraps_many_times_with_64_bit_offsets() {
    let mut t = Run::new();
    t.seg(O, SYN, 5, 0, b"");
    let chunk = vec![7u8; 60_000];
    let mut seq = 6u32;
    let mut total = 0u64;
    // 5 GB in 60 kB segments would take long; jump the offset with gaps
    // instead: ACK-driven gaps of 1 GiB, four and a half times around.
    for _ in 0..9 {
        t.seg(O, ACK, seq, 0, &chunk);
        seq = seq.wrapping_add(chunk.len() as u32);
        total += chunk.len() as u64;
        seq = seq.wrapping_add(1 << 29);
        total += 1 << 29;
        t.seg(R, ACK, 0, seq, b"");
    }
    t.seg(O, ACK, seq, 0, b"end");
    total += 3;
    assert_eq!(check_contiguous(t.events(Direction::Orig)), total);
    assert!(total > 1 << 32);
    assert!(matches!(
        t.events(Direction::Orig).last(),
        Some(Ev::Data(_, b)) if b == b"end"
    ));
}

#[test]
fn retransmissions_are_delivered_once() {
    let mut t = Run::new();
    t.seg(O, SYN, 0, 0, b"");
    t.seg(O, ACK, 1, 0, b"abc");
    t.seg(O, ACK, 1, 0, b"abc");
    t.seg(O, ACK, 2, 0, b"bcde");
    t.seg(O, ACK, 4, 0, b"d");
    assert_eq!(t.data(Direction::Orig), b"abcde");
    let s = t.r.stats(Direction::Orig);
    assert_eq!(s.retransmitted_bytes, 3 + 2 + 1);
    assert_eq!(s.retransmitted_segments, 2);
    assert_eq!(s.overlaps, 1);
    assert_eq!(s.delivered_bytes, 5);
}

#[test]
fn out_of_order_segments_wait_for_the_hole() {
    let mut t = Run::new();
    t.seg(O, SYN, 100, 0, b"");
    t.seg(O, ACK, 107, 0, b"ghi");
    t.seg(O, ACK, 104, 0, b"def");
    assert!(t.events(Direction::Orig).is_empty());
    let s = *t.r.stats(Direction::Orig);
    assert_eq!((s.ooo_bytes, s.ooo_segments), (6, 2));
    assert_eq!(t.m.used(), 6 + 2 * PIECE_OVERHEAD);
    assert_eq!(t.r.charged(), t.m.used());
    t.seg(O, ACK, 101, 0, b"abc");
    assert_eq!(t.data(Direction::Orig), b"abcdefghi");
    let s = *t.r.stats(Direction::Orig);
    assert_eq!((s.ooo_bytes, s.ooo_segments, s.ooo_bytes_max), (0, 0, 6));
    assert_eq!(t.m.used(), 0);
}

#[test]
fn first_data_wins_against_buffered_bytes() {
    let mut t = Run::new();
    t.seg(O, SYN, 0, 0, b"");
    // Buffered first: "BBBB" at 4..8.
    t.seg(O, ACK, 5, 0, b"BBBB");
    // An out-of-order segment overlapping it only adds its new bytes.
    t.seg(O, ACK, 7, 0, b"CCCC");
    // The in-order one brings 0..10; only 0..4 of it is new.
    t.seg(O, ACK, 1, 0, b"AAAAAAAAAA");
    assert_eq!(t.data(Direction::Orig), b"AAAABBBBCC");
    let s = t.r.stats(Direction::Orig);
    assert_eq!(s.inconsistent_overlaps, 2);
    assert_eq!(s.overlaps, 2);
    check_contiguous(t.events(Direction::Orig));
}

#[test]
fn identical_overlaps_are_not_inconsistent() {
    let mut t = Run::new();
    t.seg(O, SYN, 0, 0, b"");
    t.seg(O, ACK, 5, 0, b"efgh");
    t.seg(O, ACK, 3, 0, b"cdefgh");
    t.seg(O, ACK, 1, 0, b"abcd");
    assert_eq!(t.data(Direction::Orig), b"abcdefgh");
    assert_eq!(t.r.stats(Direction::Orig).inconsistent_overlaps, 0);
}

#[test]
fn fin_ends_the_stream_after_the_last_byte() {
    let mut t = Run::new();
    t.seg(O, SYN, 0, 0, b"");
    // FIN seen before the data it follows.
    t.seg(O, FIN | ACK, 4, 0, b"def");
    assert!(t.events(Direction::Orig).is_empty());
    t.seg(O, ACK, 1, 0, b"abc");
    assert_eq!(
        t.events(Direction::Orig),
        [
            Ev::Data(0, b"abc".to_vec()),
            Ev::Data(3, b"def".to_vec()),
            Ev::End(StreamEnd::Fin)
        ]
    );
    // Data past the FIN is counted, not delivered.
    t.seg(O, ACK, 7, 0, b"zz");
    t.seg(O, ACK, 4, 0, b"def");
    t.finish();
    assert_eq!(t.events(Direction::Orig).len(), 3);
    let s = t.r.stats(Direction::Orig);
    assert_eq!((s.after_end_bytes, s.after_end_segments), (2, 1));
    assert_eq!(s.retransmitted_bytes, 3);
    assert_eq!(t.events(Direction::Resp), [Ev::End(StreamEnd::Finish)]);
}

#[test]
fn data_buffered_past_a_later_fin_is_dropped_as_after_end() {
    let mut t = Run::new();
    t.seg(O, SYN, 0, 0, b"");
    t.seg(O, ACK, 10, 0, b"later");
    t.seg(O, FIN | ACK, 1, 0, b"abc");
    assert_eq!(
        t.events(Direction::Orig),
        [Ev::Data(0, b"abc".to_vec()), Ev::End(StreamEnd::Fin)]
    );
    assert_eq!(t.r.stats(Direction::Orig).after_end_bytes, 5);
    assert_eq!(t.m.used(), 0);
}

#[test]
fn rst_gaps_the_holes_and_ends_its_direction() {
    let mut t = Run::new();
    t.seg(O, SYN, 0, 0, b"");
    t.seg(O, ACK, 1, 0, b"ab");
    t.seg(O, ACK, 6, 0, b"fg");
    t.seg(O, RST, 8, 0, b"");
    assert_eq!(
        t.events(Direction::Orig),
        [
            Ev::Data(0, b"ab".to_vec()),
            Ev::Gap(2, 3, GapReason::Missing),
            Ev::Data(5, b"fg".to_vec()),
            Ev::End(StreamEnd::Rst)
        ]
    );
    t.seg(O, ACK, 8, 0, b"x");
    assert_eq!(t.r.stats(Direction::Orig).after_end_bytes, 1);
    assert_eq!(t.m.used(), 0);
    assert!(t.r.is_ended(Direction::Orig) && !t.r.is_ended(Direction::Resp));
}

#[test]
fn mid_stream_pickup_starts_at_the_first_segment() {
    let mut t = Run::new();
    t.seg(R, ACK, 5000, 70, b""); // pure ACK: does not fix the start
    t.seg(R, ACK, 5000, 70, b"resp");
    t.seg(O, ACK, 70, 5004, b"orig");
    t.seg(O, ACK, 66, 5004, b"oldd"); // before the pickup point: old
    assert_eq!(t.data(Direction::Resp), b"resp");
    assert_eq!(t.data(Direction::Orig), b"orig");
    assert_eq!(t.r.stats(Direction::Orig).retransmitted_bytes, 4);
}

#[test]
fn peer_ack_beyond_the_data_is_a_content_gap() {
    let mut t = Run::new();
    t.seg(O, SYN, 0, 0, b"");
    t.seg(R, SYN | ACK, 0, 1, b"");
    t.seg(O, ACK, 1, 1, b"abc");
    t.seg(O, ACK, 9, 1, b"ijk"); // buffered behind the hole 3..8
    t.seg(R, ACK, 1, 12, b""); // acks all of it
    assert_eq!(
        t.events(Direction::Orig),
        [
            Ev::Data(0, b"abc".to_vec()),
            Ev::Gap(3, 5, GapReason::Missing),
            Ev::Data(8, b"ijk".to_vec()),
        ]
    );
    // The late copy of gapped bytes is a retransmission.
    t.seg(O, ACK, 4, 1, b"defgh");
    assert_eq!(t.r.stats(Direction::Orig).retransmitted_bytes, 5);
    // An ACK past everything seen waits for data past the hole ...
    t.seg(R, ACK, 1, 20, b"");
    assert_eq!(t.events(Direction::Orig).len(), 3);
    // ... or the end, which gaps the unseen tail up to it.
    t.finish();
    assert_eq!(
        t.events(Direction::Orig)[3..],
        [
            Ev::Gap(11, 8, GapReason::Missing),
            Ev::End(StreamEnd::Finish)
        ]
    );
}

#[test]
fn data_listed_after_its_ack_is_still_delivered() {
    // Capture timestamp reordering: the ACK comes before the data it acks.
    let mut t = Run::new();
    t.seg(O, SYN, 0, 0, b"");
    t.seg(R, SYN | ACK, 0, 1, b"");
    t.seg(R, ACK, 1, 16, b"");
    t.seg(R, ACK, 1, 16, b"response");
    t.seg(O, ACK, 1, 1, b"GET /bad.html\r\n");
    assert_eq!(t.data(Direction::Orig), b"GET /bad.html\r\n");
    assert_eq!(t.r.stats(Direction::Orig).gaps, 0);
}

#[test]
fn acked_hole_before_the_fin_is_gapped_at_once() {
    let mut t = Run::new();
    t.seg(O, SYN, 0, 0, b"");
    t.seg(O, ACK, 1, 0, b"ab");
    t.seg(O, FIN | ACK, 5, 0, b"");
    t.seg(R, ACK, 0, 6, b"");
    assert_eq!(
        t.events(Direction::Orig),
        [
            Ev::Data(0, b"ab".to_vec()),
            Ev::Gap(2, 2, GapReason::Missing),
            Ev::End(StreamEnd::Fin)
        ]
    );
}

#[test]
fn ack_of_fin_is_not_a_gap() {
    let mut t = Run::new();
    t.seg(O, SYN, 0, 0, b"");
    t.seg(O, FIN | ACK, 1, 0, b"ab");
    t.seg(R, ACK, 0, 4, b"");
    assert_eq!(
        t.events(Direction::Orig),
        [Ev::Data(0, b"ab".to_vec()), Ev::End(StreamEnd::Fin)]
    );
}

#[test]
fn ack_gaps_can_be_turned_off() {
    let opts = ReassemblyOptions {
        ack_gaps: false,
        ..Default::default()
    };
    let mut t = Run::with(opts, Memcap::default());
    t.seg(O, SYN, 0, 0, b"");
    t.seg(O, ACK, 4, 0, b"d");
    t.seg(R, ACK, 0, 100, b"");
    assert!(t.events(Direction::Orig).is_empty());
    t.finish();
    assert_eq!(
        t.events(Direction::Orig),
        [
            Ev::Gap(0, 3, GapReason::Missing),
            Ev::Data(3, b"d".to_vec()),
            Ev::End(StreamEnd::Finish)
        ]
    );
}

#[test]
fn snaplen_cut_segments_deliver_what_was_captured() {
    let mut t = Run::new();
    t.seg(O, SYN, 0, 0, b"");
    t.cut(O, ACK, 1, 0, b"abc", 10);
    t.seg(O, ACK, 11, 0, b"k");
    // Out of order and cut: the cut part waits as a truncation gap.
    t.cut(O, ACK, 15, 0, b"op", 4);
    t.seg(O, ACK, 12, 0, b"lmn");
    t.seg(O, ACK, 19, 0, b"s");
    assert_eq!(
        t.events(Direction::Orig),
        [
            Ev::Data(0, b"abc".to_vec()),
            Ev::Gap(3, 7, GapReason::Truncated),
            Ev::Data(10, b"k".to_vec()),
            Ev::Data(11, b"lmn".to_vec()),
            Ev::Data(14, b"op".to_vec()),
            Ev::Gap(16, 2, GapReason::Truncated),
            Ev::Data(18, b"s".to_vec()),
        ]
    );
    assert_eq!(t.r.stats(Direction::Orig).truncated_bytes, 9);
    assert_eq!(t.m.used(), 0);
}

#[test]
fn ooo_segment_limit_forces_a_gap() {
    let opts = ReassemblyOptions {
        max_ooo_segments: 2,
        ..Default::default()
    };
    let mut t = Run::with(opts, Memcap::default());
    t.seg(O, SYN, 0, 0, b"");
    t.seg(O, ACK, 3, 0, b"c");
    t.seg(O, ACK, 5, 0, b"e");
    t.seg(O, ACK, 7, 0, b"g");
    assert_eq!(
        t.events(Direction::Orig),
        [
            Ev::Gap(0, 2, GapReason::OooLimit),
            Ev::Data(2, b"c".to_vec()),
        ]
    );
    let s = t.r.stats(Direction::Orig);
    assert_eq!((s.ooo_limit_hits, s.ooo_segments), (1, 2));
    t.finish();
    assert_eq!(check_contiguous(t.events(Direction::Orig)), 7);
    assert_eq!(t.m.used(), 0);
}

#[test]
fn ooo_byte_limit_delivers_an_earlier_new_segment_directly() {
    let opts = ReassemblyOptions {
        max_ooo_bytes: 4,
        ..Default::default()
    };
    let mut t = Run::with(opts, Memcap::default());
    t.seg(O, SYN, 0, 0, b"");
    t.seg(O, ACK, 11, 0, b"klmn");
    // Earlier than the buffered piece and too big to buffer too.
    t.seg(O, ACK, 5, 0, b"efg");
    assert_eq!(
        t.events(Direction::Orig),
        [
            Ev::Gap(0, 4, GapReason::OooLimit),
            Ev::Data(4, b"efg".to_vec()),
        ]
    );
    t.seg(O, ACK, 8, 0, b"hij");
    assert_eq!(t.data(Direction::Orig), b"efghijklmn");
}

#[test]
fn memcap_is_shared_and_never_exceeded() {
    let mut m = Memcap::new(2 * PIECE_OVERHEAD + 8);
    let mut a = TcpReassembler::default();
    let mut b = TcpReassembler::default();
    let mut ev = [Vec::new(), Vec::new()];
    let mut seg = |r: &mut TcpReassembler, m: &mut Memcap, flags, seq, p: &[u8]| {
        let s = TcpSegment {
            from_orig: true,
            flags,
            seq,
            ack: 0,
            payload: p,
            wire_len: p.len() as u32,
        };
        r.on_segment(&s, m, &mut Run::sink(&mut ev));
        assert!(m.used() <= m.limit());
    };
    seg(&mut a, &mut m, SYN, 0, b"");
    seg(&mut b, &mut m, SYN, 0, b"");
    seg(&mut a, &mut m, ACK, 5, b"eeee");
    seg(&mut b, &mut m, ACK, 5, b"eeee");
    assert_eq!(m.used(), m.limit());
    // `b` cannot buffer more: it skips to its buffered piece.
    seg(&mut b, &mut m, ACK, 20, b"t");
    assert_eq!(m.stats().hits, 1);
    assert_eq!(b.stats(Direction::Orig).memcap_hits, 1);
    assert_eq!(
        ev[0][..2],
        [
            Ev::Gap(0, 4, GapReason::Memcap),
            Ev::Data(4, b"eeee".to_vec())
        ]
    );
    assert_eq!(b.charged() + a.charged(), m.used());
    a.finish(&mut m, &mut |_, _| {});
    b.finish(&mut m, &mut |_, _| {});
    assert_eq!(m.used(), 0);
    let st = m.stats();
    assert_eq!(st.finished_connections, 2);
    assert_eq!(st.totals.memcap_hits, 1);
    assert_eq!(st.peak, m.limit());
}

#[test]
fn zero_memcap_still_delivers_everything_it_can() {
    let mut t = Run::with(ReassemblyOptions::default(), Memcap::new(0));
    t.seg(O, SYN, 0, 0, b"");
    t.seg(O, ACK, 4, 0, b"def");
    t.seg(O, ACK, 1, 0, b"abc");
    t.finish();
    assert_eq!(
        t.events(Direction::Orig),
        [
            Ev::Gap(0, 3, GapReason::Memcap),
            Ev::Data(3, b"def".to_vec()),
            Ev::End(StreamEnd::Finish)
        ]
    );
}

#[test]
fn depth_limits_delivery_and_the_rest_is_one_gap() {
    let opts = ReassemblyOptions {
        depth: 5,
        ..Default::default()
    };
    let mut t = Run::with(opts, Memcap::default());
    t.seg(O, SYN, 0, 0, b"");
    t.seg(O, ACK, 1, 0, b"abc");
    t.seg(O, ACK, 4, 0, b"defgh");
    t.seg(O, ACK, 12, 0, b"lm"); // past depth: never buffered
    assert_eq!(t.m.used(), 0);
    t.seg(O, FIN | ACK, 14, 0, b"n");
    assert_eq!(
        t.events(Direction::Orig),
        [
            Ev::Data(0, b"abc".to_vec()),
            Ev::Data(3, b"de".to_vec()),
            Ev::Gap(5, 9, GapReason::Depth),
            Ev::End(StreamEnd::Fin)
        ]
    );
    assert_eq!(t.r.stats(Direction::Orig).beyond_depth_bytes, 9);
}

#[test]
fn depth_gap_follows_holes_at_finish() {
    let opts = ReassemblyOptions {
        depth: 10,
        ..Default::default()
    };
    let mut t = Run::with(opts, Memcap::default());
    t.seg(O, SYN, 0, 0, b"");
    t.seg(O, ACK, 1, 0, b"ab");
    t.seg(O, ACK, 21, 0, b"uv");
    t.finish();
    assert_eq!(
        t.events(Direction::Orig),
        [
            Ev::Data(0, b"ab".to_vec()),
            Ev::Gap(2, 8, GapReason::Missing),
            Ev::Gap(10, 12, GapReason::Depth),
            Ev::End(StreamEnd::Finish)
        ]
    );
}

#[test]
fn finish_gaps_holes_and_returns_the_budget() {
    let mut t = Run::new();
    t.seg(O, SYN, 0, 0, b"");
    t.seg(O, ACK, 3, 0, b"c");
    t.seg(O, ACK, 6, 0, b"f");
    assert!(t.m.used() > 0);
    t.finish();
    assert_eq!(
        t.events(Direction::Orig),
        [
            Ev::Gap(0, 2, GapReason::Missing),
            Ev::Data(2, b"c".to_vec()),
            Ev::Gap(3, 2, GapReason::Missing),
            Ev::Data(5, b"f".to_vec()),
            Ev::End(StreamEnd::Finish)
        ]
    );
    assert_eq!(t.m.used(), 0);
    assert!(t.r.is_finished());
    // Finished: later calls do nothing.
    t.seg(O, ACK, 7, 0, b"g");
    t.finish();
    assert_eq!(t.events(Direction::Orig).len(), 5);
    assert_eq!(t.m.stats().finished_connections, 1);
}

#[test]
fn flush_keeps_the_stream_open() {
    let mut t = Run::new();
    t.seg(O, SYN, 0, 0, b"");
    t.seg(O, ACK, 3, 0, b"c");
    t.r.flush(&mut t.m, &mut Run::sink(&mut t.ev));
    t.seg(O, ACK, 4, 0, b"d");
    assert_eq!(
        t.events(Direction::Orig),
        [
            Ev::Gap(0, 2, GapReason::Missing),
            Ev::Data(2, b"c".to_vec()),
            Ev::Data(3, b"d".to_vec()),
        ]
    );
    assert_eq!(t.m.used(), 0);
}

#[test]
fn segment_from_a_decoded_packet() {
    use etherparse::PacketBuilder;
    let mut frame = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .tcp(1234, 80, 77, 1000)
        .ack(99)
        .psh()
        .write(&mut frame, b"GET / HTTP/1.0\r\n\r\n")
        .unwrap();
    frame.extend_from_slice(&[0; 4]); // link padding is not payload
    let info = crate::decode::decode(crate::LinkType::ETHERNET, &frame, frame.len() as u32);
    let s = TcpSegment::from_packet(&frame, &info, true).unwrap();
    assert_eq!((s.seq, s.ack, s.wire_len), (77, 99, 18));
    assert_eq!(s.payload, b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(s.flags, ACK | PSH);
    // Cut by a snaplen: the wire length stays.
    let cut = &frame[..frame.len() - 10];
    let info = crate::decode::decode(crate::LinkType::ETHERNET, cut, frame.len() as u32);
    let s = TcpSegment::from_packet(cut, &info, true).unwrap();
    assert_eq!((s.payload.len(), s.wire_len), (12, 18));
}

#[test]
fn segments_before_the_stream_start_are_old() {
    let mut t = Run::new();
    t.seg(O, ACK, 36, 0, b"x"); // mid-stream pickup at 36
    t.seg(O, ACK, 0, 0, b"y"); // 36 bytes before it
    t.seg(O, ACK, 30, 0, b"abcdefgh"); // straddles the start
    assert_eq!(
        t.events(Direction::Orig),
        [Ev::Data(0, b"x".to_vec()), Ev::Data(1, b"h".to_vec())]
    );
    let s = t.r.stats(Direction::Orig);
    assert_eq!((s.retransmitted_segments, s.overlaps), (1, 1));
    assert_eq!(s.retransmitted_bytes, 1 + 7);
}

#[test]
fn keep_alives_and_zero_window_probes_deliver_nothing_twice() {
    let mut t = Run::new();
    t.seg(O, SYN, 0, 0, b"");
    t.seg(O, ACK, 1, 0, b"abc");
    t.seg(O, ACK, 3, 0, b"\0"); // keep-alive: one old byte
    t.seg(O, ACK, 3, 0, b""); // keep-alive without data
    t.seg(O, ACK, 4, 0, b"d"); // zero-window probe
    t.seg(O, ACK, 4, 0, b"defg");
    assert_eq!(t.data(Direction::Orig), b"abcdefg");
    assert_eq!(t.r.stats(Direction::Orig).inconsistent_overlaps, 0);
}

#[test]
fn rst_before_any_data_ends_the_direction_empty() {
    let mut t = Run::new();
    t.seg(R, RST | ACK, 9, 1, b"");
    assert_eq!(t.events(Direction::Resp), [Ev::End(StreamEnd::Rst)]);
    t.seg(R, ACK, 9, 1, b"late");
    let s = t.r.stats(Direction::Resp);
    assert_eq!((s.after_end_bytes, s.delivered_bytes), (4, 0));
}

#[test]
fn retransmitted_syn_does_not_move_the_start() {
    let mut t = Run::new();
    t.seg(O, SYN, 100, 0, b"");
    t.seg(O, ACK, 101, 0, b"ab");
    t.seg(O, SYN, 100, 0, b"");
    t.seg(O, ACK, 103, 0, b"cd");
    assert_eq!(t.data(Direction::Orig), b"abcd");
}

#[test]
fn per_connection_state_stays_small() {
    // A flow table holds one of these per TCP flow; most of it is stats.
    let size = std::mem::size_of::<TcpReassembler>();
    assert!(size <= 640, "TcpReassembler is {size} bytes");
}

// ---- properties ----

#[derive(Debug, Clone)]
struct ArbSeg {
    from_orig: bool,
    flags: u16,
    seq_delta: i32,
    ack_delta: i32,
    len: usize,
    wire_extra: u32,
    fill: u8,
}

fn arb_seg() -> impl Strategy<Value = ArbSeg> {
    (
        any::<bool>(),
        prop_oneof![
            4 => Just(ACK),
            1 => Just(SYN),
            1 => Just(FIN | ACK),
            1 => Just(RST),
            1 => any::<u16>(),
        ],
        prop_oneof![
            8 => -40i32..200,
            1 => any::<i32>(),
        ],
        prop_oneof![8 => -40i32..200, 1 => any::<i32>()],
        0usize..40,
        prop_oneof![8 => Just(0u32), 1 => 0u32..50, 1 => any::<u32>()],
        any::<u8>(),
    )
        .prop_map(
            |(from_orig, flags, seq_delta, ack_delta, len, wire_extra, fill)| ArbSeg {
                from_orig,
                flags,
                seq_delta,
                ack_delta,
                len,
                wire_extra,
                fill,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any segment sequence: no panic, contiguous output per direction,
    /// buffers within their bounds, all memory back after finish.
    #[test]
    fn arbitrary_segments_keep_the_contract(
        base in any::<u32>(),
        segs in proptest::collection::vec(arb_seg(), 0..60),
        max_ooo_bytes in 0u64..200,
        max_ooo_segments in 0usize..6,
        memcap in 0u64..600,
        depth in prop_oneof![Just(u64::MAX), 0u64..150],
        ack_gaps in any::<bool>(),
    ) {
        let opts = ReassemblyOptions { max_ooo_bytes, max_ooo_segments, depth, ack_gaps };
        let mut t = Run::with(opts, Memcap::new(memcap));
        for s in &segs {
            let payload = vec![s.fill; s.len];
            let wire = (s.len as u32).saturating_add(s.wire_extra);
            let seq = base.wrapping_add(s.seq_delta as u32);
            let ack = base.wrapping_add(s.ack_delta as u32);
            t.cut(s.from_orig, s.flags, seq, ack, &payload, wire);
            prop_assert!(t.m.used() <= memcap);
            prop_assert_eq!(t.r.charged(), t.m.used());
            for d in [Direction::Orig, Direction::Resp] {
                let st = t.r.stats(d);
                prop_assert!(st.ooo_bytes <= max_ooo_bytes);
                prop_assert!(st.ooo_segments <= max_ooo_segments as u64);
            }
        }
        t.finish();
        prop_assert_eq!(t.m.used(), 0);
        for d in [Direction::Orig, Direction::Resp] {
            let ev = t.events(d);
            let covered = check_contiguous(ev);
            prop_assert!(matches!(ev.last(), Some(Ev::End(_))));
            let st = t.r.stats(d);
            prop_assert_eq!(st.delivered_bytes + st.gap_bytes, covered);
            let data: u64 = ev.iter().map(|e| match e { Ev::Data(_, b) => b.len() as u64, _ => 0 }).sum();
            prop_assert_eq!(data, st.delivered_bytes);
            if depth != u64::MAX {
                prop_assert!(data <= depth);
            }
        }
    }

    /// A known stream cut into segments (some re-cut with other
    /// boundaries), shuffled and duplicated: with no loss, exactly the
    /// original bytes come out, once; with tight limits every delivered
    /// byte is still the original byte at its offset.
    #[test]
    fn shuffled_duplicated_segments_rebuild_the_stream(
        isn in any::<u32>(),
        stream in proptest::collection::vec(any::<u8>(), 1..2000),
        cuts in proptest::collection::vec(1usize..300, 1..40),
        recuts in proptest::collection::vec((0usize..2000, 1usize..300), 0..10),
        order in proptest::collection::vec(any::<u32>(), 60),
        tight in any::<bool>(),
    ) {
        let mut segs: Vec<(usize, usize)> = Vec::new();
        let mut at = 0;
        for c in cuts.iter().cycle() {
            if at >= stream.len() { break; }
            let end = (at + c).min(stream.len());
            segs.push((at, end));
            at = end;
        }
        for &(s, l) in &recuts {
            let s = s % stream.len();
            segs.push((s, (s + l).min(stream.len())));
        }
        // Shuffle by sort keys.
        let mut keyed: Vec<(u32, (usize, usize))> = segs
            .iter()
            .enumerate()
            .map(|(i, &s)| (order[i % order.len()].wrapping_mul(i as u32 + 1), s))
            .collect();
        keyed.sort_by_key(|k| k.0);
        let opts = if tight {
            ReassemblyOptions { max_ooo_bytes: 300, max_ooo_segments: 3, ..Default::default() }
        } else {
            ReassemblyOptions::default()
        };
        let mut t = Run::with(opts, Memcap::new(if tight { 500 } else { u64::MAX }));
        t.seg(O, SYN, isn, 0, b"");
        for (_, (s, e)) in keyed {
            let flags = if e == stream.len() { ACK | FIN } else { ACK };
            t.seg(O, flags, isn.wrapping_add(1 + s as u32), 0, &stream[s..e]);
        }
        t.finish();
        let ev = t.events(Direction::Orig);
        prop_assert_eq!(check_contiguous(ev), stream.len() as u64);
        for e in ev {
            if let Ev::Data(o, b) = e {
                prop_assert_eq!(&stream[*o as usize..*o as usize + b.len()], &b[..]);
            }
        }
        if !tight {
            prop_assert_eq!(t.data(Direction::Orig), stream.clone());
            prop_assert_eq!(ev.last(), Some(&Ev::End(StreamEnd::Fin)));
            prop_assert_eq!(t.r.stats(Direction::Orig).gaps, 0);
        }
    }
}

/// Hostile traffic: a million out-of-order segments over a thousand
/// connections, every stream with holes that never fill. The shared memcap
/// holds at every step, the holes come out as gaps, and every byte is
/// accounted for as data or gap.
#[test]
fn a_million_out_of_order_segments_stay_under_the_memcap() {
    const CONNS: usize = 1000;
    const SEGMENTS: usize = 1_000_000;
    const LIMIT: u64 = 4 << 20;
    let opts = ReassemblyOptions::default();
    let mut m = Memcap::new(LIMIT);
    let mut conns: Vec<TcpReassembler> = (0..CONNS).map(|_| TcpReassembler::new(opts)).collect();
    let mut next = vec![0u32; CONNS];
    let payload = [0x5au8; 100];
    let (mut data, mut gaps) = (0u64, 0u64);
    let mut sink = |_: Direction, c: StreamChunk<'_>| match c {
        StreamChunk::Data { bytes, .. } => data += bytes.len() as u64,
        StreamChunk::Gap { len, .. } => gaps += len,
        StreamChunk::End { .. } => {}
    };
    // Each connection sends segments 2, 3, 4, … 100 bytes apart but skips
    // every 10th: segment 0 is never sent, so nothing is ever in order
    // until a bound forces the stream ahead.
    let mut sent = 0u64;
    for i in 0..SEGMENTS {
        let c = i % CONNS;
        next[c] += 1;
        if next[c].is_multiple_of(10) {
            continue;
        }
        let seg = TcpSegment {
            from_orig: true,
            flags: ACK | PSH,
            seq: 1000u32.wrapping_add(next[c] * 100),
            ack: 1,
            payload: &payload,
            wire_len: 100,
        };
        conns[c].on_segment(&seg, &mut m, &mut sink);
        sent += 100;
        assert!(m.used() <= LIMIT, "memcap exceeded: {} > {LIMIT}", m.used());
    }
    for c in &mut conns {
        c.finish(&mut m, &mut sink);
    }
    let st = m.stats();
    assert_eq!(m.used(), 0);
    assert!(st.peak <= LIMIT);
    assert!(st.hits > 0, "the memcap was never hit: {st:?}");
    assert_eq!(data, sent, "every byte sent is delivered once");
    assert!(gaps > 0);
}
