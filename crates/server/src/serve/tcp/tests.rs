//! TCP loop tests.
