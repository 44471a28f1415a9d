//! TLSA bindings: each binding at run time ([`binding`]), its certificate files
//! ([`certificate`]), and the TLS probe that checks what the servers present ([`probe`]). The
//! pure rollover machine of one binding is [`daned_sign::rollover`], beside the pure key
//! lifecycle; it is re-exported here as [`rollover`].

pub(crate) mod binding;
pub(crate) mod certificate;
pub(crate) mod probe;

pub(crate) use daned_sign::rollover;

use crate::status::RecordRole;
use rollover::BindingState;

/// A binding's published records with their roles: the current key's, the staged next
/// key's, then the old ones in their hold-down (oldest first).
pub(crate) fn record_roles(state: &BindingState) -> Vec<RecordRole> {
    let role = |record: &dyn ToString, role: &str, until: Option<u32>| RecordRole {
        record: record.to_string(),
        role: role.to_owned(),
        until,
    };
    let mut roles = Vec::new();
    if let Some(current) = state.current() {
        roles.push(role(current, "current", None));
    }
    if let Some(next) = state.next() {
        roles.push(role(next, "next", None));
    }
    for (record, until) in state.retiring() {
        roles.push(role(record, "old", Some(until)));
    }
    roles
}
