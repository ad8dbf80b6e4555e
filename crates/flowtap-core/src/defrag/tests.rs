//! Unit tests of [`Defragmenter`] on datagrams built with etherparse and
//! fragmented by hand: every fragment is a raw IP packet (or an Ethernet
//! frame) decoded with the crate's decoder, as the flow tracker would.

use super::*;
use crate::decode::{decode, tcp_flags, Layer, Transport};
use crate::LinkType;
use etherparse::PacketBuilder;

const S: u64 = 1_000_000_000;
const V4_SRC: [u8; 4] = [192, 0, 2, 1];
const V4_DST: [u8; 4] = [198, 51, 100, 7];
const V6_SRC: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const V6_DST: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

// ---------------------------------------------------------------- builders

fn payload(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn set_v4_checksum(ip: &mut [u8]) {
    let ihl = (ip[0] & 0x0f) as usize * 4;
    ip[10] = 0;
    ip[11] = 0;
    let sum = ipv4_checksum(&ip[..ihl]);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
}

/// An IPv4/UDP datagram (DF clear, as fragmented datagrams have it).
fn v4_udp(id: u16, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv4(V4_SRC, V4_DST, 64)
        .udp(5353, 53)
        .write(&mut v, data)
        .unwrap();
    v[4..6].copy_from_slice(&id.to_be_bytes());
    v[6] = 0;
    set_v4_checksum(&mut v);
    v
}

/// An IPv6/UDP datagram.
fn v6_udp(data: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv6(V6_SRC, V6_DST, 64)
        .udp(5353, 53)
        .write(&mut v, data)
        .unwrap();
    v
}

/// The IPv4 fragment of `dgram` carrying data bytes `[start, start + len)`.
fn v4_frag(dgram: &[u8], start: usize, len: usize, more: bool) -> Vec<u8> {
    let ihl = (dgram[0] & 0x0f) as usize * 4;
    let data = &dgram[ihl + start..ihl + start + len];
    let mut f = [&dgram[..ihl], data].concat();
    f[2..4].copy_from_slice(&((ihl + len) as u16).to_be_bytes());
    let word = (dgram[6] as u16 & 0x40) << 8 | (more as u16) << 13 | (start / 8) as u16;
    f[6..8].copy_from_slice(&word.to_be_bytes());
    set_v4_checksum(&mut f);
    f
}

/// Splits an IPv4 datagram into fragments of `size` data bytes.
fn v4_split(dgram: &[u8], size: usize) -> Vec<Vec<u8>> {
    let ihl = (dgram[0] & 0x0f) as usize * 4;
    let n = dgram.len() - ihl;
    (0..n)
        .step_by(size)
        .map(|s| v4_frag(dgram, s, size.min(n - s), s + size < n))
        .collect()
}

/// The IPv6 fragment of `dgram` (whose first `unfrag` bytes are the
/// unfragmentable part, `nh_at` the next-header byte naming what follows
/// it) carrying data bytes `[start, start + len)`.
fn v6_frag_at(
    dgram: &[u8],
    unfrag: usize,
    nh_at: usize,
    id: u32,
    start: usize,
    len: usize,
    more: bool,
) -> Vec<u8> {
    let mut head = dgram[..unfrag].to_vec();
    let next = head[nh_at];
    head[nh_at] = 44;
    let word = ((start / 8) as u16) << 3 | more as u16;
    let fh = [&[next, 0][..], &word.to_be_bytes(), &id.to_be_bytes()].concat();
    let mut f = [&head[..], &fh, &dgram[unfrag + start..unfrag + start + len]].concat();
    let plen = (f.len() - 40) as u16;
    f[4..6].copy_from_slice(&plen.to_be_bytes());
    f
}

fn v6_frag(dgram: &[u8], id: u32, start: usize, len: usize, more: bool) -> Vec<u8> {
    v6_frag_at(dgram, 40, 6, id, start, len, more)
}

fn v6_split(dgram: &[u8], id: u32, size: usize) -> Vec<Vec<u8>> {
    let n = dgram.len() - 40;
    (0..n)
        .step_by(size)
        .map(|s| v6_frag(dgram, id, s, size.min(n - s), s + size < n))
        .collect()
}

fn info(pkt: &[u8]) -> PacketInfo {
    decode(LinkType::RAW, pkt, pkt.len() as u32)
}

fn push(d: &mut Defragmenter, ts: u64, pkt: &[u8]) -> Outcome {
    d.push(ts, pkt, &info(pkt))
}

fn complete(o: Outcome) -> Vec<u8> {
    match o {
        Outcome::Complete(v) => v,
        other => panic!("expected Complete, got {other:?}"),
    }
}

/// The internal bookkeeping agrees with itself.
fn check_invariants(d: &Defragmenter) {
    let open: usize = d
        .table
        .values()
        .map(|x| match &x.state {
            State::Open(a) => {
                assert!(a.pieces.len() <= d.opts.max_fragments);
                let sum: usize = a.pieces.iter().map(|p| p.data.len()).sum::<usize>()
                    + a.first.as_ref().map_or(0, |f| f.header.len());
                assert_eq!(sum, a.bytes);
                a.bytes
            }
            State::Tombstone => 0,
        })
        .sum();
    assert_eq!(open, d.bytes);
    assert!(d.bytes <= d.opts.max_bytes);
    assert!(d.table.len() <= d.opts.max_datagrams.max(1));
    assert!(d.fifo.len() <= 2 * d.table.len() + 65, "{}", d.fifo.len());
    for (key, x) in &d.table {
        assert!(d.fifo.iter().any(|(_, s, k)| k == key && *s == x.serial));
    }
}

// ------------------------------------------------------------------- tests

#[test]
fn ipv4_in_order() {
    let dgram = v4_udp(0x1234, &payload(3000, 1));
    let frags = v4_split(&dgram, 1480);
    assert_eq!(frags.len(), 3);
    let mut d = Defragmenter::default();
    assert_eq!(push(&mut d, 0, &frags[0]), Outcome::Buffered);
    assert_eq!(push(&mut d, 1, &frags[1]), Outcome::Buffered);
    assert_eq!(d.buffered_bytes(), 20 + 2960);
    let out = complete(push(&mut d, 2, &frags[2]));
    assert_eq!(out, dgram, "the original datagram, checksum included");
    let p = info(&out);
    assert_eq!(
        (p.status, p.transport, p.src_port, p.dst_port),
        (Status::Ok, Transport::Udp, 5353, 53)
    );
    assert_eq!(p.payload_len, 3000);
    let s = d.stats();
    assert_eq!((s.fragments, s.fragments_buffered), (3, 3));
    assert_eq!(s.datagrams_reassembled, 1);
    assert_eq!((d.datagrams(), d.buffered_bytes()), (0, 0));
    check_invariants(&d);
}

#[test]
fn ipv4_every_order() {
    let dgram = v4_udp(7, &payload(100, 2));
    let frags = v4_split(&dgram, 32); // 108 bytes: 32 + 32 + 32 + 12
    assert_eq!(frags.len(), 4);
    let mut orders = vec![vec![]];
    for _ in 0..4 {
        orders = orders
            .into_iter()
            .flat_map(|o: Vec<usize>| {
                (0..4)
                    .filter(|i| !o.contains(i))
                    .map(|i| [&o[..], &[i]].concat())
                    .collect::<Vec<_>>()
            })
            .collect();
    }
    assert_eq!(orders.len(), 24);
    for order in orders {
        let mut d = Defragmenter::default();
        for (n, &i) in order.iter().enumerate() {
            let o = push(&mut d, n as u64, &frags[i]);
            if n < 3 {
                assert_eq!(o, Outcome::Buffered, "{order:?}");
            } else {
                assert_eq!(complete(o), dgram, "{order:?}");
            }
        }
        check_invariants(&d);
    }
}

#[test]
fn ipv6_in_order_and_reversed() {
    let dgram = v6_udp(&payload(2500, 3));
    for reverse in [false, true] {
        let mut frags = v6_split(&dgram, 0xdead_beef, 1232);
        if reverse {
            frags.reverse();
        }
        let mut d = Defragmenter::default();
        let n = frags.len();
        for f in &frags[..n - 1] {
            assert_eq!(push(&mut d, 0, f), Outcome::Buffered);
        }
        let out = complete(push(&mut d, 0, &frags[n - 1]));
        assert_eq!(out, dgram);
        let p = info(&out);
        assert_eq!((p.transport, p.dst_port), (Transport::Udp, 53));
    }
}

#[test]
fn ipv6_extension_headers_before_and_after_the_fragment_header() {
    // IPv6 | hop-by-hop (unfragmentable) | destination options | UDP
    let udp = {
        let v = v6_udp(&payload(600, 4));
        v[40..].to_vec()
    };
    let hbh = [60u8, 0, 1, 4, 0, 0, 0, 0];
    let dst = [17u8, 0, 1, 4, 0, 0, 0, 0];
    let mut dgram = v6_udp(&[]);
    dgram.truncate(40);
    dgram[6] = 0;
    dgram.extend_from_slice(&hbh);
    dgram.extend_from_slice(&dst);
    dgram.extend_from_slice(&udp);
    let plen = (dgram.len() - 40) as u16;
    dgram[4..6].copy_from_slice(&plen.to_be_bytes());
    assert_eq!(info(&dgram).transport, Transport::Udp);

    // fragmentable part: destination options + UDP (616 bytes)
    let f1 = v6_frag_at(&dgram, 48, 40, 9, 0, 304, true);
    let f2 = v6_frag_at(&dgram, 48, 40, 9, 304, 312, false);
    assert_eq!(f1[40], 44, "hop-by-hop now names the fragment header");
    let mut d = Defragmenter::default();
    assert_eq!(push(&mut d, 0, &f2), Outcome::Buffered);
    let out = complete(push(&mut d, 0, &f1));
    assert_eq!(out, dgram);
    let p = info(&out);
    assert_eq!((p.status, p.transport), (Status::Ok, Transport::Udp));
}

#[test]
fn duplicates_and_identical_overlaps_are_tolerated() {
    let dgram = v4_udp(1, &payload(56, 5)); // 64 data bytes
    let mut d = Defragmenter::default();
    assert_eq!(
        push(&mut d, 0, &v4_frag(&dgram, 0, 16, true)),
        Outcome::Buffered
    );
    // exact duplicate
    assert_eq!(
        push(&mut d, 0, &v4_frag(&dgram, 0, 16, true)),
        Outcome::Dropped(DropReason::Duplicate)
    );
    // covered by the union of two buffered fragments
    assert_eq!(
        push(&mut d, 0, &v4_frag(&dgram, 16, 16, true)),
        Outcome::Buffered
    );
    assert_eq!(
        push(&mut d, 0, &v4_frag(&dgram, 8, 16, true)),
        Outcome::Dropped(DropReason::Duplicate)
    );
    // overlaps with the same bytes and adds new ones: stored
    assert_eq!(
        push(&mut d, 0, &v4_frag(&dgram, 24, 24, true)),
        Outcome::Buffered
    );
    let out = complete(push(&mut d, 0, &v4_frag(&dgram, 40, 24, false)));
    assert_eq!(out, dgram);
    let s = d.stats();
    assert_eq!((s.duplicates, s.overlaps, s.fragments_buffered), (2, 0, 4));
    check_invariants(&d);
}

#[test]
fn conflicting_overlap_drops_the_datagram_until_its_timeout() {
    let dgram = v4_udp(2, &payload(56, 6));
    let mut d = Defragmenter::default();
    assert_eq!(
        push(&mut d, 0, &v4_frag(&dgram, 0, 16, true)),
        Outcome::Buffered
    );
    let mut evil = v4_frag(&dgram, 8, 16, true);
    evil[20 + 4] ^= 0xff; // data byte 12, which the first fragment holds
    assert_eq!(
        push(&mut d, S, &evil),
        Outcome::Dropped(DropReason::Overlap)
    );
    assert_eq!((d.buffered_bytes(), d.datagrams()), (0, 1), "a tombstone");
    // the rest of the datagram is dropped too, not reassembled around the gap
    for (s, l, m) in [(0, 16, true), (16, 24, true), (40, 24, false)] {
        assert_eq!(
            push(&mut d, 2 * S, &v4_frag(&dgram, s, l, m)),
            Outcome::Dropped(DropReason::Abandoned)
        );
    }
    let st = *d.stats();
    assert_eq!(
        (st.overlaps, st.abandoned, st.datagrams_reassembled),
        (1, 3, 0)
    );
    // after the timeout (30 s from the first fragment), the id is free again
    assert_eq!(d.expire(30 * S), 0, "a tombstone is no timeout");
    assert_eq!(d.datagrams(), 0);
    for f in v4_split(&dgram, 32) {
        let _ = push(&mut d, 31 * S, &f);
    }
    assert_eq!(d.stats().datagrams_reassembled, 1);
    check_invariants(&d);
}

#[test]
fn conflicting_overlap_inside_the_first_fragment_data() {
    // A later fragment rewriting the UDP ports (RFC 1858's overlap attack).
    let dgram = v4_udp(3, &payload(40, 7));
    let mut d = Defragmenter::default();
    assert_eq!(
        push(&mut d, 0, &v4_frag(&dgram, 0, 24, true)),
        Outcome::Buffered
    );
    let mut rewrite = v4_frag(&dgram, 0, 8, true);
    rewrite[20 + 3] = 0x50; // destination port 53 -> 80
    assert_eq!(
        push(&mut d, 0, &rewrite),
        Outcome::Dropped(DropReason::Overlap)
    );
}

#[test]
fn missing_last_fragment_times_out() {
    let dgram = v4_udp(4, &payload(2000, 8));
    let frags = v4_split(&dgram, 800);
    let mut d = Defragmenter::default();
    let t0 = 1_700_000_000 * S;
    assert_eq!(push(&mut d, t0, &frags[0]), Outcome::Buffered);
    assert_eq!(push(&mut d, t0 + S, &frags[1]), Outcome::Buffered);
    // unrelated traffic moves the clock; just before the deadline nothing goes
    let other = v4_udp(99, b"x");
    assert_eq!(push(&mut d, t0 + 30 * S - 1, &other), Outcome::NotAFragment);
    assert_eq!(d.datagrams(), 1);
    assert_eq!(d.expire(t0 + 30 * S), 1);
    let s = *d.stats();
    assert_eq!((s.timeouts, d.datagrams(), d.buffered_bytes()), (1, 0, 0));
    // the late last fragment starts a datagram that can only time out
    assert_eq!(push(&mut d, t0 + 31 * S, &frags[2]), Outcome::Buffered);
    // … on a later push too, not only on expire()
    assert_eq!(push(&mut d, t0 + 61 * S, &other), Outcome::NotAFragment);
    assert_eq!((d.stats().timeouts, d.datagrams()), (2, 0));
    // flush counts what is left at the end
    assert_eq!(push(&mut d, t0 + 62 * S, &frags[0]), Outcome::Buffered);
    assert_eq!(d.flush(), 1);
    assert_eq!(
        (d.stats().flushed, d.datagrams(), d.buffered_bytes()),
        (1, 0, 0)
    );
    check_invariants(&d);
}

#[test]
fn later_fragments_do_not_extend_the_lifetime() {
    let dgram = v4_udp(5, &payload(400, 9));
    let mut d = Defragmenter::default();
    // endless middle fragments, one every 10 s, duplicates of each other
    assert_eq!(
        push(&mut d, 0, &v4_frag(&dgram, 0, 8, true)),
        Outcome::Buffered
    );
    for i in 1..=2u64 {
        let _ = push(&mut d, i * 10 * S, &v4_frag(&dgram, 8, 8, true));
    }
    assert_eq!(d.expire(30 * S), 1);
}

#[test]
fn clock_never_goes_back() {
    let dgram = v4_udp(6, &payload(100, 10));
    let frags = v4_split(&dgram, 64);
    let mut d = Defragmenter::default();
    assert_eq!(push(&mut d, 100 * S, &frags[0]), Outcome::Buffered);
    // an earlier timestamp (capture merged out of order) is "now" = 100 s
    let other = v4_udp(7, &payload(100, 11));
    let ofr = v4_split(&other, 64);
    assert_eq!(push(&mut d, 50 * S, &ofr[0]), Outcome::Buffered);
    assert_eq!(d.expire(129 * S), 0);
    assert_eq!(d.expire(130 * S), 2, "both created at clock 100 s");
}

#[test]
fn too_many_fragments() {
    let opts = DefragOptions {
        max_fragments: 4,
        ..DefragOptions::default()
    };
    let dgram = v4_udp(8, &payload(56, 12)); // 64 data bytes in 8 fragments
    let frags = v4_split(&dgram, 8);
    let mut d = Defragmenter::new(opts);
    for f in &frags[..4] {
        assert_eq!(push(&mut d, 0, f), Outcome::Buffered);
    }
    assert_eq!(
        push(&mut d, 0, &frags[4]),
        Outcome::Dropped(DropReason::TooManyFragments)
    );
    assert_eq!(
        push(&mut d, 0, &frags[7]),
        Outcome::Dropped(DropReason::Abandoned)
    );
    assert_eq!((d.stats().too_many_fragments, d.buffered_bytes()), (1, 0));
    // duplicates do not count toward the limit
    let mut d = Defragmenter::new(opts);
    let small = v4_split(&v4_udp(9, &payload(16, 1)), 8); // 3 fragments
    for _ in 0..10 {
        let _ = push(&mut d, 0, &small[0]);
    }
    let _ = push(&mut d, 0, &small[1]);
    assert!(matches!(push(&mut d, 0, &small[2]), Outcome::Complete(_)));
    check_invariants(&d);
}

#[test]
fn too_large() {
    // IPv4: offset 65528 + 16 bytes is beyond 65535 - 20
    let dgram = v4_udp(10, &payload(8, 13));
    let mut far = v4_frag(&dgram, 0, 16, false);
    far[6..8].copy_from_slice(&8191u16.to_be_bytes());
    set_v4_checksum(&mut far);
    let mut d = Defragmenter::default();
    assert_eq!(
        push(&mut d, 0, &far),
        Outcome::Dropped(DropReason::TooLarge)
    );
    assert_eq!((d.stats().too_large, d.datagrams()), (1, 0));

    // a configured limit, hit by a fragment of a datagram in progress
    let mut d = Defragmenter::new(DefragOptions {
        max_datagram_size: 1000,
        ..DefragOptions::default()
    });
    let big = v4_udp(11, &payload(1200, 14));
    let frags = v4_split(&big, 512);
    assert_eq!(push(&mut d, 0, &frags[0]), Outcome::Buffered);
    assert_eq!(
        push(&mut d, 0, &frags[1]),
        Outcome::Dropped(DropReason::TooLarge)
    );
    assert_eq!(
        push(&mut d, 0, &frags[2]),
        Outcome::Dropped(DropReason::Abandoned)
    );
    // IPv6: the payload length counts
    let big6 = v6_udp(&payload(1200, 15));
    let frags = v6_split(&big6, 1, 512);
    assert_eq!(
        push(&mut d, 0, &frags[2]),
        Outcome::Dropped(DropReason::TooLarge)
    );
    assert_eq!(d.stats().too_large, 2);
    check_invariants(&d);
}

#[test]
fn too_large_once_the_first_header_is_known() {
    // 40 bytes of IPv4 options in the first fragment only: the last fragment
    // fits a 20-byte header, the whole datagram does not.
    let mut d = Defragmenter::new(DefragOptions {
        max_datagram_size: 600,
        ..DefragOptions::default()
    });
    let base = v4_udp(12, &payload(552, 16)); // 560 data bytes
    let mut first = v4_frag(&base, 0, 280, true);
    first[0] = 0x4f; // ihl 15: 40 bytes of options (NOPs)
    first.splice(20..20, [1u8; 40]);
    let tl = first.len() as u16;
    first[2..4].copy_from_slice(&tl.to_be_bytes());
    set_v4_checksum(&mut first);
    assert_eq!(
        push(&mut d, 0, &v4_frag(&base, 280, 280, false)),
        Outcome::Buffered
    );
    assert_eq!(
        push(&mut d, 0, &first),
        Outcome::Dropped(DropReason::TooLarge)
    );
}

#[test]
fn memory_bound_evicts_the_oldest() {
    let opts = DefragOptions {
        max_bytes: 4000,
        ..DefragOptions::default()
    };
    let mut d = Defragmenter::new(opts);
    let dgrams: Vec<_> = (0..3)
        .map(|i| v4_split(&v4_udp(100 + i, &payload(2000, i as u8)), 1480))
        .collect();
    // each first fragment buffers 1500 bytes: the third evicts the first
    for (i, f) in dgrams.iter().enumerate() {
        assert_eq!(push(&mut d, i as u64, &f[0]), Outcome::Buffered);
        assert!(d.buffered_bytes() <= 4000);
    }
    assert_eq!(d.stats().evicted_memory_limit, 1);
    assert_eq!(d.buffered_bytes(), 3000);
    // the others complete; the evicted datagram's last fragment starts over
    assert!(matches!(
        push(&mut d, 3, &dgrams[1][1]),
        Outcome::Complete(_)
    ));
    assert!(matches!(
        push(&mut d, 4, &dgrams[2][1]),
        Outcome::Complete(_)
    ));
    assert_eq!(push(&mut d, 5, &dgrams[0][1]), Outcome::Buffered);
    assert_eq!(d.buffered_bytes(), 528);
    assert!(d.stats().peak_bytes <= 4000);
    // a fragment larger than the whole budget is refused outright
    let mut tiny = Defragmenter::new(DefragOptions {
        max_bytes: 100,
        ..DefragOptions::default()
    });
    assert_eq!(
        push(&mut tiny, 0, &dgrams[0][0]),
        Outcome::Dropped(DropReason::MemoryLimit)
    );
    check_invariants(&d);
}

#[test]
fn datagram_count_bound_evicts_the_oldest() {
    let mut d = Defragmenter::new(DefragOptions {
        max_datagrams: 2,
        ..DefragOptions::default()
    });
    let dgrams: Vec<_> = (0..3)
        .map(|i| v4_split(&v4_udp(200 + i, &payload(100, i as u8)), 64))
        .collect();
    for f in &dgrams {
        assert_eq!(push(&mut d, 0, &f[0]), Outcome::Buffered);
    }
    assert_eq!((d.stats().evicted_datagram_limit, d.datagrams()), (1, 2));
    assert_eq!(push(&mut d, 0, &dgrams[0][1]), Outcome::Buffered);
    assert_eq!(d.stats().evicted_datagram_limit, 2, "that evicted #1");
    assert!(matches!(
        push(&mut d, 0, &dgrams[2][1]),
        Outcome::Complete(_)
    ));
    check_invariants(&d);
}

#[test]
fn ipv6_atomic_fragment_is_not_a_fragment() {
    let whole = v6_udp(&payload(20, 17));
    let atomic = v6_frag(&whole, 77, 0, whole.len() - 40, false);
    let p = info(&atomic);
    assert_eq!(
        p.ip_flags & ip_flags::ATOMIC_FRAGMENT,
        ip_flags::ATOMIC_FRAGMENT
    );
    assert_eq!(p.transport, Transport::Udp, "the decoder decodes it");
    let mut d = Defragmenter::default();
    assert_eq!(d.push(0, &atomic, &p), Outcome::NotAFragment);
    let s = d.stats();
    assert_eq!((s.atomic_fragments, s.fragments, d.datagrams()), (1, 0, 0));
    // and it does not mix with real fragments of the same identification
    let frags = v6_split(&v6_udp(&payload(100, 18)), 77, 64);
    assert_eq!(push(&mut d, 0, &frags[0]), Outcome::Buffered);
    assert_eq!(d.push(0, &atomic, &p), Outcome::NotAFragment);
    assert!(matches!(push(&mut d, 0, &frags[1]), Outcome::Complete(_)));
}

#[test]
fn tiny_first_fragment_reassembles_and_is_counted() {
    // A TCP SYN whose 24-byte header is cut into 8-byte fragments, as in
    // suricata-verify's bug-6887 capture.
    let mut syn = Vec::new();
    PacketBuilder::ipv4([1, 1, 1, 1], [2, 2, 2, 2], 64)
        .tcp(12345, 8080, 0, 8192)
        .syn()
        .options(&[etherparse::TcpOptionElement::WindowScale(14)])
        .unwrap()
        .write(&mut syn, &[])
        .unwrap();
    syn[6] = 0;
    set_v4_checksum(&mut syn);
    assert_eq!(syn.len(), 44);
    let frags = v4_split(&syn, 8);
    assert_eq!(frags.len(), 3);
    let first = info(&frags[0]);
    assert_eq!((first.transport, first.ip_proto), (Transport::None, 6));
    let mut d = Defragmenter::default();
    assert_eq!(push(&mut d, 0, &frags[0]), Outcome::Buffered);
    assert_eq!(push(&mut d, 0, &frags[1]), Outcome::Buffered);
    let out = complete(push(&mut d, 0, &frags[2]));
    assert_eq!(out, syn);
    let p = info(&out);
    assert_eq!((p.transport, p.stop), (Transport::Tcp, Layer::Tcp));
    assert_eq!(p.tcp_flags, tcp_flags::SYN);
    assert_eq!(
        (p.src_port, p.dst_port, p.tcp_options.wscale),
        (12345, 8080, 14)
    );
    assert_eq!(d.stats().tiny_first_fragments, 1);
}

#[test]
fn inconsistent_lengths_drop_the_datagram() {
    let dgram = v4_udp(13, &payload(56, 19)); // 64 data bytes
                                              // two last fragments that disagree
    let mut d = Defragmenter::default();
    assert_eq!(
        push(&mut d, 0, &v4_frag(&dgram, 48, 16, false)),
        Outcome::Buffered
    );
    assert_eq!(
        push(&mut d, 0, &v4_frag(&dgram, 40, 8, false)),
        Outcome::Dropped(DropReason::Inconsistent)
    );
    // a fragment beyond the last one
    let mut d = Defragmenter::default();
    assert_eq!(
        push(&mut d, 0, &v4_frag(&dgram, 16, 16, false)),
        Outcome::Buffered
    );
    assert_eq!(
        push(&mut d, 0, &v4_frag(&dgram, 32, 16, true)),
        Outcome::Dropped(DropReason::Inconsistent)
    );
    // a last fragment before buffered data
    let mut d = Defragmenter::default();
    assert_eq!(
        push(&mut d, 0, &v4_frag(&dgram, 32, 16, true)),
        Outcome::Buffered
    );
    assert_eq!(
        push(&mut d, 0, &v4_frag(&dgram, 8, 16, false)),
        Outcome::Dropped(DropReason::Inconsistent)
    );
    assert_eq!(d.stats().inconsistent, 1);
    check_invariants(&d);
}

#[test]
fn malformed_and_truncated_fragments_drop_only_themselves() {
    let dgram = v4_udp(14, &payload(56, 20));
    let mut d = Defragmenter::default();
    assert_eq!(
        push(&mut d, 0, &v4_frag(&dgram, 0, 16, true)),
        Outcome::Buffered
    );
    // not a multiple of 8 while more follow
    assert_eq!(
        push(&mut d, 0, &v4_frag(&dgram, 16, 12, true)),
        Outcome::Dropped(DropReason::Malformed)
    );
    // cut by the snaplen
    let cut = v4_frag(&dgram, 16, 24, true);
    let p = decode(LinkType::RAW, &cut[..30], cut.len() as u32);
    assert_eq!(
        d.push(0, &cut[..30], &p),
        Outcome::Dropped(DropReason::Truncated)
    );
    // IPv4 total length below the header length
    let mut bogus = v4_frag(&dgram, 16, 24, true);
    bogus[2..4].copy_from_slice(&10u16.to_be_bytes());
    assert_eq!(
        push(&mut d, 0, &bogus),
        Outcome::Dropped(DropReason::Malformed)
    );
    // the datagram is still there and completes
    assert_eq!(
        push(&mut d, 0, &v4_frag(&dgram, 16, 24, true)),
        Outcome::Buffered
    );
    assert_eq!(
        complete(push(&mut d, 0, &v4_frag(&dgram, 40, 24, false))),
        dgram
    );
    let s = d.stats();
    assert_eq!((s.malformed, s.truncated, s.fragments), (2, 1, 6));
}

#[test]
fn not_fragments() {
    let mut d = Defragmenter::default();
    assert_eq!(push(&mut d, 0, &v4_udp(1, b"hello")), Outcome::NotAFragment);
    assert_eq!(push(&mut d, 0, &v6_udp(b"hello")), Outcome::NotAFragment);
    let arp = [
        &[0xffu8; 6][..],
        &[2; 6],
        &[8, 6],
        &[0, 1, 8, 0, 6, 4, 0, 1],
        &[0; 20],
    ]
    .concat();
    let p = decode(LinkType::ETHERNET, &arp, arp.len() as u32);
    assert_eq!(d.push(0, &arp, &p), Outcome::NotAFragment);
    assert_eq!(
        d.push(0, &[], &PacketInfo::default()),
        Outcome::NotAFragment
    );
    assert_eq!(*d.stats(), DefragStats::default());
}

#[test]
fn families_and_protocols_do_not_mix() {
    // Same identification, IPv4 addresses equal to the IPv6 ones' first
    // four bytes: AF confusion (suricata security-8510) must not merge them.
    let v4 = v4_udp(0xe78c, &payload(40, 21));
    let mut v6 = v6_udp(&payload(40, 22));
    v6[8..12].copy_from_slice(&V4_SRC);
    v6[24..28].copy_from_slice(&V4_DST);
    let mut d = Defragmenter::default();
    assert_eq!(
        push(&mut d, 0, &v4_frag(&v4, 0, 24, true)),
        Outcome::Buffered
    );
    assert_eq!(
        push(&mut d, 0, &v6_frag(&v6, 0xe78c, 0, 24, true)),
        Outcome::Buffered
    );
    // another protocol with the same IPv4 id is another datagram
    let mut other = v4_frag(&v4, 24, 24, false);
    other[9] = 6;
    set_v4_checksum(&mut other);
    assert_eq!(push(&mut d, 0, &other), Outcome::Buffered);
    assert_eq!(d.datagrams(), 3);
    assert_eq!(complete(push(&mut d, 0, &v4_frag(&v4, 24, 24, false))), v4);
    assert_eq!(
        complete(push(&mut d, 0, &v6_frag(&v6, 0xe78c, 24, 24, false))),
        v6
    );
}

#[test]
fn first_header_is_kept_and_fixed_up() {
    // Options and DF on the first fragment, a different TTL later.
    let base = v4_udp(15, &payload(92, 23)); // 100 data bytes
    let mut first = v4_frag(&base, 0, 48, true);
    first.splice(20..20, [0x94u8, 4, 0, 0]); // router alert option
    first[0] = 0x46;
    first[6] |= 0x40; // DF
    first[8] = 9; // TTL
    let tl = first.len() as u16;
    first[2..4].copy_from_slice(&tl.to_be_bytes());
    set_v4_checksum(&mut first);
    let mut last = v4_frag(&base, 48, 52, false);
    last[8] = 200;
    set_v4_checksum(&mut last);
    let mut d = Defragmenter::default();
    assert_eq!(push(&mut d, 0, &last), Outcome::Buffered);
    let out = complete(push(&mut d, 0, &first));
    assert_eq!(out.len(), 24 + 100);
    assert_eq!(&out[2..4], &124u16.to_be_bytes());
    assert_eq!(&out[6..8], &[0x40, 0], "DF kept, MF and offset cleared");
    assert_eq!(
        (out[0], out[8], &out[20..24]),
        (0x46, 9, &[0x94u8, 4, 0, 0][..])
    );
    assert_eq!(ipv4_checksum(&out[..24]), 0, "the checksum verifies");
    assert_eq!(&out[24..], &base[20..]);
    let p = info(&out);
    assert_eq!(
        (p.status, p.transport, p.payload_len),
        (Status::Ok, Transport::Udp, 92)
    );
}

#[test]
fn link_layer_vlan_and_padding() {
    // Ethernet + 802.1Q, a short last fragment padded to 60 bytes.
    let dgram = v4_udp(16, &payload(1480, 24)); // 1488 data bytes
    let frags = v4_split(&dgram, 1480);
    assert_eq!(frags[1].len(), 28);
    let eth = |ip: &[u8]| {
        let mut f = [
            &[2u8; 6][..],
            &[4; 6],
            &[0x81, 0x00, 0x00, 0x0a, 0x08, 0x00],
            ip,
        ]
        .concat();
        f.resize(f.len().max(60), 0xee);
        f
    };
    let mut d = Defragmenter::default();
    let f0 = eth(&frags[0]);
    let f1 = eth(&frags[1]);
    assert_eq!(f1.len(), 60);
    let p = decode(LinkType::ETHERNET, &f0, f0.len() as u32);
    assert_eq!(p.l3_offset, 18);
    assert_eq!(d.push(0, &f0, &p), Outcome::Buffered);
    let p = decode(LinkType::ETHERNET, &f1, f1.len() as u32);
    assert_eq!(complete(d.push(0, &f1, &p)), dgram);
}

#[test]
fn zero_length_last_fragment() {
    let dgram = v4_udp(17, &payload(8, 25)); // 16 data bytes
    let mut d = Defragmenter::default();
    assert_eq!(
        push(&mut d, 0, &v4_frag(&dgram, 0, 16, true)),
        Outcome::Buffered
    );
    let mut end = v4_frag(&dgram, 16, 0, false);
    end[6..8].copy_from_slice(&2u16.to_be_bytes());
    set_v4_checksum(&mut end);
    assert_eq!(complete(push(&mut d, 0, &end)), dgram);
}

#[test]
fn nested_ipv6_fragments_reassemble_when_pushed_again() {
    // The outer datagram's fragmentable part is itself a fragment (as in
    // suricata-verify's ipv6-malformed-fragments-35).
    let inner = v6_udp(&payload(200, 26));
    let inner_first = v6_frag(&inner, 0xbbbb, 0, 104, true);
    let inner_last = v6_frag(&inner, 0xbbbb, 104, 104, false);
    let outer = v6_split(&inner_first, 0xaaaa, 64);
    let mut d = Defragmenter::default();
    let mut last = Outcome::Buffered;
    for f in &outer {
        last = push(&mut d, 0, f);
    }
    let reassembled = complete(last);
    assert_eq!(reassembled, inner_first);
    assert_eq!(push(&mut d, 0, &reassembled), Outcome::Buffered);
    assert_eq!(complete(push(&mut d, 0, &inner_last)), inner);
}

#[test]
fn fifo_stays_proportional_to_the_table() {
    // Many datagrams complete without time moving: the expiry queue's stale
    // entries must not pile up.
    let mut d = Defragmenter::default();
    for id in 0..5000u16 {
        let frags = v4_split(&v4_udp(id, &payload(16, 0)), 8);
        for f in &frags {
            let _ = push(&mut d, 0, f);
        }
        assert!(d.fifo.len() <= 2 * d.table.len() + 65);
    }
    assert_eq!(d.stats().datagrams_reassembled, 5000);
}

// --------------------------------------------------------------- proptests

mod props {
    use super::*;
    use proptest::prelude::*;

    fn cases(default: u32) -> u32 {
        std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    /// Fragments `[start, end)` in the data space, each a multiple of 8 but
    /// the last, from cut points.
    fn ranges(total: usize, cuts: &[usize]) -> Vec<(usize, usize)> {
        let mut pts: Vec<usize> = cuts.iter().map(|c| (c % total.max(1)) & !7).collect();
        pts.push(0);
        pts.push(total);
        pts.sort_unstable();
        pts.dedup();
        pts.windows(2).map(|w| (w[0], w[1])).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(cases(300)))]

        /// Any split, any order, with duplicates and identical overlaps:
        /// exactly the original datagram, once.
        #[test]
        fn any_split_any_order_reassembles(
            v6 in any::<bool>(),
            len in 1usize..3000,
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
            dups in proptest::collection::vec(any::<usize>(), 0..4),
            seed in any::<u64>(),
        ) {
            let dgram = if v6 { v6_udp(&payload(len, seed as u8)) } else { v4_udp(seed as u16, &payload(len, seed as u8)) };
            let total = dgram.len() - if v6 { 40 } else { 20 };
            let mut frags: Vec<Vec<u8>> = ranges(total, &cuts)
                .into_iter()
                .map(|(s, e)| if v6 {
                    v6_frag(&dgram, seed as u32, s, e - s, e < total)
                } else {
                    v4_frag(&dgram, s, e - s, e < total)
                })
                .collect();
            let whole = frags.len() == 1;
            for &i in &dups {
                let f = frags[i % frags.len()].clone();
                frags.push(f);
            }
            // a seeded shuffle
            let mut x = seed | 1;
            for i in (1..frags.len()).rev() {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                frags.swap(i, (x % (i as u64 + 1)) as usize);
            }
            let mut d = Defragmenter::default();
            let mut done = Vec::new();
            for f in &frags {
                match push(&mut d, 0, f) {
                    Outcome::Complete(v) => done.push(v),
                    Outcome::NotAFragment => prop_assert!(whole),
                    Outcome::Buffered | Outcome::Dropped(DropReason::Duplicate) => {}
                    other => prop_assert!(false, "{:?}", other),
                }
                check_invariants(&d);
            }
            if whole {
                prop_assert!(done.is_empty());
            } else {
                prop_assert!(!done.is_empty());
                prop_assert_eq!(&done[0], &dgram);
            }
        }

        /// Arbitrary fragment sequences (mangled headers, random offsets,
        /// flags, lengths, times and raw garbage) under tight limits: no
        /// panic, the bounds hold, every Complete is a well-formed datagram.
        #[test]
        fn arbitrary_fragments_never_panic_and_stay_bounded(
            ops in proptest::collection::vec(
                (0u8..6, any::<u16>(), 0usize..200, any::<bool>(), 0u64..20, any::<u64>(),
                 proptest::collection::vec(any::<u8>(), 0..80)),
                1..60),
            limits in (1usize..4, 1usize..3000, 1usize..10, prop_oneof![Just(65535usize), 0usize..70000]),
        ) {
            let opts = DefragOptions {
                max_datagrams: limits.0,
                max_bytes: limits.1,
                max_fragments: limits.2,
                max_datagram_size: limits.3,
                timeout_ns: 5 * S,
            };
            let mut d = Defragmenter::new(opts);
            let mut ts = 0u64;
            let base4 = v4_udp(1, &payload(500, 1));
            let base6 = v6_udp(&payload(500, 2));
            let split4 = v4_split(&v4_udp(2, &payload(300, 3)), 96);
            let split6 = v6_split(&v6_udp(&payload(300, 4)), 4, 128);
            let (mut clean4, mut clean6) = (0, 0);
            // Fragments cut from one byte stream agree where they overlap
            // (until mangled); offsets and lengths mostly in 8-byte units,
            // a few far out, so that datagrams complete, collide and overflow.
            let stream = |s: usize, len: usize| -> Vec<u8> {
                (s..s + len).map(|i| (i as u8).wrapping_mul(7)).collect()
            };
            let shape = |off: u16, len: usize, more: bool| -> (usize, usize) {
                let s = if off & 0xe000 == 0xe000 { (off as usize & 0x1fff) * 8 } else { (off as usize % 12) * 8 };
                let len = if more && off & 0x0f00 != 0x0f00 { (len % 6 + 1) * 8 } else { len % 100 };
                (s, len)
            };
            for (kind, off, len, more, dt, mangle, raw) in ops {
                ts += dt * S / 16;
                let mut pkt = match kind {
                    0 => {
                        let (s, len) = shape(off, len, more);
                        let mut f = v4_frag(&base4, 0, 8, true);
                        f.truncate(20);
                        f.extend_from_slice(&stream(s, len));
                        let tl = f.len() as u16;
                        f[2..4].copy_from_slice(&tl.to_be_bytes());
                        let word = (more as u16) << 13 | (s / 8) as u16;
                        f[6..8].copy_from_slice(&word.to_be_bytes());
                        f
                    }
                    1 => {
                        let (s, len) = shape(off, len, more);
                        let mut f = v6_frag(&base6, 3, 0, 8, true);
                        f.truncate(48);
                        f.extend_from_slice(&stream(s, len));
                        let word = ((s / 8) as u16) << 3 | more as u16;
                        f[42..44].copy_from_slice(&word.to_be_bytes());
                        let pl = (f.len() - 40) as u16;
                        f[4..6].copy_from_slice(&pl.to_be_bytes());
                        f
                    }
                    2 => {
                        let mut f = raw.clone();
                        if let Some(b) = f.first_mut() {
                            *b = if more { 0x45 } else { 0x60 };
                        }
                        f
                    }
                    3 => raw.clone(),
                    // the next fragment of clean splits: these complete
                    4 => {
                        clean4 += 1;
                        split4[clean4 % split4.len()].clone()
                    }
                    _ => {
                        clean6 += 1;
                        split6[clean6 % split6.len()].clone()
                    }
                };
                // mangle a byte or cut the tail now and then
                if mangle % 7 == 0 && !pkt.is_empty() {
                    let i = (mangle >> 8) as usize % pkt.len();
                    pkt[i] ^= (mangle >> 32) as u8 | 1;
                }
                let caplen = if mangle % 11 == 1 { pkt.len() / 2 } else { pkt.len() };
                let p = decode(LinkType::RAW, &pkt[..caplen], pkt.len() as u32);
                if let Outcome::Complete(v) = d.push(ts, &pkt[..caplen], &p) {
                    if v[0] >> 4 == 4 {
                        prop_assert_eq!(u16::from_be_bytes([v[2], v[3]]) as usize, v.len());
                        let ihl = (v[0] & 0x0f) as usize * 4;
                        prop_assert_eq!(ipv4_checksum(&v[..ihl]), 0);
                    } else {
                        prop_assert_eq!(u16::from_be_bytes([v[4], v[5]]) as usize + 40, v.len());
                    }
                    prop_assert!(v.len() <= 65535 + 40);
                    let _ = decode(LinkType::RAW, &v, v.len() as u32);
                }
                check_invariants(&d);
            }
            let open = d.table.values().filter(|x| matches!(x.state, State::Open(_))).count();
            prop_assert_eq!(d.flush(), open);
            prop_assert_eq!((d.datagrams(), d.buffered_bytes()), (0, 0));
        }
    }
}
