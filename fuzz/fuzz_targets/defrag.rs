//! IP defragmentation fed arbitrary frame sequences, with small limits so
//! they are reached; reassembled datagrams are decoded and pushed again
//! (nested fragmentation). The limits must hold after every call.
#![no_main]

use flowtap_core::decode::decode;
use flowtap_core::defrag::{DefragOptions, Defragmenter, Outcome};
use flowtap_core::LinkType;
use flowtap_fuzz::packets;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts = DefragOptions {
        max_datagrams: 8,
        max_bytes: 16 * 1024,
        max_fragments: 16,
        max_datagram_size: 65535,
        timeout_ns: 5_000_000_000,
    };
    let mut d = Defragmenter::new(opts);
    let mut ts = 0u64;
    for p in packets(data) {
        ts += p.step_ns;
        let origlen = p.data.len() as u32 + if p.cut { 100 } else { 0 };
        let info = decode(p.link, p.data, origlen);
        let mut out = d.push(ts, p.data, &info);
        let mut depth = 0;
        while let Outcome::Complete(dg) = out {
            assert!(dg.len() <= 65535 + 40 + 2048, "datagram of {}", dg.len());
            let info = decode(LinkType::RAW, &dg, dg.len() as u32);
            depth += 1;
            if depth > 3 {
                break;
            }
            out = d.push(ts, &dg, &info);
        }
        assert!(d.datagrams() <= opts.max_datagrams);
        assert!(d.buffered_bytes() <= opts.max_bytes);
    }
    d.flush();
    assert_eq!(d.datagrams(), 0);
    assert_eq!(d.buffered_bytes(), 0);
});
