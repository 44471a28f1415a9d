//! zonefile (being written).
