//! handler (being written).
