//! The probe against servers started here on 127.0.0.1: well-behaved ones (implicit TLS,
//! SMTP/IMAP/POP3 STARTTLS, a server with two certificates) and hostile ones (garbage banner,
//! no STARTTLS, a stall, a close mid-handshake, a 100-certificate chain), each of which must
//! give its result within the limits.

use std::sync::Arc;
use std::time::{Duration, Instant};

use daned_sign::dane::{KeyFamily, chain_matches, spki_sha256};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

/// A self-signed certificate for `mail.example.com` with a fresh key of `alg`.
fn certificate(
    alg: &'static rcgen::SignatureAlgorithm,
) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let key = rcgen::KeyPair::generate_for(alg).expect("key");
    let params =
        rcgen::CertificateParams::new(vec!["mail.example.com".to_owned()]).expect("params");
    let cert = params.self_signed(&key).expect("certificate");
    (
        cert.der().clone(),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    #[allow(deprecated)] // The project's crypto library is ring; see probe/tls.rs.
    Arc::new(rustls::crypto::ring::default_provider())
}

fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Arc<rustls::ServerConfig> {
    Arc::new(
        rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("server config"),
    )
}

/// Picks the certificate by the client's signature schemes, as an MTA with an RSA and an
/// ECDSA certificate does.
#[derive(Debug)]
struct TwoCertificates {
    ecdsa: Arc<CertifiedKey>,
    ed25519: Arc<CertifiedKey>,
}

impl ResolvesServerCert for TwoCertificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let schemes = hello.signature_schemes();
        if schemes.contains(&rustls::SignatureScheme::ECDSA_NISTP256_SHA256) {
            Some(self.ecdsa.clone())
        } else if schemes.contains(&rustls::SignatureScheme::ED25519) {
            Some(self.ed25519.clone())
        } else {
            None
        }
    }
}

fn certified(cert: CertificateDer<'static>, key: PrivateKeyDer<'static>) -> Arc<CertifiedKey> {
    Arc::new(CertifiedKey::from_der(vec![cert], key, &provider()).expect("certified key"))
}

/// A listener on 127.0.0.1 and the target that reaches it.
async fn listen(protocol: ProbeProtocol) -> (TcpListener, Target) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let target = Target {
        host: "mail.example.com.".parse().expect("name"),
        port: 25,
        connect: listener.local_addr().expect("address"),
        protocol,
    };
    (listener, target)
}

/// Short limits for the hostile servers: each must be cut off by one of them.
fn short() -> Limits {
    Limits {
        connect: Duration::from_secs(2),
        read: Duration::from_millis(400),
        handshake: Duration::from_millis(600),
        total: Duration::from_secs(3),
        ..Limits::default()
    }
}

/// Serves one connection with `script`, then TLS with `config` if the script returns the
/// stream.
fn serve_once<F, Fut>(
    listener: TcpListener,
    config: Option<Arc<rustls::ServerConfig>>,
    script: F,
) -> tokio::task::JoinHandle<()>
where
    F: FnOnce(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Option<TcpStream>> + Send,
{
    tokio::spawn(async move {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let Some(stream) = script(stream).await else {
            return;
        };
        if let Some(config) = config {
            let acceptor = tokio_rustls::TlsAcceptor::from(config);
            if let Ok(mut tls) = acceptor.accept(stream).await {
                let mut rest = Vec::new();
                // Until the client's goodbye; bounded by the test's own timeout.
                let _ =
                    tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut rest)).await;
            }
        }
    })
}

/// Reads one line the client sent (up to LF), within 5 s.
async fn read_line(stream: &mut TcpStream) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut byte))
        .await
        .is_ok_and(|r| r.is_ok())
    {
        line.push(byte[0]);
        if byte[0] == b'\n' || line.len() > 1000 {
            break;
        }
    }
    String::from_utf8_lossy(&line).into_owned()
}

/// An SMTP server that offers STARTTLS (RFC 3207 §4 example dialogue).
async fn smtp_until_starttls(mut stream: TcpStream) -> Option<TcpStream> {
    stream
        .write_all(b"220 mail.example.com ESMTP\r\n")
        .await
        .ok()?;
    let ehlo = read_line(&mut stream).await;
    assert!(ehlo.starts_with("EHLO "), "{ehlo:?}");
    stream
        .write_all(b"250-mail.example.com\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n")
        .await
        .ok()?;
    let starttls = read_line(&mut stream).await;
    assert_eq!(starttls, "STARTTLS\r\n");
    stream
        .write_all(b"220 2.0.0 Ready to start TLS\r\n")
        .await
        .ok()?;
    Some(stream)
}

fn presented(outcome: Outcome) -> Vec<Vec<u8>> {
    match outcome {
        Outcome::Presented { chain } => chain,
        other => panic!("expected a presented chain, got {other:?}"),
    }
}

#[tokio::test]
async fn implicit_tls_gives_the_presented_chain() {
    let (cert, key) = certificate(&rcgen::PKCS_ECDSA_P256_SHA256);
    let (listener, target) = listen(ProbeProtocol::Tls).await;
    let server = serve_once(
        listener,
        Some(server_config(vec![cert.clone()], key)),
        |s| async { Some(s) },
    );
    let chain = presented(probe(&target, None, &Limits::default()).await);
    assert_eq!(chain, vec![cert.as_ref().to_vec()]);
    let digest = spki_sha256(&chain[0]).expect("digest");
    assert!(chain_matches(&chain, 3, 1, 1, &digest));
    server.await.expect("server");
}

/// RFC 3207 §4: EHLO, STARTTLS among the extensions, "220 Ready to start TLS", then the
/// handshake on the same connection.
#[tokio::test]
async fn rfc3207_smtp_starttls_gives_the_presented_chain() {
    let (cert, key) = certificate(&rcgen::PKCS_ED25519);
    let (listener, target) = listen(ProbeProtocol::Smtp).await;
    let server = serve_once(
        listener,
        Some(server_config(vec![cert.clone()], key)),
        smtp_until_starttls,
    );
    assert_eq!(
        presented(probe(&target, None, &Limits::default()).await),
        vec![cert.as_ref().to_vec()]
    );
    server.await.expect("server");
}

/// RFC 9051 §6.2.1 (IMAP STARTTLS) and RFC 2595 §4 (POP3 STLS).
#[tokio::test]
async fn imap_and_pop3_starttls_give_the_presented_chain() {
    let (cert, key) = certificate(&rcgen::PKCS_ECDSA_P256_SHA256);
    let config = server_config(vec![cert.clone()], key);
    let (listener, target) = listen(ProbeProtocol::Imap).await;
    let server = serve_once(listener, Some(config.clone()), |mut s| async move {
        s.write_all(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n")
            .await
            .ok()?;
        let command = read_line(&mut s).await;
        assert!(command.ends_with("STARTTLS\r\n"), "{command:?}");
        let tag = command.split(' ').next().unwrap_or("").to_owned();
        s.write_all(b"* an untagged line first\r\n").await.ok()?;
        s.write_all(format!("{tag} OK Begin TLS negotiation now\r\n").as_bytes())
            .await
            .ok()?;
        Some(s)
    });
    assert_eq!(
        presented(probe(&target, None, &Limits::default()).await),
        vec![cert.as_ref().to_vec()]
    );
    server.await.expect("server");

    let (listener, target) = listen(ProbeProtocol::Pop3).await;
    let server = serve_once(listener, Some(config), |mut s| async move {
        s.write_all(b"+OK POP3 ready\r\n").await.ok()?;
        assert_eq!(read_line(&mut s).await, "STLS\r\n");
        s.write_all(b"+OK Begin TLS negotiation\r\n").await.ok()?;
        Some(s)
    });
    assert_eq!(
        presented(probe(&target, None, &Limits::default()).await),
        vec![cert.as_ref().to_vec()]
    );
    server.await.expect("server");
}

/// A server with two certificates shows each to a client that offers only that key family's
/// signature schemes.
#[tokio::test]
async fn each_key_family_sees_its_own_certificate() {
    let (ecdsa_cert, ecdsa_key) = certificate(&rcgen::PKCS_ECDSA_P256_SHA256);
    let (ed_cert, ed_key) = certificate(&rcgen::PKCS_ED25519);
    let resolver = TwoCertificates {
        ecdsa: certified(ecdsa_cert.clone(), ecdsa_key),
        ed25519: certified(ed_cert.clone(), ed_key),
    };
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(resolver)),
    );
    for (family, want) in [
        (KeyFamily::Ecdsa, &ecdsa_cert),
        (KeyFamily::Ed25519, &ed_cert),
    ] {
        let (listener, target) = listen(ProbeProtocol::Tls).await;
        let server = serve_once(listener, Some(config.clone()), |s| async { Some(s) });
        let chain = presented(probe(&target, Some(family), &Limits::default()).await);
        assert_eq!(chain, vec![want.as_ref().to_vec()], "{family}");
        server.await.expect("server");
    }
    // A family the server has no certificate for fails the handshake: the probe reports it
    // rather than seeing another certificate.
    let (listener, target) = listen(ProbeProtocol::Tls).await;
    let server = serve_once(listener, Some(config), |s| async { Some(s) });
    match probe(&target, Some(KeyFamily::Rsa), &Limits::default()).await {
        Outcome::TlsError { reason } => assert!(reason.contains("handshake"), "{reason}"),
        other => panic!("expected a TLS error, got {other:?}"),
    }
    server.await.expect("server");
}

#[tokio::test]
async fn nothing_listening_is_unreachable() {
    let (listener, target) = listen(ProbeProtocol::Smtp).await;
    drop(listener);
    match probe(&target, None, &short()).await {
        Outcome::Unreachable { reason } => {
            assert!(reason.contains("connect to 127.0.0.1"), "{reason}")
        }
        other => panic!("expected unreachable, got {other:?}"),
    }
}

/// Runs `probe` against a hostile server and checks it ends within the total limit (plus
/// scheduling slack) with the expected kind of result.
async fn hostile<F, Fut>(
    protocol: ProbeProtocol,
    config: Option<Arc<rustls::ServerConfig>>,
    script: F,
) -> Outcome
where
    F: FnOnce(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Option<TcpStream>> + Send,
{
    let (listener, target) = listen(protocol).await;
    let server = serve_once(listener, config, script);
    let limits = short();
    let started = Instant::now();
    let outcome = probe(&target, None, &limits).await;
    assert!(
        started.elapsed() < limits.total + Duration::from_secs(2),
        "took {:?}: {outcome:?}",
        started.elapsed()
    );
    server.abort();
    outcome
}

#[tokio::test]
async fn garbage_banner_is_no_starttls() {
    let outcome = hostile(ProbeProtocol::Smtp, None, |mut s| async move {
        s.write_all(b"\x16\x03\x01garbage\x00\xff\r\n").await.ok()?;
        Some(s)
    })
    .await;
    match outcome {
        Outcome::NoStarttls { reason } => assert!(reason.contains("not an SMTP reply"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn smtp_without_starttls_is_reported() {
    let outcome = hostile(ProbeProtocol::Smtp, None, |mut s| async move {
        s.write_all(b"220 mail.example.com ESMTP\r\n").await.ok()?;
        read_line(&mut s).await;
        s.write_all(b"250-mail.example.com\r\n250 8BITMIME\r\n")
            .await
            .ok()?;
        read_line(&mut s).await;
        Some(s)
    })
    .await;
    match outcome {
        Outcome::NoStarttls { reason } => {
            assert!(reason.contains("STARTTLS is not among"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_server_that_stalls_is_cut_off() {
    // Greets, then never answers EHLO.
    let outcome = hostile(ProbeProtocol::Smtp, None, |mut s| async move {
        s.write_all(b"220 mail.example.com ESMTP\r\n").await.ok()?;
        read_line(&mut s).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
        Some(s)
    })
    .await;
    match outcome {
        Outcome::TlsError { reason } => assert!(reason.contains("sent nothing"), "{reason}"),
        other => panic!("{other:?}"),
    }
    // Says go ahead, then stalls in the handshake.
    let outcome = hostile(ProbeProtocol::Smtp, None, |s| async move {
        let s = smtp_until_starttls(s).await?;
        tokio::time::sleep(Duration::from_secs(30)).await;
        Some(s)
    })
    .await;
    match outcome {
        Outcome::TlsError { reason } => assert!(reason.contains("not done within"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_endless_line_is_cut_off() {
    let outcome = hostile(ProbeProtocol::Smtp, None, |mut s| async move {
        let chunk = vec![b'2'; 8192];
        for _ in 0..64 {
            if s.write_all(&chunk).await.is_err() {
                break;
            }
        }
        Some(s)
    })
    .await;
    match outcome {
        Outcome::TlsError { reason } => assert!(reason.contains("longer than"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_close_mid_handshake_is_a_tls_error() {
    let outcome = hostile(ProbeProtocol::Tls, None, |mut s| async move {
        // The first bytes of a ServerHello record, then gone.
        let mut hello = [0u8; 512];
        let _ = s.read(&mut hello).await;
        s.write_all(&[0x16, 0x03, 0x03, 0x00, 0x50, 0x02])
            .await
            .ok()?;
        None
    })
    .await;
    assert!(matches!(outcome, Outcome::TlsError { .. }), "{outcome:?}");
}

#[tokio::test]
async fn bytes_after_the_go_ahead_are_refused() {
    // RFC 3207 §4.2: nothing may come between the 220 and the handshake.
    let outcome = hostile(ProbeProtocol::Smtp, None, |s| async move {
        let mut s = smtp_until_starttls(s).await?;
        s.write_all(b"250 injected\r\n").await.ok()?;
        tokio::time::sleep(Duration::from_secs(30)).await;
        Some(s)
    })
    .await;
    // The injected bytes may arrive with the 220 or just after it.
    match outcome {
        Outcome::TlsError { reason } => {
            assert!(
                reason.contains("after the STARTTLS go-ahead") || reason.contains("handshake"),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_100_certificate_chain_is_refused() {
    let (cert, key) = certificate(&rcgen::PKCS_ECDSA_P256_SHA256);
    let chain: Vec<CertificateDer<'static>> = std::iter::repeat_n(cert, 100).collect();
    let outcome = hostile(
        ProbeProtocol::Tls,
        Some(server_config(chain, key)),
        |s| async { Some(s) },
    )
    .await;
    match outcome {
        Outcome::TlsError { reason } => assert!(reason.contains("100 certificates"), "{reason}"),
        other => panic!("{other:?}"),
    }
}
