//! What the zone knows of its secondaries: which published serials every one of them serves,
//! and since when. The manager keeps the full picture (`secondaries::propagation::Tracker`)
//! and hands each zone this plain value; the rollover timing of a staged TLSA key
//! (`await-propagation`) counts from it.

use std::collections::VecDeque;

use daned_sign::serial::serial_gt;

/// How many propagated publications are remembered (as many as the tracker remembers
/// publications). Older serials are answered from newer ones, which can only make a wait
/// longer.
const KEEP: usize = 64;

/// The published serials every secondary serves (or a newer one), each with when the last of
/// them first served it; oldest publication first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Propagated {
    serials: VecDeque<(u32, u32)>,
}

impl Propagated {
    /// From `(serial, propagated_at)` pairs, oldest publication first.
    pub fn new(serials: impl IntoIterator<Item = (u32, u32)>) -> Self {
        let mut serials: VecDeque<(u32, u32)> = serials.into_iter().collect();
        while serials.len() > KEEP {
            serials.pop_front();
        }
        Self { serials }
    }

    /// When every secondary served `serial` or a newer one; `None` while one does not. A
    /// serial older than those remembered is answered with the earliest newer one known,
    /// which is never earlier than the truth.
    pub fn at(&self, serial: u32) -> Option<u32> {
        self.serials
            .iter()
            .filter(|&&(s, _)| s == serial || serial_gt(s, serial))
            .map(|&(_, at)| at)
            .min()
    }

    /// `serial` is served from `now` on by a zone without secondaries: what daned serves is
    /// all that is served, so it is propagated at once.
    pub(crate) fn served_alone(&mut self, serial: u32, now: u32) {
        if self.serials.back().is_some_and(|&(s, _)| s == serial) {
            return;
        }
        self.serials.push_back((serial, now));
        if self.serials.len() > KEEP {
            self.serials.pop_front();
        }
    }
}
