//! Packet decoding for every link type: no panic, and the offsets it
//! reports stay inside the frame.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flowtap_fuzz::decode::run(data));
