//! Bidirectional flow keys: both directions of a conversation give the same
//! [`FlowKey`], and [`Side`] says which end sent the packet.
//!
//! Endpoints are ordered (address, then port), the smaller one first, so a
//! key is canonical whatever the direction — except for one-way messages
//! ([`FlowKey::directed`]), whose sender comes first. Addresses are 16 bytes (IPv4 in
//! the first four, the rest zero, as in [`crate::decode::PacketInfo`]); the
//! family is part of the key so an IPv4 address never equals an IPv6 one.
//! The VLAN id is part of the key only when the caller asks for it (0
//! otherwise).

/// A canonical, direction-free flow key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    pub proto: u8,
    pub ipv6: bool,
    pub vlan: u16,
    /// The smaller endpoint.
    pub lo_addr: [u8; 16],
    pub lo_port: u16,
    /// The larger endpoint.
    pub hi_addr: [u8; 16],
    pub hi_port: u16,
}

/// Which endpoint of a key sent a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The source is the key's smaller endpoint.
    Lo,
    /// The source is the key's larger endpoint.
    Hi,
}

fn addr16(a: &[u8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    let n = a.len().min(16);
    out[..n].copy_from_slice(&a[..n]);
    out
}

impl FlowKey {
    /// The key of a packet from `src:sport` to `dst:dport`. Addresses of 4
    /// bytes are IPv4, anything else IPv6 (taken as 16 bytes, zero-padded).
    pub fn new(
        proto: u8,
        src: &[u8],
        dst: &[u8],
        sport: u16,
        dport: u16,
        vlan: u16,
    ) -> (FlowKey, Side) {
        let ipv6 = src.len() != 4;
        FlowKey::from_addrs(proto, ipv6, addr16(src), addr16(dst), sport, dport, vlan)
    }

    /// [`FlowKey::new`] for 16-byte addresses as [`crate::decode::PacketInfo`]
    /// holds them (for IPv4 only the first four bytes count).
    pub fn from_addrs(
        proto: u8,
        ipv6: bool,
        src: [u8; 16],
        dst: [u8; 16],
        sport: u16,
        dport: u16,
        vlan: u16,
    ) -> (FlowKey, Side) {
        // Big-endian integers order as the bytes do; masking in registers
        // (not zeroing bytes in memory) avoids a store-forwarding stall on
        // this per-packet path.
        let mask = if ipv6 { u128::MAX } else { u128::MAX << 96 };
        let (s, d) = (
            u128::from_be_bytes(src) & mask,
            u128::from_be_bytes(dst) & mask,
        );
        let (src, dst) = (s.to_be_bytes(), d.to_be_bytes());
        let src_is_lo = (s, sport) <= (d, dport);
        let (lo, hi, side) = if src_is_lo {
            ((src, sport), (dst, dport), Side::Lo)
        } else {
            ((dst, dport), (src, sport), Side::Hi)
        };
        (
            FlowKey {
                proto,
                ipv6,
                vlan,
                lo_addr: lo.0,
                lo_port: lo.1,
                hi_addr: hi.0,
                hi_port: hi.1,
            },
            side,
        )
    }
}

impl FlowKey {
    /// The key of a one-way message (an ICMP error, say) from `src:sport` to
    /// `dst:dport`: not reordered, so the two directions are two flows, as
    /// Zeek keys them (`is_one_way`). The sender is always [`Side::Lo`].
    pub fn directed(
        proto: u8,
        src: &[u8],
        dst: &[u8],
        sport: u16,
        dport: u16,
        vlan: u16,
    ) -> FlowKey {
        FlowKey {
            proto,
            ipv6: src.len() != 4,
            vlan,
            lo_addr: addr16(src),
            lo_port: sport,
            hi_addr: addr16(dst),
            hi_port: dport,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_directions_share_a_key() {
        let (k1, s1) = FlowKey::new(6, &[10, 0, 0, 2], &[10, 0, 0, 1], 80, 5000, 0);
        let (k2, s2) = FlowKey::new(6, &[10, 0, 0, 1], &[10, 0, 0, 2], 5000, 80, 0);
        assert_eq!(k1, k2);
        assert_eq!((s1, s2), (Side::Hi, Side::Lo));
        assert_eq!(k1.lo_port, 5000);
    }

    #[test]
    fn same_address_orders_by_port_and_family_and_vlan_separate() {
        let (k, s) = FlowKey::new(17, &[127, 0, 0, 1], &[127, 0, 0, 1], 9000, 53, 0);
        assert_eq!((k.lo_port, k.hi_port, s), (53, 9000, Side::Hi));
        let v4 = FlowKey::new(17, &[0; 4], &[0; 4], 1, 2, 0).0;
        let v6 = FlowKey::new(17, &[0; 16], &[0; 16], 1, 2, 0).0;
        assert_ne!(v4, v6);
        let tagged = FlowKey::new(17, &[0; 4], &[0; 4], 1, 2, 7).0;
        assert_ne!(v4, tagged);
    }
}
