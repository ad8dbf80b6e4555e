//! Capture file reading: pcap and pcapng, through the reader alone and
//! through `PacketSource` batches, with default and with tiny limits.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flowtap_fuzz::capture::run(data));
