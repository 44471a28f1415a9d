//! NSEC chains (RFC 4034 §4, RFC 4035 §2.3).
