//! AF_PACKET TPACKET_V3 receive ring.
//!
//! Contract: [`Ring::open`] returns a typed error (ERR_PERMISSION,
//! ERR_NO_SUCH_INTERFACE, ERR_FILTER, ERR_IO) before any packet is read, and
//! the ring only ever holds packets of the chosen interface that passed the
//! filter: the socket is created listening to no protocol, and only bound to
//! the interface (and ETH_P_ALL) once the ring and the filter are in place. [`Ring::next_block`]
//! waits at most `timeout` and returns a [`Block`] borrowed from the ring;
//! dropping it hands the block back to the kernel. Only one block is live at
//! a time (`&mut self`), which is what makes the unsafe reads sound.
//!
//! Unsafe, and why: the ring is memory shared with the kernel (mmap). A block
//! belongs to user space only while its `block_status` has TP_STATUS_USER;
//! we read that with Acquire ordering, read frames only inside the block
//! (every offset and length taken from the header is bounds-checked against
//! the block size, so a bad header cannot make us read outside the mapping),
//! then write TP_STATUS_KERNEL with Release ordering so the kernel sees our
//! reads finished before it reuses the block.

use std::ffi::CString;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::sys::{interface_index, last_err, setopt};
use crate::CaptureError;

/// Ring configuration. Defaults: 1 MiB blocks x 32 (32 MiB), 2048-byte frame
/// hint, 50 ms block timeout (latency bound on a quiet link), snaplen
/// 262144 (libpcap's: whole packets), not promiscuous, no filter, loopback
/// de-duplication on.
#[derive(Debug, Clone)]
pub struct RingConfig {
    pub block_size: u32,
    pub block_count: u32,
    pub frame_size: u32,
    pub block_timeout_ms: u32,
    pub snaplen: u32,
    pub promiscuous: bool,
    /// A filter in tcpdump syntax, compiled by libpcap for the interface's
    /// link type and attached to the socket.
    pub filter: Option<String>,
    /// Drop PACKET_OUTGOING copies on loopback interfaces (each packet on
    /// `lo` is otherwise seen twice).
    pub dedup_loopback: bool,
}

impl Default for RingConfig {
    fn default() -> Self {
        Self {
            // 1 MiB blocks: the kernel finds order-8 pages more easily than
            // larger ones, so the ring opens quickly (4 MiB x 16 took over
            // 300 ms here).
            block_size: 1 << 20,
            block_count: 32,
            frame_size: 2048,
            block_timeout_ms: 50,
            snaplen: MAX_SNAPLEN,
            promiscuous: false,
            filter: None,
            dedup_loopback: true,
        }
    }
}

/// The largest snaplen (libpcap's MAXIMUM_SNAPLEN); also the default.
pub const MAX_SNAPLEN: u32 = 262_144;

/// How a fanout group spreads packets over its sockets (PACKET_FANOUT_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FanoutMode {
    /// By the kernel's flow hash, which is symmetric (both directions of a
    /// flow hash alike); fragments are reassembled first so they follow
    /// their flow.
    Hash,
    /// By the CPU the packet arrived on.
    Cpu,
    /// Round robin.
    LoadBalance,
}

/// Membership in a fanout group: sockets of one process on one interface
/// with the same `group` share its packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fanout {
    pub group: u16,
    pub mode: FanoutMode,
}

impl Fanout {
    fn arg(self) -> libc::c_int {
        const HASH: u32 = 0;
        const LB: u32 = 1;
        const CPU: u32 = 2;
        const FLAG_DEFRAG: u32 = 0x8000;
        let mode = match self.mode {
            FanoutMode::Hash => HASH | FLAG_DEFRAG,
            FanoutMode::LoadBalance => LB,
            FanoutMode::Cpu => CPU,
        };
        (u32::from(self.group) | (mode << 16)) as libc::c_int
    }
}

/// Cumulative statistics (the kernel resets its counters on each read; we add).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RingStats {
    pub packets: u64,
    pub drops: u64,
    pub freeze_q_cnt: u64,
}

/// One captured frame, borrowed from a ring block.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pub ts_ns: u64,
    pub data: &'a [u8],
    pub origlen: u32,
    /// The VLAN tag the kernel (or the NIC) took out of the frame, with its
    /// TPID; put it back before decoding.
    pub vlan: Option<(u16, u16)>,
}

pub struct Ring {
    fd: libc::c_int,
    map: *mut u8,
    map_len: usize,
    cfg: RingConfig,
    next: u32,
    loopback: bool,
    link_type: u16,
    stats: StatsReader,
}

// The ring owns its fd and mapping; stats readers use the fd only under
// their lock, which the ring takes before closing it.
unsafe impl Send for Ring {}

const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
const TP_STATUS_VLAN_TPID_VALID: u32 = 1 << 6;

impl Ring {
    /// Opens a ring on `iface`, optionally joining a fanout group.
    pub fn open(
        iface: &str,
        cfg: RingConfig,
        fanout: Option<Fanout>,
    ) -> Result<Self, CaptureError> {
        let (name, ifindex) = interface_index(iface)?;
        // Protocol 0: the socket receives nothing until bind() names one, so
        // packets of other interfaces cannot slip in while it is set up.
        // SAFETY: plain syscall.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(last_err("socket(AF_PACKET)"));
        }
        let mut ring = Ring {
            fd,
            map: std::ptr::null_mut(),
            map_len: 0,
            next: 0,
            loopback: false,
            link_type: 0,
            stats: StatsReader::new(fd),
            cfg,
        };
        let arphrd = ring.hardware_type(&name)?;
        ring.loopback = arphrd == libc::ARPHRD_LOOPBACK;
        ring.link_type = link_type_of(arphrd).ok_or_else(|| CaptureError::Io {
            context: "link type",
            source: io::Error::new(
                io::ErrorKind::Unsupported,
                format!("{iface}: hardware type {arphrd} is not supported (Ethernet, loopback and raw IP are)"),
            ),
        })?;
        ring.setup(ifindex, fanout)?;
        Ok(ring)
    }

    /// The pcap link type of the frames (LINKTYPE_ETHERNET or LINKTYPE_RAW).
    pub fn link_type(&self) -> u16 {
        self.link_type
    }

    /// The socket's pending error (SO_ERROR, which reading clears).
    fn socket_error(&self) -> CaptureError {
        let mut err: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: err and len are valid out-parameters of the right size.
        unsafe {
            libc::getsockopt(
                self.fd,
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                &mut err as *mut libc::c_int as *mut libc::c_void,
                &mut len,
            )
        };
        let source = match err {
            0 => io::Error::new(io::ErrorKind::NotConnected, "the interface went away"),
            e => io::Error::from_raw_os_error(e),
        };
        CaptureError::Io {
            context: "capture interface",
            source,
        }
    }

    /// The configuration the ring was opened with.
    pub fn config(&self) -> &RingConfig {
        &self.cfg
    }

    fn hardware_type(&self, name: &CString) -> Result<u16, CaptureError> {
        let req = crate::sys::ifreq(self.fd, name, libc::SIOCGIFHWADDR, "SIOCGIFHWADDR")?;
        // SAFETY: SIOCGIFHWADDR filled the ifru_hwaddr member.
        Ok(unsafe { req.ifr_ifru.ifru_hwaddr.sa_family })
    }

    fn setup(&mut self, ifindex: u32, fanout: Option<Fanout>) -> Result<(), CaptureError> {
        let fd = self.fd;
        let v3: libc::c_int = 2; // TPACKET_V3 in enum tpacket_versions
        if setopt(fd, libc::SOL_PACKET, libc::PACKET_VERSION, &v3) < 0 {
            return Err(last_err("PACKET_VERSION"));
        }
        let c = &self.cfg;
        let req = libc::tpacket_req3 {
            tp_block_size: c.block_size,
            tp_block_nr: c.block_count,
            tp_frame_size: c.frame_size,
            tp_frame_nr: (c.block_size / c.frame_size.max(1)).saturating_mul(c.block_count),
            tp_retire_blk_tov: c.block_timeout_ms,
            tp_sizeof_priv: 0,
            tp_feature_req_word: 0,
        };
        if setopt(fd, libc::SOL_PACKET, libc::PACKET_RX_RING, &req) < 0 {
            return Err(last_err("PACKET_RX_RING"));
        }
        let len = c.block_size as usize * c.block_count as usize;
        // SAFETY: mapping the ring the kernel just allocated for this fd.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_LOCKED,
                fd,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(last_err("mmap"));
        }
        self.map = p as *mut u8;
        self.map_len = len;
        // Filter before bind, so no unfiltered packet reaches the ring. The
        // program's return value is the snaplen: it also cuts packets.
        let prog = match self.cfg.filter.as_deref() {
            Some(expr) => Some(crate::filter::compile(
                expr,
                u32::from(self.link_type),
                self.cfg.snaplen,
            )?),
            None if self.cfg.snaplen < MAX_SNAPLEN => {
                Some(crate::filter::snap_program(self.cfg.snaplen))
            }
            None => None,
        };
        if let Some(prog) = &prog {
            self.attach_filter(prog)?;
        }
        // SAFETY: zeroed sockaddr_ll is valid; fields set below.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
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
        if self.cfg.promiscuous {
            // SAFETY: zeroed packet_mreq is valid.
            let mut mr: libc::packet_mreq = unsafe { std::mem::zeroed() };
            mr.mr_ifindex = ifindex as i32;
            mr.mr_type = libc::PACKET_MR_PROMISC as u16;
            if setopt(fd, libc::SOL_PACKET, libc::PACKET_ADD_MEMBERSHIP, &mr) < 0 {
                return Err(last_err("PACKET_ADD_MEMBERSHIP"));
            }
        }
        if let Some(f) = fanout {
            let arg = f.arg();
            if setopt(fd, libc::SOL_PACKET, libc::PACKET_FANOUT, &arg) < 0 {
                return Err(last_err("PACKET_FANOUT"));
            }
        }
        Ok(())
    }

    /// Attaches a classic BPF program (SO_ATTACH_FILTER).
    pub fn attach_filter(&mut self, prog: &crate::bpf::Program) -> Result<(), CaptureError> {
        let insns = prog.insns();
        let fprog = libc::sock_fprog {
            len: insns.len() as u16,
            filter: insns.as_ptr() as *mut libc::sock_filter,
        };
        if setopt(self.fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog) < 0 {
            return Err(last_err("SO_ATTACH_FILTER"));
        }
        Ok(())
    }

    fn block_status(&self, idx: u32) -> &AtomicU32 {
        // SAFETY: idx < block_count; block_status is a u32 at offset 8 of
        // tpacket_block_desc (version u32, offset_to_priv u32, then hdr),
        // 4-aligned inside a page-aligned block.
        unsafe {
            &*(self
                .map
                .add(idx as usize * self.cfg.block_size as usize + 8)
                as *const AtomicU32)
        }
    }

    /// Waits up to `timeout` for a filled block.
    pub fn next_block(&mut self, timeout: Duration) -> Result<Option<Block<'_>>, CaptureError> {
        self.next_block_or_wake(timeout, None)
    }

    /// [`Ring::next_block`], returning early (with `None`) when `waker` is
    /// woken: how another thread stops a reader without waiting out the
    /// timeout.
    pub fn next_block_or_wake(
        &mut self,
        timeout: Duration,
        waker: Option<&Waker>,
    ) -> Result<Option<Block<'_>>, CaptureError> {
        if self.block_status(self.next).load(Ordering::Acquire) & TP_STATUS_USER == 0 {
            let mut pfd = [
                libc::pollfd {
                    fd: self.fd,
                    events: libc::POLLIN | libc::POLLERR,
                    revents: 0,
                },
                libc::pollfd {
                    fd: waker.map_or(-1, |w| w.fd),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
            // SAFETY: two valid pollfds (a negative fd is ignored by poll).
            let r = unsafe { libc::poll(pfd.as_mut_ptr(), 2, ms) };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    return Ok(None);
                }
                return Err(CaptureError::Io {
                    context: "poll",
                    source: e,
                });
            }
            if self.block_status(self.next).load(Ordering::Acquire) & TP_STATUS_USER == 0 {
                if pfd[0].revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
                    // The interface went down or away (the kernel set the
                    // socket's error): end here, as libpcap does, rather
                    // than poll an error forever.
                    return Err(self.socket_error());
                }
                return Ok(None);
            }
        }
        let idx = self.next;
        self.next = (self.next + 1) % self.cfg.block_count;
        let bs = self.cfg.block_size as usize;
        // SAFETY: the block is ours (TP_STATUS_USER, Acquire) until Block drops.
        let data = unsafe { std::slice::from_raw_parts(self.map.add(idx as usize * bs), bs) };
        Ok(Some(Block {
            ring: self,
            idx,
            data,
        }))
    }

    /// Cumulative statistics; accumulates the kernel's reset-on-read counters.
    pub fn stats(&mut self) -> Result<RingStats, CaptureError> {
        self.stats.read()
    }

    /// A handle that reads this ring's statistics from any thread (e.g.
    /// while the reading thread is blocked by backpressure). Reads through
    /// the ring and through handles share one accumulator, so no count is
    /// lost or counted twice; once the ring is closed a handle returns the
    /// final totals.
    pub fn stats_reader(&self) -> StatsReader {
        StatsReader(Arc::clone(&self.stats.0))
    }
}

struct StatsState {
    /// The ring's socket while it is open.
    fd: Option<libc::c_int>,
    total: RingStats,
}

/// Reads a ring's cumulative statistics; see [`Ring::stats_reader`].
#[derive(Clone)]
pub struct StatsReader(Arc<Mutex<StatsState>>);

impl StatsReader {
    fn new(fd: libc::c_int) -> Self {
        StatsReader(Arc::new(Mutex::new(StatsState {
            fd: Some(fd),
            total: RingStats::default(),
        })))
    }

    pub fn read(&self) -> Result<RingStats, CaptureError> {
        let mut st = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let Some(fd) = st.fd else {
            return Ok(st.total);
        };
        // SAFETY: zeroed tpacket_stats_v3 is valid.
        let mut s: libc::tpacket_stats_v3 = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::tpacket_stats_v3>() as libc::socklen_t;
        // SAFETY: s and len are valid for the call; the fd is open while
        // `st.fd` is Some (the ring closes it under this lock).
        let r = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                &mut s as *mut _ as *mut libc::c_void,
                &mut len,
            )
        };
        if r < 0 {
            return Err(last_err("PACKET_STATISTICS"));
        }
        // tp_packets counts drops too.
        st.total.packets += u64::from(s.tp_packets);
        st.total.drops += u64::from(s.tp_drops);
        st.total.freeze_q_cnt += u64::from(s.tp_freeze_q_cnt);
        Ok(st.total)
    }

    /// Takes the last counts and forgets the fd, which the ring then closes.
    fn close(&self) -> Option<libc::c_int> {
        let _ = self.read();
        let mut st = self.0.lock().unwrap_or_else(|p| p.into_inner());
        st.fd.take()
    }
}

/// Wakes threads waiting in [`Ring::next_block_or_wake`] (an eventfd that
/// stays readable once woken).
pub struct Waker {
    fd: libc::c_int,
}

impl Waker {
    pub fn new() -> Result<Self, CaptureError> {
        // SAFETY: plain syscall.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(last_err("eventfd"));
        }
        Ok(Waker { fd })
    }

    pub fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our eventfd. A full
        // counter (EAGAIN) means it is already woken.
        unsafe { libc::write(self.fd, &one as *const u64 as *const libc::c_void, 8) };
    }
}

impl Drop for Waker {
    fn drop(&mut self) {
        // SAFETY: the fd is ours.
        unsafe { libc::close(self.fd) };
    }
}

/// The pcap link type for a Linux hardware type, if frames of it can be
/// captured with SOCK_RAW as they are.
fn link_type_of(arphrd: u16) -> Option<u16> {
    const ETHERNET: u16 = 1;
    const RAW: u16 = 101;
    match arphrd {
        libc::ARPHRD_ETHER | libc::ARPHRD_LOOPBACK => Some(ETHERNET),
        // tun devices and IP-in-IP tunnels hand over bare IP packets.
        libc::ARPHRD_NONE | libc::ARPHRD_TUNNEL | libc::ARPHRD_TUNNEL6 | libc::ARPHRD_SIT => {
            Some(RAW)
        }
        _ => None,
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // Stats readers forget the fd first, so none reads a reused number.
        let fd = self.stats.close().unwrap_or(self.fd);
        // SAFETY: map/fd are owned by this ring and no Block outlives it.
        unsafe {
            if !self.map.is_null() {
                libc::munmap(self.map as *mut libc::c_void, self.map_len);
            }
            libc::close(fd);
        }
    }
}

/// A block owned by user space; returned to the kernel on drop.
pub struct Block<'r> {
    ring: &'r Ring,
    idx: u32,
    data: &'r [u8],
}

impl<'r> Block<'r> {
    fn u32_at(&self, off: usize) -> Option<u32> {
        let b = self.data.get(off..off.checked_add(4)?)?;
        Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// The frames in this block; stops at the first malformed header.
    pub fn frames(&self) -> impl Iterator<Item = Frame<'_>> + '_ {
        // tpacket_hdr_v1: num_pkts at 12, offset_to_first_pkt at 16.
        let num = self.u32_at(12).unwrap_or(0);
        let mut off = self.u32_at(16).unwrap_or(0) as usize;
        let mut left = num;
        std::iter::from_fn(move || loop {
            if left == 0 {
                return None;
            }
            left -= 1;
            let f = self.frame_at(off)?;
            let next = self.u32_at(off)? as usize;
            off = if next == 0 {
                usize::MAX / 2
            } else {
                off.checked_add(next)?
            };
            if let Some(fr) = f {
                return Some(fr);
            }
        })
    }

    /// tpacket3_hdr: next_offset 0, sec 4, nsec 8, snaplen 12, len 16,
    /// status 20, mac 24 (u16), net 26, then hv1 { rxhash 28, vlan_tci 32,
    /// vlan_tpid 36 }, and the sockaddr_ll after TPACKET_ALIGN(sizeof hdr).
    /// Returns Some(None) for a frame skipped by loopback de-duplication.
    fn frame_at(&self, off: usize) -> Option<Option<Frame<'_>>> {
        let sec = self.u32_at(off + 4)?;
        let nsec = self.u32_at(off + 8)?;
        let snap = self.u32_at(off + 12)?;
        let len = self.u32_at(off + 16)?;
        let status = self.u32_at(off + 20)?;
        let mac = self.data.get(off + 24..off + 26)?;
        let mac = u16::from_ne_bytes([mac[0], mac[1]]) as usize;
        let tci = self.u32_at(off + 32)?;
        let tpid = self.data.get(off + 36..off + 38)?;
        let tpid = match u16::from_ne_bytes([tpid[0], tpid[1]]) {
            t if status & TP_STATUS_VLAN_TPID_VALID != 0 && t != 0 => t,
            _ => 0x8100,
        };
        let start = off.checked_add(mac)?;
        let data = self.data.get(start..start.checked_add(snap as usize)?)?;
        if self.ring.loopback && self.ring.cfg.dedup_loopback {
            // sockaddr_ll at TPACKET_ALIGN(sizeof(tpacket3_hdr)=48); sll_pkttype at +10.
            let pkttype = *self.data.get(off + 48 + 10)?;
            if pkttype == libc::PACKET_OUTGOING {
                return Some(None);
            }
        }
        Some(Some(Frame {
            ts_ns: u64::from(sec) * 1_000_000_000 + u64::from(nsec),
            data,
            origlen: len,
            vlan: (status & TP_STATUS_VLAN_VALID != 0).then_some((tci as u16, tpid)),
        }))
    }
}

impl Drop for Block<'_> {
    fn drop(&mut self) {
        self.ring
            .block_status(self.idx)
            .store(TP_STATUS_KERNEL, Ordering::Release);
    }
}
