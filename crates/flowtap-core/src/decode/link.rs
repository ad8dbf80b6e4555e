//! Link layers: Ethernet II (with any number of 802.1Q/802.1ad tags and an
//! MPLS label stack), Linux cooked SLL and SLL2, BSD null/loopback and raw IP.

use super::{Cx, Layer, Net, PacketInfo};
use crate::LinkType;

pub(super) enum Next {
    /// Continue with this ethertype at this offset.
    Ether(u16, usize),
    /// An IP header (version from its first nibble) starts at this offset.
    Ip(usize),
    /// Nothing more to decode; the payload starts at this offset.
    Done(usize),
}

const ETH_VLAN: u16 = 0x8100;
const ETH_QINQ: u16 = 0x88a8;
const ETH_QINQ_OLD1: u16 = 0x9100;
const ETH_QINQ_OLD2: u16 = 0x9200;
const ETH_MPLS_UC: u16 = 0x8847;
const ETH_MPLS_MC: u16 = 0x8848;

pub(super) fn decode_link(link: LinkType, cx: &Cx<'_>, p: &mut PacketInfo) -> Next {
    match link {
        LinkType::ETHERNET => {
            let Some(et) = cx.be16(12) else {
                p.fail(Layer::Link, cx.short_status());
                return Next::Done(0);
            };
            ether_chain(et, 14, cx, p)
        }
        LinkType::LINUX_SLL => {
            // packet type, ARPHRD, address length, 8 address bytes, protocol
            let Some(proto) = cx.be16(14) else {
                p.fail(Layer::Link, cx.short_status());
                return Next::Done(0);
            };
            sll_protocol(proto, 16, cx, p)
        }
        LinkType::LINUX_SLL2 => {
            // protocol, reserved, ifindex, ARPHRD, packet type, addr len, addr
            if cx.data.len() < 20 {
                p.fail(Layer::Link, cx.short_status());
                return Next::Done(0);
            }
            let proto = cx.be16(0).unwrap_or(0);
            sll_protocol(proto, 20, cx, p)
        }
        LinkType::NULL | LinkType::LOOP => {
            let Some(raw) = cx.data.get(0..4) else {
                p.fail(Layer::Link, cx.short_status());
                return Next::Done(0);
            };
            let raw: [u8; 4] = [raw[0], raw[1], raw[2], raw[3]];
            // NULL is in the writer's byte order, which the file does not
            // record; address families are small, so the order whose value
            // fits in 16 bits is the right one.
            let le = u32::from_le_bytes(raw);
            let af = if le <= 0xffff {
                le
            } else {
                u32::from_be_bytes(raw)
            };
            match af {
                // AF_INET everywhere; AF_INET6 on Linux, FreeBSD, Darwin, NetBSD/OpenBSD.
                2 | 10 | 24 | 28 | 30 => Next::Ip(4),
                _ => {
                    p.net = Net::Other;
                    Next::Done(4)
                }
            }
        }
        LinkType::RAW | LinkType::RAW_BSD12 | LinkType::RAW_BSD14 => Next::Ip(0),
        LinkType::IPV4 | LinkType::IPV6 => Next::Ip(0),
        _ => {
            p.net = Net::None;
            Next::Done(0)
        }
    }
}

fn sll_protocol(proto: u16, off: usize, cx: &Cx<'_>, p: &mut PacketInfo) -> Next {
    // Values below 0x0600 are Linux "pseudo protocols" (802.3, 802.2, CAN …).
    if proto < 0x0600 {
        p.net = Net::Other;
        p.ethertype = proto;
        return Next::Done(off);
    }
    ether_chain(proto, off, cx, p)
}

/// Follows VLAN tags and MPLS labels to the innermost ethertype.
fn ether_chain(mut et: u16, mut off: usize, cx: &Cx<'_>, p: &mut PacketInfo) -> Next {
    loop {
        match et {
            ETH_VLAN | ETH_QINQ | ETH_QINQ_OLD1 | ETH_QINQ_OLD2 => {
                let (Some(tci), Some(next)) = (cx.be16(off), cx.be16(off + 2)) else {
                    p.ethertype = et;
                    p.fail(Layer::Vlan, cx.short_status());
                    return Next::Done(off);
                };
                if p.vlan_count == 0 {
                    p.vlan_id = tci & 0x0fff;
                }
                p.vlan_count = p.vlan_count.saturating_add(1);
                p.stop = Layer::Vlan;
                et = next;
                off += 4;
            }
            ETH_MPLS_UC | ETH_MPLS_MC => {
                p.ethertype = et;
                p.stop = Layer::Mpls;
                loop {
                    let Some(label) = cx.data.get(off..off + 4) else {
                        p.fail(Layer::Mpls, cx.short_status());
                        return Next::Done(off);
                    };
                    off += 4;
                    if label[2] & 1 == 1 {
                        break;
                    }
                }
                // MPLS does not say what it carries; IP is recognised by its
                // version nibble, anything else (pseudowires) is left alone.
                return match cx.data.get(off).map(|b| b >> 4) {
                    Some(4) | Some(6) => Next::Ip(off),
                    _ => {
                        p.net = Net::Other;
                        Next::Done(off)
                    }
                };
            }
            _ => break,
        }
    }
    p.ethertype = et;
    if et < 0x0600 {
        // 802.3 length field: an LLC frame, not decoded further.
        p.net = Net::Other;
        return Next::Done(off);
    }
    Next::Ether(et, off)
}
