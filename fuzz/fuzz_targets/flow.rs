//! The flow tracker fed arbitrary frame sequences (with defragmentation and
//! a small flow table): the table never exceeds `max_flows`, and every flow
//! that starts ends exactly once.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flowtap_fuzz::flow::run(data));
