//! Streaming pcap/pcapng reader on top of `pcap-parser`.
//!
//! `pcap-parser` does the block grammar; this module adds what a capture
//! library needs around it: format sniffing with a precise error, version and
//! header checks that match libpcap's, per-section interface tables, global
//! interface numbering, nanosecond timestamps, the legacy Packet Block, record
//! size limits (a corrupt length never becomes a huge allocation), and byte
//! offsets on every error.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use pcap_parser::pcapng::Block;
use pcap_parser::traits::{PcapNGPacketBlock, PcapReaderIterator};
use pcap_parser::{PcapBlockOwned, PcapError};

use super::interfaces::{Interface, TsResolution};
use super::Frame;
use crate::{Error, LinkType};

const PCAPNG_SHB: u32 = 0x0A0D_0D0A;
const PCAPNG_LEGACY_PB: u32 = 0x0000_0002;
/// `LT_RESERVED1` of libpcap: bits of the pcap link-type field that must be 0.
const PCAP_LINKTYPE_RESERVED: u32 = 0x03FF_0000;

/// Limits and sizes of a [`CaptureReader`].
#[derive(Debug, Clone, Copy)]
pub struct ReaderOptions {
    /// Initial read buffer size in bytes.
    pub buffer_size: usize,
    /// Largest captured length accepted for one packet. libpcap and Wireshark
    /// refuse records above 262144 bytes for ordinary link types; a larger
    /// length in a file is almost always corruption.
    pub max_packet_len: u32,
    /// Largest pcapng block accepted (libpcap uses 16 MiB).
    pub max_block_len: u32,
}

impl Default for ReaderOptions {
    fn default() -> Self {
        ReaderOptions {
            buffer_size: 1 << 20,
            max_packet_len: 262_144,
            max_block_len: 16 << 20,
        }
    }
}

/// Which file format the stream holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureFormat {
    Pcap {
        nanosecond: bool,
        big_endian: bool,
        /// The Kuznetzov "modified" pcap format (magic 0xa1b2cd34).
        modified: bool,
    },
    PcapNg,
}

impl CaptureFormat {
    pub fn name(self) -> &'static str {
        match self {
            CaptureFormat::Pcap { .. } => "pcap",
            CaptureFormat::PcapNg => "pcapng",
        }
    }
}

/// What the last `pcap-parser` call found, with borrows already released.
enum Found {
    Packet {
        consumed: usize,
        data_start: usize,
        caplen: usize,
        origlen: u32,
        ts_ns: u64,
        interface: u32,
        link_type: LinkType,
    },
    Other(usize),
    Fatal(Error),
}

/// Streaming reader of pcap and pcapng; see the module docs for its contract.
pub struct CaptureReader<'r> {
    inner: Box<dyn PcapReaderIterator + Send + 'r>,
    opts: ReaderOptions,
    format: CaptureFormat,
    /// pcap: the file's link type; unused for pcapng.
    pcap_link: LinkType,
    pcap_snaplen: u32,
    /// Byte order of the file (pcap) or of the current section (pcapng).
    big_endian: bool,
    /// Interfaces of the current pcapng section.
    interfaces: Vec<Interface>,
    /// Global index of interface 0 of the current section.
    iface_base: u32,
    /// Interfaces seen so far in all sections.
    iface_total: u32,
    /// Bytes of the frame handed out last, consumed on the next call.
    pending: usize,
    done: bool,
}

impl<'r> CaptureReader<'r> {
    /// Opens a capture, sniffing pcap vs pcapng from the first bytes and
    /// validating the file/section header.
    pub fn new<R: Read + Send + 'r>(mut input: R, opts: ReaderOptions) -> Result<Self, Error> {
        let mut head = [0u8; 4];
        let mut got = 0;
        while got < head.len() {
            match input.read(&mut head[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(Error::Io {
                        offset: got as u64,
                        detail: e.to_string(),
                    })
                }
            }
        }
        if got == 0 {
            return Err(Error::Format {
                offset: 0,
                detail: "empty input".into(),
            });
        }
        if got < 4 {
            return Err(Error::Truncated {
                offset: 0,
                needed: (4 - got) as u64,
            });
        }
        let magic = u32::from_be_bytes(head);
        let format = match magic {
            PCAPNG_SHB => CaptureFormat::PcapNg,
            0xa1b2_c3d4 | 0xa1b2_3c4d | 0xa1b2_cd34 => CaptureFormat::Pcap {
                nanosecond: magic == 0xa1b2_3c4d,
                big_endian: true,
                modified: magic == 0xa1b2_cd34,
            },
            0xd4c3_b2a1 | 0x4d3c_b2a1 | 0x34cd_b2a1 => CaptureFormat::Pcap {
                nanosecond: magic == 0x4d3c_b2a1,
                big_endian: false,
                modified: magic == 0x34cd_b2a1,
            },
            _ => return Err(Error::UnknownFormat { magic }),
        };
        let state = Arc::new(OpenState::default());
        let chained = Prefixed {
            head,
            pos: 0,
            inner: input,
            stash: None,
            state: Arc::clone(&state),
        };
        let buffer_size = opts.buffer_size.max(64 * 1024);
        let inner = pcap_parser::create_reader(buffer_size, chained).map_err(|e| match e {
            // The stream failed while the header was read: that, not the
            // header's shape, is the problem.
            _ if state.failed.load(Ordering::Relaxed) => Error::Io {
                offset: 0,
                detail: "read failed".into(),
            },
            PcapError::Incomplete(n) => Error::Truncated {
                offset: 0,
                needed: n.max(1) as u64,
            },
            PcapError::ReadError => Error::Io {
                offset: 0,
                detail: "read failed".into(),
            },
            _ => Error::Format {
                offset: 0,
                detail: match format {
                    CaptureFormat::PcapNg => "invalid pcapng section header block".into(),
                    CaptureFormat::Pcap { .. } => "invalid pcap file header".into(),
                },
            },
        })?;
        state.opened.store(true, Ordering::Relaxed);
        let mut reader = CaptureReader {
            inner,
            opts,
            format,
            pcap_link: LinkType(0),
            pcap_snaplen: 0,
            big_endian: false,
            interfaces: Vec::new(),
            iface_base: 0,
            iface_total: 0,
            pending: 0,
            done: false,
        };
        if let CaptureFormat::Pcap { big_endian, .. } = format {
            reader.big_endian = big_endian;
            reader.read_pcap_header()?;
        }
        Ok(reader)
    }

    pub fn format(&self) -> CaptureFormat {
        self.format
    }

    /// Byte offset in the stream of the next unread record.
    pub fn position(&self) -> u64 {
        (self.inner.consumed() + self.pending) as u64
    }

    /// Number of interfaces seen so far (1 for pcap).
    pub fn interface_count(&self) -> u32 {
        match self.format {
            CaptureFormat::Pcap { .. } => 1,
            CaptureFormat::PcapNg => self.iface_total,
        }
    }

    fn read_pcap_header(&mut self) -> Result<(), Error> {
        let hdr = match self.inner.next() {
            Ok((n, PcapBlockOwned::LegacyHeader(h))) => (n, h),
            _ => {
                return Err(Error::Format {
                    offset: 0,
                    detail: "invalid pcap file header".into(),
                })
            }
        };
        let (n, h) = hdr;
        if h.version_major != 2 {
            return Err(Error::Unsupported {
                offset: 0,
                detail: format!(
                    "pcap version {}.{} (only 2.x exists)",
                    h.version_major, h.version_minor
                ),
            });
        }
        let network = h.network.0 as u32;
        if network & PCAP_LINKTYPE_RESERVED != 0 {
            return Err(Error::Format {
                offset: 20,
                detail: format!("reserved bits set in the link-type field ({network:#010x})"),
            });
        }
        self.pcap_link = LinkType((network & 0xffff) as u16);
        self.pcap_snaplen = h.snaplen;
        self.inner.consume(n);
        Ok(())
    }

    /// Returns the next packet, `Ok(None)` at a clean end of input, or the
    /// first error. After an error or the end, every later call returns
    /// `Ok(None)`.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, Error> {
        if self.pending > 0 {
            self.inner.consume(self.pending);
            self.pending = 0;
        }
        if self.done {
            return Ok(None);
        }
        loop {
            let offset = self.inner.consumed() as u64;
            let base = self.inner.data().as_ptr() as usize;
            let found = match self.inner.next() {
                Ok((consumed, block)) => classify(
                    consumed,
                    block,
                    base,
                    offset,
                    &mut ClassifyState {
                        opts: &self.opts,
                        format: self.format,
                        pcap_link: self.pcap_link,
                        big_endian: &mut self.big_endian,
                        interfaces: &mut self.interfaces,
                        iface_base: &mut self.iface_base,
                        iface_total: &mut self.iface_total,
                    },
                ),
                Err(PcapError::Eof) => {
                    self.done = true;
                    return Ok(None);
                }
                // pcap-parser also reports a length *inside* a block that
                // overruns the block (an EPB caplen beyond its block) as
                // "incomplete"; once the whole block is buffered, more input
                // cannot help, and waiting for it would loop forever.
                Err(PcapError::Incomplete(_)) => {
                    if self.block_is_buffered() {
                        Found::Fatal(overrun(offset))
                    } else {
                        match self.refill(offset) {
                            Ok(()) => continue,
                            Err(e) => Found::Fatal(e),
                        }
                    }
                }
                Err(PcapError::BufferTooSmall) => {
                    if self.block_is_buffered() {
                        Found::Fatal(overrun(offset))
                    } else {
                        match self.grow_for_record(offset) {
                            Ok(()) => continue,
                            Err(e) => Found::Fatal(e),
                        }
                    }
                }
                Err(PcapError::UnexpectedEof) => {
                    if self.block_is_buffered() {
                        Found::Fatal(overrun(offset))
                    } else {
                        let available = self.inner.data().len() as u64;
                        match self.claimed_record_len(offset) {
                            Ok(len) => Found::Fatal(Error::Truncated {
                                offset,
                                needed: len.saturating_sub(available).max(1),
                            }),
                            Err(e) => Found::Fatal(e),
                        }
                    }
                }
                Err(PcapError::ReadError) => Found::Fatal(Error::Io {
                    offset,
                    detail: "read failed".into(),
                }),
                Err(PcapError::NomError(_, kind)) | Err(PcapError::OwnedNomError(_, kind)) => {
                    Found::Fatal(Error::Format {
                        offset,
                        detail: format!("invalid {} record ({kind:?})", self.format.name()),
                    })
                }
                Err(PcapError::HeaderNotRecognized) => Found::Fatal(Error::Format {
                    offset,
                    detail: "unrecognized header".into(),
                }),
            };
            let found = match found {
                Found::Other(consumed) | Found::Packet { consumed, .. }
                    if !self.trailer_matches(consumed) =>
                {
                    Found::Fatal(Error::Format {
                        offset,
                        detail: "pcapng block's leading and trailing lengths differ".into(),
                    })
                }
                found => found,
            };
            match found {
                Found::Other(consumed) => self.inner.consume(consumed),
                Found::Fatal(e) => {
                    self.done = true;
                    return Err(e);
                }
                Found::Packet {
                    consumed,
                    data_start,
                    caplen,
                    origlen,
                    ts_ns,
                    interface,
                    link_type,
                } => {
                    let data = self.inner.data().get(data_start..data_start + caplen);
                    let Some(data) = data else {
                        self.done = true;
                        return Err(Error::Format {
                            offset,
                            detail: "packet data outside its record".into(),
                        });
                    };
                    self.pending = consumed;
                    return Ok(Some(Frame {
                        ts_ns,
                        origlen,
                        interface,
                        link_type,
                        offset,
                        data,
                    }));
                }
            }
        }
    }

    fn refill(&mut self, offset: u64) -> Result<(), Error> {
        self.inner.refill().map_err(|_| Error::Io {
            offset,
            detail: "read failed".into(),
        })
    }

    /// Whether a pcapng block at the head of the buffer, `consumed` bytes
    /// long, repeats its length in its trailer (libpcap and Wireshark reject
    /// blocks where they differ; `pcap-parser` checks only some block types).
    /// Both copies are in the same byte order, so comparing bytes suffices.
    fn trailer_matches(&self, consumed: usize) -> bool {
        if self.format != CaptureFormat::PcapNg {
            return true;
        }
        let data = self.inner.data();
        match (
            data.get(4..8),
            consumed.checked_sub(4).and_then(|t| data.get(t..consumed)),
        ) {
            (Some(lead), Some(trail)) => lead == trail,
            _ => false,
        }
    }

    /// Whether the pcapng block at the head of the buffer is there in full,
    /// by its own length field.
    fn block_is_buffered(&self) -> bool {
        if self.format != CaptureFormat::PcapNg {
            return false;
        }
        let data = self.inner.data();
        let Some(b) = data.get(0..12) else {
            return false;
        };
        let word = |at: usize, be: bool| {
            let w = [b[at], b[at + 1], b[at + 2], b[at + 3]];
            if be {
                u32::from_be_bytes(w)
            } else {
                u32::from_le_bytes(w)
            }
        };
        // A section header's length is in its own byte order, told by its
        // byte-order magic rather than by the section before it.
        let be = if word(0, false) == PCAPNG_SHB {
            word(8, true) == 0x1A2B_3C4D
        } else {
            self.big_endian
        };
        let len = word(4, be) as usize;
        len >= 12 && data.len() >= len
    }

    /// The total length the record at the head of the buffer claims, from its
    /// header; or the header size if even that is not complete.
    fn claimed_record_len(&self, offset: u64) -> Result<u64, Error> {
        let data = self.inner.data();
        let u32_at = |at: usize| -> Option<u32> {
            let b: [u8; 4] = data.get(at..at + 4)?.try_into().ok()?;
            Some(if self.big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            })
        };
        match self.format {
            CaptureFormat::Pcap { modified, .. } => {
                let hdr = if modified { 24 } else { 16 };
                let Some(caplen) = u32_at(8) else {
                    return Ok(hdr);
                };
                if caplen > self.opts.max_packet_len {
                    return Err(Error::RecordTooLarge {
                        offset,
                        len: caplen as u64,
                        limit: self.opts.max_packet_len as u64,
                    });
                }
                Ok(hdr + caplen as u64)
            }
            CaptureFormat::PcapNg => {
                let Some(len) = u32_at(4) else { return Ok(12) };
                // A section header's length is in its own byte order; the
                // bound below is the same either way.
                let len = if u32_at(0) == Some(PCAPNG_SHB) && len > self.opts.max_block_len {
                    len.swap_bytes()
                } else {
                    len
                };
                if len > self.opts.max_block_len {
                    return Err(Error::RecordTooLarge {
                        offset,
                        len: len as u64,
                        limit: self.opts.max_block_len as u64,
                    });
                }
                // A block is at least its type, two lengths: a shorter
                // length is corrupt, not a record cut short (pcap-parser
                // answers "unexpected EOF" for it, and more input would
                // not help; found by tests/hostile.rs).
                if len < 12 {
                    return Err(Error::Format {
                        offset,
                        detail: format!("pcapng block length {len} is below 12"),
                    });
                }
                Ok(len as u64)
            }
        }
    }

    fn grow_for_record(&mut self, offset: u64) -> Result<(), Error> {
        let need = match self.claimed_record_len(offset) {
            Ok(n) => n,
            Err(e) => {
                self.done = true;
                return Err(e);
            }
        } as usize;
        // Room for the record plus the next header, so progress is certain.
        let target = (need + 64 * 1024).next_power_of_two();
        let before = self.inner.data().len();
        let grew = self.inner.grow(target);
        self.refill(offset)?;
        if !grew && self.inner.data().len() == before && !self.inner.reader_exhausted() {
            // Neither more room nor more bytes: the parser wants more than
            // the record claims, so the record is corrupt (never spin).
            return Err(Error::Format {
                offset,
                detail: format!("{} record cannot be parsed", self.format.name()),
            });
        }
        Ok(())
    }
}

fn overrun(offset: u64) -> Error {
    Error::Format {
        offset,
        detail: "pcapng block content overruns the block".into(),
    }
}

/// Puts the sniffed bytes back in front of the stream. Unlike `Read::chain`,
/// one `read` call continues into the stream, because `pcap-parser` parses the
/// file header from the result of a single read.
///
/// A read error is held back until the bytes before it have been used:
/// returned on the next call, except while the reader is being opened —
/// `pcap-parser` reads twice while opening and fails outright on an error, so
/// an error then is kept (the call reports no bytes) until opening is over.
struct Prefixed<R> {
    head: [u8; 4],
    pos: usize,
    inner: R,
    stash: Option<std::io::Error>,
    state: Arc<OpenState>,
}

#[derive(Default)]
struct OpenState {
    /// `CaptureReader::new` is done with `pcap-parser`'s constructor.
    opened: AtomicBool,
    /// The stream has failed (the error may still be held back).
    failed: AtomicBool,
}

impl<R: Read> Read for Prefixed<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let from_head = (self.head.len() - self.pos).min(buf.len());
        buf[..from_head].copy_from_slice(&self.head[self.pos..self.pos + from_head]);
        self.pos += from_head;
        if from_head == buf.len() {
            return Ok(from_head);
        }
        let opening = !self.state.opened.load(Ordering::Relaxed);
        if let Some(e) = self.stash.take() {
            if opening && from_head == 0 {
                self.stash = Some(e);
                return Ok(0);
            }
            if from_head == 0 {
                return Err(e);
            }
            self.stash = Some(e);
            return Ok(from_head);
        }
        let mut n = from_head;
        // Keep reading until the buffer is full or the stream ends, so short
        // reads (pipes) cannot make a valid header look cut off.
        while n < buf.len() {
            match self.inner.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if n > 0 || opening => {
                    self.state.failed.store(true, Ordering::Relaxed);
                    self.stash = Some(e);
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }
}

struct ClassifyState<'a> {
    opts: &'a ReaderOptions,
    format: CaptureFormat,
    pcap_link: LinkType,
    big_endian: &'a mut bool,
    interfaces: &'a mut Vec<Interface>,
    iface_base: &'a mut u32,
    iface_total: &'a mut u32,
}

fn too_large(offset: u64, len: usize, st: &ClassifyState<'_>) -> Option<Found> {
    (len > st.opts.max_packet_len as usize).then_some(Found::Fatal(Error::RecordTooLarge {
        offset,
        len: len as u64,
        limit: st.opts.max_packet_len as u64,
    }))
}

/// Turns one parsed block into a [`Found`], updating section state.
fn classify(
    consumed: usize,
    block: PcapBlockOwned<'_>,
    base: usize,
    offset: u64,
    st: &mut ClassifyState<'_>,
) -> Found {
    let start_of = |d: &[u8]| (d.as_ptr() as usize).wrapping_sub(base);
    match block {
        PcapBlockOwned::Legacy(b) => {
            let nanos = matches!(
                st.format,
                CaptureFormat::Pcap {
                    nanosecond: true,
                    ..
                }
            );
            let frac = if nanos {
                b.ts_usec as u64
            } else {
                b.ts_usec as u64 * 1000
            };
            if let Some(f) = too_large(offset, b.data.len(), st) {
                return f;
            }
            Found::Packet {
                consumed,
                data_start: start_of(b.data),
                caplen: b.data.len(),
                origlen: b.origlen,
                ts_ns: (b.ts_sec as u64) * 1_000_000_000 + frac,
                interface: 0,
                link_type: st.pcap_link,
            }
        }
        PcapBlockOwned::LegacyHeader(_) => Found::Fatal(Error::Format {
            offset,
            detail: "second pcap file header".into(),
        }),
        PcapBlockOwned::NG(block) => match block {
            Block::SectionHeader(shb) => {
                let (maj, min) = (shb.major_version, shb.minor_version);
                if !(maj == 1 && (min == 0 || min == 2)) {
                    return Found::Fatal(Error::Unsupported {
                        offset,
                        detail: format!("pcapng section version {maj}.{min}"),
                    });
                }
                *st.big_endian = shb.big_endian();
                st.interfaces.clear();
                *st.iface_base = *st.iface_total;
                Found::Other(consumed)
            }
            Block::InterfaceDescription(idb) => {
                st.interfaces.push(Interface {
                    link_type: LinkType((idb.linktype.0 as u32 & 0xffff) as u16),
                    snaplen: idb.snaplen,
                    resolution: TsResolution::from_tsresol(idb.if_tsresol),
                    offset_s: idb.if_tsoffset,
                });
                *st.iface_total = st.iface_total.saturating_add(1);
                Found::Other(consumed)
            }
            Block::EnhancedPacket(epb) => {
                let Some(ifc) = st.interfaces.get(epb.if_id as usize) else {
                    return Found::Fatal(Error::Format {
                        offset,
                        detail: format!("packet on undeclared interface {}", epb.if_id),
                    });
                };
                let data = epb.packet_data();
                if let Some(f) = too_large(offset, data.len(), st) {
                    return f;
                }
                let units = ((epb.ts_high as u64) << 32) | epb.ts_low as u64;
                Found::Packet {
                    consumed,
                    data_start: start_of(data),
                    caplen: data.len(),
                    origlen: epb.origlen,
                    ts_ns: ifc.ts_ns(units),
                    interface: *st.iface_base + epb.if_id,
                    link_type: ifc.link_type,
                }
            }
            Block::SimplePacket(spb) => {
                let Some(ifc) = st.interfaces.first() else {
                    return Found::Fatal(Error::Format {
                        offset,
                        detail: "simple packet block before any interface".into(),
                    });
                };
                let mut data = spb.packet_data();
                if ifc.snaplen > 0 && data.len() > ifc.snaplen as usize {
                    data = &data[..ifc.snaplen as usize];
                }
                if let Some(f) = too_large(offset, data.len(), st) {
                    return f;
                }
                Found::Packet {
                    consumed,
                    data_start: start_of(data),
                    caplen: data.len(),
                    origlen: spb.origlen,
                    ts_ns: 0,
                    interface: *st.iface_base,
                    link_type: ifc.link_type,
                }
            }
            Block::Unknown(u) if u.block_type == PCAPNG_LEGACY_PB => {
                legacy_packet_block(consumed, u.data, start_of(u.data), offset, st)
            }
            _ => Found::Other(consumed),
        },
    }
}

/// The obsolete Packet Block (type 2): interface id (u16), drops (u16),
/// timestamp high/low, captured and original length, data.
fn legacy_packet_block(
    consumed: usize,
    body: &[u8],
    body_start: usize,
    offset: u64,
    st: &ClassifyState<'_>,
) -> Found {
    let be = *st.big_endian;
    let u16_at = |at: usize| -> Option<u16> {
        let b: [u8; 2] = body.get(at..at + 2)?.try_into().ok()?;
        Some(if be {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    };
    let u32_at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = body.get(at..at + 4)?.try_into().ok()?;
        Some(if be {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    let fields = (|| Some((u16_at(0)?, u32_at(4)?, u32_at(8)?, u32_at(12)?, u32_at(16)?)))();
    let Some((if_id, hi, lo, caplen, origlen)) = fields else {
        return Found::Fatal(Error::Format {
            offset,
            detail: "packet block too short".into(),
        });
    };
    let Some(ifc) = st.interfaces.get(if_id as usize) else {
        return Found::Fatal(Error::Format {
            offset,
            detail: format!("packet on undeclared interface {if_id}"),
        });
    };
    if caplen as usize > body.len().saturating_sub(20) {
        return Found::Fatal(Error::Format {
            offset,
            detail: "packet block data overruns the block".into(),
        });
    }
    if let Some(f) = too_large(offset, caplen as usize, st) {
        return f;
    }
    Found::Packet {
        consumed,
        data_start: body_start + 20,
        caplen: caplen as usize,
        origlen,
        ts_ns: ifc.ts_ns(((hi as u64) << 32) | lo as u64),
        interface: *st.iface_base + if_id as u32,
        link_type: ifc.link_type,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcap_le(nanos: bool, link: u32, records: &[(u32, u32, &[u8])]) -> Vec<u8> {
        let mut v = Vec::new();
        let magic: u32 = if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
        v.extend_from_slice(&magic.to_le_bytes());
        v.extend_from_slice(&2u16.to_le_bytes());
        v.extend_from_slice(&4u16.to_le_bytes());
        v.extend_from_slice(&0i32.to_le_bytes());
        v.extend_from_slice(&0u32.to_le_bytes());
        v.extend_from_slice(&65535u32.to_le_bytes());
        v.extend_from_slice(&link.to_le_bytes());
        for (s, f, d) in records {
            v.extend_from_slice(&s.to_le_bytes());
            v.extend_from_slice(&f.to_le_bytes());
            v.extend_from_slice(&(d.len() as u32).to_le_bytes());
            v.extend_from_slice(&(d.len() as u32 + 10).to_le_bytes());
            v.extend_from_slice(d);
        }
        v
    }

    /// (timestamp, original length, bytes) of each frame read.
    type Frames = Vec<(u64, u32, Vec<u8>)>;

    fn read_all(bytes: &[u8]) -> (Frames, Option<Error>) {
        let mut out = Vec::new();
        let mut r = match CaptureReader::new(bytes, ReaderOptions::default()) {
            Ok(r) => r,
            Err(e) => return (out, Some(e)),
        };
        loop {
            match r.next_frame() {
                Ok(Some(f)) => out.push((f.ts_ns, f.origlen, f.data.to_vec())),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    #[test]
    fn pcap_micro_and_nano() {
        let us = pcap_le(false, 1, &[(10, 5, b"abc"), (11, 0, b"")]);
        let (frames, err) = read_all(&us);
        assert!(err.is_none());
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0], (10_000_005_000, 13, b"abc".to_vec()));
        let ns = pcap_le(true, 1, &[(10, 5, b"abc")]);
        assert_eq!(read_all(&ns).0[0].0, 10_000_000_005);
    }

    #[test]
    fn pcap_big_endian() {
        let mut v = Vec::new();
        v.extend_from_slice(&0xa1b2_c3d4u32.to_be_bytes());
        v.extend_from_slice(&2u16.to_be_bytes());
        v.extend_from_slice(&4u16.to_be_bytes());
        v.extend_from_slice(&[0; 8]);
        v.extend_from_slice(&65535u32.to_be_bytes());
        v.extend_from_slice(&101u32.to_be_bytes());
        v.extend_from_slice(&1u32.to_be_bytes());
        v.extend_from_slice(&2u32.to_be_bytes());
        v.extend_from_slice(&1u32.to_be_bytes());
        v.extend_from_slice(&1u32.to_be_bytes());
        v.push(0x45);
        let mut r = CaptureReader::new(&v[..], ReaderOptions::default()).unwrap();
        let f = r.next_frame().unwrap().unwrap();
        assert_eq!(f.ts_ns, 1_000_002_000);
        assert_eq!(f.link_type, LinkType::RAW);
        assert_eq!(f.data, &[0x45]);
    }

    #[test]
    fn truncated_last_record_is_typed() {
        let mut v = pcap_le(false, 1, &[(1, 0, b"abcd"), (2, 0, b"efgh")]);
        v.truncate(v.len() - 2);
        let (frames, err) = read_all(&v);
        assert_eq!(frames.len(), 1);
        let err = err.unwrap();
        assert_eq!(err.code(), crate::ErrorCode::CaptureTruncated);
        assert_eq!(err.offset(), Some(24 + 16 + 4));
    }

    #[test]
    fn huge_caplen_is_a_limit_error_not_an_allocation() {
        let mut v = pcap_le(false, 1, &[(1, 0, b"abcd")]);
        v.extend_from_slice(&1u32.to_le_bytes());
        v.extend_from_slice(&0u32.to_le_bytes());
        v.extend_from_slice(&0xEA00_0000u32.to_le_bytes());
        v.extend_from_slice(&0xEA00_0000u32.to_le_bytes());
        v.extend_from_slice(&[0u8; 100]);
        let (frames, err) = read_all(&v);
        assert_eq!(frames.len(), 1);
        assert_eq!(err.unwrap().code(), crate::ErrorCode::LimitExceeded);
    }

    #[test]
    fn unknown_and_empty_inputs() {
        assert!(matches!(
            read_all(b"hello world").1,
            Some(Error::UnknownFormat { magic: 0x6865_6c6c })
        ));
        assert_eq!(
            read_all(b"").1.unwrap().code(),
            crate::ErrorCode::CaptureFormat
        );
        assert_eq!(
            read_all(&[0xd4, 0xc3]).1.unwrap().code(),
            crate::ErrorCode::CaptureTruncated
        );
        let hdr_only = &pcap_le(false, 1, &[])[..20];
        assert_eq!(
            read_all(hdr_only).1.unwrap().code(),
            crate::ErrorCode::CaptureTruncated
        );
    }

    #[test]
    fn pcap_version_and_reserved_bits() {
        let mut v = pcap_le(false, 1, &[]);
        v[4] = 1;
        assert_eq!(
            read_all(&v).1.unwrap().code(),
            crate::ErrorCode::CaptureUnsupported
        );
        let v = pcap_le(false, 0x0001_0001, &[]);
        assert_eq!(
            read_all(&v).1.unwrap().code(),
            crate::ErrorCode::CaptureFormat
        );
    }

    fn ng_block(kind: u32, body: &[u8]) -> Vec<u8> {
        let mut body = body.to_vec();
        while !body.len().is_multiple_of(4) {
            body.push(0);
        }
        let len = 12 + body.len() as u32;
        let mut v = kind.to_le_bytes().to_vec();
        v.extend_from_slice(&len.to_le_bytes());
        v.extend_from_slice(&body);
        v.extend_from_slice(&len.to_le_bytes());
        v
    }

    fn shb() -> Vec<u8> {
        let mut b = 0x1A2B_3C4Du32.to_le_bytes().to_vec();
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&(-1i64).to_le_bytes());
        ng_block(PCAPNG_SHB, &b)
    }

    fn idb(link: u16, tsresol: Option<u8>) -> Vec<u8> {
        let mut b = link.to_le_bytes().to_vec();
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        if let Some(r) = tsresol {
            b.extend_from_slice(&9u16.to_le_bytes());
            b.extend_from_slice(&1u16.to_le_bytes());
            b.extend_from_slice(&[r, 0, 0, 0]);
            b.extend_from_slice(&[0; 4]);
        }
        ng_block(1, &b)
    }

    fn epb(if_id: u32, units: u64, data: &[u8]) -> Vec<u8> {
        let mut b = if_id.to_le_bytes().to_vec();
        b.extend_from_slice(&((units >> 32) as u32).to_le_bytes());
        b.extend_from_slice(&(units as u32).to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(&(data.len() as u32).to_le_bytes());
        b.extend_from_slice(data);
        ng_block(6, &b)
    }

    #[test]
    fn pcapng_sections_interfaces_resolutions() {
        let mut v = shb();
        v.extend(idb(1, None));
        v.extend(idb(101, Some(9)));
        v.extend(epb(0, 1_000_000, b"a"));
        v.extend(epb(1, 5, b"bb"));
        // legacy Packet Block on interface 0
        let mut pb = 0u16.to_le_bytes().to_vec();
        pb.extend_from_slice(&0u16.to_le_bytes());
        pb.extend_from_slice(&0u32.to_le_bytes());
        pb.extend_from_slice(&7u32.to_le_bytes());
        pb.extend_from_slice(&3u32.to_le_bytes());
        pb.extend_from_slice(&3u32.to_le_bytes());
        pb.extend_from_slice(b"ccc");
        v.extend(ng_block(2, &pb));
        // second section: interfaces restart, global numbering continues
        v.extend(shb());
        v.extend(idb(113, Some(0x80 | 1)));
        v.extend(epb(0, 3, b"d"));
        let mut r = CaptureReader::new(&v[..], ReaderOptions::default()).unwrap();
        let mut got = Vec::new();
        while let Some(f) = r.next_frame().unwrap() {
            got.push((f.interface, f.link_type.0, f.ts_ns, f.data.to_vec()));
        }
        assert_eq!(
            got,
            vec![
                (0, 1, 1_000_000_000, b"a".to_vec()),
                (1, 101, 5, b"bb".to_vec()),
                (0, 1, 7_000, b"ccc".to_vec()),
                (2, 113, 1_500_000_000, b"d".to_vec()),
            ]
        );
        assert_eq!(r.interface_count(), 3);
    }

    #[test]
    fn pcapng_bad_version_and_undeclared_interface() {
        let mut v = shb();
        v[12] = 2; // major version 2
        assert_eq!(
            read_all(&v).1.unwrap().code(),
            crate::ErrorCode::CaptureUnsupported
        );
        let mut v = shb();
        v.extend(epb(0, 0, b"x"));
        let (frames, err) = read_all(&v);
        assert!(frames.is_empty());
        assert_eq!(err.unwrap().code(), crate::ErrorCode::CaptureFormat);
    }

    #[test]
    fn pcapng_block_larger_than_buffer_is_read() {
        let mut v = shb();
        v.extend(idb(1, None));
        let big = vec![7u8; 200_000];
        v.extend(epb(0, 0, &big));
        let opts = ReaderOptions {
            buffer_size: 4096,
            ..Default::default()
        };
        let mut r = CaptureReader::new(&v[..], opts).unwrap();
        assert_eq!(r.next_frame().unwrap().unwrap().data.len(), 200_000);
        assert!(r.next_frame().unwrap().is_none());
    }

    #[test]
    fn block_with_mismatched_trailing_length_is_corrupt() {
        // libpcap's shb-option-too-long.pcapng: the SHB's trailer differs
        let mut v = shb();
        let n = v.len();
        v[n - 4..].copy_from_slice(&0x3030_3030u32.to_le_bytes());
        v.extend(idb(1, None));
        let err = read_all(&v).1.unwrap();
        assert_eq!(
            (err.code(), err.offset()),
            (crate::ErrorCode::CaptureFormat, Some(0))
        );
        // ... and on a block pcap-parser does not check itself (SPB)
        let mut v = shb();
        v.extend(idb(1, None));
        v.extend(epb(0, 0, b"ok"));
        let at = v.len() as u64;
        let mut spb = ng_block(3, &[4, 0, 0, 0, 1, 2, 3, 4]);
        let n = spb.len();
        spb[n - 4] ^= 0x40;
        v.extend(spb);
        let (frames, err) = read_all(&v);
        assert_eq!(frames.len(), 1);
        let err = err.unwrap();
        assert_eq!(
            (err.code(), err.offset()),
            (crate::ErrorCode::CaptureFormat, Some(at))
        );
    }

    #[test]
    fn packet_length_overrunning_its_block_is_corrupt_not_cut() {
        for (caplen, filler) in [(100u32, 0usize), (4_000_000_000, 0), (100, 300_000)] {
            let mut v = shb();
            v.extend(idb(1, None));
            let at = v.len() as u64;
            let mut b = epb(0, 0, &[0; 40]);
            b[20..24].copy_from_slice(&caplen.to_le_bytes());
            v.extend(b);
            // more input than the buffer holds once made this spin forever
            while v.len() < filler {
                v.extend(ng_block(0x0bad, &[0; 1000]));
            }
            let opts = ReaderOptions {
                buffer_size: 4096,
                ..Default::default()
            };
            let mut r = CaptureReader::new(&v[..], opts).unwrap();
            let err = r.next_frame().unwrap_err();
            assert_eq!(
                (err.code(), err.offset()),
                (crate::ErrorCode::CaptureFormat, Some(at))
            );
            assert!(r.next_frame().unwrap().is_none());
        }
    }

    /// Hands out its bytes, then fails instead of reporting the end.
    struct Failing<'a>(&'a [u8]);

    impl Read for Failing<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0.is_empty() {
                return Err(std::io::Error::other("disk on fire"));
            }
            let n = self.0.len().min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn read_errors_come_after_the_records_before_them() {
        // All records arrive in the first read; the error must not cost them.
        let v = pcap_le(false, 1, &[(1, 0, b"abcd"), (2, 0, b"efgh")]);
        let mut r = CaptureReader::new(Failing(&v), ReaderOptions::default()).unwrap();
        assert_eq!(r.next_frame().unwrap().unwrap().data, b"abcd");
        assert_eq!(r.next_frame().unwrap().unwrap().data, b"efgh");
        let err = r.next_frame().unwrap_err();
        assert_eq!(
            (err.code(), err.offset()),
            (crate::ErrorCode::Io, Some(v.len() as u64))
        );
        // the same for pcapng
        let mut v = shb();
        v.extend(idb(1, None));
        v.extend(epb(0, 0, b"a"));
        let mut r = CaptureReader::new(Failing(&v), ReaderOptions::default()).unwrap();
        assert_eq!(r.next_frame().unwrap().unwrap().data, b"a");
        assert_eq!(r.next_frame().unwrap_err().code(), crate::ErrorCode::Io);
        // failing inside the file header is an I/O error, not a cut file
        let err = CaptureReader::new(Failing(&v[..10]), ReaderOptions::default())
            .err()
            .unwrap();
        assert_eq!(err.code(), crate::ErrorCode::Io);
        let pcap = pcap_le(false, 1, &[]);
        let err = CaptureReader::new(Failing(&pcap[..10]), ReaderOptions::default())
            .err()
            .unwrap();
        assert_eq!(err.code(), crate::ErrorCode::Io);
    }

    #[test]
    fn every_error_is_final() {
        // a cut record header whose caplen is over the limit
        let mut v = pcap_le(false, 1, &[(1, 0, b"abcd")]);
        v.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xEA]);
        let mut r = CaptureReader::new(&v[..], ReaderOptions::default()).unwrap();
        assert!(r.next_frame().unwrap().is_some());
        assert_eq!(
            r.next_frame().unwrap_err().code(),
            crate::ErrorCode::LimitExceeded
        );
        assert!(r.next_frame().unwrap().is_none());
        assert!(r.next_frame().unwrap().is_none());

        // a stream that fails after its first record
        let v = pcap_le(false, 1, &[(1, 0, b"abcd"), (2, 0, b"efgh")]);
        let mut r =
            CaptureReader::new(Failing(&v[..v.len() - 2]), ReaderOptions::default()).unwrap();
        assert!(r.next_frame().unwrap().is_some());
        assert_eq!(r.next_frame().unwrap_err().code(), crate::ErrorCode::Io);
        assert!(r.next_frame().unwrap().is_none());
        assert!(r.next_frame().unwrap().is_none());
    }
}
