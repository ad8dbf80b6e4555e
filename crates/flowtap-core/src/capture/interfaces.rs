//! Per-interface state of a capture: link type, snaplen and the timestamp
//! resolution/offset that turn raw pcapng timestamp units into nanoseconds.

use crate::LinkType;

/// Units per second of a raw timestamp, as pcapng's `if_tsresol` encodes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsResolution {
    /// 10^-n seconds.
    Decimal(u8),
    /// 2^-n seconds.
    Binary(u8),
}

impl TsResolution {
    /// Decodes an `if_tsresol` option byte (high bit: power of two).
    pub fn from_tsresol(v: u8) -> TsResolution {
        if v & 0x80 != 0 {
            TsResolution::Binary(v & 0x7f)
        } else {
            TsResolution::Decimal(v)
        }
    }

    /// Converts a count of units to nanoseconds, saturating at u64::MAX.
    pub fn to_ns(self, units: u64) -> u64 {
        let ns: u128 = match self {
            TsResolution::Decimal(n) if n <= 9 => units as u128 * 10u128.pow(9 - n as u32),
            // Beyond 10^-38 the divisor overflows u128; such clocks do not exist.
            TsResolution::Decimal(n) if n > 38 => 0,
            TsResolution::Decimal(n) => units as u128 / 10u128.pow(n as u32 - 9),
            TsResolution::Binary(n) if n > 100 => 0,
            TsResolution::Binary(n) => (units as u128 * 1_000_000_000u128) >> n,
        };
        u64::try_from(ns).unwrap_or(u64::MAX)
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Interface {
    pub link_type: LinkType,
    pub snaplen: u32,
    pub resolution: TsResolution,
    /// Seconds to add to every timestamp (`if_tsoffset`).
    pub offset_s: i64,
}

impl Interface {
    pub fn ts_ns(&self, units: u64) -> u64 {
        let base = self.resolution.to_ns(units);
        let off = (self.offset_s as i128) * 1_000_000_000;
        (base as i128 + off).clamp(0, u64::MAX as i128) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolutions() {
        assert_eq!(
            TsResolution::from_tsresol(6).to_ns(1_500_000),
            1_500_000_000
        );
        assert_eq!(TsResolution::from_tsresol(9).to_ns(7), 7);
        assert_eq!(TsResolution::from_tsresol(12).to_ns(5_000), 5);
        assert_eq!(
            TsResolution::from_tsresol(0x80 | 10).to_ns(1024),
            1_000_000_000
        );
        assert_eq!(TsResolution::from_tsresol(0).to_ns(u64::MAX), u64::MAX);
        assert_eq!(TsResolution::from_tsresol(0xff).to_ns(u64::MAX), 0);
    }

    #[test]
    fn offset_applies_and_clamps() {
        let i = Interface {
            link_type: LinkType::ETHERNET,
            snaplen: 0,
            resolution: TsResolution::Decimal(6),
            offset_s: -10,
        };
        assert_eq!(i.ts_ns(11_000_000), 1_000_000_000);
        assert_eq!(i.ts_ns(0), 0);
    }
}
