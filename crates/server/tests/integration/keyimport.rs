//! Key migration: keys made by BIND's `dnssec-keygen` imported with `daned import-key` keep
//! their DS and sign the zone; daned keys exported with `daned export-key` are read by BIND's
//! tools, which compute the same DS and sign with them.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::support::{Workspace, output_text, run, tool};

/// One DS record: key tag, algorithm, digest type, digest (upper-case hex).
type Ds = (u16, u8, u8, String);

/// Runs `daned ARGS` in `ws`, asserting success; its stdout.
fn daned_ok(ws: &Workspace, args: &[&str]) -> String {
    let out = ws.daned(args);
    assert!(
        out.status.success(),
        "daned {args:?}:\n{}",
        output_text(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The DS records in master-file text (`owner [ttl] [IN] DS tag alg type digest...`).
fn ds_records(text: &str) -> BTreeSet<Ds> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with(';'))
        .filter_map(|l| {
            let tokens: Vec<&str> = l.split_whitespace().collect();
            let at = tokens.iter().position(|t| *t == "DS")?;
            Some((
                tokens.get(at + 1)?.parse().ok()?,
                tokens.get(at + 2)?.parse().ok()?,
                tokens.get(at + 3)?.parse().ok()?,
                tokens[at + 4..].concat().to_ascii_uppercase(),
            ))
        })
        .collect()
}

/// `dnssec-keygen -K DIR ARGS example.com`: the new pair's file stem, inside `dir`.
fn keygen(dir: &Path, args: &[&str]) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let out = Command::new("dnssec-keygen")
        .args(["-q", "-K"])
        .arg(dir)
        .args(args)
        .arg("example.com")
        .output()
        .expect("run dnssec-keygen");
    assert!(
        out.status.success(),
        "dnssec-keygen {args:?}: {}",
        output_text(&out)
    );
    let stem = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(stem.starts_with("Kexample.com.+"), "{stem}");
    dir.join(stem).display().to_string()
}

/// `dnssec-dsfromkey -2 FILE`: the SHA-256 DS BIND computes for a `.key` file.
fn bind_ds(key_file: &str) -> BTreeSet<Ds> {
    let (ok, out) = run(Command::new("dnssec-dsfromkey").args(["-2", key_file]));
    assert!(ok, "dnssec-dsfromkey {key_file}: {out}");
    let ds = ds_records(&out);
    assert_eq!(ds.len(), 1, "{out}");
    ds
}

/// The key tags of the RRSIGs in a zone with one record per line, by covered type.
fn rrsig_tags(zone: &str) -> BTreeMap<String, BTreeSet<u16>> {
    let mut tags: BTreeMap<String, BTreeSet<u16>> = BTreeMap::new();
    for line in zone.lines() {
        let t: Vec<&str> = line.split_whitespace().collect();
        if t.get(3) == Some(&"RRSIG") {
            let tag = t
                .get(10)
                .and_then(|s| s.parse().ok())
                .expect("RRSIG key tag");
            tags.entry(t[4].to_string()).or_default().insert(tag);
        }
    }
    tags
}

fn tag_of(stem: &str) -> u16 {
    stem.rsplit('+').next().unwrap().parse().unwrap()
}

/// `daned dump`, checked by `dnssec-verify` (`-z` when one CSK signs everything); the RRSIG
/// key tags by covered type.
fn dump_and_verify(ws: &Workspace, csk: bool) -> BTreeMap<String, BTreeSet<u16>> {
    let dump = daned_ok(ws, &["dump", "--offline"]);
    let file = ws.path("signed.zone");
    std::fs::write(&file, &dump).unwrap();
    let mut verify = Command::new("dnssec-verify");
    if csk {
        verify.arg("-z");
    }
    let (ok, out) = run(verify.args(["-o", "example.com."]).arg(&file));
    assert!(ok, "dnssec-verify rejects the dump:\n{out}\n{dump}");
    rrsig_tags(&dump)
}

fn bind_tools() -> bool {
    ["dnssec-keygen", "dnssec-dsfromkey", "dnssec-verify"]
        .iter()
        .all(|t| tool(t).is_some())
}

/// The issue's check: "A key created with BIND's dnssec-keygen is imported and used; its DS is
/// unchanged." For RSASHA256 (RFC 3110 §2 / RFC 5702), ECDSAP256SHA256 (RFC 6605) and Ed25519
/// (RFC 8080) KSKs: `daned ds` after the import equals `dnssec-dsfromkey -2`, and the zone
/// `daned dump` signs with it is accepted by `dnssec-verify`, every RRSIG by the imported key.
/// Importing it again is "already imported", not an error.
#[test]
#[ignore = "needs dnssec-dsfromkey, dnssec-keygen, dnssec-verify"]
fn rfc4034_s5_bind_keys_keep_their_ds_and_sign_the_zone() {
    if !bind_tools() {
        return;
    }
    for args in [
        &["-a", "RSASHA256", "-b", "2048", "-f", "KSK"][..],
        &["-a", "ECDSAP256SHA256", "-f", "KSK"],
        &["-a", "ED25519", "-f", "KSK"],
    ] {
        let ws = Workspace::example();
        let stem = keygen(&ws.path("bind"), args);
        let tag = tag_of(&stem);
        let key_file = format!("{stem}.key");
        let out = daned_ok(
            &ws,
            &["import-key", "example.com.", &format!("{stem}.private")],
        );
        assert!(out.contains("imported"), "{out}");
        // The DS printed by the import and by `daned ds` is BIND's.
        let expected = bind_ds(&key_file);
        assert_eq!(
            ds_records(&out),
            expected,
            "{args:?}: import-key printed\n{out}"
        );
        assert_eq!(ds_records(&daned_ok(&ws, &["ds"])), expected, "{args:?}");
        // The key is stored 0600 under daned's name.
        let stored = std::fs::read_dir(ws.path("keys"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect::<Vec<_>>();
        assert_eq!(stored.len(), 1, "{stored:?}");
        let name = stored[0].file_name().unwrap().to_str().unwrap().to_string();
        assert!(name.ends_with(&format!("+{tag:05}.csk.pem")), "{name}");
        let mode = std::fs::metadata(&stored[0]).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);

        let tags = dump_and_verify(&ws, true);
        assert!(
            tags.contains_key("SOA") && tags.contains_key("DNSKEY"),
            "{tags:?}"
        );
        for (covered, by) in &tags {
            assert_eq!(by, &BTreeSet::from([tag]), "{args:?}: RRSIG {covered}");
        }

        // The .key file names the same pair; nothing is written twice.
        let again = daned_ok(&ws, &["import-key", "example.com.", &key_file]);
        assert!(again.contains("already imported"), "{again}");
        assert_eq!(std::fs::read_dir(ws.path("keys")).unwrap().count(), 1);
    }
}

/// A BIND KSK (`--role ksk`) and ZSK pair: only the KSK has a DS (BIND's), the KSK signs the
/// DNSKEY RRset and the ZSK everything else (RFC 4033 §2 "Key Signing Key", "Zone Signing
/// Key"), and `dnssec-verify` accepts the zone without `-z`.
#[test]
#[ignore = "needs dnssec-dsfromkey, dnssec-keygen, dnssec-verify"]
fn rfc4033_s2_bind_ksk_and_zsk_split_the_signing() {
    if !bind_tools() {
        return;
    }
    let ws = Workspace::example();
    let bind = ws.path("bind");
    let ksk = keygen(&bind, &["-a", "ECDSAP256SHA256", "-f", "KSK"]);
    let zsk = keygen(&bind, &["-a", "ECDSAP256SHA256"]);
    let out = daned_ok(
        &ws,
        &[
            "import-key",
            "example.com.",
            "--role",
            "ksk",
            &format!("{ksk}.key"),
        ],
    );
    assert!(out.contains("role ksk"), "{out}");
    // Alone, a KSK cannot sign the zone: the import says so.
    let warned = ws.daned(&[
        "import-key",
        "example.com.",
        "--role",
        "ksk",
        &format!("{ksk}.key"),
    ]);
    assert!(
        output_text(&warned).contains("no ZSK"),
        "{}",
        output_text(&warned)
    );
    // A ZSK asked to be a KSK would change its flags, hence its tag and DS: refused.
    let refused = ws.daned(&[
        "import-key",
        "example.com.",
        "--role",
        "ksk",
        &format!("{zsk}.key"),
    ]);
    assert!(!refused.status.success());
    assert!(
        output_text(&refused).contains(&format!("{zsk}.key")),
        "{}",
        output_text(&refused)
    );
    let out = daned_ok(
        &ws,
        &["import-key", "example.com.", &format!("{zsk}.private")],
    );
    assert!(out.contains("role zsk"), "{out}");

    assert_eq!(
        ds_records(&daned_ok(&ws, &["ds"])),
        bind_ds(&format!("{ksk}.key"))
    );
    let tags = dump_and_verify(&ws, false);
    for (covered, by) in &tags {
        // RFC 7344 §4.1: CDS and CDNSKEY are signed by the KSK, like the DNSKEY RRset.
        let want = if matches!(covered.as_str(), "DNSKEY" | "CDS" | "CDNSKEY") {
            tag_of(&ksk)
        } else {
            tag_of(&zsk)
        };
        assert_eq!(by, &BTreeSet::from([want]), "RRSIG {covered}");
    }
}

/// A `.private` file whose `.key` is another key's is refused, naming both files, and nothing
/// is stored.
#[test]
#[ignore = "needs dnssec-keygen"]
fn mismatched_bind_pair_is_refused() {
    if tool("dnssec-keygen").is_none() {
        return;
    }
    let ws = Workspace::example();
    let a = keygen(&ws.path("a"), &["-a", "ECDSAP256SHA256", "-f", "KSK"]);
    let b = keygen(&ws.path("b"), &["-a", "ECDSAP256SHA256", "-f", "KSK"]);
    // Pair a's .key with b's .private under a's name.
    std::fs::copy(format!("{b}.private"), format!("{a}.private")).unwrap();
    let out = ws.daned(&["import-key", "example.com.", &format!("{a}.key")]);
    assert!(!out.status.success(), "{}", output_text(&out));
    let msg = output_text(&out);
    assert!(
        msg.contains(&format!("{a}.key")) && msg.contains(&format!("{a}.private")),
        "{msg}"
    );
    assert!(!ws.path("keys").exists() || std::fs::read_dir(ws.path("keys")).unwrap().count() == 0);
}

/// `daned export-key` writes a BIND pair BIND accepts: `dnssec-dsfromkey` on the `.key` gives
/// `daned ds`'s DS, and `dnssec-signzone` signs the zone with the pair (so the `.private` file
/// is right), which `dnssec-verify` accepts with every RRSIG by that key. Covers keys daned made
/// itself (ECDSA P-256, Ed25519) and an RSA key imported from `openssl genpkey` PKCS#8 PEM.
#[test]
#[ignore = "needs dnssec-dsfromkey, dnssec-signzone, dnssec-verify, openssl"]
fn rfc4034_s5_exported_keys_sign_in_bind_with_the_same_ds() {
    let tools = [
        "dnssec-dsfromkey",
        "dnssec-signzone",
        "dnssec-verify",
        "openssl",
    ];
    if tools.iter().any(|t| tool(t).is_none()) {
        return;
    }
    for algorithm in ["ecdsap256sha256", "ed25519", "rsasha256"] {
        let ws = Workspace::example();
        if algorithm == "rsasha256" {
            let pem = ws.path("rsa.pem");
            let (ok, out) = run(Command::new("openssl")
                .args([
                    "genpkey",
                    "-algorithm",
                    "RSA",
                    "-pkeyopt",
                    "rsa_keygen_bits:2048",
                    "-out",
                ])
                .arg(&pem));
            assert!(ok, "openssl genpkey: {out}");
            // A PEM key has no DNSKEY flags: the role must be given.
            let refused = ws.daned(&["import-key", "example.com.", pem.to_str().unwrap()]);
            assert!(!refused.status.success());
            assert!(
                output_text(&refused).contains("--role"),
                "{}",
                output_text(&refused)
            );
            daned_ok(
                &ws,
                &[
                    "import-key",
                    "example.com.",
                    "--role",
                    "csk",
                    pem.to_str().unwrap(),
                ],
            );
        } else {
            ws.write_config(&format!("[zone.signing]\nalgorithm = \"{algorithm}\"\n"));
            // The daemon creates its key on first start.
            ws.serve().stop();
        }
        let daned_ds = ds_records(&daned_ok(&ws, &["ds"]));
        assert_eq!(daned_ds.len(), 1, "{algorithm}: {daned_ds:?}");
        let tag = daned_ds.iter().next().unwrap().0;

        let out_dir = ws.path("bind-out");
        let out = daned_ok(
            &ws,
            &[
                "export-key",
                "example.com.",
                &tag.to_string(),
                "--out",
                out_dir.to_str().unwrap(),
            ],
        );
        assert!(out.contains("exported"), "{out}");
        let stem = out_dir.join(format!(
            "Kexample.com.+{:03}+{tag:05}",
            daned_ds.iter().next().unwrap().1
        ));
        let key_file = format!("{}.key", stem.display());
        let private_file = format!("{}.private", stem.display());
        let mode = std::fs::metadata(&private_file)
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{private_file}");
        assert_eq!(bind_ds(&key_file), daned_ds, "{algorithm}");

        // BIND signs with the exported pair (-S finds it in -K by its timing; -z: it is a CSK).
        let signed = ws.path("bind-signed.zone");
        // In the workspace: dnssec-signzone writes a dsset file into its working directory.
        let (ok, out) = run(Command::new("dnssec-signzone")
            .current_dir(ws.dir.path())
            .args(["-z", "-S", "-O", "full", "-K"])
            .arg(&out_dir)
            .args(["-o", "example.com.", "-f"])
            .arg(&signed)
            .arg(ws.path("example.com.zone")));
        assert!(
            ok,
            "{algorithm}: dnssec-signzone with the exported key: {out}"
        );
        let (ok, out) = run(Command::new("dnssec-verify")
            .args(["-z", "-o", "example.com."])
            .arg(&signed));
        assert!(ok, "{algorithm}: dnssec-verify: {out}");
        let zone = std::fs::read_to_string(&signed).unwrap();
        let tags = rrsig_tags(&zone);
        assert!(tags.contains_key("SOA"), "{zone}");
        for (covered, by) in &tags {
            assert_eq!(by, &BTreeSet::from([tag]), "{algorithm}: RRSIG {covered}");
        }

        // Never overwritten.
        let again = ws.daned(&[
            "export-key",
            "example.com.",
            &tag.to_string(),
            "--out",
            out_dir.to_str().unwrap(),
        ]);
        assert!(!again.status.success());
        assert!(
            output_text(&again).contains("already exists"),
            "{}",
            output_text(&again)
        );
    }
}
