//! TCP option list → [`TcpOptions`]: MSS, window scale, SACK, timestamps.

use super::{tcp_opts, TcpOptions};

/// Parses the options area of a TCP header. Stops at end-of-list; a cut or
/// malformed option sets [`tcp_opts::INVALID`] and keeps what came before.
pub(super) fn parse(mut b: &[u8]) -> TcpOptions {
    let mut o = TcpOptions::default();
    while let Some(&kind) = b.first() {
        match kind {
            0 => break,
            1 => {
                b = &b[1..];
                continue;
            }
            _ => {}
        }
        let Some(&len) = b.get(1) else {
            o.present |= tcp_opts::INVALID;
            break;
        };
        let len = len as usize;
        if len < 2 || len > b.len() {
            o.present |= tcp_opts::INVALID;
            break;
        }
        let body = &b[2..len];
        match (kind, body.len()) {
            (2, 2) => {
                o.present |= tcp_opts::MSS;
                o.mss = u16::from_be_bytes([body[0], body[1]]);
            }
            (3, 1) => {
                o.present |= tcp_opts::WSCALE;
                o.wscale = body[0];
            }
            (4, 0) => o.present |= tcp_opts::SACK_PERMITTED,
            (5, n) if n > 0 && n % 8 == 0 => o.present |= tcp_opts::SACK,
            (8, 8) => {
                o.present |= tcp_opts::TIMESTAMP;
                o.ts_val = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
                o.ts_ecr = u32::from_be_bytes([body[4], body[5], body[6], body[7]]);
            }
            (2..=5, _) | (8, _) => o.present |= tcp_opts::INVALID,
            _ => {}
        }
        b = &b[len..];
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syn_options() {
        // MSS 1460, SACK permitted, timestamps, NOP, window scale 7
        let b = [
            2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 1, 3, 3, 7,
        ];
        let o = parse(&b);
        assert_eq!(o.mss, 1460);
        assert_eq!(o.wscale, 7);
        assert_eq!((o.ts_val, o.ts_ecr), (1, 2));
        assert_eq!(
            o.present,
            tcp_opts::MSS | tcp_opts::WSCALE | tcp_opts::SACK_PERMITTED | tcp_opts::TIMESTAMP
        );
    }

    #[test]
    fn bad_lengths_are_flagged_not_followed() {
        assert_eq!(parse(&[2, 0, 1, 1]).present, tcp_opts::INVALID);
        assert_eq!(parse(&[2, 40, 1]).present, tcp_opts::INVALID);
        assert_eq!(parse(&[3]).present, tcp_opts::INVALID);
        assert_eq!(parse(&[2, 3, 1]).present, tcp_opts::INVALID);
        assert_eq!(parse(&[0, 2, 4, 5, 0xb4]).present, 0);
    }
}
