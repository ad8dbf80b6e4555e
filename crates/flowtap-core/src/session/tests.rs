//! Unit tests of the session parsers on literal bytes: the edge cases of
//! each protocol, chunking independence and the limits.

use super::dns::{parse_message, DnsTransaction, RData};
use super::http::HttpTransaction;
use super::tls::{ClientHello, ServerHello, TlsSummary};
use super::*;

use Direction::{Orig, Resp};

fn feed(p: &mut dyn SessionParser, script: &[(Direction, &[u8])]) -> Vec<SessionEvent> {
    let mut out = Vec::new();
    for (i, (d, b)) in script.iter().enumerate() {
        p.on_data(*d, i as u64, b, &mut out);
    }
    p.finish(script.len() as u64, &mut out);
    out
}

/// The same script fed one byte at a time.
fn feed_bytes(p: &mut dyn SessionParser, script: &[(Direction, &[u8])]) -> Vec<SessionEvent> {
    let mut out = Vec::new();
    for (i, (d, b)) in script.iter().enumerate() {
        for c in b.chunks(1) {
            p.on_data(*d, i as u64, c, &mut out);
        }
    }
    p.finish(script.len() as u64, &mut out);
    out
}

fn http_events(script: &[(Direction, &[u8])]) -> Vec<SessionEvent> {
    let opts = SessionOptions {
        body_capture: 16,
        ..SessionOptions::default()
    };
    let a = feed(&mut HttpParser::new(opts.clone()), script);
    let b = feed_bytes(&mut HttpParser::new(opts), script);
    assert_eq!(a, b, "byte-by-byte differs");
    a
}

fn txns(ev: &[SessionEvent]) -> Vec<HttpTransaction> {
    ev.iter()
        .filter_map(|e| match e {
            SessionEvent::Http(t) => Some((**t).clone()),
            _ => None,
        })
        .collect()
}

fn anomalies(ev: &[SessionEvent]) -> Vec<AnomalyKind> {
    ev.iter()
        .filter_map(|e| match e {
            SessionEvent::Anomaly(a) => Some(a.kind),
            _ => None,
        })
        .collect()
}

fn status(t: &HttpTransaction) -> u16 {
    t.response.as_ref().map_or(0, |r| r.status)
}

fn uri(t: &HttpTransaction) -> &str {
    t.request.as_ref().map_or("", |r| r.uri.as_str())
}

// ------------------------------------------------------------ detection

#[test]
fn detect_by_content() {
    use Detection::*;
    let d = |o: &[u8], r: &[u8]| detect(Transport::Tcp, o, r, 40000, 8080);
    assert_eq!(d(b"GET / HTTP/1.1\r\n", b""), Found(Protocol::Http));
    assert_eq!(d(b"GE", b""), NeedMore);
    assert_eq!(d(b"", b"HTTP/1.0 200 OK"), Found(Protocol::Http));
    assert_eq!(d(b"PROPFIND /x HTTP/1.1\r\n", b""), Found(Protocol::Http));
    assert_eq!(d(b"HELLO world\r\n", b""), Unknown);
    assert_eq!(d(b"SSH-2.0-OpenSSH\r\n", b""), Unknown);
    assert_eq!(d(&[0x16, 3, 1, 0, 0x50, 1], b""), Found(Protocol::Tls));
    assert_eq!(d(&[0x16, 3, 1], b""), NeedMore);
    assert_eq!(d(&[0x16, 3, 1, 0, 0x50, 2], b""), Unknown);
    assert_eq!(d(b"", &[0x16, 3, 3, 0, 0x50, 2]), Found(Protocol::Tls));
    assert_eq!(d(&[0x80, 0x2e, 1, 3, 1], b""), Found(Protocol::Tls));
    // On its ports DNS needs a plausible header; elsewhere an exact message.
    let q = dns_query(0x1234, "example.com", 1);
    assert_eq!(
        detect(Transport::Udp, &q, b"", 5000, 53),
        Found(Protocol::Dns)
    );
    assert_eq!(
        detect(Transport::Udp, &q, b"", 5000, 15353),
        Found(Protocol::Dns)
    );
    let mut trailing = q.clone();
    trailing.push(0);
    assert_eq!(
        detect(Transport::Udp, &trailing, b"", 5000, 53),
        Found(Protocol::Dns)
    );
    assert_eq!(detect(Transport::Udp, &trailing, b"", 5000, 54), Unknown);
    assert_eq!(
        detect(Transport::Udp, b"\x00\x01garbage....", b"", 5000, 53),
        Unknown
    );
    let mut t = (q.len() as u16).to_be_bytes().to_vec();
    t.extend_from_slice(&q);
    assert_eq!(
        detect(Transport::Tcp, &t, b"", 5000, 53),
        Found(Protocol::Dns)
    );
    assert_eq!(detect(Transport::Tcp, &t[..5], b"", 5000, 53), NeedMore);
}

// ------------------------------------------------------------ HTTP

#[test]
fn http_keep_alive_and_pipelining() {
    let ev = http_events(&[
        (Orig, b"GET /a HTTP/1.1\r\nHost: x\r\nUser-Agent: t/1\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n"),
        (Orig, b"POST /c HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"),
        (Resp, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
        (Resp, b"HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\nd"),
        (Resp, b"one"),
    ]);
    let t = txns(&ev);
    assert_eq!(t.len(), 3);
    assert_eq!((uri(&t[0]), status(&t[0])), ("/a", 200));
    assert_eq!((uri(&t[1]), status(&t[1])), ("/b", 404));
    assert_eq!((uri(&t[2]), status(&t[2])), ("/c", 201));
    let r0 = t[0].request.as_ref().unwrap();
    assert_eq!(r0.host.as_deref(), Some("x"));
    assert_eq!(r0.user_agent.as_deref(), Some("t/1"));
    assert_eq!(r0.version, "HTTP/1.1");
    assert_eq!(t[2].request.as_ref().unwrap().body.len, 3);
    let resp = t[2].response.as_ref().unwrap();
    assert_eq!(resp.reason, "Created");
    assert_eq!(resp.body.captured, b"done");
    assert!(resp.complete);
    assert!(anomalies(&ev).is_empty());
}

#[test]
fn http_chunked_with_trailers() {
    let body = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Sum: 1\r\nX-Other: 2\r\n\r\n";
    let mut resp = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n".to_vec();
    resp.extend_from_slice(body);
    resp.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz");
    let ev = http_events(&[
        (Orig, b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n"),
        (Resp, &resp),
    ]);
    let t = txns(&ev);
    assert_eq!(t.len(), 2);
    let b = &t[0].response.as_ref().unwrap().body;
    assert!(b.chunked);
    assert_eq!(b.len, 9);
    assert_eq!(b.wire_len, body.len() as u64);
    assert_eq!(b.trailers, 2);
    assert_eq!(b.captured, b"Wikipedia");
    assert_eq!(t[1].response.as_ref().unwrap().body.len, 1);
}

#[test]
fn http_chunked_request() {
    let ev = http_events(&[
        (
            Orig,
            b"POST /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        ),
        (Resp, b"HTTP/1.1 204 No Content\r\n\r\n"),
    ]);
    let t = txns(&ev);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].request.as_ref().unwrap().body.len, 3);
    assert!(t[0].request.as_ref().unwrap().complete);
}

#[test]
fn http_body_until_close() {
    let ev = http_events(&[
        (Orig, b"GET / HTTP/1.0\r\n\r\n"),
        (
            Resp,
            b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nsome",
        ),
        (Resp, b" bytes"),
    ]);
    let t = txns(&ev);
    assert_eq!(t.len(), 1);
    let r = t[0].response.as_ref().unwrap();
    assert_eq!(r.body.len, 10);
    assert!(r.complete);
    assert_eq!(r.headers.content_type.as_deref(), Some("text/plain"));
}

#[test]
fn http_bodiless_responses() {
    // HEAD with Content-Length, 204, 304: no body; the next response
    // follows right after the header block.
    let ev = http_events(&[
        (Orig, b"HEAD /h HTTP/1.1\r\n\r\nGET /n HTTP/1.1\r\n\r\nGET /m HTTP/1.1\r\n\r\nGET /x HTTP/1.1\r\n\r\n"),
        (Resp, b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"),
        (Resp, b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"),
        (Resp, b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n"),
        (Resp, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
    ]);
    let t = txns(&ev);
    let got: Vec<_> = t.iter().map(|t| (uri(t), status(t))).collect();
    assert_eq!(got, [("/h", 200), ("/n", 204), ("/m", 304), ("/x", 200)]);
    assert!(t.iter().all(|t| t.response.as_ref().unwrap().complete));
    assert!(anomalies(&ev).is_empty());
}

#[test]
fn http_100_continue() {
    let ev = http_events(&[
        (
            Orig,
            b"POST /up HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
        ),
        (Resp, b"HTTP/1.1 100 Continue\r\n\r\n"),
        (Orig, b"data"),
        (
            Resp,
            b"HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        ),
    ]);
    let t = txns(&ev);
    assert_eq!(t.len(), 1);
    let codes: Vec<u16> = t[0].interim.iter().map(|i| i.status).collect();
    assert_eq!(codes, [100, 102]);
    assert_eq!(status(&t[0]), 200);
    assert_eq!(t[0].request.as_ref().unwrap().body.len, 4);
}

#[test]
fn http_connect_and_upgrade_stop_parsing() {
    let mut p = HttpParser::new(SessionOptions::default());
    let mut out = Vec::new();
    p.on_data(
        Orig,
        0,
        b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n",
        &mut out,
    );
    p.on_data(
        Resp,
        1,
        b"HTTP/1.1 200 Connection established\r\n\r\n",
        &mut out,
    );
    assert!(!p.wants_data(Orig) && !p.wants_data(Resp));
    p.on_data(Orig, 2, &[0x16, 3, 1, 0, 1, 1], &mut out);
    p.on_data(Resp, 2, b"\x00garbage", &mut out);
    p.finish(3, &mut out);
    let t = txns(&out);
    assert_eq!(t.len(), 1);
    assert!(t[0].tunnel);
    assert!(anomalies(&out).is_empty());

    let ev = http_events(&[
        (
            Orig,
            b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        ),
        (
            Resp,
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello",
        ),
        (Orig, b"\x81\x85\x00\x00\x00\x00hello"),
    ]);
    let t = txns(&ev);
    assert_eq!(t.len(), 1);
    assert!(t[0].tunnel && status(&t[0]) == 101);
    assert!(anomalies(&ev).is_empty());
    // A CONNECT refused is an ordinary response with a body.
    let ev = http_events(&[
        (Orig, b"CONNECT h:443 HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n"),
        (Resp, b"HTTP/1.1 407 Proxy Auth\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    assert_eq!(txns(&ev).len(), 2);
}

#[test]
fn http_header_limits() {
    // 100 headers, Content-Length last: 64 kept, framing still right.
    let mut req = b"POST / HTTP/1.1\r\n".to_vec();
    for i in 0..99 {
        req.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
    }
    req.extend_from_slice(b"Content-Length: 2\r\n\r\nabGET /next HTTP/1.1\r\n\r\n");
    let ev = http_events(&[(Orig, &req)]);
    let t = txns(&ev);
    assert_eq!(t.len(), 2);
    let h = &t[0].request.as_ref().unwrap().headers;
    assert_eq!(h.list.len(), 64);
    assert!(h.truncated);
    assert_eq!(h.content_length, Some(2));
    assert_eq!(uri(&t[1]), "/next");

    // A header block over the limit stops the direction, bounded.
    let opts = SessionOptions {
        max_header_block: 1024,
        ..SessionOptions::default()
    };
    let mut p = HttpParser::new(opts);
    let mut out = Vec::new();
    p.on_data(Orig, 0, b"GET / HTTP/1.1\r\n", &mut out);
    for _ in 0..1000 {
        p.on_data(
            Orig,
            0,
            b"X-Long: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
            &mut out,
        );
        assert!(p.memory_usage() <= 4096);
    }
    assert_eq!(anomalies(&out), [AnomalyKind::HeaderTooLarge]);
    assert!(!p.wants_data(Orig));
}

#[test]
fn http_gap_in_body_resyncs() {
    let mut p = HttpParser::new(SessionOptions::default());
    let mut out = Vec::new();
    p.on_data(
        Orig,
        0,
        b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n",
        &mut out,
    );
    p.on_data(
        Resp,
        1,
        b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123",
        &mut out,
    );
    p.on_gap(Resp, 2, 993, &mut out);
    p.on_data(
        Resp,
        3,
        b"789HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
        &mut out,
    );
    p.finish(4, &mut out);
    let t = txns(&out);
    assert_eq!(t.len(), 2);
    let b = &t[0].response.as_ref().unwrap().body;
    assert_eq!((b.len, b.gap_bytes), (1000, 993));
    assert!(t[0].gap && !t[1].gap);
    assert_eq!(status(&t[1]), 200);
    assert_eq!(anomalies(&out), [AnomalyKind::GapSkipped]);

    // A gap inside a chunk is skipped too.
    let mut p = HttpParser::new(SessionOptions::default());
    let mut out = Vec::new();
    p.on_data(Orig, 0, b"GET / HTTP/1.1\r\n\r\n", &mut out);
    p.on_data(
        Resp,
        1,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n01",
        &mut out,
    );
    p.on_gap(Resp, 2, 6, &mut out);
    p.on_data(Resp, 3, b"89\r\n0\r\n\r\n", &mut out);
    p.finish(4, &mut out);
    let t = txns(&out);
    assert_eq!(t[0].response.as_ref().unwrap().body.len, 10);
    assert!(t[0].response.as_ref().unwrap().complete);
}

#[test]
fn http_gap_in_header_resyncs_at_next_message() {
    let mut p = HttpParser::new(SessionOptions::default());
    let mut out = Vec::new();
    p.on_data(Orig, 0, b"GET /a HTTP/1.1\r\nHo", &mut out);
    p.on_gap(Orig, 1, 10, &mut out);
    // The tail of the lost request, then a new one split inside "GET ".
    p.on_data(Orig, 2, b"st: x\r\n\r\nGE", &mut out);
    p.on_data(Orig, 3, b"T /b HTTP/1.1\r\n\r\n", &mut out);
    assert!(p.wants_data(Orig));
    // The response side loses a status line and finds the next one.
    p.on_data(Resp, 4, b"HTTP/1.1 200 OK\r\nContent-Le", &mut out);
    p.on_gap(Resp, 5, 100, &mut out);
    p.on_data(
        Resp,
        6,
        b"xx\r\nHTTP/1.1 404 Nope\r\nContent-Length: 0\r\n\r\n",
        &mut out,
    );
    p.finish(7, &mut out);
    assert_eq!(
        anomalies(&out),
        [AnomalyKind::GapUnrecoverable, AnomalyKind::GapUnrecoverable]
    );
    let t = txns(&out);
    assert_eq!(t.len(), 1);
    assert_eq!((uri(&t[0]), status(&t[0])), ("/b", 404));
    assert!(t[0].gap);

    // A gap between messages: the next bytes start a message.
    let mut p = HttpParser::new(SessionOptions::default());
    let mut out = Vec::new();
    p.on_data(Orig, 0, b"GET /1 HTTP/1.1\r\n\r\n", &mut out);
    p.on_gap(Orig, 1, 500, &mut out);
    p.on_data(Orig, 2, b"GET /2 HTTP/1.1\r\n\r\n", &mut out);
    p.finish(3, &mut out);
    let t = txns(&out);
    assert_eq!(t.iter().map(uri).collect::<Vec<_>>(), ["/1", "/2"]);
    assert!(!t[0].gap && t[1].gap);
}

#[test]
fn http_malformed_and_lenient() {
    // Bare LF line ends, an odd version and HTTP/0.9 are read.
    let ev = http_events(&[
        (Orig, b"GET /lf HTTP/1.1\nHost: h\n\n"),
        (Resp, b"HTTP/1.1 200 OK\nContent-Length: 1\n\nx"),
    ]);
    assert_eq!(status(&txns(&ev)[0]), 200);
    let ev = http_events(&[(Orig, b"GET / HTTP/1.\nHost: h\n\n")]);
    assert_eq!(txns(&ev)[0].request.as_ref().unwrap().version, "HTTP/1.");
    let ev = http_events(&[(Orig, b"GET /\r\n"), (Resp, b"<html>raw</html>")]);
    let t = txns(&ev);
    let r = t[0].response.as_ref().unwrap();
    assert_eq!((r.status, r.body.len), (0, 16));

    // Garbage: one anomaly, that direction stops, nothing panics.
    let ev = http_events(&[
        (Orig, b"GET / HTTP/1.1\r\n\r\n"),
        (
            Resp,
            b"\x00\x01\x02 not http\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
        ),
    ]);
    assert_eq!(anomalies(&ev), [AnomalyKind::Malformed]);
    assert_eq!(txns(&ev).len(), 1);
    let ev = http_events(&[
        (Orig, b"GET / HTTP/1.1\r\n\r\n"),
        (
            Resp,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        ),
    ]);
    assert_eq!(anomalies(&ev), [AnomalyKind::Malformed]);
    assert!(txns(&ev)[0].parse_error);
}

#[test]
fn http_invalid_content_length() {
    let ev = http_events(&[
        (
            Orig,
            b"POST / HTTP/1.1\r\nContent-Length: 12abc\r\n\r\nbody",
        ),
        (
            Resp,
            b"HTTP/1.1 400 Bad\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nsix...",
        ),
    ]);
    assert_eq!(
        anomalies(&ev),
        [AnomalyKind::Malformed, AnomalyKind::Malformed]
    );
    let t = txns(&ev);
    assert_eq!(t.len(), 1);
    assert!(t[0].parse_error);
    assert!(!t[0].request.as_ref().unwrap().complete);
    let r = t[0].response.as_ref().unwrap();
    assert!(r.headers.content_length_invalid);
    assert_eq!(r.body.len, 6); // read to the close
                               // Equal copies are one length.
    let ev = http_events(&[(
        Orig,
        b"POST / HTTP/1.1\r\nContent-Length: 2, 2\r\n\r\nokGET / HTTP/1.1\r\n\r\n",
    )]);
    assert_eq!(txns(&ev).len(), 2);
    assert!(anomalies(&ev).is_empty());
}

#[test]
fn http_pending_and_incomplete() {
    let opts = SessionOptions {
        max_pending_requests: 4,
        ..SessionOptions::default()
    };
    let mut p = HttpParser::new(opts);
    let mut out = Vec::new();
    for i in 0..10 {
        p.on_data(
            Orig,
            i,
            format!("GET /{i} HTTP/1.1\r\n\r\n").as_bytes(),
            &mut out,
        );
    }
    assert_eq!(anomalies(&out), [AnomalyKind::PendingOverflow; 6].to_vec());
    p.on_data(
        Resp,
        11,
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab",
        &mut out,
    );
    p.finish(12, &mut out);
    let t = txns(&out);
    assert_eq!(t.len(), 10);
    // The response went to the oldest request still pending.
    assert_eq!((uri(&t[6]), status(&t[6])), ("/6", 200));
    assert!(!t[6].response.as_ref().unwrap().complete);
    assert!(t[7..].iter().all(|t| t.response.is_none()));
    assert_eq!(anomalies(&out).last(), Some(&AnomalyKind::Incomplete));
}

// ------------------------------------------------------------ DNS

fn name_bytes(name: &str) -> Vec<u8> {
    let mut v = Vec::new();
    for l in name.split('.').filter(|l| !l.is_empty()) {
        v.push(l.len() as u8);
        v.extend_from_slice(l.as_bytes());
    }
    v.push(0);
    v
}

fn header(id: u16, flags: u16, qd: u16, an: u16, ns: u16, ar: u16) -> Vec<u8> {
    [id, flags, qd, an, ns, ar]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect()
}

fn dns_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut m = header(id, 0x0100, 1, 0, 0, 0);
    m.extend(name_bytes(name));
    m.extend(qtype.to_be_bytes());
    m.extend(1u16.to_be_bytes());
    m
}

/// A response to `dns_query(id, name, qtype)` with the given answers
/// (type, rdata); every owner name points at the question (offset 12).
fn dns_response(id: u16, name: &str, qtype: u16, answers: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut m = header(id, 0x8180, 1, answers.len() as u16, 0, 0);
    m.extend(name_bytes(name));
    m.extend(qtype.to_be_bytes());
    m.extend(1u16.to_be_bytes());
    for (t, data) in answers {
        m.extend([0xc0, 12]);
        m.extend(t.to_be_bytes());
        m.extend(1u16.to_be_bytes());
        m.extend(300u32.to_be_bytes());
        m.extend((data.len() as u16).to_be_bytes());
        m.extend(data);
    }
    m
}

#[test]
fn dns_typed_records() {
    let txt = [&[3u8][..], b"abc", &[0], &[2], b"de"].concat();
    let mx = [&10u16.to_be_bytes()[..], &name_bytes("mail.example.com")].concat();
    let srv = [&[0, 1, 0, 2, 0x01, 0xbb][..], &[0xc0, 12]].concat();
    let soa = [
        name_bytes("ns.example.com"),
        name_bytes("admin.example.com"),
        [1u32, 2, 3, 4, 5]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect(),
    ]
    .concat();
    let m = dns_response(
        7,
        "example.com",
        255,
        &[
            (1, vec![192, 0, 2, 1]),
            (
                28,
                [0x20, 1, 0x0d, 0xb8]
                    .iter()
                    .copied()
                    .chain([0; 12])
                    .collect(),
            ),
            (5, vec![0xc0, 12]),
            (2, name_bytes("ns1.example.com")),
            (12, name_bytes("host.example.com")),
            (15, mx),
            (16, txt),
            (33, srv),
            (6, soa),
            (99, vec![1, 2, 3]),
        ],
    );
    let d = parse_message(&m, 64, 256);
    assert_eq!(d.error, None);
    assert!(d.is_response() && d.rd() && d.ra() && !d.aa() && !d.tc());
    assert_eq!((d.id, d.opcode(), d.rcode(), d.ancount), (7, 0, 0, 10));
    assert_eq!(d.questions[0].name, "example.com");
    let data: Vec<&RData> = d.answers.iter().map(|r| &r.data).collect();
    assert_eq!(data[0], &RData::A([192, 0, 2, 1]));
    assert!(matches!(data[1], RData::Aaaa(a) if a[..4] == [0x20, 1, 0x0d, 0xb8]));
    assert_eq!(data[2], &RData::Cname("example.com".into()));
    assert_eq!(data[3], &RData::Ns("ns1.example.com".into()));
    assert_eq!(data[4], &RData::Ptr("host.example.com".into()));
    assert_eq!(
        data[5],
        &RData::Mx {
            preference: 10,
            exchange: "mail.example.com".into()
        }
    );
    assert_eq!(
        data[6],
        &RData::Txt(vec!["abc".into(), "".into(), "de".into()])
    );
    assert_eq!(
        data[7],
        &RData::Srv {
            priority: 1,
            weight: 2,
            port: 443,
            target: "example.com".into()
        }
    );
    assert!(matches!(
        data[8],
        RData::Soa {
            serial: 1,
            minimum: 5,
            ..
        }
    ));
    assert_eq!(data[9], &RData::Other(vec![1, 2, 3]));
    assert!(d
        .answers
        .iter()
        .all(|r| r.name == "example.com" && r.ttl == 300));
}

#[test]
fn dns_edns() {
    let mut m = dns_response(5, "x.org", 1, &[]);
    m[3] |= 0x01; // rcode 1 in the header
    m[11] = 1; // one additional record: OPT, ext-rcode 1, DO set
    m.extend([0, 0, 41, 0x04, 0xd0, 1, 0, 0x80, 0, 0, 0]);
    let d = parse_message(&m, 8, 64);
    assert_eq!(d.error, None);
    let e = d.edns().unwrap();
    assert_eq!(
        (e.udp_payload_size, e.version, e.dnssec_ok),
        (1232, 0, true)
    );
    assert_eq!(d.extended_rcode(), 0x11);
    assert_eq!(d.additional[0].name, "");
}

#[test]
fn dns_bad_names_are_errors() {
    // A pointer to itself.
    let mut m = header(1, 0, 1, 0, 0, 0);
    m.extend([0xc0, 12, 0, 1, 0, 1]);
    assert_eq!(parse_message(&m, 8, 64).error, Some(AnomalyKind::BadName));
    // Two pointers to each other, behind a label.
    let mut m = header(1, 0, 1, 0, 0, 0);
    m.extend([1, b'a', 0xc0, 16, 0xc0, 14]);
    assert_eq!(parse_message(&m, 8, 64).error, Some(AnomalyKind::BadName));
    // A pointer past the end.
    let mut m = header(1, 0, 1, 0, 0, 0);
    m.extend([0xc1, 0xff, 0, 1, 0, 1]);
    assert_eq!(parse_message(&m, 8, 64).error, Some(AnomalyKind::BadName));
    // A name over 255 bytes, through a chain of pointers to long labels.
    let mut m = header(1, 0, 1, 0, 0, 0);
    let mut starts = Vec::new();
    for _ in 0..5 {
        starts.push(m.len());
        m.push(60);
        m.extend([b'x'; 60]);
        m.extend([0xc0, 0]); // patched below
    }
    for i in 0..5 {
        let next = if i + 1 < 5 { starts[i + 1] } else { starts[0] };
        let at = starts[i] + 61;
        m[at] = 0xc0 | (next >> 8) as u8;
        m[at + 1] = next as u8;
    }
    let d = parse_message(&m, 8, 64);
    assert_eq!(d.error, Some(AnomalyKind::BadName));
    // Extended label types.
    let mut m = header(1, 0, 1, 0, 0, 0);
    m.extend([0x41, 0, 0, 1, 0, 1]);
    assert_eq!(parse_message(&m, 8, 64).error, Some(AnomalyKind::BadName));
    // Truncated: header only, claims a question.
    let d = parse_message(&header(9, 0, 1, 0, 0, 0), 8, 64);
    assert_eq!((d.id, d.error), (9, Some(AnomalyKind::Malformed)));
}

#[test]
fn dns_partial_decode_keeps_questions() {
    let mut m = dns_response(3, "a.b", 1, &[(1, vec![1, 2, 3, 4])]);
    m[7] = 3; // claims 3 answers, has 1
    let d = parse_message(&m, 8, 64);
    assert_eq!(d.error, Some(AnomalyKind::Malformed));
    assert_eq!(d.questions.len(), 1);
    assert_eq!(d.answers.len(), 1);
    // A typed record whose data is wrong: kept raw, flagged, the next
    // record still decoded.
    let m = dns_response(3, "a.b", 1, &[(1, vec![1, 2, 3]), (1, vec![5, 6, 7, 8])]);
    let d = parse_message(&m, 8, 64);
    assert_eq!(d.error, Some(AnomalyKind::Malformed));
    assert_eq!(d.answers[0].data, RData::Other(vec![1, 2, 3]));
    assert_eq!(d.answers[1].data, RData::A([5, 6, 7, 8]));
}

fn dns_txns(ev: &[SessionEvent]) -> Vec<DnsTransaction> {
    ev.iter()
        .filter_map(|e| match e {
            SessionEvent::Dns(t) => Some((**t).clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn dns_udp_pairing_and_timeout() {
    let opts = SessionOptions {
        dns_timeout_ns: 1_000,
        dns_max_pending: 2,
        ..SessionOptions::default()
    };
    let mut p = DnsParser::new_udp(opts);
    let mut out = Vec::new();
    p.on_datagram(Orig, 0, &dns_query(1, "a.com", 1), &mut out);
    p.on_datagram(Orig, 10, &dns_query(1, "a.com", 28), &mut out);
    // Same id, other name: not a match.
    p.on_datagram(Resp, 20, &dns_response(1, "b.com", 1, &[]), &mut out);
    p.on_datagram(Resp, 30, &dns_response(1, "A.COM", 28, &[]), &mut out);
    let t = dns_txns(&out);
    assert_eq!(t.len(), 2);
    assert!(t[0].query.is_none());
    assert_eq!(t[1].query.as_ref().unwrap().questions[0].qtype, 28);
    assert_eq!((t[1].query_ts, t[1].response_ts), (10, 30));
    // The first query times out when a later message arrives.
    p.on_datagram(Orig, 5_000, &dns_query(2, "c.com", 1), &mut out);
    let t = dns_txns(&out);
    assert_eq!(t.len(), 3);
    assert!(t[2].response.is_none() && t[2].query_ts == 0);
    // The table holds two: a third query evicts the oldest.
    p.on_datagram(Orig, 5_001, &dns_query(3, "c.com", 1), &mut out);
    p.on_datagram(Orig, 5_002, &dns_query(4, "c.com", 1), &mut out);
    assert!(anomalies(&out).contains(&AnomalyKind::PendingOverflow));
    p.finish(5_003, &mut out);
    assert_eq!(dns_txns(&out).len(), 6);
}

#[test]
fn dns_tcp_framing() {
    let q1 = dns_query(1, "one.example", 1);
    let q2 = dns_query(2, "two.example", 1);
    let r1 = dns_response(1, "one.example", 1, &[(1, vec![1, 1, 1, 1])]);
    let frame = |m: &[u8]| [&(m.len() as u16).to_be_bytes()[..], m].concat();
    let both = [frame(&q1), frame(&q2)].concat();
    let r = frame(&r1);
    let script: Vec<(Direction, &[u8])> = vec![
        (Orig, &both),
        (Resp, &r[..1]),
        (Resp, &r[1..7]),
        (Resp, &r[7..]),
    ];
    let a = feed(&mut DnsParser::new_tcp(SessionOptions::default()), &script);
    let b = feed_bytes(&mut DnsParser::new_tcp(SessionOptions::default()), &script);
    assert_eq!(a, b);
    let t = dns_txns(&a);
    assert_eq!(t.len(), 2);
    assert_eq!(
        t[0].response.as_ref().unwrap().answers[0].data,
        RData::A([1; 4])
    );
    assert!(t[1].response.is_none() && t[1].query.as_ref().unwrap().id == 2);
    assert!(anomalies(&a).is_empty());

    // A gap inside a message costs that message only.
    let mut p = DnsParser::new_tcp(SessionOptions::default());
    let mut out = Vec::new();
    let f1 = frame(&q1);
    p.on_data(Orig, 0, &f1[..5], &mut out);
    p.on_gap(Orig, 1, (f1.len() - 5) as u64, &mut out);
    p.on_data(Orig, 2, &frame(&q2), &mut out);
    p.finish(3, &mut out);
    let t = dns_txns(&out);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].query.as_ref().unwrap().id, 2);
    assert_eq!(anomalies(&out), [AnomalyKind::GapSkipped]);
}

#[test]
fn dns_tcp_big_chunk_keeps_buffer_small() {
    let q = dns_query(1, "a.example", 1);
    let one = [&(q.len() as u16).to_be_bytes()[..], &q].concat();
    let many: Vec<u8> = one
        .iter()
        .copied()
        .cycle()
        .take(one.len() * 20_000 + 5)
        .collect();
    let mut p = DnsParser::new_tcp(SessionOptions::default());
    let mut out = Vec::new();
    p.on_data(Orig, 0, &many, &mut out);
    // 20000 queries, all evicted but the last 256; the 5-byte tail buffered.
    assert!(p.memory_usage() < 256 * 1024, "{}", p.memory_usage());
    assert_eq!(dns_txns(&out).len(), 20_000 - 256);
}

// ------------------------------------------------------------ TLS

fn hs(typ: u8, body: &[u8]) -> Vec<u8> {
    let n = body.len() as u32;
    [&[typ][..], &n.to_be_bytes()[1..], body].concat()
}

fn record(ct: u8, payload: &[u8]) -> Vec<u8> {
    [
        &[ct, 3, 1][..],
        &(payload.len() as u16).to_be_bytes(),
        payload,
    ]
    .concat()
}

fn ext(t: u16, data: &[u8]) -> Vec<u8> {
    [
        &t.to_be_bytes()[..],
        &(data.len() as u16).to_be_bytes(),
        data,
    ]
    .concat()
}

fn v16(data: &[u8]) -> Vec<u8> {
    [&(data.len() as u16).to_be_bytes()[..], data].concat()
}

fn u16s(v: &[u16]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_be_bytes()).collect()
}

fn client_hello_body() -> Vec<u8> {
    let sni = v16(&[&[0u8][..], &v16(b"example.org")].concat());
    let alpn = v16(&[&[2u8][..], b"h2", &[8], b"http/1.1"].concat());
    let exts = [
        ext(0x0a0a, &[]),
        ext(0, &sni),
        ext(10, &v16(&u16s(&[0x2a2a, 29, 23]))),
        ext(11, &[1, 0]),
        ext(16, &alpn),
        ext(43, &[&[4u8][..], &u16s(&[0x0304, 0x0303])].concat()),
        ext(0xfafa, &[0]),
    ]
    .concat();
    [
        &u16s(&[0x0303])[..],
        &[7; 32],
        &[0],
        &v16(&u16s(&[0x1a1a, 0x1301, 0xc02f])),
        &[1, 0],
        &v16(&exts),
    ]
    .concat()
}

fn server_hello_body() -> Vec<u8> {
    let exts = [ext(43, &u16s(&[0x0304])), ext(51, &[0; 4])].concat();
    [
        &u16s(&[0x0303])[..],
        &[9; 32],
        &[0],
        &u16s(&[0x1301]),
        &[0],
        &v16(&exts),
    ]
    .concat()
}

fn tls_events(script: &[(Direction, &[u8])]) -> Vec<SessionEvent> {
    let a = feed(&mut TlsParser::new(SessionOptions::default()), script);
    let b = feed_bytes(&mut TlsParser::new(SessionOptions::default()), script);
    assert_eq!(a, b, "byte-by-byte differs");
    a
}

fn hellos(ev: &[SessionEvent]) -> (Vec<ClientHello>, Vec<ServerHello>, Option<TlsSummary>) {
    let (mut c, mut s, mut sum) = (Vec::new(), Vec::new(), None);
    for e in ev {
        match e {
            SessionEvent::TlsClientHello(h) => c.push((**h).clone()),
            SessionEvent::TlsServerHello(h) => s.push((**h).clone()),
            SessionEvent::TlsEnd(x) => sum = Some((**x).clone()),
            _ => {}
        }
    }
    (c, s, sum)
}

#[test]
fn tls_hellos_and_ja3() {
    let ch = record(22, &hs(1, &client_hello_body()));
    let sh = record(22, &hs(2, &server_hello_body()));
    let ccs = record(20, &[1]);
    let app = record(23, &[0xaa; 40]);
    let ev = tls_events(&[
        (Orig, &ch),
        (Resp, &[sh, ccs.clone(), app.clone()].concat()),
        (Orig, &[ccs, app].concat()),
    ]);
    let (c, s, sum) = hellos(&ev);
    assert_eq!(c.len(), 1);
    let c = &c[0];
    assert_eq!(c.sni.as_deref(), Some("example.org"));
    assert_eq!(c.alpn, ["h2", "http/1.1"]);
    assert_eq!(c.supported_versions, [0x0304, 0x0303]);
    assert_eq!(c.cipher_suites, [0x1a1a, 0x1301, 0xc02f]);
    assert_eq!(c.extensions, [0x0a0a, 0, 10, 11, 16, 43, 0xfafa]);
    // GREASE left out of ciphers, extensions and groups.
    assert_eq!(c.ja3, "771,4865-49199,0-10-11-16-43,29-23,0");
    assert_eq!(c.ja3_md5, "ba56e367277299892e1a86aefd53de70");
    assert!(!c.malformed && !c.truncated);
    let s = &s[0];
    assert_eq!(s.negotiated_version(), 0x0304);
    assert_eq!(s.ja3s, "771,4865,43-51");
    assert!(!s.hello_retry_request);
    let sum = sum.unwrap();
    assert_eq!(sum.negotiated_version, 0x0304);
    assert_eq!(
        (sum.orig.encrypted_records, sum.resp.encrypted_records),
        (1, 1)
    );
    assert!(sum.orig.change_cipher_spec && sum.resp.change_cipher_spec);
    assert!(anomalies(&ev).is_empty());
}

#[test]
fn tls_empty_hellos_are_malformed() {
    // MD5 values computed independently (Python hashlib).
    let sh = super::tls::parse_server_hello(&[], 8, 8);
    assert!(sh.malformed);
    assert_eq!(sh.ja3s, "0,0,");
    assert_eq!(sh.ja3s_md5, "d8eada1de0f744e8f2d11cc5ea02451d");
    assert!(super::tls::parse_client_hello(&[], 8, 8).malformed);
}

#[test]
fn tls_fragmented_handshake_and_shared_records() {
    // The ClientHello split over three records, the records split anywhere.
    let msg = hs(1, &client_hello_body());
    let recs = [
        record(22, &msg[..10]),
        record(22, &msg[10..50]),
        record(22, &msg[50..]),
    ]
    .concat();
    // ServerHello, Certificate, ServerHelloDone in one record.
    let sh_body = [&u16s(&[0x0303])[..], &[9; 32], &[0], &u16s(&[0xc02f]), &[0]].concat();
    let flight = record(
        22,
        &[hs(2, &sh_body), hs(11, &[0; 30]), hs(14, &[])].concat(),
    );
    let ev = tls_events(&[(Orig, &recs[..7]), (Orig, &recs[7..]), (Resp, &flight)]);
    let (c, s, sum) = hellos(&ev);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].sni.as_deref(), Some("example.org"));
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].cipher_suite, 0xc02f);
    assert_eq!(s[0].ja3s, "771,49199,");
    let sum = sum.unwrap();
    assert_eq!((sum.orig.records, sum.resp.records), (3, 1));
    assert_eq!(sum.resp.handshake_messages, 3);
}

#[test]
fn tls_after_ccs_is_counted_not_parsed() {
    let sh_body = [&u16s(&[0x0303])[..], &[9; 32], &[0], &u16s(&[0xc02f]), &[0]].concat();
    // TLS 1.2: the Finished after CCS is an encrypted handshake record; its
    // bytes happen to look like a ClientHello header.
    let fin = record(22, &[1, 0, 0, 4, 1, 2, 3, 4]);
    let ev = tls_events(&[
        (Orig, &record(22, &hs(1, &client_hello_body()[..]))),
        (Resp, &record(22, &hs(2, &sh_body))),
        (Orig, &[record(20, &[1]), fin].concat()),
    ]);
    let (c, _, sum) = hellos(&ev);
    assert_eq!(c.len(), 1);
    assert_eq!(sum.unwrap().orig.encrypted_records, 1);
}

#[test]
fn tls_limits_and_errors() {
    // A handshake message over the limit is skipped and reported.
    let opts = SessionOptions {
        max_handshake: 64,
        ..SessionOptions::default()
    };
    let mut p = TlsParser::new(opts);
    let ev = feed(&mut p, &[(Orig, &record(22, &hs(1, &client_hello_body())))]);
    assert_eq!(anomalies(&ev), [AnomalyKind::HandshakeTooLarge]);
    assert!(hellos(&ev).0.is_empty());
    // Not TLS: stopped after the header.
    let mut p = TlsParser::new(SessionOptions::default());
    let mut out = Vec::new();
    p.on_data(Orig, 0, b"GET / HTTP/1.1\r\n\r\n", &mut out);
    assert!(!p.wants_data(Orig));
    assert_eq!(anomalies(&out), [AnomalyKind::Malformed]);
    // A gap inside a record is skipped; between records it stops.
    let mut p = TlsParser::new(SessionOptions::default());
    let mut out = Vec::new();
    let app = record(23, &[0; 100]);
    p.on_data(Resp, 0, &app[..20], &mut out);
    p.on_gap(Resp, 1, 50, &mut out);
    p.on_data(Resp, 2, &app[70..], &mut out);
    p.on_data(Resp, 3, &app, &mut out);
    assert!(p.wants_data(Resp));
    p.on_gap(Resp, 4, 5, &mut out);
    assert!(!p.wants_data(Resp));
    p.finish(5, &mut out);
    let sum = hellos(&out).2.unwrap();
    assert_eq!((sum.resp.records, sum.resp.gaps), (2, 2));
    assert_eq!(
        anomalies(&out),
        [AnomalyKind::GapSkipped, AnomalyKind::GapUnrecoverable]
    );
}

#[test]
fn tls_truncated_hello_is_flagged() {
    let body = client_hello_body();
    let ch = super::tls::parse_client_hello(&body[..body.len() - 3], 8, 64);
    assert!(ch.malformed);
    assert_eq!(ch.cipher_suites.len(), 3);
    let ch = super::tls::parse_client_hello(&body, 2, 64);
    assert!(ch.truncated);
    assert_eq!(ch.cipher_suites.len(), 2);
    // JA3 does not depend on the list limit.
    assert_eq!(ch.ja3, "771,4865-49199,0-10-11-16-43,29-23,0");
}
