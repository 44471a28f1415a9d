//! Tests of the zone-file reader and writer. Data: crates/server/tests/data/zones/.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::*;

fn data(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/zones")
        .join(file)
}

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

fn origin() -> Name {
    name("example.com.")
}

fn rrset<'z>(zone: &'z Zone, owner: &str, rtype: RecordType) -> &'z Rrset {
    zone.get(&name(owner), rtype)
        .unwrap_or_else(|| panic!("no RRset {owner} {rtype}"))
}

fn texts(rdata: &RData) -> Vec<Vec<u8>> {
    match rdata {
        RData::TXT(txt) => txt.txt_data.iter().map(|b| b.to_vec()).collect(),
        other => panic!("not TXT: {other:?}"),
    }
}

fn errors_of(file: &str) -> Vec<String> {
    match load_zone(&data(file), &origin(), &ZoneLimits::default()) {
        Ok(_) => panic!("{file} loaded without error"),
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    }
}

fn has(errors: &[String], prefix: &str, needle: &str) -> bool {
    errors
        .iter()
        .any(|e| e.starts_with(prefix) && e.contains(needle))
}

/// RFC 1035 §5.1 syntax end to end: `$TTL`, `$ORIGIN`, `$INCLUDE file origin`, `@`, blank
/// owners, relative names, TTL and class in either order, TTL units, parentheses with
/// comments, quoted strings with escapes, and RFC 3597 generic RDATA.
#[test]
fn rfc1035_s5_1_rich_zone_loads_expected_rrsets() {
    let loaded = load_zone(&data("rich.zone"), &origin(), &ZoneLimits::default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let zone = &loaded.zone;

    let soa = rrset(zone, "example.com.", RecordType::SOA);
    assert_eq!(soa.ttl(), 3600, "$TTL 1h");
    let RData::SOA(s) = &soa.records()[0].data else {
        panic!()
    };
    assert_eq!(s.mname, name("ns1.example.com."));
    assert_eq!(s.rname, name("hostmaster.example.com."));
    assert_eq!(
        (s.serial, s.refresh, s.retry, s.expire, s.minimum),
        (2_024_010_101, 7200, 1800, 1_209_600, 300)
    );

    let ns: Vec<String> = rrset(zone, "example.com.", RecordType::NS)
        .rdatas()
        .map(ToString::to_string)
        .collect();
    assert_eq!(ns, vec!["ns1.example.com.", "ns2.example.net."]);
    assert_eq!(
        rrset(zone, "example.com.", RecordType::MX).records()[0]
            .data
            .to_string(),
        "10 mail.example.com."
    );
    let spf = rrset(zone, "example.com.", RecordType::TXT);
    assert_eq!(spf.ttl(), 3600);
    assert_eq!(
        texts(&spf.records()[0].data),
        vec![b"v=spf1 ip4:192.0.2.0/24 include:_spf.example.net -all".to_vec()]
    );
    assert_eq!(
        rrset(zone, "example.com.", RecordType::CAA).records().len(),
        2
    );

    // "[<class>] [<TTL>] <type>": class before TTL, blank owner.
    assert_eq!(rrset(zone, "ns1.example.com.", RecordType::A).ttl(), 300);
    assert_eq!(rrset(zone, "ns1.example.com.", RecordType::AAAA).ttl(), 300);
    assert_eq!(
        rrset(zone, "mail.example.com.", RecordType::A).ttl(),
        5400,
        "1h30m"
    );

    let text = rrset(zone, "text.example.com.", RecordType::TXT);
    assert_eq!(
        texts(&text.records()[0].data),
        vec![
            b"hello world".to_vec(),
            b"say \"hi\"".to_vec(),
            b"semi;colon".to_vec(),
            b"ABC".to_vec(),
            b"tab\tend".to_vec(),
        ]
    );

    assert_eq!(
        rrset(zone, "_443._tcp.www.example.com.", RecordType::TLSA).records()[0]
            .data
            .to_string()
            .to_lowercase(),
        "3 1 1 8cb0fc6c527506a053f4f14c8464bebbd6dede2738d11468dd953d7d6a3021f1"
    );
    assert_eq!(
        rrset(zone, "_sip._udp.example.com.", RecordType::SRV).records()[0]
            .data
            .to_string(),
        "10 60 5060 sip.example.com."
    );
    assert!(
        zone.get(&name("*.wild.example.com."), RecordType::A)
            .is_some()
    );
    assert_eq!(
        rrset(zone, "sub.example.com.", RecordType::NS)
            .records()
            .len(),
        2
    );
    assert!(
        zone.get(&name("ns.sub.example.com."), RecordType::A)
            .is_some(),
        "glue"
    );

    // RFC 3597 §5, for an unknown type and for a known one.
    match &rrset(zone, "priv.example.com.", RecordType::Unknown(65280)).records()[0].data {
        RData::Unknown { code, rdata } => {
            assert_eq!(*code, RecordType::Unknown(65280));
            assert_eq!(rdata.anything, [10, 0, 0, 1]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        rrset(zone, "gen.example.com.", RecordType::A).records()[0]
            .data
            .to_string(),
        "192.0.2.101"
    );

    // $INCLUDE with an origin, then the parent's origin again.
    assert!(
        zone.get(&name("a.hosts.example.com."), RecordType::A)
            .is_some()
    );
    assert!(
        zone.get(&name("a.hosts.example.com."), RecordType::TXT)
            .is_some()
    );
    assert_eq!(rrset(zone, "b.example.com.", RecordType::A).ttl(), 60);
    assert!(
        zone.get(&name("after.example.com."), RecordType::A)
            .is_some()
    );

    assert_eq!(zone.rrsets().count(), 21);
}

#[test]
fn parse_file_gives_each_record_its_file_and_line() {
    let records = parse_file(&data("rich.zone"), &origin(), &ZoneLimits::default()).unwrap();
    let at = |owner: &str, rtype: RecordType| {
        records
            .iter()
            .find(|(r, _)| r.name == name(owner) && r.record_type() == rtype)
            .map(|(_, loc)| (loc.path.clone(), loc.line))
            .unwrap()
    };
    assert_eq!(at("example.com.", RecordType::SOA), (data("rich.zone"), 4));
    assert_eq!(
        at("_443._tcp.www.example.com.", RecordType::TLSA),
        (data("rich.zone"), 21)
    );
    assert_eq!(
        at("a.hosts.example.com.", RecordType::TXT),
        (data("inc/hosts.inc"), 3)
    );
}

#[test]
fn bad_ipv4_reported_at_its_line() {
    let errors = errors_of("bad_ipv4.zone");
    let prefix = format!("{}:7: ", data("bad_ipv4.zone").display());
    assert!(
        has(&errors, &prefix, "bad IPv4 address '192.0.2.300'"),
        "{errors:?}"
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
}

#[test]
fn rfc1035_s5_1_unterminated_parenthesis_reported_at_opening_line() {
    let errors = errors_of("unterminated_paren.zone");
    let prefix = format!("{}:5: ", data("unterminated_paren.zone").display());
    assert!(
        has(&errors, &prefix, "unterminated parenthesis"),
        "{errors:?}"
    );
}

#[test]
fn unknown_type_reported_at_its_line() {
    let errors = errors_of("unknown_type.zone");
    let prefix = format!("{}:6: ", data("unknown_type.zone").display());
    assert!(
        has(&errors, &prefix, "unknown RR type 'FROB'"),
        "{errors:?}"
    );
}

#[test]
fn missing_include_reported_at_the_include_line() {
    let errors = errors_of("missing_include.zone");
    let prefix = format!("{}:5: ", data("missing_include.zone").display());
    assert!(
        has(&errors, &prefix, "does-not-exist.inc: cannot read"),
        "{errors:?}"
    );
}

#[test]
fn bad_line_in_include_reported_with_the_included_file_and_line() {
    let errors = errors_of("bad_in_include.zone");
    let prefix = format!("{}:3: ", data("inc/bad.inc").display());
    assert!(has(&errors, &prefix, "bad IPv6 address"), "{errors:?}");
    assert_eq!(errors.len(), 1, "{errors:?}");
}

#[test]
fn include_cycle_is_an_error_not_a_hang() {
    let errors = errors_of("cycle_a.zone");
    let prefix = format!("{}:2: ", data("cycle_b.zone").display());
    assert!(has(&errors, &prefix, "$INCLUDE cycle"), "{errors:?}");
}

#[test]
fn include_depth_is_limited() {
    let dir = tempfile::tempdir().unwrap();
    // self.zone includes a copy of itself under another name, forever.
    for i in 0..=DEFAULT_MAX_INCLUDE_DEPTH + 1 {
        let text = format!("x{i} A 192.0.2.1\n$INCLUDE f{}.zone\n", i + 1);
        std::fs::write(dir.path().join(format!("f{i}.zone")), text).unwrap();
    }
    let err = parse_file(
        &dir.path().join("f0.zone"),
        &origin(),
        &ZoneLimits::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("nest deeper than"), "{err}");
}

#[test]
fn several_errors_in_one_file_are_all_reported() {
    let errors = errors_of("several_errors.zone");
    let p = data("several_errors.zone").display().to_string();
    assert!(has(&errors, &format!("{p}:5: "), "bad IPv4"), "{errors:?}");
    assert!(
        has(&errors, &format!("{p}:6: "), "bad preference 'ten'"),
        "{errors:?}"
    );
    assert!(
        has(&errors, &format!("{p}:7: "), "unexpected 'extra'"),
        "{errors:?}"
    );
    assert!(
        has(&errors, &format!("{p}:8: "), "missing text"),
        "{errors:?}"
    );
    assert!(
        has(&errors, &format!("{p}:9: "), "missing target"),
        "{errors:?}"
    );
    assert_eq!(errors.len(), 5, "{errors:?}");
}

#[test]
fn errors_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.zone");
    let body: String = (0..300).map(|i| format!("h{i} A 999.0.0.1\n")).collect();
    std::fs::write(&path, format!("$TTL 1\n{body}")).unwrap();
    let err = parse_file(&path, &origin(), &ZoneLimits::default()).unwrap_err();
    assert_eq!(err.0.len(), MAX_ERRORS + 1);
    assert!(err.0[MAX_ERRORS].message.contains("too many errors"));
}

#[test]
fn semantic_checks_each_name_their_line() {
    let errors = errors_of("semantic.zone");
    let p = data("semantic.zone").display().to_string();
    assert!(
        has(&errors, &format!("{p}:6: "), "outside the zone"),
        "{errors:?}"
    );
    // RFC 1034 §3.6.2: "If a CNAME RR is present at a node, no other data should be present".
    assert!(has(&errors, &format!("{p}:8: "), "CNAME (at"), "{errors:?}");
    assert!(has(&errors, &format!("{p}:8: "), ":7)"), "{errors:?}");
    // Both lines of the two CNAMEs are named.
    assert!(
        has(&errors, &format!("{p}:10: "), "second CNAME"),
        "{errors:?}"
    );
    assert!(has(&errors, &format!("{p}:10: "), ":9"), "{errors:?}");
    assert!(
        has(
            &errors,
            &format!("{p}:11: "),
            "daned makes the DNSSEC records"
        ),
        "{errors:?}"
    );
    assert!(
        has(&errors, &format!("{p}:12: "), "not at the zone apex"),
        "{errors:?}"
    );
    assert!(
        has(&errors, &format!("{p}:13: "), "more than one SOA"),
        "{errors:?}"
    );
    assert!(has(&errors, &format!("{p}:14: "), "only IN"), "{errors:?}");
    assert_eq!(errors.len(), 7, "{errors:?}");
}

#[test]
fn no_ns_at_apex_is_an_error_and_no_soa_too() {
    let errors = errors_of("no_ns.zone");
    assert!(
        errors
            .iter()
            .any(|e| e.contains("no NS record at its apex")),
        "{errors:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nosoa.zone");
    std::fs::write(&path, "$TTL 60\n@ NS ns1.example.net.\n").unwrap();
    let err = load_zone(&path, &origin(), &ZoneLimits::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("has no SOA record"), "{err}");
}

/// RFC 2181 §5.2: "the TTLs of all RRs in an RRSet must be the same" and "Should an
/// authoritative source send such a malformed RRSet, the client should treat the RRs for all
/// purposes as if all TTLs in the RRSet had been set to the value of the lowest TTL". We keep
/// the first (as BIND does) and warn; duplicates are dropped with a warning (RFC 2181 §5).
#[test]
fn rfc2181_s5_2_ttl_mismatch_and_duplicates_warn() {
    let loaded = load_zone(&data("warnings.zone"), &origin(), &ZoneLimits::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let p = data("warnings.zone").display().to_string();
    let w: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert!(has(&w, &format!("{p}:2: "), "SOA MINIMUM"), "{w:?}");
    assert!(has(&w, &format!("{p}:6: "), "TTL 600 differs"), "{w:?}");
    assert!(has(&w, &format!("{p}:7: "), "duplicate record"), "{w:?}");
    assert_eq!(w.len(), 3, "{w:?}");
    let www = rrset(&loaded.zone, "www.example.com.", RecordType::A);
    assert_eq!((www.ttl(), www.records().len()), (300, 2));
    // No $TTL and no TTL before the SOA: the SOA MINIMUM (5), BIND's behaviour.
    assert_eq!(
        rrset(&loaded.zone, "example.com.", RecordType::SOA).ttl(),
        5
    );
    assert_eq!(rrset(&loaded.zone, "example.com.", RecordType::NS).ttl(), 5);
}

fn write_to_string(records: &[Record]) -> String {
    let mut out = Vec::new();
    write_records(records.iter(), &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn parse_text(text: &str, origin: &Name) -> Vec<Record> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.zone");
    std::fs::write(&path, text).unwrap();
    parse_file(&path, origin, &ZoneLimits::default())
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
        .into_iter()
        .map(|(r, _)| r)
        .collect()
}

/// Records as comparable tuples (Record's own equality also compares DNSSEC proof state).
fn key(records: &[Record]) -> Vec<(Name, u32, u16, RData)> {
    records
        .iter()
        .map(|r| {
            (
                r.name.clone(),
                r.ttl,
                u16::from(r.dns_class),
                r.data.clone(),
            )
        })
        .collect()
}

/// DNSSEC and other types in presentation form, as BIND writes them.
const DNSSEC_TEXT: &str = r#"$ORIGIN example.com.
$TTL 300
@ DNSKEY 257 3 13 ( mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpV
                    XckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ== ) ; KSK
@ DS 55648 13 2 b4c8c1fe2e7477127b27115656ad6256f424625bf5c1e2770ce6d6e37df61d17
@ RRSIG DNSKEY 13 2 300 20240201000000 20240101000000 55648 example.com. ( 
    2Q3IITXnrDLXefhHaU7QImpMW5jyx8vdRWgBlkV4+N/OmIjY3vWXmWkM+dcdjJ+o5XyhAi/VAAZl/YGIqSsKtA== )
@ NSEC a.example.com. A NS SOA RRSIG NSEC DNSKEY TYPE1234
@ NSEC3PARAM 1 0 0 -
0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.example.com. NSEC3 1 1 0 AABBCCDD ( 2vptu5timamqttgl4luu9kg21e0aor3s A RRSIG )
@ CDS 55648 ECDSAP256SHA256 2 b4c8c1fe2e7477127b27115656ad6256f424625bf5c1e2770ce6d6e37df61d17
@ CDNSKEY 257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ==
@ SSHFP 4 2 123456789abcdef67890123456789abcdef67890123456789abcdef123456789
@ HINFO "PC" "Linux"
@ NAPTR 100 10 "U" "E2U+sip" "!^.*$!sip:info@example.com!" .
@ SPF "v=spf1 -all"
@ OPENPGPKEY mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+E=
@ CAA 0 tag "a \"quoted\" value\\ and \255"
x DNAME y.example.net.
p PTR host
w 1h IN TYPE65000 \# 0
"#;

/// Round trip: what `write_records` writes parses back to the same records.
#[test]
fn write_records_round_trips_rich_and_dnssec_records() {
    for records in [
        parse_file(&data("rich.zone"), &origin(), &ZoneLimits::default())
            .unwrap()
            .into_iter()
            .map(|(r, _)| r)
            .collect::<Vec<_>>(),
        parse_text(DNSSEC_TEXT, &origin()),
    ] {
        let text = write_to_string(&records);
        // Parsed against another origin: every written name must be absolute.
        let back = parse_text(&text, &name("elsewhere.test."));
        assert_eq!(key(&back), key(&records), "{text}");
        assert!(
            !text.contains("\\#") || text.contains("TYPE65"),
            "generic form only where needed:\n{text}"
        );
        for line in text.lines() {
            assert_eq!(line.split('\t').count(), 5, "{line}");
        }
    }
}

#[test]
fn write_records_presentation_of_dnssec_types() {
    let records = parse_text(DNSSEC_TEXT, &origin());
    let text = write_to_string(&records);
    let want = [
        "example.com.\t300\tIN\tRRSIG\tDNSKEY 13 2 300 20240201000000 20240101000000 55648 example.com. 2Q3IITXnrDLXefhHaU7QImpMW5jyx8vdRWgBlkV4+N/OmIjY3vWXmWkM+dcdjJ+o5XyhAi/VAAZl/YGIqSsKtA==",
        "example.com.\t300\tIN\tNSEC\ta.example.com. A NS SOA RRSIG NSEC DNSKEY TYPE1234",
        "example.com.\t300\tIN\tNSEC3PARAM\t1 0 0 -",
        "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom.example.com.\t300\tIN\tNSEC3\t1 1 0 AABBCCDD 2vptu5timamqttgl4luu9kg21e0aor3s A RRSIG",
        "example.com.\t300\tIN\tDS\t55648 13 2 B4C8C1FE2E7477127B27115656AD6256F424625BF5C1E2770CE6D6E37DF61D17",
        "example.com.\t300\tIN\tCAA\t0 tag \"a \\\"quoted\\\" value\\\\ and \\255\"",
        "w.example.com.\t3600\tIN\tTYPE65000\t\\# 0",
    ];
    for line in want {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
}

/// Whether an external tool is installed; loud when it is not, fatal with DANED_REQUIRE_TOOLS=1.
fn tool(name: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("DANED_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "{name} is not installed and DANED_REQUIRE_TOOLS=1"
        );
        eprintln!("!!!!! SKIPPED: {name} is not installed; this check did not run !!!!!");
    }
    found
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

/// BIND and ldns accept what we write for an unsigned zone.
#[test]
#[ignore = "needs named-checkzone, ldns-read-zone, kzonecheck"]
fn external_tools_accept_written_unsigned_zone() {
    let loaded = load_zone(&data("rich.zone"), &origin(), &ZoneLimits::default()).unwrap();
    let records: Vec<Record> = loaded
        .zone
        .rrsets()
        .flat_map(|s| s.records().iter().cloned())
        .collect();
    // SOA first, as a master file needs.
    let (soa, rest): (Vec<_>, Vec<_>) = records
        .into_iter()
        .partition(|r| r.record_type() == RecordType::SOA);
    let all: Vec<Record> = soa.into_iter().chain(rest).collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.zone");
    std::fs::write(&path, write_to_string(&all)).unwrap();
    if tool("named-checkzone") {
        run(Command::new("named-checkzone")
            .args(["-i", "local", "example.com"])
            .arg(&path));
    }
    if tool("ldns-read-zone") {
        let text = run(Command::new("ldns-read-zone").arg(&path));
        assert!(text.contains("_443._tcp.www.example.com."), "{text}");
    }
    if tool("kzonecheck") {
        run(Command::new("kzonecheck")
            .args(["-o", "example.com"])
            .arg(&path));
    }
}

/// A zone signed by BIND, read with `load_signed` and written back with `write_records`, still
/// verifies with dnssec-verify, ldns-verify-zone and kzonecheck (NSEC and NSEC3).
#[test]
#[ignore = "needs dnssec-keygen, dnssec-signzone, dnssec-verify, ldns-verify-zone, kzonecheck"]
fn external_tools_verify_written_bind_signed_zone() {
    if !(tool("dnssec-keygen") && tool("dnssec-signzone")) {
        return;
    }
    for nsec3 in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::copy(data("rich.zone"), d.join("rich.zone")).unwrap();
        std::fs::create_dir(d.join("inc")).unwrap();
        std::fs::copy(data("inc/hosts.inc"), d.join("inc/hosts.inc")).unwrap();
        for ksk in [true, false] {
            let mut cmd = Command::new("dnssec-keygen");
            cmd.current_dir(d).args(["-q", "-a", "ECDSAP256SHA256"]);
            if ksk {
                cmd.args(["-f", "KSK"]);
            }
            run(cmd.arg("example.com"));
        }
        let mut sign = Command::new("dnssec-signzone");
        sign.current_dir(d).args([
            "-q",
            "-S",
            "-K",
            ".",
            "-o",
            "example.com",
            "-f",
            "signed.zone",
        ]);
        if nsec3 {
            sign.args(["-3", "-"]);
        }
        run(sign.arg("rich.zone"));

        let signed = load_signed(&d.join("signed.zone"), &origin(), &ZoneLimits::default())
            .unwrap_or_else(|e| panic!("{e}"));
        let out = d.join("ours.zone");
        let mut file = std::fs::File::create(&out).unwrap();
        write_records(signed.records(), &mut file).unwrap();
        drop(file);

        if tool("dnssec-verify") {
            run(Command::new("dnssec-verify")
                .args(["-o", "example.com"])
                .arg(&out));
        }
        if tool("ldns-verify-zone") {
            run(Command::new("ldns-verify-zone").arg(&out));
        }
        if tool("kzonecheck") {
            run(Command::new("kzonecheck")
                .args(["-o", "example.com", "--dnssec", "on"])
                .arg(&out));
        }
        // And ours parses back to the same records as BIND's file.
        let ours = parse_file(&out, &origin(), &ZoneLimits::default()).unwrap();
        let bind = parse_file(&d.join("signed.zone"), &origin(), &ZoneLimits::default()).unwrap();
        let mut a = key(&ours.into_iter().map(|(r, _)| r).collect::<Vec<_>>());
        let mut b = key(&bind.into_iter().map(|(r, _)| r).collect::<Vec<_>>());
        let sort = |v: &mut Vec<(Name, u32, u16, RData)>| {
            v.sort_by(|x, y| {
                (&x.0, u16::from(x.3.record_type()), x.3.to_string()).cmp(&(
                    &y.0,
                    u16::from(y.3.record_type()),
                    y.3.to_string(),
                ))
            });
        };
        sort(&mut a);
        sort(&mut b);
        // Lowercase owners on our side: compare names case-insensitively via Name's Eq.
        assert_eq!(a.len(), b.len());
        assert_eq!(a, b, "nsec3={nsec3}");
    }
}

/// Loading a 220k-record zone in a test build stays well under a time a user would notice; the
/// release build is several times faster still.
#[test]
fn large_zone_parses_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.zone");
    let mut text =
        String::from("$TTL 300\n$ORIGIN example.com.\n@ SOA ns1 hostmaster 1 2 3 4 5\n  NS ns1\n");
    for i in 0..20_000 {
        text.push_str(&format!(
            "host{i} A 192.0.{}.{}\n  AAAA 2001:db8::{i:x}\n  TXT \"v=spf1 -all\"\n",
            i / 256 % 256,
            i % 256
        ));
    }
    std::fs::write(&path, &text).unwrap();
    let start = std::time::Instant::now();
    let records = parse_file(&path, &origin(), &ZoneLimits::default()).unwrap();
    let took = start.elapsed();
    assert_eq!(records.len(), 60_002);
    assert!(took.as_secs() < 20, "took {took:?}");
    eprintln!("parsed 60k records in {took:?}");
    let _ = Name::from_str("x.");
}

#[test]
fn bad_owner_is_reported_once_not_for_each_following_blank_owner_line() {
    let text = "$TTL 60\n$ORIGIN example.com.\nbad..name A 192.0.2.1\n  AAAA ::1\n  TXT \"x\"\nok A 192.0.2.2\n";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("o.zone");
    std::fs::write(&path, text).unwrap();
    let err = parse_file(&path, &origin(), &ZoneLimits::default()).unwrap_err();
    assert_eq!(err.0.len(), 1, "{err}");
    assert!(
        err.to_string().contains(":3: owner name: empty label"),
        "{err}"
    );
}

// ---- Bounds (issue 11) ------------------------------------------------------------------------

const APEX: &str = "$TTL 60\n$ORIGIN example.com.\n@ SOA ns1 hostmaster 1 2 3 4 5\n  NS ns1\n";

/// A zone file `z.zone` in a fresh directory: the apex records, then `body`.
fn zone_dir(body: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("z.zone");
    std::fs::write(&path, format!("{APEX}{body}")).unwrap();
    (dir, path)
}

/// The errors of loading `path` with `limits`, each as `file:line: message`.
fn load_errors(path: &Path, limits: &ZoneLimits) -> Vec<String> {
    match load_zone(path, &origin(), limits) {
        Ok(_) => panic!("{} loaded without error", path.display()),
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    }
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(status.success());
}

/// Issue 11, failure 3: `$INCLUDE /dev/zero` took `daned check` to 13.4 GB. It is refused at
/// once: outside the zone's directory by default, and as a device when `/dev` is allowed.
#[test]
fn include_of_dev_zero_is_refused_at_once() {
    let (_dir, path) = zone_dir("$INCLUDE /dev/zero\n");
    let prefix = format!("{}:5: ", path.display());
    let errors = load_errors(&path, &ZoneLimits::default());
    assert!(
        has(
            &errors,
            &prefix,
            "outside the directories includes may read"
        ),
        "{errors:?}"
    );
    let open = ZoneLimits {
        include_dirs: vec![PathBuf::from("/dev")],
        ..ZoneLimits::default()
    };
    let errors = load_errors(&path, &open);
    assert!(
        has(
            &errors,
            &prefix,
            "is a character device, not a regular file"
        ),
        "{errors:?}"
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
}

/// Issue 11, failure 3: `$INCLUDE` of a FIFO blocked a reload forever (opening a FIFO waits
/// for a writer). It is refused at once, naming the include line.
#[test]
fn include_of_a_fifo_is_refused_without_blocking() {
    let (dir, path) = zone_dir("www A 192.0.2.1\n$INCLUDE pipe\n");
    mkfifo(&dir.path().join("pipe"));
    let errors = load_errors(&path, &ZoneLimits::default());
    let prefix = format!("{}:6: ", path.display());
    assert!(has(&errors, &prefix, "is a FIFO"), "{errors:?}");
}

/// The zone file itself may not be a FIFO either.
#[test]
fn zone_file_that_is_a_fifo_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("z.zone");
    mkfifo(&path);
    let errors = load_errors(&path, &ZoneLimits::default());
    assert!(
        has(&errors, &path.display().to_string(), "is a FIFO"),
        "{errors:?}"
    );
}

/// An include that resolves (through a symlink) into key-dir is refused even inside the zone's
/// own directory: its lines would be quoted in error messages.
#[test]
fn include_into_the_key_dir_is_refused() {
    let (dir, path) = zone_dir("$INCLUDE keys/example.com+013+12345.csk.pem\n");
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    std::fs::write(keys.join("example.com+013+12345.csk.pem"), "secret\n").unwrap();
    let limits = ZoneLimits {
        include_denied: vec![keys],
        ..ZoneLimits::default()
    };
    let errors = load_errors(&path, &limits);
    let prefix = format!("{}:5: ", path.display());
    assert!(has(&errors, &prefix, "daned never includes"), "{errors:?}");
    assert!(!errors.iter().any(|e| e.contains("secret")), "{errors:?}");
}

/// An include through a symlink is judged by where it leads.
#[test]
fn include_through_a_symlink_out_of_the_tree_is_refused() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("x.inc"), "www A 192.0.2.1\n").unwrap();
    let (dir, path) = zone_dir("$INCLUDE link.inc\n");
    std::os::unix::fs::symlink(outside.path().join("x.inc"), dir.path().join("link.inc")).unwrap();
    let errors = load_errors(&path, &ZoneLimits::default());
    assert!(
        has(&errors, &format!("{}:5: ", path.display()), "outside"),
        "{errors:?}"
    );
    // Allowed once its directory is listed.
    let limits = ZoneLimits {
        include_dirs: vec![outside.path().to_path_buf()],
        ..ZoneLimits::default()
    };
    load_zone(&path, &origin(), &limits).unwrap_or_else(|e| panic!("{e}"));
}

/// max-zone-file-bytes counts the zone file and its includes together; the error names the
/// include line that passed it, or the zone file itself when it alone is too large.
#[test]
fn zone_file_size_cap_counts_includes_and_names_the_line() {
    let (dir, path) = zone_dir("$INCLUDE a.inc\n");
    let include: String = (0..20).map(|i| format!("h{i} A 192.0.2.1\n")).collect();
    std::fs::write(dir.path().join("a.inc"), &include).unwrap();
    let zone_len = std::fs::metadata(&path).unwrap().len();
    let fits = ZoneLimits {
        max_file_bytes: zone_len + include.len() as u64,
        ..ZoneLimits::default()
    };
    load_zone(&path, &origin(), &fits).unwrap_or_else(|e| panic!("{e}"));
    let short = ZoneLimits {
        max_file_bytes: zone_len + include.len() as u64 - 1,
        ..ZoneLimits::default()
    };
    let errors = load_errors(&path, &short);
    assert!(
        has(
            &errors,
            &format!("{}:5: ", path.display()),
            "max-zone-file-bytes"
        ),
        "{errors:?}"
    );
    let tiny = ZoneLimits {
        max_file_bytes: 10,
        ..ZoneLimits::default()
    };
    let errors = load_errors(&path, &tiny);
    assert!(
        has(
            &errors,
            &path.display().to_string(),
            "larger than 10 bytes (max-zone-file-bytes)"
        ),
        "{errors:?}"
    );
}

/// BIND's max-records-per-type (default 100 since 9.18.28): the record past the cap is named
/// by file and line, once per RRset; duplicates do not count.
#[test]
fn records_per_rrset_cap_names_the_first_record_past_it() {
    let mut body = String::from("www A 192.0.2.0\nwww A 192.0.2.0\n");
    for i in 1..150 {
        body.push_str(&format!("www A 192.0.2.{i}\n"));
    }
    let (_dir, path) = zone_dir(&body);
    let errors = load_errors(&path, &ZoneLimits::default());
    // Apex 4 lines, a duplicate at 6, so the 101st distinct record is at line 5 + 101.
    let prefix = format!("{}:106: ", path.display());
    assert!(
        has(
            &errors,
            &prefix,
            "more than 100 records (max-records-per-type)"
        ),
        "{errors:?}"
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    let raised = ZoneLimits {
        max_records_per_type: 150,
        ..ZoneLimits::default()
    };
    let loaded = load_zone(&path, &origin(), &raised).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        rrset(&loaded.zone, "www.example.com.", RecordType::A)
            .records()
            .len(),
        150
    );
}

/// max-records: reading stops at the record past the cap, named by file and line.
#[test]
fn records_per_zone_cap_names_the_first_record_past_it() {
    let body: String = (0..10).map(|i| format!("h{i} A 192.0.2.1\n")).collect();
    let (_dir, path) = zone_dir(&body);
    let limits = ZoneLimits {
        max_records: 7,
        ..ZoneLimits::default()
    };
    let errors = load_errors(&path, &limits);
    // SOA, NS, then h0..h4: the eighth record, h5, is at line 10.
    assert_eq!(
        errors,
        [format!(
            "{}:10: the zone has more than 7 records (max-records); stopped reading",
            path.display()
        )]
    );
}

/// Issue 11, failure 3: a 10 MiB token made a 10 MB error line. Errors quote a short excerpt.
#[test]
fn error_quotes_only_a_short_excerpt_of_a_huge_token() {
    let huge = "x".repeat(10 << 20);
    let (_dir, path) = zone_dir(&format!("www {huge} 192.0.2.1\nmail A \"a\nb\"\n"));
    let errors = load_errors(&path, &ZoneLimits::default());
    assert_eq!(
        errors.len(),
        2,
        "{:?}",
        errors.iter().map(String::len).collect::<Vec<_>>()
    );
    let first = &errors[0];
    assert!(first.contains("unknown RR type 'xxxx"), "{first:.200}");
    assert!(
        first.contains(&format!("… ({} bytes)", huge.len())),
        "{first:.200}"
    );
    assert!(
        first.len() < path.display().to_string().len() + 200,
        "{} bytes: {first:.200}",
        first.len()
    );
    // A line break inside a quoted token is escaped, never written raw into the log.
    assert!(!errors[1].contains('\n'), "{}", errors[1]);
}

/// An entry of more fields than any record can have (a runaway parenthesis) is an error, and
/// the reader does not keep them all.
#[test]
fn entry_with_too_many_fields_is_an_error() {
    let fields = "a ".repeat(lexer::MAX_ENTRY_FIELDS + 10);
    let (_dir, path) = zone_dir(&format!("www TXT ( {fields} )\nok A 192.0.2.1\n"));
    let errors = load_errors(&path, &ZoneLimits::default());
    assert!(
        has(
            &errors,
            &format!("{}:5: ", path.display()),
            "fields; no record is that long"
        ),
        "{errors:?}"
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
}
