//! The decoded summary of one packet: a small `Copy` value with offsets into
//! the frame rather than copies of it.

/// The layer at which decoding stopped, or the innermost one decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum Layer {
    #[default]
    Link = 0,
    Vlan = 1,
    Mpls = 2,
    Arp = 3,
    Ipv4 = 4,
    Ipv6 = 5,
    /// IPv6 extension headers or the IPv4 authentication header.
    IpExtension = 6,
    Tcp = 7,
    Udp = 8,
    Icmpv4 = 9,
    Icmpv6 = 10,
    Payload = 11,
}

impl Layer {
    pub const ALL: [Layer; 12] = [
        Layer::Link,
        Layer::Vlan,
        Layer::Mpls,
        Layer::Arp,
        Layer::Ipv4,
        Layer::Ipv6,
        Layer::IpExtension,
        Layer::Tcp,
        Layer::Udp,
        Layer::Icmpv4,
        Layer::Icmpv6,
        Layer::Payload,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Layer::Link => "link",
            Layer::Vlan => "vlan",
            Layer::Mpls => "mpls",
            Layer::Arp => "arp",
            Layer::Ipv4 => "ipv4",
            Layer::Ipv6 => "ipv6",
            Layer::IpExtension => "ip-extension",
            Layer::Tcp => "tcp",
            Layer::Udp => "udp",
            Layer::Icmpv4 => "icmpv4",
            Layer::Icmpv6 => "icmpv6",
            Layer::Payload => "payload",
        }
    }
}

/// How far decoding got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum Status {
    /// Every layer we know was decoded.
    #[default]
    Ok = 0,
    /// The captured bytes ended (snaplen) before a header did; `stop` says
    /// which. Everything before it is valid.
    Truncated = 1,
    /// A header is invalid or its lengths contradict the bytes on the wire;
    /// `stop` says which layer. Everything before it is valid.
    Malformed = 2,
}

/// Network layer protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum Net {
    #[default]
    None = 0,
    Ipv4 = 4,
    Ipv6 = 6,
    Arp = 1,
    /// Another ethertype (see `PacketInfo::ethertype`).
    Other = 2,
}

/// Transport protocol whose header was decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum Transport {
    #[default]
    None = 0,
    Tcp = 1,
    Udp = 2,
    Icmpv4 = 3,
    Icmpv6 = 4,
    /// An IP payload we do not decode (IGMP, GRE, SCTP, fragments' payload
    /// is `None`).
    Other = 5,
}

/// Bits of [`PacketInfo::ip_flags`].
pub mod ip_flags {
    /// The packet is an IP fragment (IPv4 MF/offset, or an IPv6 fragment
    /// header that really fragments); transport is not decoded.
    pub const FRAGMENT: u8 = 1 << 0;
    /// IPv4 "more fragments" or IPv6 M flag.
    pub const MORE_FRAGMENTS: u8 = 1 << 1;
    pub const DONT_FRAGMENT: u8 = 1 << 2;
    /// IPv4 header carries options.
    pub const IPV4_OPTIONS: u8 = 1 << 3;
    /// IPv6 extension headers (or IPv4 AH) present.
    pub const EXTENSIONS: u8 = 1 << 4;
    /// IPv6 fragment header with offset 0 and M=0 (RFC 6946).
    pub const ATOMIC_FRAGMENT: u8 = 1 << 5;
}

/// Bits of [`PacketInfo::tcp_flags`] (wire order: FIN is bit 0, NS bit 8).
pub mod tcp_flags {
    pub const FIN: u16 = 1 << 0;
    pub const SYN: u16 = 1 << 1;
    pub const RST: u16 = 1 << 2;
    pub const PSH: u16 = 1 << 3;
    pub const ACK: u16 = 1 << 4;
    pub const URG: u16 = 1 << 5;
    pub const ECE: u16 = 1 << 6;
    pub const CWR: u16 = 1 << 7;
    pub const NS: u16 = 1 << 8;
}

/// Bits of [`TcpOptions::present`].
pub mod tcp_opts {
    pub const MSS: u8 = 1 << 0;
    pub const WSCALE: u8 = 1 << 1;
    pub const SACK_PERMITTED: u8 = 1 << 2;
    pub const SACK: u8 = 1 << 3;
    pub const TIMESTAMP: u8 = 1 << 4;
    /// The option list was cut short or malformed.
    pub const INVALID: u8 = 1 << 7;
}

/// The TCP options a flow analyzer needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpOptions {
    pub present: u8,
    pub mss: u16,
    pub wscale: u8,
    pub ts_val: u32,
    pub ts_ecr: u32,
}

/// Decoded summary of one packet. Addresses are 16 bytes; IPv4 uses the
/// first four. Offsets are into the frame's captured bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PacketInfo {
    pub status: Status,
    /// Innermost layer decoded (Ok) or the layer that failed.
    pub stop: Layer,
    /// Innermost ethertype seen (0 when the link type has none).
    pub ethertype: u16,
    /// Number of VLAN tags (802.1Q/802.1ad) and the outermost VLAN id.
    pub vlan_count: u8,
    pub vlan_id: u16,
    pub net: Net,
    pub src: [u8; 16],
    pub dst: [u8; 16],
    /// IP protocol number of the transport (after extension headers).
    pub ip_proto: u8,
    pub transport: Transport,
    pub ttl: u8,
    pub ip_flags: u8,
    /// IPv4 identification or IPv6 fragment identification.
    pub ip_id: u32,
    /// Fragment offset in bytes.
    pub frag_offset: u16,
    pub src_port: u16,
    pub dst_port: u16,
    pub tcp_flags: u16,
    pub seq: u32,
    pub ack: u32,
    pub window: u16,
    pub tcp_options: TcpOptions,
    pub icmp_type: u8,
    pub icmp_code: u8,
    /// Offset of the network header (0 when there is none).
    pub l3_offset: u32,
    /// Offset of the transport header (0 when there is none).
    pub l4_offset: u32,
    /// Offset and captured length of the innermost payload.
    pub payload_offset: u32,
    pub payload_len: u32,
}
