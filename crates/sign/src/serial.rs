//! Serial number arithmetic (RFC 1982) for SOA serials and signature times.

/// Whether `a` is after `b` in RFC 1982 serial number arithmetic (32 bits).
pub fn serial_gt(a: u32, b: u32) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000_0000
}

/// The serial for a new version of a zone whose last published serial was `last` and whose
/// source (zone file) asks for `wanted`: `wanted` when it is after `last`, else `last + 1`.
/// The result is always after `last` (RFC 1982 §3.1), so serials never go backwards.
pub fn next_serial(last: u32, wanted: u32) -> u32 {
    if serial_gt(wanted, last) {
        wanted
    } else {
        last.wrapping_add(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1982_s3_2_comparison_wraps() {
        // RFC 1982 §3.2: s1 < s2 if (i1 < i2 and i2 - i1 < 2^(SERIAL_BITS - 1)) or
        // (i1 > i2 and i1 - i2 > 2^(SERIAL_BITS - 1)).
        assert!(serial_gt(1, 0));
        assert!(serial_gt(0, u32::MAX));
        assert!(!serial_gt(u32::MAX, 0));
        assert!(!serial_gt(5, 5));
        assert!(serial_gt(0x7fff_ffff, 0));
        assert!(!serial_gt(0x8000_0000, 0));
    }

    #[test]
    fn next_serial_never_goes_backwards() {
        assert_eq!(next_serial(10, 5), 11);
        assert_eq!(next_serial(10, 10), 11);
        assert_eq!(next_serial(10, 2026112801), 2026112801);
        assert_eq!(next_serial(u32::MAX, 3), 3);
        assert_eq!(next_serial(u32::MAX, u32::MAX), 0);
    }
}
