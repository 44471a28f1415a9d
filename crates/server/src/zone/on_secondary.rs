//! What a zone learns from its secondaries: which serials every one of them serves.

use crate::zone::{Propagated, ZoneRuntime};

impl ZoneRuntime {
    /// When every secondary served `serial` or a newer one (for a zone without secondaries,
    /// when daned published it); `None` while one does not serve it yet. For timings that
    /// count from when the whole zone's servers publish something (TLSA, key rollovers).
    pub fn propagated_at(&self, serial: u32) -> Option<u32> {
        self.propagated.at(serial)
    }

    /// What the secondaries serve now, as the manager's tracker knows it. When a serial became
    /// propagated, call [`Self::tick_bindings`] then: a staged key's wait may start.
    pub fn set_propagated(&mut self, propagated: Propagated) {
        self.propagated = propagated;
    }
}
