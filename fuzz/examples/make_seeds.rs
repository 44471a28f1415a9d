//! Writes the generated seeds of `fuzz/corpus/`: real DNS packets for `query` and `tsig`
//! (made with hickory-proto as dig would send them), BIND key pairs joined for `keys`, and
//! control-socket lines for `control`. The other seeds are files of the repository
//! (`fuzz/seed-dirs`).
//!
//! `cargo run -p daned-fuzz --example make_seeds` (rewrites the files; existing reproducers of
//! findings, named `regression-*`, are left alone).

use std::path::{Path, PathBuf};

use daned::config::Config;
use daned::serve::tsig::{KeyRing, append, sign_request};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::SOA as SoaData;
use hickory_proto::rr::rdata::opt::EdnsOption;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

/// `fuzz/corpus/<target>`.
fn corpus(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target)
}

fn write(target: &str, name: &str, data: &[u8]) {
    let dir = corpus(target);
    std::fs::create_dir_all(&dir).expect("corpus directory");
    std::fs::write(dir.join(name), data).expect("seed written");
}

/// How one query seed is built.
struct Ask {
    name: &'static str,
    qname: &'static str,
    qtype: RecordType,
    class: DNSClass,
    /// Payload and DO of the request's OPT, if any.
    edns: Option<(u16, bool)>,
    op_code: OpCode,
}

const fn ask(name: &'static str, qname: &'static str, qtype: RecordType) -> Ask {
    Ask {
        name,
        qname,
        qtype,
        class: DNSClass::IN,
        edns: Some((1232, true)),
        op_code: OpCode::Query,
    }
}

impl Ask {
    fn message(&self) -> Message {
        let mut message = Message::new(0x5a5a, MessageType::Query, self.op_code);
        message.metadata.recursion_desired = true;
        let mut query = Query::query(Name::from_ascii(self.qname).expect("name"), self.qtype);
        query.set_query_class(self.class);
        message.add_query(query);
        if let Some((payload, dnssec_ok)) = self.edns {
            let mut edns = Edns::new();
            edns.set_max_payload(payload).set_dnssec_ok(dnssec_ok);
            message.set_edns(edns);
        }
        message
    }
}

fn main() {
    use RecordType::*;
    let mut asks = vec![
        ask("soa", "example.com.", SOA),
        ask("ns", "example.com.", NS),
        ask("dnskey", "example.com.", DNSKEY),
        ask("mx", "example.com.", MX),
        ask("any", "example.com.", ANY),
        ask("a-www-cname", "www.example.com.", A),
        ask("a-wildcard", "host.users.example.com.", A),
        ask("nxdomain-nsec", "nothing.example.com.", A),
        ask("nodata-nsec", "mail.example.com.", SRV),
        ask("nxdomain-nsec3", "nothing.example.net.", A),
        ask("nodata-nsec3", "mail.example.net.", SRV),
        ask("ds-at-cut", "sub.example.com.", DS),
        ask("referral", "host.sub.example.com.", A),
        ask("tlsa", "_25._tcp.mail.example.com.", TLSA),
        ask("tlsa-nsec3", "_25._tcp.mail.example.net.", TLSA),
        ask("refused", "example.org.", A),
        ask("nsec3param", "example.net.", NSEC3PARAM),
        ask("axfr", "example.com.", AXFR),
        ask("axfr-needs-key", "example.net.", AXFR),
    ];
    asks.push(Ask {
        edns: None,
        ..ask("big-txt-512", "big.example.com.", TXT)
    });
    asks.push(Ask {
        edns: Some((4096, true)),
        ..ask("big-txt-4096", "big.example.com.", TXT)
    });
    asks.push(Ask {
        edns: None,
        ..ask("a-no-edns", "example.com.", A)
    });
    asks.push(Ask {
        class: DNSClass::CH,
        edns: None,
        ..ask("chaos", "version.bind.", TXT)
    });
    asks.push(Ask {
        op_code: OpCode::Notify,
        ..ask("notify", "example.com.", SOA)
    });
    for a in &asks {
        write("query", &format!("{}.bin", a.name), &wire(&a.message()));
    }

    // IXFR with the client's SOA (the journal's first serial) in the authority section.
    let mut ixfr = ask("ixfr", "example.com.", IXFR).message();
    let soa = SoaData::new(
        Name::from_ascii("ns1.example.com.").expect("name"),
        Name::from_ascii("hostmaster.example.com.").expect("name"),
        2026112801,
        7200,
        3600,
        1209600,
        300,
    );
    ixfr.add_authority(Record::from_rdata(
        Name::from_ascii("example.com.").expect("name"),
        0,
        RData::SOA(soa),
    ));
    write("query", "ixfr.bin", &wire(&ixfr));

    // EDNS version 1 (BADVERS), a cookie option, two questions, none.
    let mut bad_version = ask("", "example.com.", SOA).message();
    let mut edns = Edns::new();
    edns.set_version(1);
    bad_version.set_edns(edns);
    write("query", "edns-version-1.bin", &wire(&bad_version));
    let mut cookie = ask("", "example.com.", A).message();
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    edns.options_mut()
        .insert(EdnsOption::Unknown(10, vec![1, 2, 3, 4, 5, 6, 7, 8]));
    cookie.set_edns(edns);
    write("query", "cookie.bin", &wire(&cookie));
    let mut two = ask("", "example.com.", A).message();
    two.add_query(Query::query(
        Name::from_ascii("www.example.com.").expect("name"),
        A,
    ));
    write("query", "two-questions.bin", &wire(&two));
    let none = Message::new(7, MessageType::Query, OpCode::Query);
    write("query", "no-question.bin", &wire(&none));

    // Signed requests, as a secondary sends them, at the time the tsig target's clock reads.
    let config = Config::parse(
        r#"version = "v1"
[[tsig-key]]
name = "xfr-key"
algorithm = "hmac-sha256"
secret = "c2VjcmV0LXNoYTI1Ni1rZXktZm9yLXRlc3Rz"
[[tsig-key]]
name = "unknown.key."
algorithm = "hmac-sha512"
secret = "dW5rbm93bg=="
"#,
        "/nonexistent/daned.toml".as_ref(),
    )
    .expect("config");
    let keys = KeyRing::new(&config.tsig_keys);
    let xfr = keys
        .get(&Name::from_ascii("xfr-key.").expect("name"))
        .expect("key");
    let unknown = keys
        .get(&Name::from_ascii("unknown.key.").expect("name"))
        .expect("key");
    let now = 1_796_083_200;
    let signed = |message: &Message, key| {
        let unsigned = wire(message);
        let (tsig, _) = sign_request(&unsigned, key, now).expect("signs");
        append(&unsigned, &tsig).expect("appends")
    };
    let axfr = ask("", "example.net.", AXFR).message();
    let notify = Ask {
        op_code: OpCode::Notify,
        edns: None,
        ..ask("", "example.com.", SOA)
    }
    .message();
    for (name, data) in [
        ("axfr-signed.bin", signed(&axfr, xfr)),
        ("ixfr-signed.bin", signed(&ixfr, xfr)),
        ("notify-signed.bin", signed(&notify, xfr)),
        ("axfr-unknown-key.bin", signed(&axfr, unknown)),
        ("unsigned.bin", wire(&axfr)),
    ] {
        write("tsig", name, &data);
        write("query", &format!("tsig-{name}"), &data);
    }

    // BIND pairs: the .key text, a NUL byte, the .private text.
    let bind = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/sign/tests/data/bind");
    let mut keys = std::fs::read_dir(&bind)
        .expect("bind keys")
        .filter_map(|e| {
            let path = e.expect("entry").path();
            (path.extension()? == "key").then_some(path)
        })
        .collect::<Vec<_>>();
    keys.sort();
    for key in keys {
        let mut pair = std::fs::read(&key).expect(".key");
        pair.push(0);
        pair.extend(std::fs::read(key.with_extension("private")).expect(".private"));
        let name = key.file_stem().expect("name").to_string_lossy();
        write("keys", &format!("pair-{name}"), &pair);
    }

    // What the repository's files lack: includes the zonefile target allows, a half-written
    // chain, a config with every kind of table.
    // `$INCLUDE` is fuzzed only in inputs without `/` or `\\` (see the target).
    write(
        "zonefile",
        "includes.zone",
        b"$ORIGIN example.com.\n$TTL 1h\n@ SOA ns1 hostmaster 1 2h 1h 2w 5m\n  NS ns1\n\
          ns1 A 192.0.2.53\n$INCLUDE inc.zone\n",
    );
    write(
        "zonefile",
        "include-cycle.zone",
        b"$INCLUDE cycle.zone sub\n",
    );
    write(
        "zonefile",
        "escapes.zone",
        b"$ORIGIN example.com.\n@ 3600 SOA ns1 hostmaster ( 1 2h 1h 2w 5m )\n@ NS ns1\n\
          ns1 A 192.0.2.53\ntxt TXT \"a\\\"b\" \"\\065\" ; comment\n\
          u TYPE65280 \\# 4 0a000001\nw\\.x A 192.0.2.1\n",
    );
    write(
        "certificate",
        "half-written.pem",
        b"-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUOb\n-----END CERT",
    );
    write(
        "config",
        "tables.toml",
        br#"version = "v1"
[server]
listen = ["127.0.0.1:5300", "[::1]:5300"]
[[tsig-key]]
name = "xfr-key"
algorithm = "hmac-sha256"
secret = "c2VjcmV0LXNoYTI1Ni1rZXktZm9yLXRlc3Rz"
[[zone]]
origin = "example.com"
file = "example.com.zone"
allow-transfer = [{ prefix = "192.0.2.0/24", tsig-key = "xfr-key" }]
[[zone.secondary]]
address = "192.0.2.53:53"
tsig-key = "xfr-key"
[[zone.tlsa]]
name = "mail"
certificate = "mail.pem"
host = "mail"
ports = [25]
"#,
    );

    // Control lines: each request, and each kind of response.
    for (name, line) in [
        ("reload", r#"{"command":"reload"}"#),
        ("status", r#"{"command":"status"}"#),
        (
            "wait-ready",
            r#"{"command":"wait-ready","binding":"mail","zone":"example.com.","timeout-secs":30}"#,
        ),
        ("keys", r#"{"command":"keys","zone":"example.com"}"#),
        (
            "ds-seen",
            r#"{"command":"ds-seen","zone":"example.com","key-tag":12345}"#,
        ),
        (
            "key-rollover",
            r#"{"command":"key-rollover","zone":"example.com","role":"zsk"}"#,
        ),
        (
            "error",
            r#"{"ok":false,"reason":"bad-request","error":"bad request: eof"}"#,
        ),
        (
            "ready",
            r#"{"ok":true,"ready":{"zone":"example.com.","binding":"mail","state":"ready","ready-at":1796083200}}"#,
        ),
        (
            "reloaded",
            r#"{"ok":true,"reload":[{"zone":"example.com.","outcome":"changed","from":1,"to":2,"removed":10,"added":12,"changed":["signing.denial"]},{"zone":"new.example.","outcome":"added","serial":5},{"zone":"old.example.","outcome":"removed","serial":8}],"restart-needed":["listen"]}"#,
        ),
        (
            "status",
            r#"{"ok":true,"status":{"zones":[{"origin":"example.com.","serial":2026112802,"keys":[{"key-tag":12345,"algorithm":"ecdsap256sha256","role":"csk","file":"/var/lib/daned/keys/example.com.+013+12345.csk.pem","state":"active","since":"2026-12-01T00:00:00Z","ds":"seen","ds-since":"2026-12-01T00:00:00Z"}],"earliest-expiration":1797292800,"next-refresh":1796688000,"bindings":[{"name":"mail","certificate":"/etc/ssl/mail.pem","owners":["_25._tcp.mail.example.com."],"state":"staged","records":["3 1 1 0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6"],"ready-at":1796090400,"ready":false,"last-error":null,"waiting":null}],"last-error":null,"certificate-errors":1,"unsafe-switches":0,"failed-updates":0,"signature-expiry-seconds":1209600,"next-key-event":{"at":1796169600,"at-utc":"2026-12-02T00:00:00Z","what":"retire key 12345"},"awaiting-ds":[23456],"secondaries":[{"address":"192.0.2.53:53","serial":2026112801,"seen-at":1796083100,"lag":1,"last-notify":"ok","notify-unanswered":0,"last-error":null}],"propagated-at":1796083150}]}}"#,
        ),
        (
            "keys-report",
            r#"{"ok":true,"keys":{"zone":"example.com.","serial":2026112802,"keys":[{"key-tag":12345,"algorithm":"ed25519","role":"ksk","file":"k.pem","state":"ready","since":"2026-12-01T00:00:00Z","ds":"submitted","ds-since":null}],"next-key-event":null,"awaiting-ds":[12345]}}"#,
        ),
    ] {
        write("control", &format!("{name}.json"), line.as_bytes());
    }
}

fn wire(message: &Message) -> Vec<u8> {
    message.to_vec().expect("a seed encodes")
}
