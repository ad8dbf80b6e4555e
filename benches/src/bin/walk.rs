//! The machine's limit: mmap a classic pcap, walk the record headers and read
//! the 5-tuple of each Ethernet/IPv4/IPv6 + TCP/UDP packet at fixed offsets
//! (no VLAN, no IPv6 extension headers, no fragment checks; just enough bounds
//! checks to stay in the packet). What it reads is folded into a checksum so
//! the work cannot be optimized away.
//!
//! ```text
//! walk FILE
//! ```
//!
//! Prints `{"name":"walk","packets":N,"seconds":S,"pps":…,"mbps":…,…}`.

use std::fs::File;
use std::time::Instant;

use flowtap_bench::{die, Args, Report};
use memmap2::Mmap;

#[inline(always)]
fn rd32(b: &[u8], at: usize, big_endian: bool) -> u32 {
    let v: [u8; 4] = b[at..at + 4].try_into().unwrap();
    if big_endian {
        u32::from_be_bytes(v)
    } else {
        u32::from_le_bytes(v)
    }
}

#[inline(always)]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn main() {
    let args = Args::parse(&[]);
    args.check_known(&[]);
    let Some(path) = args.positional.first() else {
        die("usage: walk FILE.pcap")
    };
    let file = File::open(path).unwrap_or_else(|e| die(&format!("{path}: {e}")));

    let t = Instant::now();
    // SAFETY: the file is not modified while mapped (benchmark input).
    let map = unsafe { Mmap::map(&file) }.unwrap_or_else(|e| die(&format!("{path}: mmap: {e}")));
    #[cfg(unix)]
    let _ = map.advise(memmap2::Advice::Sequential);
    let d: &[u8] = &map;
    if d.len() < 24 {
        die(&format!("{path}: too short for a pcap header"));
    }
    let big_endian = match u32::from_le_bytes(d[0..4].try_into().unwrap()) {
        0xa1b2_c3d4 | 0xa1b2_3c4d => false,
        0xd4c3_b2a1 | 0x4d3c_b2a1 => true,
        m => die(&format!(
            "{path}: magic {m:#010x}: walk reads classic pcap only (not pcapng)"
        )),
    };
    if rd32(d, 20, big_endian) & 0xffff != 1 {
        die(&format!("{path}: walk reads Ethernet (link type 1) only"));
    }

    let (mut packets, mut bytes, mut ports, mut check) = (0u64, 0u64, 0u64, 0u64);
    let mut off = 24;
    while off + 16 <= d.len() {
        let ts_sec = rd32(d, off, big_endian);
        let ts_frac = rd32(d, off + 4, big_endian);
        let caplen = rd32(d, off + 8, big_endian) as usize;
        let start = off + 16;
        let end = start + caplen;
        if end > d.len() {
            break; // cut short: stop like a reader would
        }
        let p = &d[start..end];
        packets += 1;
        bytes += caplen as u64;

        let mut src = 0u64;
        let mut dst = 0u64;
        let mut proto = 0u8;
        let mut sp = 0u16;
        let mut dp = 0u16;
        if p.len() >= 34 {
            match be16(p, 12) {
                0x0800 => {
                    let ihl = usize::from(p[14] & 0x0f) * 4;
                    proto = p[23];
                    src = u64::from(u32::from_be_bytes(p[26..30].try_into().unwrap()));
                    dst = u64::from(u32::from_be_bytes(p[30..34].try_into().unwrap()));
                    let l4 = 14 + ihl;
                    if (proto == 6 || proto == 17) && p.len() >= l4 + 4 {
                        sp = be16(p, l4);
                        dp = be16(p, l4 + 2);
                    }
                }
                0x86dd if p.len() >= 54 => {
                    proto = p[20];
                    // Fold the 16-byte addresses to 64 bits each.
                    let a = u128::from_be_bytes(p[22..38].try_into().unwrap());
                    let b = u128::from_be_bytes(p[38..54].try_into().unwrap());
                    src = (a as u64) ^ ((a >> 64) as u64);
                    dst = (b as u64) ^ ((b >> 64) as u64);
                    if (proto == 6 || proto == 17) && p.len() >= 58 {
                        sp = be16(p, 54);
                        dp = be16(p, 56);
                    }
                }
                _ => {}
            }
        }
        ports ^= u64::from(sp ^ dp);
        check = (check ^ src ^ dst.rotate_left(17) ^ (u64::from(sp) << 48 | u64::from(dp) << 32))
            .wrapping_mul(0x0100_0000_01b3)
            ^ u64::from(proto)
            ^ (u64::from(ts_sec) << 20 | u64::from(ts_frac));
        off = end;
    }
    let elapsed = t.elapsed();
    drop(map);

    let mut r = Report::new("walk", elapsed);
    r.packets = packets;
    r.bytes = bytes;
    r.ports = ports;
    r.check = check;
    println!("{}", r.to_json());
}
