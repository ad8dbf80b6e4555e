//! A classic BPF (cBPF) interpreter, so a filter compiled for the kernel can
//! also filter capture files with identical semantics.
//!
//! Contract: pure (no libc), never panics, always terminates. [`Program::new`]
//! validates like the kernel's `bpf_check_classic`: jumps only go forward
//! and stay in the program, scratch indices are < 16, the last instruction
//! is a return. Because jumps are forward-only, a run executes at most
//! `len` instructions. Out-of-packet loads and division by zero reject the
//! packet (return 0), as in the kernel.

/// One cBPF instruction, layout-compatible with `struct sock_filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

/// Why a program was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid BPF program at instruction {pc}: {reason}")]
pub struct InvalidProgram {
    pub pc: usize,
    pub reason: &'static str,
}

/// A validated cBPF program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    insns: Vec<Insn>,
}

const MAX_INSNS: usize = 4096;
const MEMWORDS: usize = 16;

// Instruction classes and fields (linux/filter.h).
const fn class(c: u16) -> u16 {
    c & 0x07
}
const LD: u16 = 0x00;
const LDX: u16 = 0x01;
const ST: u16 = 0x02;
const STX: u16 = 0x03;
const ALU: u16 = 0x04;
const JMP: u16 = 0x05;
const RET: u16 = 0x06;
const MISC: u16 = 0x07;

impl Program {
    pub fn new(insns: Vec<Insn>) -> Result<Self, InvalidProgram> {
        let n = insns.len();
        if n == 0 || n > MAX_INSNS {
            return Err(InvalidProgram {
                pc: 0,
                reason: "length must be 1..=4096",
            });
        }
        for (pc, i) in insns.iter().enumerate() {
            let bad = |reason| Err(InvalidProgram { pc, reason });
            match class(i.code) {
                LD | LDX if i.code & 0xe0 == 0x60 && i.k as usize >= MEMWORDS => {
                    return bad("scratch index out of range");
                }
                ST | STX if i.k as usize >= MEMWORDS => {
                    return bad("scratch index out of range");
                }
                JMP => {
                    let rest = n - pc - 1;
                    if i.code & 0xf0 == 0x00 {
                        if i.k as usize >= rest {
                            return bad("jump out of range");
                        }
                    } else if i.jt as usize >= rest || i.jf as usize >= rest {
                        return bad("jump out of range");
                    }
                }
                _ => {}
            }
        }
        if class(insns[n - 1].code) != RET {
            return Err(InvalidProgram {
                pc: n - 1,
                reason: "must end with a return",
            });
        }
        Ok(Self { insns })
    }

    pub fn insns(&self) -> &[Insn] {
        &self.insns
    }

    /// Runs the program; returns the number of bytes to keep (0 = reject).
    /// `wirelen` is what `len` loads see (the original packet length).
    pub fn run(&self, pkt: &[u8], wirelen: u32) -> u32 {
        let (mut a, mut x) = (0u32, 0u32);
        let mut mem = [0u32; MEMWORDS];
        let mut pc = 0usize;
        while let Some(i) = self.insns.get(pc) {
            pc += 1;
            let k = i.k;
            match class(i.code) {
                LD | LDX => {
                    let size = i.code & 0x18;
                    // Addressing mode: IMM, ABS, IND, MEM, LEN, MSH.
                    let val = match i.code & 0xe0 {
                        0x00 => Some(k),
                        0x20 => load(pkt, k as usize, size),
                        0x40 => load(pkt, (x as usize).saturating_add(k as usize), size),
                        0x60 => mem.get(k as usize).copied(),
                        0x80 => Some(wirelen),
                        0xa0 => pkt.get(k as usize).map(|b| u32::from(b & 0x0f) * 4), // MSH
                        _ => None,
                    };
                    let Some(val) = val else { return 0 };
                    if class(i.code) == LD {
                        a = val;
                    } else {
                        x = val;
                    }
                }
                ST => *mem.get_mut(k as usize).unwrap_or(&mut 0) = a,
                STX => *mem.get_mut(k as usize).unwrap_or(&mut 0) = x,
                ALU => {
                    let src = if i.code & 0x08 != 0 { x } else { k };
                    a = match i.code & 0xf0 {
                        0x00 => a.wrapping_add(src),
                        0x10 => a.wrapping_sub(src),
                        0x20 => a.wrapping_mul(src),
                        0x30 => match a.checked_div(src) {
                            Some(v) => v,
                            None => return 0,
                        },
                        0x40 => a | src,
                        0x50 => a & src,
                        0x60 => a.checked_shl(src).unwrap_or(0),
                        0x70 => a.checked_shr(src).unwrap_or(0),
                        0x80 => a.wrapping_neg(),
                        0x90 => match a.checked_rem(src) {
                            Some(v) => v,
                            None => return 0,
                        },
                        0xa0 => a ^ src,
                        _ => return 0,
                    };
                }
                JMP => {
                    let src = if i.code & 0x08 != 0 { x } else { k };
                    let taken = match i.code & 0xf0 {
                        0x00 => {
                            pc = pc.saturating_add(k as usize);
                            continue;
                        }
                        0x10 => a == src,
                        0x20 => a > src,
                        0x30 => a >= src,
                        0x40 => a & src != 0,
                        _ => return 0,
                    };
                    let off = if taken { i.jt } else { i.jf };
                    pc = pc.saturating_add(off as usize);
                }
                RET => {
                    return match i.code & 0x18 {
                        0x10 => a,
                        _ => k,
                    }
                }
                MISC => {
                    if i.code & 0xf8 == 0x00 {
                        x = a; // TAX
                    } else {
                        a = x; // TXA
                    }
                }
                _ => return 0,
            }
        }
        0
    }

    /// True when the packet passes the filter.
    pub fn matches(&self, pkt: &[u8], wirelen: u32) -> bool {
        self.run(pkt, wirelen) != 0
    }
}

fn load(pkt: &[u8], off: usize, size: u16) -> Option<u32> {
    match size {
        0x00 => pkt
            .get(off..off.checked_add(4)?)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
        0x08 => pkt
            .get(off..off.checked_add(2)?)
            .map(|b| u32::from(u16::from_be_bytes([b[0], b[1]]))),
        0x10 => pkt.get(off).map(|&b| u32::from(b)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ins(code: u16, jt: u8, jf: u8, k: u32) -> Insn {
        Insn { code, jt, jf, k }
    }

    // tcpdump -dd 'ip' on Ethernet: ldh [12]; jeq #0x800 jt 0 jf 1; ret #262144; ret #0
    fn ip_only() -> Program {
        Program::new(vec![
            ins(0x28, 0, 0, 12),
            ins(0x15, 0, 1, 0x0800),
            ins(0x06, 0, 0, 262144),
            ins(0x06, 0, 0, 0),
        ])
        .unwrap()
    }

    #[test]
    fn matches_ethertype() {
        let mut pkt = [0u8; 14];
        pkt[12] = 0x08;
        assert!(ip_only().matches(&pkt, 14));
        pkt[12] = 0x86;
        pkt[13] = 0xdd;
        assert!(!ip_only().matches(&pkt, 14));
        assert!(!ip_only().matches(&pkt[..13], 13)); // short packet rejects
    }

    #[test]
    fn rejects_bad_programs() {
        assert!(Program::new(vec![]).is_err());
        assert!(Program::new(vec![ins(0x15, 5, 0, 0), ins(0x06, 0, 0, 0)]).is_err());
        assert!(Program::new(vec![ins(0x02, 0, 0, 16), ins(0x06, 0, 0, 0)]).is_err());
        assert!(Program::new(vec![ins(0x28, 0, 0, 0)]).is_err());
    }

    #[test]
    fn never_panics_on_arbitrary_programs() {
        // Deterministic pseudo-random programs and packets (xorshift).
        let mut s = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        for _ in 0..20_000 {
            let n = (next() % 8 + 1) as usize;
            let insns: Vec<Insn> = (0..n)
                .map(|_| {
                    let r = next();
                    ins(
                        r as u16,
                        (r >> 16) as u8 % 4,
                        (r >> 24) as u8 % 4,
                        (r >> 32) as u32 % 64,
                    )
                })
                .collect();
            let pkt: Vec<u8> = (0..(next() % 40)).map(|_| next() as u8).collect();
            if let Ok(p) = Program::new(insns) {
                let _ = p.run(&pkt, pkt.len() as u32);
            }
        }
    }
}
