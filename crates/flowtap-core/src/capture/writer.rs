//! pcapng writing: one Section Header Block, an Interface Description Block
//! per interface (link type, snaplen, `if_tsresol` = 9 so timestamps keep
//! nanoseconds), and an Enhanced Packet Block per frame.
//!
//! Contract: pure, over any `std::io::Write`; never panics. Blocks are
//! written in host byte order (pcapng readers detect it from the SHB magic).
//! Frames are written as given; a frame referring to an interface that was
//! not added is rejected with `InvalidInput` rather than producing a file
//! readers would refuse.

use std::io::{self, Write};

use crate::LinkType;

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 0x0000_0001;
const EPB: u32 = 0x0000_0006;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
const OPT_END: u16 = 0;
const IF_TSRESOL: u16 = 9;

/// Streams a pcapng capture to `W`.
pub struct PcapngWriter<W: Write> {
    out: W,
    interfaces: u32,
}

impl<W: Write> PcapngWriter<W> {
    /// Writes the Section Header Block (section length unknown: -1).
    pub fn new(mut out: W) -> io::Result<Self> {
        let mut body = Vec::with_capacity(16);
        body.extend_from_slice(&BYTE_ORDER_MAGIC.to_ne_bytes());
        body.extend_from_slice(&1u16.to_ne_bytes());
        body.extend_from_slice(&0u16.to_ne_bytes());
        body.extend_from_slice(&(-1i64).to_ne_bytes());
        write_block(&mut out, SHB, &body)?;
        Ok(Self { out, interfaces: 0 })
    }

    /// Adds an interface; returns its id for [`Self::write_packet`].
    /// Timestamps of its packets are in nanoseconds (`if_tsresol` = 9).
    pub fn add_interface(&mut self, link_type: LinkType, snaplen: u32) -> io::Result<u32> {
        let mut body = Vec::with_capacity(20);
        body.extend_from_slice(&link_type.0.to_ne_bytes());
        body.extend_from_slice(&0u16.to_ne_bytes());
        body.extend_from_slice(&snaplen.to_ne_bytes());
        body.extend_from_slice(&IF_TSRESOL.to_ne_bytes());
        body.extend_from_slice(&1u16.to_ne_bytes());
        body.extend_from_slice(&[9, 0, 0, 0]);
        body.extend_from_slice(&OPT_END.to_ne_bytes());
        body.extend_from_slice(&0u16.to_ne_bytes());
        write_block(&mut self.out, IDB, &body)?;
        let id = self.interfaces;
        self.interfaces = self.interfaces.saturating_add(1);
        Ok(id)
    }

    /// Writes one Enhanced Packet Block. `origlen` below `data.len()` is
    /// raised to it, since a wire length can never be shorter than the capture.
    pub fn write_packet(
        &mut self,
        interface: u32,
        ts_ns: u64,
        data: &[u8],
        origlen: u32,
    ) -> io::Result<()> {
        if interface >= self.interfaces {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "pcapng: packet for an interface that was not added",
            ));
        }
        let caplen = u32::try_from(data.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pcapng: packet too large"))?;
        let mut head = [0u8; 20];
        head[0..4].copy_from_slice(&interface.to_ne_bytes());
        head[4..8].copy_from_slice(&((ts_ns >> 32) as u32).to_ne_bytes());
        head[8..12].copy_from_slice(&(ts_ns as u32).to_ne_bytes());
        head[12..16].copy_from_slice(&caplen.to_ne_bytes());
        head[16..20].copy_from_slice(&origlen.max(caplen).to_ne_bytes());
        let pad = (4 - data.len() % 4) % 4;
        let total = 12u64 + 20 + data.len() as u64 + pad as u64;
        let total = u32::try_from(total)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pcapng: packet too large"))?;
        self.out.write_all(&EPB.to_ne_bytes())?;
        self.out.write_all(&total.to_ne_bytes())?;
        self.out.write_all(&head)?;
        self.out.write_all(data)?;
        self.out.write_all(&[0u8; 3][..pad])?;
        self.out.write_all(&total.to_ne_bytes())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Returns the underlying writer (not flushed).
    pub fn into_inner(self) -> W {
        self.out
    }
}

fn write_block<W: Write>(out: &mut W, ty: u32, body: &[u8]) -> io::Result<()> {
    // Every body built here is a multiple of 4 and small.
    let total = (12 + body.len()) as u32;
    out.write_all(&ty.to_ne_bytes())?;
    out.write_all(&total.to_ne_bytes())?;
    out.write_all(body)?;
    out.write_all(&total.to_ne_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::{CaptureFormat, CaptureReader, ReaderOptions};

    #[test]
    fn round_trips_through_reader() {
        let mut w = PcapngWriter::new(Vec::new()).unwrap();
        let eth = w.add_interface(LinkType::ETHERNET, 65535).unwrap();
        let raw = w.add_interface(LinkType(101), 128).unwrap();
        let pkts: [(u32, u64, &[u8], u32); 3] = [
            (eth, 1_700_000_000_123_456_789, b"abcde", 60),
            (raw, 1_700_000_001_000_000_001, b"0123", 4),
            (eth, u64::from(u32::MAX) + 7, b"", 0),
        ];
        for (i, ts, d, o) in pkts {
            w.write_packet(i, ts, d, o).unwrap();
        }
        assert!(w.write_packet(5, 0, b"x", 1).is_err());
        let bytes = w.into_inner();
        let mut r = CaptureReader::new(&bytes[..], ReaderOptions::default()).unwrap();
        assert_eq!(r.format(), CaptureFormat::PcapNg);
        for (i, ts, d, o) in pkts {
            let f = r.next_frame().unwrap().unwrap();
            assert_eq!(
                (f.interface, f.ts_ns, f.data, f.origlen),
                (i, ts, d, o.max(d.len() as u32))
            );
            let lt = if i == eth {
                LinkType::ETHERNET
            } else {
                LinkType(101)
            };
            assert_eq!(f.link_type, lt);
        }
        assert!(r.next_frame().unwrap().is_none());
    }
}
