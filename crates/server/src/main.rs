//! The `daned` binary.
fn main() {}
