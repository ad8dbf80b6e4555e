//! IP defragmentation fed arbitrary frame sequences, with small limits so
//! they are reached; reassembled datagrams are decoded and pushed again
//! (nested fragmentation). The limits must hold after every call.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flowtap_fuzz::defrag::run(data));
