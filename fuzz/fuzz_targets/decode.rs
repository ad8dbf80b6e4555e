//! Packet decoding for every link type: no panic, and the offsets it
//! reports stay inside the frame.
#![no_main]

use flowtap_core::decode::{decode, Status};
use flowtap_fuzz::link;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, frame)) = data.split_first() else {
        return;
    };
    // High bit: the frame was cut by a snaplen (wire length larger).
    let origlen = frame.len() as u32 + if sel & 0x80 != 0 { 1000 } else { 0 };
    let info = decode(link(sel & 0x7f), frame, origlen);
    let end = info.payload_offset as u64 + info.payload_len as u64;
    assert!(
        end <= frame.len() as u64,
        "payload past the frame: {info:?}"
    );
    assert!(info.l3_offset as usize <= frame.len());
    assert!(info.l4_offset as usize <= frame.len());
    if sel & 0x80 == 0 {
        assert_ne!(info.status, Status::Truncated, "truncated without a cut");
    }
});
