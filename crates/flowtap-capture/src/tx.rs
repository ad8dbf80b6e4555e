//! AF_PACKET transmit ring (TPACKET_V2): frames are written in place into
//! ring slots shared with the kernel, marked for sending, and sent with one
//! `send()` kick for many frames.
//!
//! Contract: [`Injector::open`] returns a typed error (ERR_PERMISSION,
//! ERR_NO_SUCH_INTERFACE, ERR_IO) before anything is sent. [`Injector::queue`]
//! copies a frame into a free slot (the only copy) and returns `Ok(false)`
//! when every slot is in flight — it never waits and never overwrites a
//! slot the kernel still owns. A frame the kernel would refuse (longer than
//! the MTU plus the link header, or shorter than the link header) is
//! rejected by `queue` with ERR_FRAME_TOO_LARGE / ERR_IO and counted in
//! [`TxStats::rejected`]. The socket has PACKET_LOSS set, so a frame the
//! kernel still refused (nothing this validation lets through should be)
//! would be skipped instead of wedging the ring for every later frame.
//! Bounds: `frame_count` slots of `frame_size` bytes.
//!
//! Unsafe, and why: as in the receive ring, the slots are memory shared
//! with the kernel. A slot belongs to us while its `tp_status` is
//! TP_STATUS_AVAILABLE (read with Acquire); we write the frame and its
//! length, then publish TP_STATUS_SEND_REQUEST with Release, after which we
//! only read the status again.

use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::sys::{ifreq, interface_index, last_err, setopt};
use crate::CaptureError;

/// Transmit ring configuration. Defaults: slots sized for the interface's
/// MTU, as many as fit in 4 MiB (at most 1024: 2048-byte slots on a
/// 1500-byte MTU), qdisc bypass off (frames go through the interface's
/// queueing discipline like any other traffic).
#[derive(Debug, Clone, Default)]
pub struct TxConfig {
    /// Bytes per slot, header included; a frame may use up to
    /// `frame_size - 32`. A multiple of 16, at most 262144; 0: the
    /// smallest slot that holds a full-MTU frame.
    pub frame_size: u32,
    /// Slots in the ring: frames in flight at most; 0: as many as fit in
    /// 4 MiB, at most 1024.
    pub frame_count: u32,
    /// Hand frames straight to the driver, skipping the qdisc
    /// (PACKET_QDISC_BYPASS): faster, but no traffic shaping and no
    /// local taps see them.
    pub qdisc_bypass: bool,
}

/// Counters of an [`Injector`], cumulative.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxStats {
    /// Frames written into the ring and marked for sending.
    pub queued: u64,
    /// Frames the kernel took out of the ring (their slots came back).
    pub sent: u64,
    /// Bytes of the sent frames.
    pub bytes: u64,
    /// Frames refused before queueing (too large or too small).
    pub rejected: u64,
    /// `send()` kicks.
    pub kicks: u64,
}

/// The largest slot accepted.
const MAX_SLOT: u32 = 262_144;
/// Ring memory when the slot count is left to us.
const DEFAULT_RING_BYTES: u32 = 4 << 20;

/// Closes a socket on an early return, before the injector owns it.
struct Closer(libc::c_int);

impl Drop for Closer {
    fn drop(&mut self) {
        // SAFETY: the fd is ours until the injector takes it.
        unsafe { libc::close(self.0) };
    }
}

const TP_STATUS_AVAILABLE: u32 = 0;
const TP_STATUS_SEND_REQUEST: u32 = 1;
const TP_STATUS_WRONG_FORMAT: u32 = 4;
/// TPACKET_ALIGN(sizeof(struct tpacket2_hdr)): where frame data starts in
/// a slot (PACKET_TX_HAS_OFF is not used).
const DATA_OFFSET: usize = 32;
/// struct tpacket2_hdr: tp_status 0, tp_len 4, tp_snaplen 8.
const OFF_STATUS: usize = 0;
const OFF_LEN: usize = 4;

pub struct Injector {
    fd: libc::c_int,
    map: *mut u8,
    map_len: usize,
    cfg: TxConfig,
    slots_per_block: u32,
    block_size: usize,
    /// Next slot to fill.
    head: u32,
    /// Oldest slot in flight.
    tail: u32,
    in_flight: u32,
    /// Lengths of the frames in flight, by slot, to count sent bytes.
    lengths: Vec<u32>,
    max_frame: usize,
    min_frame: usize,
    stats: TxStats,
}

// The injector owns its fd and mapping; nothing else aliases them.
unsafe impl Send for Injector {}

impl Injector {
    /// Opens a transmit ring on `iface`.
    pub fn open(iface: &str, mut cfg: TxConfig) -> Result<Self, CaptureError> {
        let invalid = |m: &str| CaptureError::Io {
            context: "TxConfig",
            source: io::Error::new(io::ErrorKind::InvalidInput, m.to_string()),
        };
        if cfg.frame_size != 0
            && (cfg.frame_size < 64
                || !cfg.frame_size.is_multiple_of(16)
                || cfg.frame_size > MAX_SLOT)
        {
            return Err(invalid(
                "frame_size must be a multiple of 16 in 64..=262144",
            ));
        }
        if cfg.frame_count > 1 << 20 {
            return Err(invalid("frame_count must be at most 1048576"));
        }
        let (name, ifindex) = interface_index(iface)?;
        // Protocol 0: a send-only socket receives nothing.
        // SAFETY: plain syscall.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(last_err("socket(AF_PACKET)"));
        }
        let closer = Closer(fd);
        let mtu = ifreq(fd, &name, libc::SIOCGIFMTU, "SIOCGIFMTU")?;
        // SAFETY: SIOCGIFMTU filled the ifru_mtu member.
        let mtu = unsafe { mtu.ifr_ifru.ifru_mtu }.max(0) as usize;
        let hw = ifreq(fd, &name, libc::SIOCGIFHWADDR, "SIOCGIFHWADDR")?;
        // SAFETY: SIOCGIFHWADDR filled the ifru_hwaddr member.
        let arphrd = unsafe { hw.ifr_ifru.ifru_hwaddr.sa_family };
        let link_header = match arphrd {
            libc::ARPHRD_ETHER | libc::ARPHRD_LOOPBACK => 14,
            _ => 0,
        };
        // The kernel's limit (tpacket_parse_header): MTU + link header +
        // one VLAN tag.
        let kernel_max = mtu + link_header + 4;
        if cfg.frame_size == 0 {
            let fit = (kernel_max + DATA_OFFSET).div_ceil(16) * 16;
            cfg.frame_size = fit.clamp(64, MAX_SLOT as usize) as u32;
        }
        if cfg.frame_count == 0 {
            cfg.frame_count = (DEFAULT_RING_BYTES / cfg.frame_size).clamp(1, 1024);
        }
        let page = 4096usize;
        let block_size = (cfg.frame_size as usize).div_ceil(page) * page;
        let slots_per_block = (block_size / cfg.frame_size as usize) as u32;
        let blocks = cfg.frame_count.div_ceil(slots_per_block);
        // From here the injector owns the fd (its Drop closes it).
        std::mem::forget(closer);
        let mut inj = Injector {
            fd,
            map: std::ptr::null_mut(),
            map_len: 0,
            slots_per_block,
            block_size,
            head: 0,
            tail: 0,
            in_flight: 0,
            lengths: vec![0; (blocks * slots_per_block) as usize],
            min_frame: link_header.max(1),
            // What the kernel takes, and what a slot holds.
            max_frame: kernel_max.min(cfg.frame_size as usize - DATA_OFFSET),
            stats: TxStats::default(),
            cfg: TxConfig {
                frame_count: blocks * slots_per_block,
                ..cfg
            },
        };
        inj.setup(ifindex, blocks)?;
        Ok(inj)
    }

    fn setup(&mut self, ifindex: u32, blocks: u32) -> Result<(), CaptureError> {
        let fd = self.fd;
        let v2: libc::c_int = 1; // TPACKET_V2
        if setopt(fd, libc::SOL_PACKET, libc::PACKET_VERSION, &v2) < 0 {
            return Err(last_err("PACKET_VERSION"));
        }
        let loss: libc::c_int = 1;
        if setopt(fd, libc::SOL_PACKET, libc::PACKET_LOSS, &loss) < 0 {
            return Err(last_err("PACKET_LOSS"));
        }
        if self.cfg.qdisc_bypass {
            let on: libc::c_int = 1;
            if setopt(fd, libc::SOL_PACKET, libc::PACKET_QDISC_BYPASS, &on) < 0 {
                return Err(last_err("PACKET_QDISC_BYPASS"));
            }
        }
        let req = libc::tpacket_req {
            tp_block_size: self.block_size as u32,
            tp_block_nr: blocks,
            tp_frame_size: self.cfg.frame_size,
            tp_frame_nr: self.cfg.frame_count,
        };
        if setopt(fd, libc::SOL_PACKET, libc::PACKET_TX_RING, &req) < 0 {
            return Err(last_err("PACKET_TX_RING"));
        }
        let len = self.block_size * blocks as usize;
        // SAFETY: mapping the ring the kernel just allocated for this fd.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(last_err("mmap"));
        }
        self.map = p as *mut u8;
        self.map_len = len;
        // SAFETY: zeroed sockaddr_ll is valid; fields set below.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        // Protocol 0 on bind too: the socket only sends.
        sll.sll_protocol = 0;
        sll.sll_ifindex = ifindex as i32;
        // SAFETY: sll is a valid sockaddr_ll of the given size.
        let r = unsafe {
            libc::bind(
                fd,
                &sll as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(last_err("bind"));
        }
        Ok(())
    }

    /// The largest frame [`Injector::queue`] accepts.
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// Slots in the ring.
    pub fn capacity(&self) -> u32 {
        self.cfg.frame_count
    }

    fn slot(&self, i: u32) -> *mut u8 {
        let block = (i / self.slots_per_block) as usize;
        let within = (i % self.slots_per_block) as usize;
        // SAFETY (for callers): i < frame_count, so the slot lies inside the
        // mapping: block < blocks and within * frame_size + frame_size <=
        // block_size.
        unsafe {
            self.map
                .add(block * self.block_size + within * self.cfg.frame_size as usize)
        }
    }

    fn status(&self, i: u32) -> &AtomicU32 {
        // SAFETY: tp_status is a 4-aligned u32 at the start of the slot
        // (slots are 16-aligned inside a page-aligned mapping).
        unsafe { &*(self.slot(i).add(OFF_STATUS) as *const AtomicU32) }
    }

    /// Takes back the slots the kernel has finished with.
    fn reclaim(&mut self) {
        while self.in_flight > 0 {
            let st = self.status(self.tail).load(Ordering::Acquire);
            if st != TP_STATUS_AVAILABLE && st != TP_STATUS_WRONG_FORMAT {
                break;
            }
            if st == TP_STATUS_WRONG_FORMAT {
                // Not expected with PACKET_LOSS; never reuse a slot without
                // handing it back in a known state.
                self.status(self.tail)
                    .store(TP_STATUS_AVAILABLE, Ordering::Release);
            } else {
                self.stats.sent += 1;
                self.stats.bytes += u64::from(self.lengths[self.tail as usize]);
            }
            self.tail = (self.tail + 1) % self.cfg.frame_count;
            self.in_flight -= 1;
        }
    }

    /// Copies `frame` into the next free slot and marks it for sending
    /// (it leaves on the next [`Injector::flush`]). `Ok(false)`: the ring
    /// is full; try again after [`Injector::wait_writable`].
    pub fn queue(&mut self, frame: &[u8]) -> Result<bool, CaptureError> {
        if frame.len() > self.max_frame {
            self.stats.rejected += 1;
            return Err(CaptureError::FrameTooLarge {
                len: frame.len(),
                max: self.max_frame,
            });
        }
        if frame.len() < self.min_frame {
            self.stats.rejected += 1;
            return Err(CaptureError::Io {
                context: "frame",
                source: io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "a frame needs at least the {}-byte link header",
                        self.min_frame
                    ),
                ),
            });
        }
        if self.in_flight == self.cfg.frame_count {
            self.reclaim();
            if self.in_flight == self.cfg.frame_count {
                return Ok(false);
            }
        }
        let i = self.head;
        if self.status(i).load(Ordering::Acquire) != TP_STATUS_AVAILABLE {
            return Ok(false);
        }
        let slot = self.slot(i);
        // SAFETY: the slot is ours (AVAILABLE, Acquire); the frame fits
        // (len <= max_frame <= frame_size - DATA_OFFSET); tp_len is a
        // 4-aligned u32 in the slot header.
        unsafe {
            std::ptr::copy_nonoverlapping(frame.as_ptr(), slot.add(DATA_OFFSET), frame.len());
            (slot.add(OFF_LEN) as *mut u32).write(frame.len() as u32);
        }
        self.lengths[i as usize] = frame.len() as u32;
        self.status(i)
            .store(TP_STATUS_SEND_REQUEST, Ordering::Release);
        self.head = (i + 1) % self.cfg.frame_count;
        self.in_flight += 1;
        self.stats.queued += 1;
        Ok(true)
    }

    /// Frames queued and not yet taken by the kernel.
    pub fn in_flight(&mut self) -> u32 {
        self.reclaim();
        self.in_flight
    }

    /// Tells the kernel to send every queued frame (one syscall), without
    /// waiting for them to leave.
    pub fn flush(&mut self) -> Result<(), CaptureError> {
        self.stats.kicks += 1;
        // SAFETY: a zero-length send on our socket is the TX ring kick.
        let r = unsafe { libc::send(self.fd, std::ptr::null(), 0, libc::MSG_DONTWAIT) };
        if r < 0 {
            let e = io::Error::last_os_error();
            // EAGAIN/ENOBUFS: the device queue is full; frames stay queued
            // and leave on a later kick.
            if !matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::ENOBUFS)) {
                return Err(CaptureError::Io {
                    context: "send",
                    source: e,
                });
            }
        }
        self.reclaim();
        Ok(())
    }

    /// Waits until a slot is free (or `timeout` passes); kicks the kernel
    /// while frames are waiting. Returns whether a slot is free.
    pub fn wait_writable(&mut self, timeout: Duration) -> Result<bool, CaptureError> {
        let end = Instant::now() + timeout;
        loop {
            self.reclaim();
            if self.in_flight < self.cfg.frame_count {
                return Ok(true);
            }
            self.flush()?;
            if self.in_flight < self.cfg.frame_count {
                return Ok(true);
            }
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            let mut pfd = libc::pollfd {
                fd: self.fd,
                events: libc::POLLOUT,
                revents: 0,
            };
            let ms = left.as_millis().clamp(1, 100) as libc::c_int;
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut pfd, 1, ms) };
        }
    }

    /// Sends everything queued and waits until the kernel has taken it all
    /// (or `timeout` passes). Returns whether the ring drained.
    pub fn drain(&mut self, timeout: Duration) -> Result<bool, CaptureError> {
        let end = Instant::now() + timeout;
        loop {
            self.flush()?;
            if self.in_flight == 0 {
                return Ok(true);
            }
            if Instant::now() >= end {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    pub fn stats(&mut self) -> TxStats {
        self.reclaim();
        self.stats
    }
}

impl Drop for Injector {
    fn drop(&mut self) {
        // SAFETY: map/fd are owned by this injector. Frames still queued
        // are dropped with the ring (drain first to send them).
        unsafe {
            if !self.map.is_null() {
                libc::munmap(self.map as *mut libc::c_void, self.map_len);
            }
            libc::close(self.fd);
        }
    }
}
