//! The whole analyzer (flow tracking, defragmentation, reassembly, protocol
//! detection, HTTP/DNS/TLS parsing, stream pieces) over arbitrary capture
//! bytes, with small limits so that they are reached.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flowtap_fuzz::analyze::run(data));
