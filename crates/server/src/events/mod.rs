//! What makes a zone change: the manager's single loop ([`manager`]), which owns every zone
//! and handles each trigger (a watched file changed, a timer fired, a control command, a
//! secondary's report), and the certificate watcher ([`watch`]) that feeds it.

pub mod manager;
pub mod watch;
