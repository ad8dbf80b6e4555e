//! The whole pipeline (flows → reassembly → parsers) on every corpus
//! capture, against tshark's HTTP, DNS and TLS tables: the same requests,
//! responses, queries and hellos, compared as multisets (flowtap and tshark
//! order records differently: tshark by the frame that completes them).

mod common;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::Path;

use flowtap_core::analyze::{AnalyzeEvent, AnalyzeOptions, Analyzer};
use flowtap_core::capture::{CaptureReader, ReaderOptions};
use flowtap_core::decode::decode;
use flowtap_core::session::SessionEvent;

use common::corpus_dir;

type Bag = BTreeMap<String, i64>;

fn add(bag: &mut Bag, k: String, n: i64) {
    *bag.entry(k).or_default() += n;
}

#[derive(Default)]
struct Seen {
    requests: Bag,
    responses: Bag,
    dns_queries: Bag,
    dns_responses: Bag,
    client_hellos: Bag,
    server_hellos: Bag,
}

fn analyze(path: &Path) -> Seen {
    let mut seen = Seen::default();
    let mut a = Analyzer::new(AnalyzeOptions::default());
    let Ok(mut reader) = CaptureReader::new(File::open(path).unwrap(), ReaderOptions::default())
    else {
        return seen;
    };
    let drain = |a: &mut Analyzer, seen: &mut Seen| {
        let (events, _) = a.take_events();
        for ev in events {
            let AnalyzeEvent::Session(rec) = ev else {
                continue;
            };
            // tshark dissects port 5353 as mDNS, which its `dns` table
            // leaves out.
            if rec.flow.orig_port == 5353 || rec.flow.resp_port == 5353 {
                continue;
            }
            match &rec.event {
                SessionEvent::Http(t) => {
                    // tshark lists an HTTP/0.9 request but not its
                    // (status-less) response; Zeek and flowtap report both.
                    let v09 = t.request.as_ref().is_some_and(|q| q.version.is_empty());
                    if let Some(q) = &t.request {
                        add(&mut seen.requests, format!("{} {}", q.method, q.uri), 1);
                    }
                    // tshark lists 1xx responses as responses, and a
                    // response only once its whole body is in (never
                    // across a gap).
                    for i in &t.interim {
                        add(&mut seen.responses, format!("{} {}", i.status, i.reason), 1);
                    }
                    if let Some(r) = t.response.as_ref().filter(|r| r.complete && !t.gap && !v09) {
                        add(&mut seen.responses, format!("{} {}", r.status, r.reason), 1);
                    }
                }
                SessionEvent::Dns(t) => {
                    for (m, bag) in [
                        (&t.query, &mut seen.dns_queries),
                        (&t.response, &mut seen.dns_responses),
                    ] {
                        if let Some(m) = m {
                            let q = m.questions.first().map_or("", |q| q.name.as_str());
                            add(bag, format!("{:#06x} {q}", m.id), 1);
                        }
                    }
                }
                SessionEvent::TlsClientHello(h) => {
                    add(
                        &mut seen.client_hellos,
                        format!("{} {}", h.sni.as_deref().unwrap_or(""), h.ja3_md5),
                        1,
                    );
                }
                SessionEvent::TlsServerHello(h) => {
                    add(
                        &mut seen.server_hellos,
                        format!("{:#06x} {}", h.cipher_suite, h.ja3s_md5),
                        1,
                    );
                }
                _ => {}
            }
        }
    };
    while let Ok(Some(frame)) = reader.next_frame() {
        let info = decode(frame.link_type, frame.data, frame.origlen);
        a.on_packet(&frame, &info);
        if a.pending_events() > 1024 {
            drain(&mut a, &mut seen);
        }
    }
    a.finish();
    drain(&mut a, &mut seen);
    seen
}

/// Rows of a tshark `-T fields` table, by column name.
fn table(path: &Path) -> Vec<BTreeMap<String, String>> {
    let Ok(text) = fs::read_to_string(path) else {
        return Vec::new();
    };
    let mut lines = text.lines();
    let Some(head) = lines.next() else {
        return Vec::new();
    };
    let cols: Vec<&str> = head.split('\t').collect();
    lines
        .map(|l| {
            cols.iter()
                .zip(l.split('\t').chain(std::iter::repeat("")))
                .map(|(c, v)| (c.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

fn tshark(dir: &Path, name: &str) -> Seen {
    let mut seen = Seen::default();
    let exp = dir.join("expected");
    for row in table(&exp.join(format!("{name}.http.tsv"))) {
        let method = &row["http.request.method"];
        if !method.is_empty() {
            // tshark joins the values of several messages in one frame.
            for (m, u) in method.split(',').zip(row["http.request.uri"].split(',')) {
                add(&mut seen.requests, format!("{m} {u}"), 1);
            }
        }
        let code = &row["http.response.code"];
        if !code.is_empty() {
            for (c, p) in code.split(',').zip(row["http.response.phrase"].split(',')) {
                add(&mut seen.responses, format!("{c} {p}"), 1);
            }
        }
    }
    for row in table(&exp.join(format!("{name}.dns.tsv"))) {
        let ids: Vec<&str> = row["dns.id"].split(',').collect();
        let flags: Vec<&str> = row["dns.flags.response"].split(',').collect();
        let names: Vec<&str> = row["dns.qry.name"].split(',').collect();
        for (i, id) in ids.iter().enumerate() {
            if id.is_empty() {
                continue;
            }
            let q = names.get(i).copied().unwrap_or("");
            let q = if q == "<Root>" { "" } else { q };
            let bag = if flags.get(i) == Some(&"1") {
                &mut seen.dns_responses
            } else {
                &mut seen.dns_queries
            };
            add(bag, format!("{id} {q}"), 1);
        }
    }
    for row in table(&exp.join(format!("{name}.tls.tsv"))) {
        // QUIC's ClientHellos (udp.stream) are not TLS over TCP.
        if row["tcp.stream"].is_empty() {
            continue;
        }
        for t in row["tls.handshake.type"].split(',') {
            match t {
                "1" => add(
                    &mut seen.client_hellos,
                    format!(
                        "{} {}",
                        row["tls.handshake.extensions_server_name"], row["tls.handshake.ja3"]
                    ),
                    1,
                ),
                "2" => add(
                    &mut seen.server_hellos,
                    format!(
                        "{} {}",
                        row["tls.handshake.ciphersuite"], row["tls.handshake.ja3s"]
                    ),
                    1,
                ),
                _ => {}
            }
        }
    }
    seen
}

/// Entries of `a` minus `b` (positive: only in `a`).
fn diff(a: &Bag, b: &Bag) -> Vec<String> {
    let mut out = Vec::new();
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for k in keys {
        let d = a.get(k).copied().unwrap_or(0) - b.get(k).copied().unwrap_or(0);
        if d != 0 {
            out.push(format!("{d:+} {k}"));
        }
    }
    out
}

/// Where flowtap and tshark disagree, and why; each entry is
/// (capture, table) and must still disagree (so the list stays honest).
const DIFFERENT: &[(&str, &str, &str)] = &[
    ("suricata_tls-subjectaltname.pcap", "http responses",
     "tshark flags the segments carrying 4 responses as retransmissions and does not dissect them; the bytes are new (its own follow output has them)"),
    ("suricata_tls-subjectaltname.pcap", "tls server hellos",
     "as above: a ServerHello in a segment tshark takes for a retransmission"),
    ("tcpdump_ipv4_invalid_total_length.pcap", "dns queries",
     "the IPv4 total length exceeds the frame: the decoder marks it malformed, tshark dissects what is there"),
    ("zeek_gtp1_fragmentation.pcap", "http requests", "inside a GTP tunnel, which flowtap does not unwrap"),
    ("zeek_tunnels_gre-aruba.pcap", "http requests", "inside GRE (Aruba), which flowtap does not unwrap"),
    ("zeek_http_206_example_b.pcap", "http responses",
     "tshark shows no row for the first, 816,896-byte response; it is complete and gap-free here"),
    ("zeek_http_methods.pcap", "http requests",
     "`OPTIONS  HTTP/1.1` (empty URI): tshark takes it for a request, httparse and the HTTP/0.9 fallback do not"),
    ("zeek_http_methods.pcap", "http responses",
     "request lines like `TRACE /HTTP/1.1` (no space before the version) are HTTP/0.9 to flowtap, as to Zeek (its http.log says `TRACE 0.9 1068`): the server's 400 reply is then that request's raw 0.9 body, while tshark lists it as a 400 response"),
    ("zeek_ipv6-http-atomic-frag.pcap", "http requests",
     "HTTP/0.9 requests (`GET /bad.html`), which tshark does not take for HTTP when they are alone in their stream"),
    ("zeek_tls_hrr.pcap", "tls server hellos",
     "tshark treats the records after the server's compatibility ChangeCipherSpec as encrypted and misses the real ServerHello after the HelloRetryRequest"),
];

#[test]
fn sessions_match_tshark() {
    let Some(dir) = corpus_dir() else {
        return;
    };
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".pcap") || n.ends_with(".pcapng"))
        .collect();
    names.sort();
    let mut failures = Vec::new();
    let mut compared = 0;
    for name in &names {
        let ours = analyze(&dir.join(name));
        let theirs = tshark(&dir, name);
        for (what, a, b) in [
            ("http requests", &ours.requests, &theirs.requests),
            ("http responses", &ours.responses, &theirs.responses),
            ("dns queries", &ours.dns_queries, &theirs.dns_queries),
            ("dns responses", &ours.dns_responses, &theirs.dns_responses),
            (
                "tls client hellos",
                &ours.client_hellos,
                &theirs.client_hellos,
            ),
            (
                "tls server hellos",
                &ours.server_hellos,
                &theirs.server_hellos,
            ),
        ] {
            if a.is_empty() && b.is_empty() {
                continue;
            }
            compared += 1;
            let d = diff(a, b);
            let known = DIFFERENT.iter().any(|(n, w, _)| n == name && *w == what);
            match (d.is_empty(), known) {
                (true, false) => {}
                (false, true) => {}
                (true, true) => failures.push(format!(
                    "{name} {what}: now matches; remove it from DIFFERENT"
                )),
                (false, false) => failures.push(format!(
                    "{name} {what}: {} differences, e.g. {:?}",
                    d.len(),
                    &d[..d.len().min(4)]
                )),
            }
        }
    }
    eprintln!("compared {compared} (capture, table) pairs");
    assert!(compared > 40, "only {compared} pairs compared");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
