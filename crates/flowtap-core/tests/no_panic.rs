//! The crate's robustness contract, checked with proptest: no input bytes make
//! `decode`, `CaptureReader` or `PacketSource` panic or spin, decoded offsets
//! stay inside the frame, and readers stop for good after an error.

use std::io::Read;

use flowtap_core::capture::{CaptureReader, ReaderOptions};
use flowtap_core::decode::{decode, PacketInfo, Status};
use flowtap_core::source::{PacketSource, SourceOptions};
use flowtap_core::LinkType;
use proptest::prelude::*;

/// Small buffers keep each case cheap (the reader enforces 64 KiB at least).
const SMALL: ReaderOptions = ReaderOptions {
    buffer_size: 64 * 1024,
    max_packet_len: 262_144,
    max_block_len: 16 << 20,
};

/// Case counts keep the debug test run to a few seconds; set PROPTEST_CASES for a
/// deeper run (e.g. nightly, or in release mode).
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

// ------------------------------------------------------------------ decode

fn check_info(p: &PacketInfo, data: &[u8]) {
    let end = p.payload_offset as u64 + p.payload_len as u64;
    assert!(
        end <= data.len() as u64,
        "payload {end} > {}: {p:?}",
        data.len()
    );
    assert!(p.l3_offset as usize <= data.len(), "{p:?}");
    assert!(p.l4_offset as usize <= data.len(), "{p:?}");
    if p.l4_offset != 0 && data.len() <= u16::MAX as usize {
        assert!(p.l4_offset >= p.l3_offset, "{p:?}");
    }
    if p.status == Status::Ok && p.l4_offset != 0 {
        assert!(p.payload_offset >= p.l4_offset, "{p:?}");
    }
}

fn decode_checked(link: u16, data: &[u8], origlen: u32) {
    let p = decode(LinkType(link), data, origlen);
    check_info(&p, data);
}

/// Frames that reach deep into the decoder when mutated.
fn templates() -> Vec<(u16, Vec<u8>)> {
    use etherparse::PacketBuilder;
    let mut out = Vec::new();
    let mut push = |link: u16, b: Vec<u8>| out.push((link, b));

    let mut v = Vec::new();
    PacketBuilder::ethernet2([1; 6], [2; 6])
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .tcp(1234, 80, 1, 29200)
        .syn()
        .options(&[
            etherparse::TcpOptionElement::MaximumSegmentSize(1460),
            etherparse::TcpOptionElement::Noop,
            etherparse::TcpOptionElement::WindowScale(7),
            etherparse::TcpOptionElement::Timestamp(1, 2),
        ])
        .unwrap()
        .write(&mut v, b"hello")
        .unwrap();
    push(1, v);

    let mut v = Vec::new();
    PacketBuilder::ethernet2([1; 6], [2; 6])
        .double_vlan(
            etherparse::VlanId::try_new(10).unwrap(),
            etherparse::VlanId::try_new(20).unwrap(),
        )
        .ipv6([1; 16], [2; 16], 64)
        .udp(53, 5353)
        .write(&mut v, b"dns")
        .unwrap();
    push(1, v);

    let mut v = Vec::new();
    PacketBuilder::ipv4([1, 2, 3, 4], [5, 6, 7, 8], 1)
        .icmpv4_echo_request(1, 2)
        .write(&mut v, b"ping")
        .unwrap();
    push(101, v.clone());
    push(0, [&2u32.to_le_bytes()[..], &v].concat());
    push(108, [&2u32.to_be_bytes()[..], &v].concat());

    let mut v = Vec::new();
    PacketBuilder::ipv6([1; 16], [2; 16], 1)
        .icmpv6_echo_request(1, 2)
        .write(&mut v, b"ping6")
        .unwrap();
    push(229, v.clone());
    // IPv6 with hop-by-hop, destination options and a fragment header
    let mut x = v.clone();
    x[6] = 0; // next header: hop-by-hop
    let exts = [
        60, 0, 1, 4, 0, 0, 0, 0, // hop-by-hop -> destination options
        44, 0, 1, 4, 0, 0, 0, 0, // destination options -> fragment
        58, 0, 0, 0, 0, 0, 0, 9, // fragment (offset 0, M=0) -> ICMPv6
    ];
    x.splice(40..40, exts);
    let plen = (x.len() - 40) as u16;
    x[4..6].copy_from_slice(&plen.to_be_bytes());
    push(101, x);

    // Linux SLL and SLL2 carrying IPv4/UDP
    let mut ip = Vec::new();
    PacketBuilder::ipv4([1, 1, 1, 1], [2, 2, 2, 2], 9)
        .udp(1, 2)
        .write(&mut ip, &[7; 20])
        .unwrap();
    let sll = [0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 8, 0];
    push(113, [&sll[..], &ip].concat());
    let sll2 = [8, 0, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0];
    push(276, [&sll2[..], &ip].concat());
    // MPLS over Ethernet
    let eth_mpls = [[2u8; 6], [1u8; 6]].concat();
    push(
        1,
        [&eth_mpls[..], &[0x88, 0x47, 0, 1, 0, 64, 0, 2, 1, 64], &ip].concat(),
    );
    // ARP
    let arp = [
        0, 1, 8, 0, 6, 4, 0, 1, 1, 2, 3, 4, 5, 6, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2,
    ];
    push(1, [&eth_mpls[..], &[0x08, 0x06], &arp].concat());
    out
}

fn known_link() -> impl Strategy<Value = u16> {
    prop_oneof![
        3 => prop::sample::select(vec![0u16, 1, 12, 14, 101, 108, 113, 228, 229, 276]),
        1 => any::<u16>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(5000)))]

    #[test]
    fn decode_never_panics_on_arbitrary_bytes(
        link in known_link(),
        data in prop::collection::vec(any::<u8>(), 0..300),
        extra in prop_oneof![Just(0u32), 0u32..64, any::<u32>()],
    ) {
        let origlen = (data.len() as u32).saturating_add(extra);
        decode_checked(link, &data, origlen);
        decode_checked(link, &data, 0);
    }

    #[test]
    fn decode_never_panics_on_mutated_frames(
        pick in any::<prop::sample::Index>(),
        writes in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in any::<prop::sample::Index>(),
        do_cut in any::<bool>(),
        mark_cut in any::<bool>(),
    ) {
        let all = templates();
        let (link, mut data) = all[pick.index(all.len())].clone();
        let orig = data.len() as u32;
        for (at, b) in writes {
            let i = at.index(data.len());
            data[i] = b;
        }
        if do_cut {
            data.truncate(cut.index(data.len() + 1));
        }
        let origlen = if mark_cut { orig.max(data.len() as u32) } else { data.len() as u32 };
        decode_checked(link, &data, origlen);
    }
}

/// Every one of the 65536 link-type values, on a few shapes of frame.
#[test]
fn decode_every_link_type_value() {
    let mut frames: Vec<Vec<u8>> = vec![vec![], vec![0x45], vec![0xff; 3], vec![0; 64]];
    frames.extend(templates().into_iter().map(|(_, f)| f));
    for link in 0..=u16::MAX {
        for f in &frames {
            decode_checked(link, f, f.len() as u32);
            decode_checked(link, f, f.len() as u32 + 100);
        }
    }
}

// ------------------------------------------------------------------ captures

/// A reader that hands out at most `chunk` bytes per `read`, like a pipe.
struct Trickle<'a> {
    data: &'a [u8],
    chunk: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.chunk.max(1).min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Reads every frame; asserts termination (each frame consumes input, so
/// there can be no more frames than bytes) and that the reader stays
/// finished after the end or an error.
fn drain_reader<R: Read + Send>(input: R, len: usize) -> (usize, bool) {
    let mut r = match CaptureReader::new(input, SMALL) {
        Ok(r) => r,
        Err(e) => {
            let _ = (e.code(), e.offset(), e.to_string());
            return (0, true);
        }
    };
    let mut frames = 0usize;
    let failed = loop {
        match r.next_frame() {
            Ok(Some(f)) => {
                frames += 1;
                assert!(frames <= len, "more frames than input bytes");
                assert!(f.data.len() <= SMALL.max_packet_len as usize);
                check_info(&decode(f.link_type, f.data, f.origlen), f.data);
            }
            Ok(None) => break false,
            Err(e) => {
                let _ = (e.code(), e.offset(), e.to_string());
                break true;
            }
        }
    };
    for _ in 0..3 {
        assert!(
            matches!(r.next_frame(), Ok(None)),
            "reader restarted after the end"
        );
    }
    assert!(r.position() as usize <= len);
    (frames, failed)
}

/// The same through `PacketSource`, in tiny batches; checks that batches add
/// up to the stats and that the source stays finished.
fn drain_source(bytes: &[u8], batch_packets: usize) -> (u64, bool) {
    let opts = SourceOptions {
        reader: SMALL,
        batch_packets,
        batch_bytes: 4096,
        keep_bytes: batch_packets % 2 == 1,
    };
    let mut s = match PacketSource::new(bytes, opts) {
        Ok(s) => s,
        Err(_) => return (0, true),
    };
    let mut seen = 0u64;
    let mut failed = false;
    for _ in 0..=bytes.len() + 1 {
        match s.next_batch() {
            Ok(Some(b)) => {
                assert!(!b.is_empty() && b.len() <= batch_packets);
                for i in 0..b.len() {
                    let caplen = b.u32_col(flowtap_core::batch::U32_CAPLEN)[i] as u64;
                    let off = b.u32_col(flowtap_core::batch::U32_PAYLOAD_OFFSET)[i] as u64;
                    let len = b.u32_col(flowtap_core::batch::U32_PAYLOAD_LEN)[i] as u64;
                    assert!(off + len <= caplen);
                    if opts.keep_bytes {
                        assert_eq!(b.packet_data(i).len() as u64, caplen);
                    }
                }
                seen += b.len() as u64;
            }
            Ok(None) => break,
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    for _ in 0..3 {
        assert!(
            matches!(s.next_batch(), Ok(None)),
            "source restarted after the end"
        );
    }
    assert_eq!(s.stats().packets, seen);
    (seen, failed)
}

fn pcap_header(magic: u32, big_endian: bool, link: u32) -> Vec<u8> {
    let w32 = |v: u32| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let w16 = |v: u16| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    [
        &w32(magic)[..],
        &w16(2),
        &w16(4),
        &[0; 8],
        &w32(65535),
        &w32(link),
    ]
    .concat()
}

fn pcap_record(frame: &[u8], ts: u32) -> Vec<u8> {
    let len = frame.len() as u32;
    [
        &ts.to_le_bytes()[..],
        &500u32.to_le_bytes(),
        &len.to_le_bytes(),
        &(len + 4).to_le_bytes(),
        frame,
    ]
    .concat()
}

fn ng_block(kind: u32, body: &[u8]) -> Vec<u8> {
    let mut body = body.to_vec();
    body.resize(body.len().div_ceil(4) * 4, 0);
    let len = (12 + body.len() as u32).to_le_bytes();
    [&kind.to_le_bytes()[..], &len, &body, &len].concat()
}

fn ng_shb() -> Vec<u8> {
    let body = [
        &0x1A2B_3C4Du32.to_le_bytes()[..],
        &1u16.to_le_bytes(),
        &0u16.to_le_bytes(),
        &(-1i64).to_le_bytes(),
    ]
    .concat();
    ng_block(0x0A0D_0D0A, &body)
}

fn ng_idb(link: u16, tsresol: u8) -> Vec<u8> {
    let body = [
        &link.to_le_bytes()[..],
        &[0, 0],
        &0u32.to_le_bytes(),
        &9u16.to_le_bytes(),
        &1u16.to_le_bytes(),
        &[tsresol, 0, 0, 0],
        &[0; 4],
    ]
    .concat();
    ng_block(1, &body)
}

fn ng_epb(iface: u32, frame: &[u8]) -> Vec<u8> {
    let len = frame.len() as u32;
    let body = [
        &iface.to_le_bytes()[..],
        &1u32.to_le_bytes(),
        &2u32.to_le_bytes(),
        &len.to_le_bytes(),
        &len.to_le_bytes(),
        frame,
    ]
    .concat();
    ng_block(6, &body)
}

/// Valid captures (all formats the reader knows) to mutate.
fn capture_templates() -> Vec<Vec<u8>> {
    let frames: Vec<(u16, Vec<u8>)> = templates();
    let eth: Vec<&Vec<u8>> = frames
        .iter()
        .filter(|(l, _)| *l == 1)
        .map(|(_, f)| f)
        .collect();
    let mut out = Vec::new();
    for (magic, be) in [
        (0xa1b2_c3d4u32, false),
        (0xa1b2_3c4d, false),
        (0xa1b2_c3d4, true),
    ] {
        let mut v = pcap_header(magic, be, 1);
        if !be {
            for (i, f) in eth.iter().enumerate() {
                v.extend(pcap_record(f, i as u32));
            }
        }
        out.push(v);
    }
    let mut ng = ng_shb();
    ng.extend(ng_idb(1, 6));
    ng.extend(ng_idb(101, 9));
    for f in &eth {
        ng.extend(ng_epb(0, f));
    }
    ng.extend(ng_block(
        3,
        &[&60u32.to_le_bytes()[..], &[0x11; 60]].concat(),
    )); // SPB
    ng.extend(ng_block(5, &[0; 16])); // ISB
    ng.extend(ng_block(0x0bad, &[0; 8])); // custom
    ng.extend(ng_shb());
    ng.extend(ng_idb(113, 0x80 | 20));
    ng.extend(ng_epb(0, &[0; 20]));
    out.push(ng);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(1000)))]

    #[test]
    fn reader_and_source_survive_arbitrary_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        chunk in 1usize..64,
    ) {
        drain_reader(&bytes[..], bytes.len());
        drain_reader(Trickle { data: &bytes, chunk }, bytes.len());
        drain_source(&bytes, 1 + chunk % 4);
    }

    #[test]
    fn reader_survives_valid_headers_then_arbitrary_bytes(
        which in 0usize..7,
        tail in prop::collection::vec(any::<u8>(), 0..600),
        chunk in 1usize..64,
    ) {
        let mut bytes = match which {
            0 => pcap_header(0xa1b2_c3d4, false, 1),
            1 => pcap_header(0xa1b2_3c4d, true, 113),
            2 => pcap_header(0xa1b2_cd34, false, 1),
            3 => pcap_header(0xa1b2_c3d4, true, 0),
            4 => ng_shb(),
            5 => [ng_shb(), ng_idb(1, 6)].concat(),
            _ => [ng_shb(), ng_idb(1, 6), ng_idb(276, 9)].concat(),
        };
        bytes.extend_from_slice(&tail);
        drain_reader(&bytes[..], bytes.len());
        drain_reader(Trickle { data: &bytes, chunk }, bytes.len());
        drain_source(&bytes, 1 + chunk % 3);
    }

    #[test]
    fn reader_survives_mutated_captures(
        pick in any::<prop::sample::Index>(),
        writes in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in prop::option::of(any::<prop::sample::Index>()),
        chunk in 1usize..200,
    ) {
        let all = capture_templates();
        let mut bytes = all[pick.index(all.len())].clone();
        for (at, b) in writes {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        if let Some(c) = cut {
            bytes.truncate(c.index(bytes.len() + 1));
        }
        let whole = drain_reader(&bytes[..], bytes.len());
        // Short reads must not change what is read.
        prop_assert_eq!(drain_reader(Trickle { data: &bytes, chunk }, bytes.len()), whole);
        let (seen, _) = drain_source(&bytes, 2);
        prop_assert_eq!(seen as usize, whole.0);
    }
}

#[test]
fn unmutated_capture_templates_read_cleanly() {
    let counts: Vec<(usize, bool)> = capture_templates()
        .iter()
        .map(|b| drain_reader(&b[..], b.len()))
        .collect();
    let eth = templates().iter().filter(|(l, _)| *l == 1).count();
    assert_eq!(
        counts,
        vec![(eth, false), (eth, false), (0, false), (eth + 2, false)]
    );
}

/// Inputs larger than the reader's buffer exercise the grow/refill paths;
/// a corrupt inner length there once made the reader spin forever.
#[test]
fn large_inputs_with_corrupt_records_terminate() {
    let filler: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + 3) as u8).collect();
    let mut cases = Vec::new();
    // EPB whose caplen overruns its own (valid) block length
    for caplen in [100u32, 70_000, 4_000_000_000] {
        let mut ng = [ng_shb(), ng_idb(1, 6)].concat();
        let mut epb = ng_epb(0, &[0; 60]);
        epb[20..24].copy_from_slice(&caplen.to_le_bytes());
        ng.extend(epb);
        while ng.len() < 200_000 {
            ng.extend(ng_block(0x0bad, &[0; 1000]));
        }
        cases.push(ng);
    }
    // pcap and pcapng headers followed by a large pseudo-random tail
    cases.push([pcap_header(0xa1b2_c3d4, false, 1), filler.clone()].concat());
    cases.push([ng_shb(), ng_idb(1, 6), filler.clone()].concat());
    // a big block, then garbage
    cases.push(
        [
            ng_shb(),
            ng_idb(1, 6),
            ng_epb(0, &filler[..200_000]),
            filler[..5000].to_vec(),
        ]
        .concat(),
    );
    for bytes in &cases {
        let (_, failed) = drain_reader(&bytes[..], bytes.len());
        assert!(failed);
        drain_reader(
            Trickle {
                data: bytes,
                chunk: 4093,
            },
            bytes.len(),
        );
        drain_source(bytes, 3);
    }
}
