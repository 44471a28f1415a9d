//! `daned init`: a working config for one zone, then `daned check` on it.

use std::io::{self, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use daned::clock::{Clock, SystemClock};
use daned::config::Config;
use daned_sign::hickory_proto::rr::Name;

use crate::cli::InitArgs;
use crate::cli::check;

/// `daned init`: writes the config (and a zone skeleton), then runs `check` on it.
pub(crate) fn run(args: &InitArgs) -> anyhow::Result<ExitCode> {
    let path = std::path::absolute(&args.config.config)
        .with_context(|| format!("{}", args.config.config.display()))?;
    if path.exists() && !args.force {
        // The Debian package installs a config without zones: replacing it loses nothing.
        let existing = Config::load(&path)?;
        if !existing.zones.is_empty() {
            bail!(
                "{} already serves {} zone(s); add the zone by hand (etc/example.toml) or \
                 replace the file with --force",
                path.display(),
                existing.zones.len()
            );
        }
    }
    let dir = path.parent().map(Path::to_owned).unwrap_or_default();
    let origin = args.zone.to_lowercase();
    let origin = if origin.is_fqdn() {
        origin
    } else {
        let mut origin = origin;
        origin.set_fqdn(true);
        origin
    };
    let absolute = |name: &str| -> anyhow::Result<Name> {
        let name = if name.ends_with('.') || name.contains('.') {
            Name::from_ascii(name.trim_end_matches('.'))?
        } else {
            Name::from_ascii(name)?.append_domain(&origin)?
        };
        let mut name = name.to_lowercase();
        name.set_fqdn(true);
        Ok(name)
    };
    let host = absolute(&args.host).with_context(|| format!("--host {}", args.host))?;
    if !origin.zone_of(&host) {
        bail!("--host {host} is not inside the zone {origin}");
    }
    let zone_file = match &args.zone_file {
        Some(file) => std::path::absolute(file)?,
        None => dir.join(format!("{}zone", origin)),
    };
    let mut records = Vec::new();
    let mut servers = Vec::new();
    for ns in &args.name_servers {
        let (name, address) = match ns.split_once('=') {
            Some((name, address)) => (
                name,
                Some(
                    address
                        .parse::<std::net::IpAddr>()
                        .with_context(|| format!("--ns {ns}: not an address: {address}"))?,
                ),
            ),
            None => (ns.as_str(), None),
        };
        let name = absolute(name).with_context(|| format!("--ns {ns}"))?;
        if let Some(address) = address
            && origin.zone_of(&name)
        {
            records.push(address_record(&name, address));
        }
        servers.push(name);
    }
    for address in &args.host_addresses {
        records.push(address_record(&host, *address));
    }
    let quote = |p: &Path| toml_string(&p.display().to_string());
    let certificates: Vec<String> = args
        .certificates
        .iter()
        .map(|c| std::path::absolute(c).map(|c| format!("{{ file = {} }}", quote(&c))))
        .collect::<Result<_, _>>()?;
    let listen: Vec<String> = args
        .listen
        .iter()
        .map(|a| toml_string(&a.to_string()))
        .collect();
    let ports: Vec<String> = args.ports.iter().map(u16::to_string).collect();
    let host_label = host
        .to_string()
        .strip_suffix(&format!(".{origin}"))
        .map(str::to_owned)
        .unwrap_or_else(|| "@".to_owned());
    let probe = if args.host_addresses.is_empty() {
        "# No --host-address: the TLS probe has no address to check; add the host's A/AAAA\n\
         # records to the zone (or probe-addresses) and remove this line.\nprobe = false\n"
    } else {
        ""
    };
    let text = format!(
        "# Written by `daned init`; etc/example.toml (/usr/share/doc/daned/example.toml)\n\
         # documents every setting.\n\
         version = \"v1\"\n\n\
         [server]\n\
         listen = [{listen}]\n\
         key-dir = {key_dir}\n\
         state-dir = {state_dir}\n\n\
         [[zone]]\n\
         origin = {origin_q}\n\
         file = {file}\n\n\
         [[zone.tlsa]]\n\
         name = {host_q}\n\
         certificates = [{certificates}]\n\
         host = {label}\n\
         ports = [{ports}]\n\
         {probe}",
        listen = listen.join(", "),
        key_dir = quote(&std::path::absolute(&args.key_dir)?),
        state_dir = quote(&std::path::absolute(&args.state_dir)?),
        origin_q = toml_string(&origin.to_string()),
        file = quote(&zone_file),
        host_q = toml_string(&host_label),
        certificates = certificates.join(", "),
        label = toml_string(&host_label),
        ports = ports.join(", "),
    );
    // Checked before it replaces anything: a config that does not parse is not written.
    Config::parse(&text, &path).context("the config daned init would write")?;
    let skeleton = !zone_file.exists();
    if skeleton {
        let serial = {
            let days = SystemClock.now() / 86_400;
            let (year, month, day) = daned_sign::civil::civil_from_days(days as i64);
            format!("{year:04}{month:02}{day:02}01")
        };
        let mut text = format!(
            "; The zone {origin}, written by `daned init`. daned adds the TLSA, DNSKEY, CDS,\n\
             ; CDNSKEY, NSEC and RRSIG records itself and raises the serial on every change.\n\
             $ORIGIN {origin}\n$TTL 3600\n\
             @\tIN\tSOA\t{primary} hostmaster.{origin} ( {serial} 7200 3600 1209600 3600 )\n",
            primary = servers[0],
        );
        for server in &servers {
            text.push_str(&format!("@\tIN\tNS\t{server}\n"));
        }
        for (name, kind, address) in &records {
            text.push_str(&format!("{name}\tIN\t{kind}\t{address}\n"));
        }
        write_new(&zone_file, &text)?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let temporary = dir.join(".daned.toml.init");
    std::fs::write(&temporary, &text)
        .with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::rename(&temporary, &path)
        .with_context(|| format!("renaming {} to {}", temporary.display(), path.display()))?;
    {
        let mut out = io::stdout().lock();
        writeln!(out, "wrote {}", path.display())?;
        if skeleton {
            writeln!(out, "wrote {} (a skeleton)", zone_file.display())?;
        } else {
            writeln!(out, "kept {} (it exists)", zone_file.display())?;
        }
    }
    let code = check::run(&path)?;
    if code == ExitCode::SUCCESS {
        let config = args.config.config.display();
        let mut out = io::stdout().lock();
        writeln!(out, "next:")?;
        writeln!(
            out,
            "  start it:          systemctl enable --now daned   (or: daned serve -c {config})"
        )?;
        writeln!(
            out,
            "  DS for the parent: daned ds -c {config}   (docs/registrar.md)"
        )?;
    }
    Ok(code)
}

/// An A or AAAA record as `(owner, type, address)` for a zone file.
fn address_record(name: &Name, address: std::net::IpAddr) -> (Name, &'static str, String) {
    let kind = if address.is_ipv4() { "A" } else { "AAAA" };
    (name.clone(), kind, address.to_string())
}

/// `text` as a TOML basic string.
fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

/// Writes a new file (never replaces one).
fn write_new(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
