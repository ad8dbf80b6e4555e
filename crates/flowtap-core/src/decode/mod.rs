//! Packet decoding: link layer → VLAN/MPLS → IPv4/IPv6 (+ extension headers)
//! → TCP/UDP/ICMP, into a [`PacketInfo`] of offsets and header values.
//!
//! Contract: [`decode`] never panics and never allocates; it decodes as far
//! as the captured bytes go. A header cut by the snaplen yields
//! [`Status::Truncated`], an invalid or self-contradicting one
//! [`Status::Malformed`], both with `stop` naming the layer; the fields of the
//! layers before it are valid.

mod fast_path;
mod info;
pub(crate) mod ipv6_ext;
mod later_fragment;
mod link;
mod net;
mod tcp_options;

pub use info::{
    ip_flags, tcp_flags, tcp_opts, Layer, Net, PacketInfo, Status, TcpOptions, Transport,
};

use crate::LinkType;

/// Decodes one frame. `origlen` (the length on the wire) tells a snaplen cut
/// (truncated) from lengths that lie (malformed).
pub fn decode(link_type: LinkType, data: &[u8], origlen: u32) -> PacketInfo {
    decode_with(link_type, data, origlen, true)
}

/// [`decode`], with or without the direct decoding of the common case
/// (`fast_path`); without it every packet goes through etherparse, which
/// the tests use as the reference.
pub(crate) fn decode_with(
    link_type: LinkType,
    data: &[u8],
    origlen: u32,
    fast: bool,
) -> PacketInfo {
    let mut p = PacketInfo::default();
    let cx = Cx {
        data,
        cut: (data.len() as u64) < origlen as u64,
        fast,
    };
    match link::decode_link(link_type, &cx, &mut p) {
        link::Next::Ether(ethertype, off) => net::decode_ethertype(ethertype, off, &cx, &mut p),
        link::Next::Ip(off) => net::decode_ip(off, &cx, &mut p),
        link::Next::Done(off) => p.set_payload(off, data.len()),
    }
    p
}

/// What every layer decoder needs to know about the frame.
pub(crate) struct Cx<'a> {
    pub data: &'a [u8],
    /// The snaplen cut this frame (captured < original length).
    pub cut: bool,
    /// Whether the common case may be decoded directly.
    pub fast: bool,
}

impl Cx<'_> {
    pub fn be16(&self, at: usize) -> Option<u16> {
        Some(u16::from_be_bytes(
            self.data.get(at..at + 2)?.try_into().ok()?,
        ))
    }

    /// The status for "a header at this layer needs bytes we do not have".
    pub fn short_status(&self) -> Status {
        if self.cut {
            Status::Truncated
        } else {
            Status::Malformed
        }
    }
}

impl PacketInfo {
    pub(crate) fn fail(&mut self, layer: Layer, status: Status) {
        self.stop = layer;
        self.status = status;
    }

    pub(crate) fn set_payload(&mut self, off: usize, end: usize) {
        let off = off.min(end);
        self.payload_offset = off as u32;
        self.payload_len = (end - off) as u32;
    }
}

#[cfg(test)]
mod tests;
