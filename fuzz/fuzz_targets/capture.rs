//! Capture file reading: pcap and pcapng, through the reader alone and
//! through `PacketSource` batches, with default and with tiny limits.
#![no_main]

use flowtap_core::capture::{CaptureReader, ReaderOptions};
use flowtap_core::decode::decode;
use flowtap_core::source::{PacketSource, SourceOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let small = ReaderOptions {
        buffer_size: 64,
        max_packet_len: 2048,
        max_block_len: 4096,
    };
    for opts in [ReaderOptions::default(), small] {
        if let Ok(mut r) = CaptureReader::new(data, opts) {
            let mut last = 0;
            while let Ok(Some(f)) = r.next_frame() {
                assert!(f.data.len() <= opts.max_packet_len as usize);
                let _ = decode(f.link_type, f.data, f.origlen);
                last = f.offset;
            }
            assert!(r.position() >= last);
        }
    }
    let opts = SourceOptions {
        batch_packets: 3,
        batch_bytes: 4096,
        reader: small,
        keep_bytes: true,
    };
    if let Ok(mut src) = PacketSource::new(data, opts) {
        let mut n = 0u64;
        while let Ok(Some(b)) = src.next_batch() {
            assert!(b.len() <= 3);
            for i in 0..b.len() {
                let _ = b.packet_data(i);
            }
            n += b.len() as u64;
        }
        assert_eq!(src.stats().packets, n);
        assert!(matches!(src.next_batch(), Ok(None)));
    }
});
