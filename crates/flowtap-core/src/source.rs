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
}

/// Reads, decodes and batches packets; see the module docs.
pub struct PacketSource<'r> {
    reader: CaptureReader<'r>,
    opts: SourceOptions,
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
            let info = decode(frame.link_type, frame.data, frame.origlen);
            self.stats.record(&frame, &info);
            f(&frame, &info);
        }
        self.finished = true;
        Ok(())
    }
}
