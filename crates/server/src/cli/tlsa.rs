//! `daned tlsa`: the TLSA record of a certificate file.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use daned::fsutil;
use daned::zone::zonefile;
use daned_sign::hickory_proto::rr::rdata::TLSA;
use daned_sign::hickory_proto::rr::{Name, RData, Record};
use daned_sign::tlsa;
use daned_sign::tlsa::TlsaSpec;

/// `daned tlsa`: prints the TLSA rdata, or the whole record when an owner name is given.
pub(crate) fn run(
    certificate: PathBuf,
    usage: u8,
    selector: u8,
    matching: u8,
    name: Option<Name>,
) -> anyhow::Result<ExitCode> {
    let spec = TlsaSpec {
        usage,
        selector,
        matching,
    };
    let data = fsutil::read_bounded(&certificate, fsutil::MAX_CERTIFICATE_BYTES)?;
    let chain = tlsa::parse_chain(&data).with_context(|| format!("{}", certificate.display()))?;
    let rdata: TLSA = tlsa::tlsa_from_chain(&chain, spec)
        .with_context(|| format!("{}", certificate.display()))?;
    let mut out = io::stdout().lock();
    match name {
        Some(name) => {
            let record = Record::from_rdata(name, 3600, RData::TLSA(rdata));
            zonefile::write_records(std::iter::once(&record), &mut out)?;
        }
        None => writeln!(out, "{rdata}")?,
    }
    Ok(ExitCode::SUCCESS)
}
