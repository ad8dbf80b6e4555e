//! [`PacketSource`]: a capture reader plus the decoder, producing bounded
//! [`PacketBatch`]es and keeping running [`SourceStats`].
//!
//! Contract: every good packet before a damaged record is delivered; the
//! error comes after them (the batch holding them is returned first and the
//! error on the next call). After an error or the end of input, every call
//! returns `Ok(None)`.

use std::io::Read;

use crate::batch::{BatchStorage, PacketBatch};
use crate::capture::{CaptureFormat, CaptureReader, Frame, ReaderOptions};
use crate::decode::{decode, Net, PacketInfo, Status, Transport};
use crate::{Error, LinkType};

/// Options of a [`PacketSource`].
#[derive(Debug, Clone, Copy)]
pub struct SourceOptions {
    pub reader: ReaderOptions,
    /// Packets per batch at most.
    pub batch_packets: usize,
    /// Packet bytes per batch at most (a first packet always fits).
    pub batch_bytes: usize,
    /// Hand each packet's bytes out with the batch (off: headers only; the
    /// bytes are still read into the arena to be decoded, then dropped).
    pub keep_bytes: bool,
}

impl Default for SourceOptions {
    fn default() -> Self {
        SourceOptions {
            reader: ReaderOptions::default(),
            batch_packets: 4096,
            batch_bytes: 4 << 20,
            keep_bytes: true,
        }
    }
}

/// Running totals over everything read so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceStats {
    pub packets: u64,
    /// Captured bytes.
    pub bytes: u64,
    /// Bytes on the wire (sum of original lengths).
    pub wire_bytes: u64,
    /// Packets per link type, in order of first appearance.
    pub link_types: Vec<(LinkType, u64)>,
    pub ipv4: u64,
    pub ipv6: u64,
    pub arp: u64,
    pub tcp: u64,
    pub udp: u64,
    pub icmp: u64,
    /// Packets with no IP, or IP whose transport we do not decode.
    pub other: u64,
    /// IP fragments (their transport is not decoded).
    pub fragments: u64,
    pub malformed: u64,
    pub truncated: u64,
    /// Earliest and latest timestamps (ns), if any packet was read.
    pub first_ts_ns: Option<u64>,
    pub last_ts_ns: Option<u64>,
}

impl SourceStats {
    pub fn record(&mut self, frame: &Frame<'_>, info: &PacketInfo) {
        self.packets += 1;
        self.bytes += frame.data.len() as u64;
        self.wire_bytes += frame.origlen as u64;
        match self
            .link_types
            .iter_mut()
            .find(|(l, _)| *l == frame.link_type)
        {
            Some((_, n)) => *n += 1,
            None => self.link_types.push((frame.link_type, 1)),
        }
        match info.net {
            Net::Ipv4 => self.ipv4 += 1,
            Net::Ipv6 => self.ipv6 += 1,
            Net::Arp => self.arp += 1,
            _ => {}
        }
        match info.transport {
            Transport::Tcp => self.tcp += 1,
            Transport::Udp => self.udp += 1,
            Transport::Icmpv4 | Transport::Icmpv6 => self.icmp += 1,
            _ => self.other += 1,
        }
        if info.ip_flags & crate::decode::ip_flags::FRAGMENT != 0 {
            self.fragments += 1;
        }
        match info.status {
            Status::Ok => {}
            Status::Truncated => self.truncated += 1,
            Status::Malformed => self.malformed += 1,
        }
        let ts = frame.ts_ns;
        self.first_ts_ns = Some(self.first_ts_ns.map_or(ts, |t| t.min(ts)));
        self.last_ts_ns = Some(self.last_ts_ns.map_or(ts, |t| t.max(ts)));
    }

    /// Adds the totals of another part of the same capture (e.g. another
    /// fanout worker's share of the packets).
    pub fn merge(&mut self, o: &SourceStats) {
        self.packets += o.packets;
        self.bytes += o.bytes;
        self.wire_bytes += o.wire_bytes;
        for &(l, n) in &o.link_types {
            match self.link_types.iter_mut().find(|(m, _)| *m == l) {
                Some((_, c)) => *c += n,
                None => self.link_types.push((l, n)),
            }
        }
        self.ipv4 += o.ipv4;
        self.ipv6 += o.ipv6;
        self.arp += o.arp;
        self.tcp += o.tcp;
        self.udp += o.udp;
        self.icmp += o.icmp;
        self.other += o.other;
        self.fragments += o.fragments;
        self.malformed += o.malformed;
        self.truncated += o.truncated;
        let min = |a: Option<u64>, b: Option<u64>| a.into_iter().chain(b).min();
        let max = |a: Option<u64>, b: Option<u64>| a.into_iter().chain(b).max();
        self.first_ts_ns = min(self.first_ts_ns, o.first_ts_ns);
        self.last_ts_ns = max(self.last_ts_ns, o.last_ts_ns);
    }
}

/// Decides which captured packets a source keeps (e.g. a compiled capture
/// filter); the others are skipped before they are copied or decoded.
pub type FrameFilter<'r> = Box<dyn FnMut(&Frame<'_>) -> bool + Send + 'r>;

/// Reads, decodes and batches packets; see the module docs.
pub struct PacketSource<'r> {
    reader: CaptureReader<'r>,
    opts: SourceOptions,
    filter: Option<FrameFilter<'r>>,
    /// Packets the filter skipped.
    filtered: u64,
    stats: SourceStats,
    /// An error met while filling the previous batch, reported next.
    deferred: Option<Error>,
    finished: bool,
}

impl<'r> PacketSource<'r> {
    pub fn new<R: Read + Send + 'r>(input: R, opts: SourceOptions) -> Result<Self, Error> {
        if opts.batch_packets == 0 || opts.batch_packets > 1 << 20 {
            return Err(Error::InvalidArgument(format!(
                "batch_packets must be 1..=1048576, got {}",
                opts.batch_packets
            )));
        }
        Ok(PacketSource {
            reader: CaptureReader::new(input, opts.reader)?,
            opts,
            filter: None,
            filtered: 0,
            stats: SourceStats::default(),
            deferred: None,
            finished: false,
        })
    }

    pub fn format(&self) -> CaptureFormat {
        self.reader.format()
    }

    pub fn stats(&self) -> &SourceStats {
        &self.stats
    }

    /// Keeps only the packets `filter` accepts, from the next read on.
    pub fn set_filter(&mut self, filter: FrameFilter<'r>) {
        self.filter = Some(filter);
    }

    /// Packets the filter skipped so far.
    pub fn filtered(&self) -> u64 {
        self.filtered
    }

    /// Byte offset of the next unread record.
    pub fn position(&self) -> u64 {
        self.reader.position()
    }

    /// The next batch, `Ok(None)` at the end, or the error that stopped
    /// reading (after the batch of packets read before it).
    pub fn next_batch(&mut self) -> Result<Option<PacketBatch>, Error> {
        self.next_batch_in(BatchStorage::default())
    }

    /// [`next_batch`](Self::next_batch), building the batch in reused vectors.
    pub fn next_batch_in(&mut self, storage: BatchStorage) -> Result<Option<PacketBatch>, Error> {
        let batch = self.read_batch_in(storage)?;
        Ok(batch.map(|mut b| {
            b.decode_rows(&mut self.stats, self.opts.keep_bytes);
            b
        }))
    }

    /// The reading half of [`next_batch_in`](Self::next_batch_in): packets
    /// copied in, headers not decoded yet. Finish it with
    /// [`PacketBatch::decode_rows`] — possibly on another thread, with
    /// statistics of its own (this source's [`stats`](Self::stats) count
    /// only what it decoded itself).
    pub fn read_batch_in(&mut self, storage: BatchStorage) -> Result<Option<PacketBatch>, Error> {
        if let Some(e) = self.deferred.take() {
            return Err(e);
        }
        if self.finished {
            return Ok(None);
        }
        let mut batch =
            PacketBatch::with_storage(self.opts.batch_packets, self.opts.batch_bytes, storage);
        match self.fill(&mut batch) {
            Ok(()) => {}
            Err(e) if batch.is_empty() => {
                self.finished = true;
                return Err(e);
            }
            Err(e) => {
                self.finished = true;
                self.deferred = Some(e);
            }
        }
        if batch.is_empty() {
            self.finished = true;
            return Ok(None);
        }
        Ok(Some(batch))
    }

    pub fn options(&self) -> &SourceOptions {
        &self.opts
    }

    fn fill(&mut self, batch: &mut PacketBatch) -> Result<(), Error> {
        let largest = self.opts.reader.max_packet_len as usize;
        while !batch.is_full() {
            // Stop while the largest possible record still fits, so no
            // record is read that the batch could not take.
            if !batch.is_empty() && !batch.fits(largest) {
                return Ok(());
            }
            let Some(frame) = self.reader.next_frame()? else {
                self.finished = true;
                return Ok(());
            };
            if let Some(keep) = self.filter.as_mut() {
                if !keep(&frame) {
                    self.filtered += 1;
                    continue;
                }
            }
            batch.push_frame(&frame);
        }
        Ok(())
    }

    /// Calls `f` for each packet without building batches: the core's
    /// fastest path, for consumers inside Rust.
    pub fn for_each(&mut self, mut f: impl FnMut(&Frame<'_>, &PacketInfo)) -> Result<(), Error> {
        if let Some(e) = self.deferred.take() {
            return Err(e);
        }
        while let Some(frame) = self.reader.next_frame()? {
            if let Some(keep) = self.filter.as_mut() {
                if !keep(&frame) {
                    self.filtered += 1;
                    continue;
                }
            }
            let info = decode(frame.link_type, frame.data, frame.origlen);
            self.stats.record(&frame, &info);
            f(&frame, &info);
        }
        self.finished = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Vec<u8> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/loopback-http-dns.pcapng"
        );
        std::fs::read(path).expect("bundled example capture")
    }

    #[test]
    fn a_filter_skips_packets_before_they_are_batched_or_counted() {
        let opts = SourceOptions {
            batch_packets: 3,
            ..Default::default()
        };
        let mut all = PacketSource::new(std::io::Cursor::new(example()), opts).unwrap();
        let mut sizes = Vec::new();
        all.for_each(|f, _| sizes.push(f.data.len())).unwrap();
        let big = sizes.iter().filter(|&&n| n > 100).count();
        assert!(big > 0 && big < sizes.len(), "the example mixes sizes");

        let mut src = PacketSource::new(std::io::Cursor::new(example()), opts).unwrap();
        src.set_filter(Box::new(|f: &Frame<'_>| f.data.len() > 100));
        let mut kept = Vec::new();
        while let Some(b) = src.next_batch().unwrap() {
            kept.extend((0..b.len()).map(|i| b.packet_data(i).len()));
        }
        assert_eq!(kept.len(), big);
        assert!(kept.iter().all(|&n| n > 100));
        assert_eq!(src.stats().packets, big as u64);
        assert_eq!(src.filtered(), (sizes.len() - big) as u64);
    }
}
