//! The one walk over IPv6 extension headers that the decoder, the
//! later-fragment path and the defragmenter share: find the fragment header.
//!
//! Walked by hand with bounds checks rather than with etherparse's
//! `Ipv6ExtensionSliceIter`: when lax parsing stopped inside the chain (a cut
//! or bad extension header), that iterator follows the last parsed header's
//! "next header" past the end of the parsed bytes and reads out of bounds
//! (undefined behaviour, found by the proptests in tests/no_panic.rs).
//!
//! Contract: reads only inside `chain`; never panics.

/// A fragment header found in an extension-header chain. Offsets are from
/// the start of the chain (the first byte after the fixed IPv6 header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FragmentHeader {
    /// Where the fragment header starts.
    pub at: usize,
    /// Where the "next header" byte that names it is, or `None` when the
    /// fixed IPv6 header names it.
    pub named_at: Option<usize>,
    /// What follows the fragment header.
    pub next: u8,
    pub id: u32,
    /// Fragment offset in 8-byte units.
    pub offset_units: u16,
    pub more: bool,
}

/// What walking the chain found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Walk {
    Fragment(FragmentHeader),
    /// The chain reached a header that is not an extension header.
    NoFragment,
    /// An extension header is cut short by the end of `chain`.
    Cut,
}

/// Walks the extension headers of `chain`, the first of type `first`.
pub(crate) fn find_fragment(first: u8, chain: &[u8]) -> Walk {
    let (mut next, mut at, mut named_at) = (first, 0usize, None);
    loop {
        let len = match next {
            // hop-by-hop, routing, destination options, mobility, HIP, shim6
            0 | 43 | 60 | 135 | 139 | 140 => match chain.get(at + 1) {
                Some(&n) => (n as usize + 1) * 8,
                None => return Walk::Cut,
            },
            44 => 8,
            // authentication header: length in 4-byte units, minus 2
            51 => match chain.get(at + 1) {
                Some(&n) => (n as usize + 2) * 4,
                None => return Walk::Cut,
            },
            _ => return Walk::NoFragment,
        };
        let Some(hdr) = chain.get(at..at + len) else {
            return Walk::Cut;
        };
        if next == 44 {
            let word = u16::from_be_bytes([hdr[2], hdr[3]]);
            return Walk::Fragment(FragmentHeader {
                at,
                named_at,
                next: hdr[0],
                id: u32::from_be_bytes([hdr[4], hdr[5], hdr[6], hdr[7]]),
                offset_units: word >> 3,
                more: word & 1 == 1,
            });
        }
        next = hdr[0];
        named_at = Some(at);
        at += len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_fragment_header_behind_other_headers() {
        // hop-by-hop (8 bytes) → fragment (offset 3, M) → UDP
        let chain = [44, 0, 1, 4, 0, 0, 0, 0, 17, 0, 0, 25, 0, 0, 0xab, 0xcd];
        assert_eq!(
            find_fragment(0, &chain),
            Walk::Fragment(FragmentHeader {
                at: 8,
                named_at: Some(0),
                next: 17,
                id: 0xabcd,
                offset_units: 3,
                more: true,
            })
        );
        assert_eq!(find_fragment(17, &chain), Walk::NoFragment);
        assert_eq!(find_fragment(0, &chain[..12]), Walk::Cut);
        assert_eq!(find_fragment(0, &[]), Walk::Cut);
    }
}
