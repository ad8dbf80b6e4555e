//! Session records and stream pieces as they cross to JavaScript.
//!
//! Session records are nested and varied (headers, DNS records), so a
//! batch of them is one JSON array in one string, parsed once by the
//! TypeScript side; their field names are the TypeScript types' names, and
//! nanosecond times (keys ending in `Ns`) are decimal strings. Stream
//! pieces are struct-of-arrays columns plus one byte arena holding the
//! data of every piece, copied once from the reassembler.

use std::net::{Ipv4Addr, Ipv6Addr};

use flowtap_core::analyze::{AnalyzeEvent, FlowMeta, SessionRecord, StreamPiece, StreamRecord};
use flowtap_core::reassembly::Direction;
use flowtap_core::session::dns::{DnsMessage, DnsRecord, RData};
use flowtap_core::session::http::{HttpBody, HttpHeaders, HttpRequest, HttpResponse};
use flowtap_core::session::names;
use flowtap_core::session::tls::TlsDirStats;
use flowtap_core::session::SessionEvent;
use napi::bindgen_prelude::{BigUint64Array, Float64Array, Uint8Array};
use napi_derive::napi;

use crate::binding_flows::BindingFlowBatch;
use crate::binding_json::Json;
use crate::binding_plugins::{BindingPluginBatch, PluginCollector};

/// What one analyzer step hands to JavaScript.
pub struct BindingEvents {
    pub flows: BindingFlowBatch,
    /// A JSON array of session records, when there are any.
    pub sessions: Option<String>,
    pub streams: Option<BindingStreamBatch>,
    pub plugins: Option<BindingPluginBatch>,
}

impl BindingEvents {
    /// Without `flow_events` the flow batch is left empty.
    pub fn new(events: Vec<AnalyzeEvent>, arena: Vec<u8>, flow_events: bool) -> Self {
        let mut flows = Vec::new();
        let mut pieces = Vec::new();
        let mut json: Option<Json> = None;
        let mut plugins = PluginCollector::default();
        for ev in &events {
            match ev {
                AnalyzeEvent::Flow(f, service) if flow_events => flows.push((f, *service)),
                AnalyzeEvent::Flow(..) => {}
                AnalyzeEvent::Session(rec) => {
                    let j = json.get_or_insert_with(|| {
                        // Records average about 1.5 KB of JSON; growing the
                        // buffer from empty would copy it a dozen times.
                        let mut j = Json::with_capacity(events.len() * 512);
                        j.begin_arr();
                        j
                    });
                    session_json(j, rec);
                }
                AnalyzeEvent::Stream(p) => pieces.push(*p),
                AnalyzeEvent::Plugin(p) => plugins.add(p),
            }
        }
        // Both views point into the one arena; it is shared only when
        // streams and plugins are asked for together.
        let (stream_arena, plugin_arena) = if pieces.is_empty() {
            (Vec::new(), arena)
        } else if plugins.has_pieces() {
            (arena.clone(), arena)
        } else {
            (arena, Vec::new())
        };
        BindingEvents {
            flows: BindingFlowBatch::new(flows.into_iter()),
            sessions: json.map(|mut j| {
                j.end_arr();
                j.buf
            }),
            streams: (!pieces.is_empty()).then(|| stream_batch(&pieces, stream_arena)),
            plugins: plugins.finish(plugin_arena),
        }
    }
}

fn addr(a: &[u8; 16], v6: bool) -> String {
    if v6 {
        Ipv6Addr::from(*a).to_string()
    } else {
        Ipv4Addr::new(a[0], a[1], a[2], a[3]).to_string()
    }
}

fn transport(proto: u8) -> &'static str {
    match proto {
        6 => "tcp",
        17 => "udp",
        _ => "other",
    }
}

/// A flow's identity fields, inside an open object.
pub fn flow_json(j: &mut Json, m: &FlowMeta) {
    j.str("uid", &m.uid());
    j.str("transport", transport(m.proto));
    j.obj("orig");
    j.str("addr", &addr(&m.orig_addr, m.ipv6));
    j.num("port", m.orig_port as u64);
    j.end_obj();
    j.obj("resp");
    j.str("addr", &addr(&m.resp_addr, m.ipv6));
    j.num("port", m.resp_port as u64);
    j.end_obj();
}

fn headers(j: &mut Json, h: &HttpHeaders) {
    j.arr("headers");
    for x in &h.list {
        j.begin_arr();
        j.item_str(&x.name);
        j.item_str(&x.value);
        j.end_arr();
    }
    j.end_arr();
    j.bool("headersTruncated", h.truncated);
    j.opt_num("contentLength", h.content_length);
    j.opt_str("transferEncoding", h.transfer_encoding.as_deref());
    j.opt_str("contentType", h.content_type.as_deref());
}

fn body(j: &mut Json, b: &HttpBody) {
    j.obj("body");
    j.num("length", b.len);
    j.num("wireLength", b.wire_len);
    j.num("gapBytes", b.gap_bytes);
    j.bool("chunked", b.chunked);
    j.num("trailers", b.trailers as u64);
    j.hex("captured", &b.captured);
    j.end_obj();
}

/// What requests and responses share, and the end of their object.
fn message_rest(j: &mut Json, h: &HttpHeaders, b: &HttpBody, start: u64, end: u64, complete: bool) {
    headers(j, h);
    body(j, b);
    j.ns("startNs", start);
    j.ns("endNs", end);
    j.bool("complete", complete);
    j.end_obj();
}

fn request(j: &mut Json, r: &HttpRequest) {
    j.obj("request");
    j.str("method", &r.method);
    j.str("uri", &r.uri);
    j.str("version", &r.version);
    j.opt_str("host", r.host.as_deref());
    j.opt_str("userAgent", r.user_agent.as_deref());
    message_rest(j, &r.headers, &r.body, r.start_ts, r.end_ts, r.complete);
}

fn response(j: &mut Json, r: &HttpResponse) {
    j.obj("response");
    j.str("version", &r.version);
    j.num("status", r.status as u64);
    j.str("reason", &r.reason);
    message_rest(j, &r.headers, &r.body, r.start_ts, r.end_ts, r.complete);
}

fn rdata(j: &mut Json, d: &RData) {
    match d {
        RData::A(a) => j.str("data", &Ipv4Addr::from(*a).to_string()),
        RData::Aaaa(a) => j.str("data", &Ipv6Addr::from(*a).to_string()),
        RData::Cname(n) | RData::Ns(n) | RData::Ptr(n) => j.str("data", n),
        RData::Mx {
            preference,
            exchange,
        } => {
            j.obj("data");
            j.num("preference", *preference as u64);
            j.str("exchange", exchange);
            j.end_obj();
        }
        RData::Txt(list) => {
            j.arr("data");
            for s in list {
                j.item_str(s);
            }
            j.end_arr();
        }
        RData::Soa {
            mname,
            rname,
            serial,
            refresh,
            retry,
            expire,
            minimum,
        } => {
            j.obj("data");
            j.str("mname", mname);
            j.str("rname", rname);
            j.num("serial", *serial as u64);
            j.num("refresh", *refresh as u64);
            j.num("retry", *retry as u64);
            j.num("expire", *expire as u64);
            j.num("minimum", *minimum as u64);
            j.end_obj();
        }
        RData::Srv {
            priority,
            weight,
            port,
            target,
        } => {
            j.obj("data");
            j.num("priority", *priority as u64);
            j.num("weight", *weight as u64);
            j.num("port", *port as u64);
            j.str("target", target);
            j.end_obj();
        }
        RData::Other(bytes) => j.hex("data", bytes),
    }
}

fn records(j: &mut Json, k: &str, list: &[DnsRecord]) {
    j.arr(k);
    for r in list {
        j.begin_obj();
        j.str("name", &r.name);
        j.num("type", r.rtype as u64);
        j.str("typeName", &names::dns_type_name(r.rtype));
        j.num("class", r.class as u64);
        j.num("ttl", r.ttl as u64);
        rdata(j, &r.data);
        j.end_obj();
    }
    j.end_arr();
}

fn dns_message(j: &mut Json, k: &str, m: &DnsMessage) {
    j.obj(k);
    j.num("id", m.id as u64);
    j.num("opcode", m.opcode() as u64);
    j.num("rcode", m.rcode() as u64);
    j.str("rcodeName", &names::dns_rcode_name(m.rcode() as u16));
    j.bool("qr", m.is_response());
    j.bool("aa", m.aa());
    j.bool("tc", m.tc());
    j.bool("rd", m.rd());
    j.bool("ra", m.ra());
    j.arr("questions");
    for q in &m.questions {
        j.begin_obj();
        j.str("name", &q.name);
        j.num("qtype", q.qtype as u64);
        j.str("qtypeName", &names::dns_type_name(q.qtype));
        j.num("qclass", q.qclass as u64);
        j.str("qclassName", &names::dns_class_name(q.qclass));
        j.end_obj();
    }
    j.end_arr();
    records(j, "answers", &m.answers);
    records(j, "authority", &m.authority);
    records(j, "additional", &m.additional);
    j.num("answerCount", m.ancount as u64);
    j.bool("truncated", m.truncated);
    j.opt_str("error", m.error.map(|e| e.code()));
    j.num("length", m.len as u64);
    j.end_obj();
}

fn tls_dir(j: &mut Json, k: &str, s: &TlsDirStats) {
    j.obj(k);
    j.num("records", s.records);
    j.num("handshakeMessages", s.handshake_messages);
    j.bool("changeCipherSpec", s.change_cipher_spec);
    j.num("encryptedRecords", s.encrypted_records);
    j.num("encryptedBytes", s.encrypted_bytes);
    j.num("alerts", s.alerts);
    j.num("gaps", s.gaps);
    j.bool("stopped", s.stopped);
    j.end_obj();
}

/// Appends one record to a JSON array being written.
pub fn session_json(j: &mut Json, rec: &SessionRecord) {
    j.begin_obj();
    match &rec.event {
        SessionEvent::Http(t) => {
            j.str("type", "http");
            j.str("protocol", "http");
            flow_json(j, &rec.flow);
            match &t.request {
                Some(r) => request(j, r),
                None => j.null("request"),
            }
            match &t.response {
                Some(r) => response(j, r),
                None => j.null("response"),
            }
            j.arr("interim");
            for i in &t.interim {
                j.begin_obj();
                j.num("status", i.status as u64);
                j.str("reason", &i.reason);
                j.ns("tsNs", i.ts);
                j.end_obj();
            }
            j.end_arr();
            j.bool("gap", t.gap);
            j.bool("parseError", t.parse_error);
            j.bool("tunnel", t.tunnel);
        }
        SessionEvent::Dns(t) => {
            j.str("type", "dns");
            j.str("protocol", "dns");
            flow_json(j, &rec.flow);
            match &t.query {
                Some(m) => dns_message(j, "query", m),
                None => j.null("query"),
            }
            j.ns("queryNs", t.query_ts);
            match &t.response {
                Some(m) => dns_message(j, "response", m),
                None => j.null("response"),
            }
            j.ns("responseNs", t.response_ts);
        }
        SessionEvent::TlsClientHello(h) => {
            j.str("type", "tls.client_hello");
            j.str("protocol", "tls");
            flow_json(j, &rec.flow);
            j.ns("tsNs", h.ts);
            j.num("recordVersion", h.record_version as u64);
            j.num("version", h.version as u64);
            j.hex("sessionId", &h.session_id);
            j.nums("cipherSuites", &h.cipher_suites);
            j.nums("compressionMethods", &h.compression_methods);
            j.nums("extensions", &h.extensions);
            j.opt_str("serverName", h.sni.as_deref());
            j.arr("alpn");
            for a in &h.alpn {
                j.item_str(a);
            }
            j.end_arr();
            j.nums("supportedVersions", &h.supported_versions);
            j.nums("supportedGroups", &h.supported_groups);
            j.nums("ecPointFormats", &h.ec_point_formats);
            j.nums("signatureAlgorithms", &h.signature_algorithms);
            j.str("ja3", &h.ja3);
            j.str("ja3Hash", &h.ja3_md5);
            j.bool("truncated", h.truncated);
            j.bool("malformed", h.malformed);
            j.bool("sslv2", h.sslv2);
        }
        SessionEvent::TlsServerHello(h) => {
            j.str("type", "tls.server_hello");
            j.str("protocol", "tls");
            flow_json(j, &rec.flow);
            j.ns("tsNs", h.ts);
            j.num("recordVersion", h.record_version as u64);
            j.num("version", h.negotiated_version() as u64);
            j.str(
                "versionName",
                &names::tls_version_name(h.negotiated_version()),
            );
            j.hex("sessionId", &h.session_id);
            j.num("cipherSuite", h.cipher_suite as u64);
            j.str("cipherName", &names::tls_cipher_name(h.cipher_suite));
            j.num("compressionMethod", h.compression_method as u64);
            j.nums("extensions", &h.extensions);
            j.opt_str("alpn", h.alpn.as_deref());
            j.bool("helloRetryRequest", h.hello_retry_request);
            j.str("ja3s", &h.ja3s);
            j.str("ja3sHash", &h.ja3s_md5);
            j.bool("truncated", h.truncated);
            j.bool("malformed", h.malformed);
        }
        SessionEvent::TlsCertificates(c) => {
            j.str("type", "tls.certificates");
            j.str("protocol", "tls");
            flow_json(j, &rec.flow);
            j.ns("tsNs", c.ts);
            j.str("direction", c.dir.as_str());
            j.arr("certificates");
            for x in &c.certs {
                j.begin_obj();
                j.str("serial", &x.serial);
                j.str("subject", &x.subject);
                j.str("issuer", &x.issuer);
                j.str("notBefore", &x.not_before);
                j.str("notAfter", &x.not_after);
                j.arr("sanDns");
                for n in &x.san_dns {
                    j.item_str(n);
                }
                j.end_arr();
                j.num("length", x.len as u64);
                j.bool("truncated", x.truncated);
                j.bool("malformed", x.malformed);
                j.end_obj();
            }
            j.end_arr();
            j.bool("truncated", c.truncated);
            j.bool("malformed", c.malformed);
        }
        SessionEvent::TlsEnd(s) => {
            j.str("type", "tls.end");
            j.str("protocol", "tls");
            flow_json(j, &rec.flow);
            j.num("clientHellos", s.client_hellos as u64);
            j.num("serverHellos", s.server_hellos as u64);
            j.num("version", s.negotiated_version as u64);
            j.str(
                "versionName",
                &names::tls_version_name(s.negotiated_version),
            );
            j.opt_num("cipherSuite", s.cipher_suite.map(u64::from));
            j.opt_str(
                "cipherName",
                s.cipher_suite.map(names::tls_cipher_name).as_deref(),
            );
            tls_dir(j, "origRecords", &s.orig);
            tls_dir(j, "respRecords", &s.resp);
        }
        SessionEvent::Anomaly(a) => {
            j.str("type", "session.anomaly");
            j.str("protocol", names::protocol_name(a.protocol));
            flow_json(j, &rec.flow);
            j.str("direction", a.dir.as_str());
            j.str("code", a.kind.code());
            j.ns("tsNs", a.ts);
        }
        // Event kinds added later reach JS as their kind alone.
        #[allow(unreachable_patterns)]
        _ => {
            j.str("type", "session.unknown");
            flow_json(j, &rec.flow);
        }
    }
    j.end_obj();
}

/// Stream pieces in struct-of-arrays form: piece `i` belongs to flow
/// `flow[i]` (its number; its `flow.start` event came first), direction
/// `dir[i]` (0 orig, 1 resp), is `kind[i]` (0 data, 1 gap, 2 end) at stream
/// offset `offset[i]`; data pieces are `data[start[i] … start[i] +
/// length[i]]`, gaps have `length[i]` bytes and `reason[i]`, ends have
/// `reason[i]` (see [`GAP_REASONS`] / [`END_REASONS`]).
#[napi(object, object_from_js = false)]
pub struct BindingStreamBatch {
    pub length: u32,
    pub flow: Float64Array,
    pub dir: Uint8Array,
    pub kind: Uint8Array,
    pub reason: Uint8Array,
    pub offset: Float64Array,
    pub start: Float64Array,
    pub piece_length: Float64Array,
    pub ts: BigUint64Array,
    pub data: Uint8Array,
}

pub const GAP_REASONS: &[&str] = &["missing", "ooo-limit", "memcap", "truncated", "depth"];
pub const END_REASONS: &[&str] = &["fin", "rst", "finish"];

pub fn stream_batch(pieces: &[StreamRecord], data: Vec<u8>) -> BindingStreamBatch {
    let n = pieces.len();
    let (mut flow, mut dir, mut kind, mut reason) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut offset, mut start, mut len, mut ts) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for p in pieces {
        flow.push(p.flow as f64);
        dir.push(match p.dir {
            Direction::Orig => 0u8,
            Direction::Resp => 1,
        });
        ts.push(p.ts);
        match p.piece {
            StreamPiece::Data {
                offset: o,
                start: s,
                len: l,
            } => {
                kind.push(0u8);
                reason.push(0u8);
                offset.push(o as f64);
                start.push(s as f64);
                len.push(l as f64);
            }
            StreamPiece::Gap {
                offset: o,
                len: l,
                reason: r,
            } => {
                kind.push(1);
                reason.push(
                    GAP_REASONS
                        .iter()
                        .position(|x| *x == r.as_str())
                        .unwrap_or(0) as u8,
                );
                offset.push(o as f64);
                start.push(0.0);
                len.push(l as f64);
            }
            StreamPiece::End { reason: r } => {
                kind.push(2);
                reason.push(
                    END_REASONS
                        .iter()
                        .position(|x| *x == r.as_str())
                        .unwrap_or(0) as u8,
                );
                offset.push(0.0);
                start.push(0.0);
                len.push(0.0);
            }
        }
    }
    BindingStreamBatch {
        length: n as u32,
        flow: Float64Array::new(flow),
        dir: Uint8Array::new(dir),
        kind: Uint8Array::new(kind),
        reason: Uint8Array::new(reason),
        offset: Float64Array::new(offset),
        start: Float64Array::new(start),
        piece_length: Float64Array::new(len),
        ts: BigUint64Array::new(ts),
        data: crate::binding_pool::external_bytes(data),
    }
}

/// The stream batch's code lists, read once by TypeScript.
#[napi(object, object_from_js = false)]
pub struct BindingStreamLayout {
    pub gap_reasons: Vec<String>,
    pub end_reasons: Vec<String>,
}

#[napi]
pub fn stream_layout() -> BindingStreamLayout {
    let v = |c: &[&str]| c.iter().map(|s| s.to_string()).collect();
    BindingStreamLayout {
        gap_reasons: v(GAP_REASONS),
        end_reasons: v(END_REASONS),
    }
}
