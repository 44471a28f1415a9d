//! Wall time of a full signing pass on 1 and on 2 threads (issue 10: signing on every core).
//!
//! ```text
//! cargo run --release -p daned-sign --example sign_bench -- [NAMES] [RUNS]
//! ```
//!
//! Signs a generated zone of `NAMES` names (default 100000; each an A RRset, every tenth a
//! TXT RRset too) with one ECDSA P-256 CSK, with NSEC and with NSEC3 (RFC 9276 parameters),
//! `RUNS` times each (default 3), and prints the fastest run of each. Criterion-free on
//! purpose: one pass of a large zone takes seconds, and the minimum over a few runs is what
//! a busy machine can show.

use std::io::Write;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use daned_sign::hickory_proto::rr::rdata::{A, NS, SOA, TXT};
use daned_sign::hickory_proto::rr::{Name, RData, RecordType};
use daned_sign::keys::{KeyAlgorithm, KeyRole, SigningKey};
use daned_sign::nsec3::{Denial, Nsec3Params};
use daned_sign::sign::{SignCtx, SignPolicy, ZoneKey, sign_zone};
use daned_sign::zone::{Rrset, Zone};
use ring::rand::SystemRandom;

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let names: usize = args.next().map_or(Ok(100_000), |a| a.parse())?;
    let runs: usize = args.next().map_or(Ok(3), |a| a.parse())?;
    let zone = zone(names)?;
    let rng = SystemRandom::new();
    let der = SigningKey::generate(KeyAlgorithm::EcdsaP256Sha256, &rng)?;
    let key = SigningKey::from_pkcs8(&der, KeyRole::Csk, &rng)?;
    let keys = [ZoneKey::steady(&key)];
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{names} names, ECDSA P-256 CSK, fastest of {runs} runs, {} cores available",
        std::thread::available_parallelism().map_or(0, NonZeroUsize::get)
    )?;
    for (label, denial) in [
        ("NSEC ", Denial::Nsec),
        ("NSEC3", Denial::Nsec3(Nsec3Params::default())),
    ] {
        let mut fastest = Vec::new();
        for threads in [1, 2] {
            let ctx = SignCtx {
                now: 1_800_000_000,
                policy: SignPolicy::default(),
                keys: &keys,
                dnskey_ttl: 3600,
                rng: &rng,
                denial,
                threads: NonZeroUsize::new(threads).unwrap_or(NonZeroUsize::MIN),
            };
            let mut best = Duration::MAX;
            let mut records = 0;
            for _ in 0..runs {
                let start = Instant::now();
                let signed = sign_zone(&ctx, &zone, 1)?;
                best = best.min(start.elapsed());
                records = signed.records().count();
            }
            writeln!(
                out,
                "{label} {threads} thread(s): {:>8.3} s  ({records} records)",
                best.as_secs_f64()
            )?;
            fastest.push(best);
        }
        if let [one, two] = fastest[..] {
            writeln!(
                out,
                "{label} speed-up 1 -> 2 threads: {:.2}x",
                one.as_secs_f64() / two.as_secs_f64()
            )?;
        }
    }
    Ok(())
}

/// `example.` with `names` names below it.
fn zone(names: usize) -> Result<Zone, Error> {
    let origin: Name = "example.".parse()?;
    let mut zone = Zone::new(&origin);
    let soa = SOA::new(
        "ns1.example.".parse()?,
        "hostmaster.example.".parse()?,
        1,
        7200,
        3600,
        1_209_600,
        300,
    );
    zone.insert(Rrset::new(
        &origin,
        RecordType::SOA,
        3600,
        [RData::SOA(soa)],
    )?)?;
    let ns = NS("ns1.example.".parse()?);
    zone.insert(Rrset::new(&origin, RecordType::NS, 3600, [RData::NS(ns)])?)?;
    for i in 0..names {
        let owner: Name = format!("host{i}.example.").parse()?;
        let [_, b, c, d] = u32::try_from(i)?.to_be_bytes();
        let a = A::new(10, b, c, d);
        zone.insert(Rrset::new(&owner, RecordType::A, 3600, [RData::A(a)])?)?;
        if i % 10 == 0 {
            let txt = TXT::new(vec![format!("name {i}")]);
            zone.insert(Rrset::new(
                &owner,
                RecordType::TXT,
                3600,
                [RData::TXT(txt)],
            )?)?;
        }
    }
    Ok(zone)
}
