//! Property tests of the session parsers: any bytes, any chunking, any
//! order of data/gap/end calls never panic, never grow memory past the
//! limits, and (without gaps) give the same records however the stream is
//! chunked.

use flowtap_core::session::dns::parse_message;
use flowtap_core::session::x509::parse_certificate;
use flowtap_core::session::{
    detect, new_parser, Direction, Protocol, SessionEvent, SessionOptions, Transport,
};
use proptest::prelude::*;

/// Small limits so that the bounds are reached by short inputs.
fn small_opts() -> SessionOptions {
    SessionOptions {
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

/// Upper bound of `memory_usage()` for `small_opts()`: buffers (header
/// block, chunk line, TLS handshake, DNS/TCP message with growth slack) plus
/// the pending records at their limits.
const BOUND: usize = 2 * (1 << 17) + 64 * 1024;

#[derive(Debug, Clone)]
enum Op {
    Data(bool, Vec<u8>),
    Gap(bool, u64),
    End(bool),
}

fn dir(orig: bool) -> Direction {
    if orig {
        Direction::Orig
    } else {
        Direction::Resp
    }
}

/// Seeds that reach deep parser states when mutated.
fn seeds() -> Vec<Vec<u8>> {
    let ch = {
        let body: Vec<u8> = [
            &[3u8, 3][..],
            &[0; 32],
            &[
                0, 0, 4, 0x13, 1, 0xc0, 0x2f, 1, 0, 0, 14, 0, 0, 0, 10, 0, 8, 0, 0, 5,
            ],
            b"a.com",
        ]
        .concat();
        let mut hs = vec![1, 0, 0, body.len() as u8];
        hs.extend(body);
        let mut r = vec![22, 3, 1, 0, hs.len() as u8];
        r.extend(hs);
        r
    };
    let dns = {
        let mut m = vec![0, 30, 0x12, 0x34, 1, 0, 0, 1, 0, 1, 0, 0, 0, 0];
        m.extend([1, b'a', 3, b'c', b'o', b'm', 0, 0, 1, 0, 1]);
        m.extend([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 9, 0, 4, 1, 2, 3, 4]);
        m
    };
    vec![
        b"GET /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcHEAD / HTTP/1.0\r\n\r\n".to_vec(),
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x\r\nabc\r\n0\r\nT: 1\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n".to_vec(),
        ch,
        dns,
    ]
}

fn mutate(seed: &[u8], edits: &[(usize, u8)]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for &(at, b) in edits {
        if v.is_empty() {
            v.push(b);
            continue;
        }
        let i = at % v.len();
        match b % 4 {
            0 => v[i] = b,
            1 => v.insert(i, b),
            2 => {
                v.remove(i);
            }
            _ => v[i] ^= 1 << (b % 8),
        }
    }
    v
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (any::<bool>(), prop::collection::vec(any::<u8>(), 0..200)).prop_map(|(o, b)| Op::Data(o, b)),
        3 => (any::<bool>(), 0usize..4, prop::collection::vec((any::<usize>(), any::<u8>()), 0..6))
            .prop_map(|(o, s, e)| Op::Data(o, mutate(&seeds()[s], &e))),
        1 => (any::<bool>(), prop_oneof![0u64..16, any::<u64>()]).prop_map(|(o, n)| Op::Gap(o, n)),
        1 => any::<bool>().prop_map(Op::End),
    ]
}

fn run(protocol: Protocol, udp: bool, ops: &[Op]) -> Vec<SessionEvent> {
    let mut p = new_parser(protocol, udp, &small_opts());
    let mut out = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let ts = i as u64 * 10;
        match op {
            Op::Data(o, b) if udp => p.on_datagram(dir(*o), ts, b, &mut out),
            Op::Data(o, b) => p.on_data(dir(*o), ts, b, &mut out),
            Op::Gap(o, n) => p.on_gap(dir(*o), ts, *n, &mut out),
            Op::End(o) => p.on_end(dir(*o), ts, &mut out),
        }
        assert!(p.memory_usage() <= BOUND, "memory {}", p.memory_usage());
    }
    p.finish(ops.len() as u64 * 10, &mut out);
    out
}

/// Events with timestamps zeroed (they follow the chunking).
fn normalized(ev: Vec<SessionEvent>) -> String {
    ev.into_iter()
        .map(|e| {
            let mut e = e;
            match &mut e {
                SessionEvent::Http(t) => {
                    for r in t.request.iter_mut() {
                        (r.start_ts, r.end_ts) = (0, 0);
                    }
                    for r in t.response.iter_mut() {
                        (r.start_ts, r.end_ts) = (0, 0);
                    }
                    for i in &mut t.interim {
                        i.ts = 0;
                    }
                }
                SessionEvent::Dns(t) => (t.query_ts, t.response_ts) = (0, 0),
                SessionEvent::TlsClientHello(h) => h.ts = 0,
                SessionEvent::TlsServerHello(h) => h.ts = 0,
                SessionEvent::Anomaly(a) => a.ts = 0,
                _ => {}
            }
            format!("{e:?}\n")
        })
        .collect()
}

/// Feeds one stream per direction (orig first, then resp) cut at `cuts`.
fn chunked(protocol: Protocol, orig: &[u8], resp: &[u8], cuts: &[usize]) -> String {
    let mut p = new_parser(protocol, false, &small_opts());
    let mut out = Vec::new();
    for (d, bytes) in [(Direction::Orig, orig), (Direction::Resp, resp)] {
        let mut at = 0;
        for c in cuts
            .iter()
            .map(|c| c % (bytes.len() + 1))
            .chain([bytes.len()])
        {
            if c > at {
                p.on_data(d, 0, &bytes[at..c], &mut out);
                at = c;
            }
        }
    }
    p.finish(0, &mut out);
    normalized(out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_ops_never_panic(ops in prop::collection::vec(op(), 0..40)) {
        run(Protocol::Http, false, &ops);
        run(Protocol::Tls, false, &ops);
        run(Protocol::Dns, false, &ops);
        run(Protocol::Dns, true, &ops);
    }

    #[test]
    fn chunking_does_not_matter(
        s1 in 0usize..4,
        s2 in 0usize..4,
        e1 in prop::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        e2 in prop::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        mut cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let seeds = seeds();
        let orig = mutate(&[seeds[s1].clone(), seeds[s2].clone()].concat(), &e1);
        let resp = mutate(&[seeds[s2].clone(), seeds[s1].clone()].concat(), &e2);
        for proto in [Protocol::Http, Protocol::Tls, Protocol::Dns] {
            let whole = chunked(proto, &orig, &resp, &[]);
            let bytes: Vec<usize> = (0..orig.len().max(resp.len())).collect();
            prop_assert_eq!(&whole, &chunked(proto, &orig, &resp, &bytes));
            cuts.sort_unstable_by_key(|c| c % 4096);
            let cut: Vec<usize> = cuts.iter().map(|c| c % 4096).collect();
            prop_assert_eq!(&whole, &chunked(proto, &orig, &resp, &cut));
        }
    }

    #[test]
    fn dns_decoder_never_panics(b in prop::collection::vec(any::<u8>(), 0..600)) {
        let m = parse_message(&b, 4, 32);
        prop_assert!(m.questions.len() <= 4 && m.answers.len() <= 4);
        prop_assert!(m.questions.iter().all(|q| q.name.len() <= 32));
    }

    #[test]
    fn x509_never_panics(b in prop::collection::vec(any::<u8>(), 0..400), cut in any::<usize>()) {
        parse_certificate(&b, 4, 32);
        // DER-looking prefixes reach deeper.
        let mut d = vec![0x30, 0x82, 0x01, 0x00, 0x30, 0x81, 0xf0, 0xa0, 0x03, 0x02, 0x01, 0x02, 0x02, 0x01, 0x05];
        d.extend_from_slice(&b[..cut % (b.len() + 1)]);
        let c = parse_certificate(&d, 4, 32);
        prop_assert!(c.san_dns.len() <= 4 && c.subject.len() <= 32 && c.issuer.len() <= 32);
    }

    #[test]
    fn detect_never_panics(
        a in prop::collection::vec(any::<u8>(), 0..64),
        b in prop::collection::vec(any::<u8>(), 0..64),
        p1 in any::<u16>(),
        p2 in any::<u16>(),
    ) {
        detect(Transport::Tcp, &a, &b, p1, p2);
        detect(Transport::Udp, &a, &b, p1, p2);
        detect(Transport::Tcp, &a, &b, 53, p2);
        detect(Transport::Udp, &a, &b, p1, 53);
    }
}

/// A long run of tiny pipelined requests with no responses keeps the
/// pending table at its limit.
#[test]
fn pending_requests_stay_bounded() {
    let mut p = new_parser(Protocol::Http, false, &small_opts());
    let mut out = Vec::new();
    for i in 0..10_000u64 {
        p.on_data(
            Direction::Orig,
            i,
            b"GET /x HTTP/1.1\r\nA: b\r\n\r\n",
            &mut out,
        );
        assert!(p.memory_usage() <= BOUND);
        out.clear();
    }
    let mut p = new_parser(Protocol::Dns, true, &small_opts());
    let q = [0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'a', 0, 0, 1, 0, 1];
    for i in 0..10_000u64 {
        p.on_datagram(Direction::Orig, i, &q, &mut out);
        assert!(p.memory_usage() <= BOUND);
        out.clear();
    }
}
