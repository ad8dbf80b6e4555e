//! Flow tracking building blocks:
//! - [`key`]: direction-free flow keys;
//! - [`table`]: the bounded flow table with O(1) expiry and eviction;
//! - [`community_id`]: the direction-free flow hash of Corelight's public
//!   spec, version 1, as Zeek and Suricata log it;
//! - [`tcp_state`]: Zeek's per-connection TCP bookkeeping (endpoint states,
//!   `conn_state`, `history`, sequence-space byte counts, role flips);
//! - [`tracker`]: packets in, bidirectional flow records and events out.
//!
//! Contract: no I/O, no threads, no global state, no panics on any input —
//! so they build for WebAssembly; every container has a bound.

pub mod community_id;
pub mod key;
pub mod table;
pub mod tcp_state;
pub mod tracker;

pub use community_id::{
    community_id_v1, community_id_v1_digest, community_id_v1_packet, community_id_v1_packet_digest,
    encode_v1, encode_v1_into, icmp_port_equivalents, COMMUNITY_ID_V1_LEN,
};
