//! The flow tracker fed arbitrary frame sequences (with defragmentation and
//! a small flow table): the table never exceeds `max_flows`, and every flow
//! that starts ends exactly once.
#![no_main]

use flowtap_core::capture::Frame;
use flowtap_core::decode::decode;
use flowtap_core::defrag::DefragOptions;
use flowtap_core::flow::tracker::{FlowEvent, FlowOptions, FlowTracker};
use flowtap_fuzz::packets;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
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
});
