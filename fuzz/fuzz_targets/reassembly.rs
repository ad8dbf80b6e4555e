//! TCP reassembly fed arbitrary segment sequences with small limits: per
//! direction the chunks form one contiguous stream (data and gaps abut from
//! offset 0, at most one End, last), the memcap is never exceeded, and
//! `finish` returns every byte charged.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flowtap_fuzz::reassembly::run(data));
