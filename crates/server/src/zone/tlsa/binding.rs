//! One certificate of a TLSA binding at run time: its rollover state, what its files said
//! last, and what the probe saw.

use crate::zone::{Propagated, read_certificate, read_next_key};
use std::collections::BTreeMap;
use std::path::Path;

use daned_sign::hickory_proto::rr::{Name, RData, RecordType};
use daned_sign::zone::{Zone, canonical_name};

use crate::config::{CertificateSource, TlsaBinding, ZoneConfig};
use crate::fsutil::ReadErrorKind;
use crate::zone::tlsa::certificate::{expired, parse_certificate, parse_next_key};
use crate::zone::tlsa::probe::Target;
use crate::zone::tlsa::probe::verdict::Probed;
use crate::zone::tlsa::rollover::{BindingState, Event, Observation, Timing, TlsaRdata};

/// One certificate of a TLSA binding at run time: the binding's configuration, which of its
/// certificates this is, its rollover state, last problem and what the probe saw. A binding
/// with several certificates (RSA and ECDSA, say) has one of these per certificate, each
/// rolled over on its own; their records share the binding's owner names.
#[derive(Clone, Debug)]
pub struct Binding {
    /// The binding's configuration.
    pub cfg: TlsaBinding,
    /// Which of `cfg.certificates` this is.
    pub source: usize,
    /// What is published and why.
    pub state: BindingState,
    /// The last problem with the certificate or next-key file; `None` once they are good.
    pub last_error: Option<String>,
    /// Whether the zone has secondaries: a staged key's wait then starts once they serve it.
    pub await_propagation: bool,
    /// The key family of the certificate last read (which signature schemes show it).
    pub family: Option<daned_sign::dane::KeyFamily>,
    /// The notAfter of the certificate file last read (seconds since the epoch).
    pub not_after: Option<i64>,
    /// What the probe saw.
    pub probed: Probed,
    /// What the certificate and next-key files gave when last read, for an update that reads
    /// only one of them.
    pub(crate) seen: Seen,
}

/// What a binding's certificate and next-key files gave when last read: each file's record
/// (`None`: no usable certificate, no next key) or its problem.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    pub(crate) certificate: Result<Option<SeenCertificate>, String>,
    pub(crate) next: Result<Option<TlsaRdata>, String>,
}

impl Default for Seen {
    /// Nothing read yet (every binding reads both files when it starts).
    fn default() -> Self {
        Self {
            certificate: Ok(None),
            next: Ok(None),
        }
    }
}

/// A usable certificate as last read: its record, and its subject and notAfter, since it may
/// expire before it is read again.
#[derive(Clone, Debug)]
pub(crate) struct SeenCertificate {
    pub(crate) record: TlsaRdata,
    pub(crate) subject: String,
    pub(crate) not_after: i64,
}

/// Which of a binding's files an observation reads.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Files<'a> {
    /// Both, from disk (start, reload, the retry of a failed write).
    Read,
    /// The one at this path, from the content the certificate watcher read (its bytes, or why
    /// it could not read them); the other one as last seen.
    Changed(&'a Path, Result<&'a [u8], &'a ReadErrorKind>),
}

impl Binding {
    /// A binding's certificate `source` with its persisted state among `saved` (the zone's
    /// persisted binding states by key, or none).
    pub(crate) fn new(
        cfg: &TlsaBinding,
        source: usize,
        saved: Option<&BTreeMap<String, BindingState>>,
        await_propagation: bool,
    ) -> Self {
        let mut binding = Self {
            cfg: cfg.clone(),
            source,
            state: BindingState::default(),
            last_error: None,
            await_propagation,
            family: None,
            not_after: None,
            probed: Probed::default(),
            seen: Seen::default(),
        };
        if let Some(state) = saved.and_then(|s| s.get(&binding.key())) {
            binding.state = state.clone();
        }
        binding
    }

    /// The certificate (and next key) this is.
    pub fn certificate(&self) -> &CertificateSource {
        // `source` indexes the list it was made from, and a binding's list is never empty.
        &self.cfg.certificates[self.source]
    }

    /// The name its state is kept under: the binding's name for its first certificate (as
    /// before bindings had several), `NAME@FILE` for the others.
    pub fn key(&self) -> String {
        if self.source == 0 {
            self.cfg.name.clone()
        } else {
            format!("{}@{}", self.cfg.name, self.certificate().file.display())
        }
    }

    /// The key family the probe offers signature schemes for: this certificate's when the
    /// binding has several (so the server shows this one), any when it has one.
    pub fn probe_family(&self) -> Option<daned_sign::dane::KeyFamily> {
        if self.cfg.certificates.len() > 1 {
            self.family
        } else {
            None
        }
    }

    /// When this binding is to be probed next: `now` when its records or files changed or it
    /// was never probed, else `probe-interval` after the last probe. `None` when it is not
    /// probed (probing off, or no target).
    pub fn next_probe_at(&self, now: u32) -> Option<u32> {
        if !self.cfg.probe.enabled || self.probed.targets.is_empty() {
            return None;
        }
        match self.probed.last_probe {
            Some(at) if !self.probed.due_now => Some(at.wrapping_add(self.cfg.probe.interval)),
            _ => Some(now),
        }
    }

    /// Whether the probe holds back a replaced key's record: probing is on and a target does
    /// not present the key in use (or was not probed yet).
    pub fn holds_replaced(&self) -> bool {
        self.cfg.probe.enabled && self.probed.holds_replaced(&self.state)
    }

    pub(crate) fn timing(&self) -> Timing {
        Timing {
            ttl: self.cfg.ttl,
            margin: self.cfg.rollover_margin,
            await_propagation: self.await_propagation,
            hold_replaced: self.holds_replaced(),
        }
    }

    /// Starts the wait of a staged key waiting for the secondaries once every one serves the
    /// serial that first published it.
    pub(crate) fn apply_propagation(&mut self, propagated: &Propagated) -> Vec<Event> {
        let Some(Some(serial)) = self.state.awaiting_propagation() else {
            return Vec::new();
        };
        match propagated.at(serial) {
            Some(at) => {
                let timing = self.timing();
                self.state.propagated(at, &timing)
            }
            None => Vec::new(),
        }
    }

    /// Whether `path` is this binding's certificate or next-key file.
    pub(crate) fn uses(&self, path: &Path) -> bool {
        let source = self.certificate();
        source.file == path || source.next_key.as_deref() == Some(path)
    }

    /// Reads the certificate and next-key file (or takes the changed one's content, and the
    /// other as last seen: `files`) and feeds them to the rollover state. A file that cannot
    /// be used counts as absent (the last good records stay) and is reported once in
    /// `last_error`; the return value says whether a new problem appeared.
    pub(crate) fn observe(
        &mut self,
        origin: &Name,
        now: u32,
        files: Files<'_>,
    ) -> (Vec<Event>, bool) {
        let source = &self.cfg.certificates[self.source];
        let (certificate, next) = match files {
            Files::Read => (
                Some(read_certificate(&self.cfg, source, now)),
                Some(read_next_key(&self.cfg, source)),
            ),
            Files::Changed(path, content) => (
                (source.file == path).then(|| parse_certificate(&self.cfg, source, content, now)),
                (source.next_key.as_deref() == Some(path))
                    .then(|| parse_next_key(&self.cfg, source, content)),
            ),
        };
        if let Some(read) = certificate {
            self.seen.certificate = match read {
                Ok(read) => {
                    self.family = Some(read.family);
                    self.not_after = Some(read.not_after);
                    Ok(Some(SeenCertificate {
                        record: read.record,
                        subject: read.subject,
                        not_after: read.not_after,
                    }))
                }
                Err(e) => Err(e.to_string()),
            };
        }
        if let Some(next) = next {
            self.seen.next = next.map_err(|e| e.to_string());
        }
        let mut problems = Vec::new();
        let current = match &self.seen.certificate {
            // Checked again: a certificate kept from an earlier read may have expired since.
            Ok(Some(seen)) => {
                match expired(&self.cfg, source, &seen.subject, seen.not_after, now) {
                    Some(error) => {
                        problems.push(error.to_string());
                        None
                    }
                    None => Some(seen.record.clone()),
                }
            }
            Ok(None) => None,
            Err(problem) => {
                problems.push(problem.clone());
                None
            }
        };
        let next = match &self.seen.next {
            Ok(next) => next.clone(),
            Err(problem) => {
                problems.push(problem.clone());
                None
            }
        };
        let error = (!problems.is_empty()).then(|| problems.join("; "));
        let new_problem = error.is_some() && error != self.last_error;
        if new_problem {
            tracing::error!(
                zone = %origin,
                binding = %self.cfg.name,
                error = error.as_deref().unwrap_or_default(),
                "certificate unusable; the last good TLSA records stay published"
            );
        } else if error.is_none() && self.last_error.is_some() {
            tracing::info!(zone = %origin, binding = %self.cfg.name, "certificate usable again");
        }
        self.last_error = error;
        let events = self
            .state
            .observe(now, &Observation { current, next }, &self.timing());
        (events, new_problem)
    }

    pub(crate) fn tick(&mut self, now: u32) -> Vec<Event> {
        let timing = self.timing();
        self.state.tick(now, &timing)
    }
}

pub(crate) fn log_events(origin: &Name, binding: &str, events: &[Event]) {
    for event in events {
        match event {
            Event::UnsafeSwitch { exposure_until, .. } => tracing::warn!(
                zone = %origin,
                binding,
                %event,
                exposure_until = %crate::status::rfc3339(*exposure_until),
                "UNSAFE TLSA SWITCH: the certificate's key changed without being staged first; \
                 DANE senders that cached the old TLSA RRset may fail to deliver until \
                 exposure_until. Stage the next key (next-key) before deploying it."
            ),
            Event::EarlySwitch { early_by, .. } => tracing::warn!(
                zone = %origin,
                binding,
                %event,
                early_by,
                "the staged key was deployed before it was ready; resolvers may still cache an \
                 RRset without it"
            ),
            _ => tracing::info!(zone = %origin, binding, %event, "TLSA rollover"),
        }
    }
}

/// Every certificate of every binding of `cfg`: one runtime [`Binding`] each.
pub(crate) fn every_certificate(cfg: &ZoneConfig) -> impl Iterator<Item = (&TlsaBinding, usize)> {
    cfg.tlsa
        .iter()
        .flat_map(|b| (0..b.certificates.len()).map(move |i| (b, i)))
}

/// The (address, port) pairs a binding's records cover: for each owner `_PORT._tcp.HOST`,
/// each address of HOST (its A and AAAA records in `content`, or `probe-addresses`), at the
/// port `probe-port` maps PORT to, speaking `probe-protocol`'s dialogue. Owners of another
/// form (not `_PORT._tcp.`) have no target.
pub fn probe_targets(cfg: &TlsaBinding, content: &Zone) -> Vec<Target> {
    let mut targets = Vec::new();
    for owner in &cfg.owners {
        let labels: Vec<&[u8]> = owner.iter().collect();
        let (Some(port_label), Some(proto)) = (labels.first(), labels.get(1)) else {
            continue;
        };
        if !proto.eq_ignore_ascii_case(b"_tcp") {
            continue;
        }
        let Some(port) = port_label
            .strip_prefix(b"_")
            .and_then(|p| std::str::from_utf8(p).ok())
            .and_then(|p| p.parse::<u16>().ok())
        else {
            continue;
        };
        let host = owner.base_name().base_name();
        let addresses: Vec<std::net::IpAddr> = match &cfg.probe.addresses {
            Some(list) => list.clone(),
            None => {
                let host = canonical_name(&host);
                [RecordType::A, RecordType::AAAA]
                    .into_iter()
                    .filter_map(|rtype| content.get(&host, rtype))
                    .flat_map(|rrset| rrset.rdatas())
                    .filter_map(|rdata| match rdata {
                        RData::A(a) => Some(std::net::IpAddr::V4(a.0)),
                        RData::AAAA(aaaa) => Some(std::net::IpAddr::V6(aaaa.0)),
                        _ => None,
                    })
                    .collect()
            }
        };
        for ip in addresses {
            let target = Target {
                host: host.clone(),
                port,
                connect: std::net::SocketAddr::new(ip, cfg.probe.connect_port(port)),
                protocol: cfg.probe.protocol(port),
            };
            if !targets.contains(&target) {
                targets.push(target);
            }
        }
    }
    targets
}
