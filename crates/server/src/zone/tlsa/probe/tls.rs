//! The probe's TLS handshake: rustls with the ring provider and a verifier that keeps the
//! chain, checks the handshake signature and builds no PKIX path.

use std::sync::Arc;

use daned_sign::dane::KeyFamily;
use rustls::DigitallySignedStruct;
use rustls::SignatureScheme;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::{Limits, Outcome, Target};

/// Completes the handshake on `stream` and returns the chain the server presented.
pub(super) async fn handshake(
    stream: TcpStream,
    target: &Target,
    family: Option<KeyFamily>,
    limits: &Limits,
) -> Outcome {
    let config = match client_config(family, limits.max_chain) {
        Ok(config) => config,
        Err(error) => {
            return Outcome::TlsError {
                reason: format!("TLS client setup: {error}"),
            };
        }
    };
    let host = target.host.to_string();
    let host = host.strip_suffix('.').unwrap_or(&host).to_owned();
    let server_name = match ServerName::try_from(host) {
        Ok(name) => name,
        Err(error) => {
            return Outcome::TlsError {
                reason: format!("{} is not a name for SNI: {error}", target.host),
            };
        }
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let mut tls = match tokio::time::timeout(
        limits.handshake,
        connector.connect(server_name, stream),
    )
    .await
    {
        Ok(Ok(tls)) => tls,
        Ok(Err(error)) => {
            return Outcome::TlsError {
                reason: format!("handshake: {error}"),
            };
        }
        Err(_) => {
            return Outcome::TlsError {
                reason: format!(
                    "handshake: not done within {} s",
                    limits.handshake.as_secs()
                ),
            };
        }
    };
    let chain: Vec<Vec<u8>> = tls
        .get_ref()
        .1
        .peer_certificates()
        .unwrap_or_default()
        .iter()
        .map(|cert| cert.as_ref().to_vec())
        .collect();
    // A polite goodbye; the result is already known, so a server that does not take it
    // changes nothing.
    let _ = tokio::time::timeout(limits.read, tls.shutdown()).await;
    if chain.is_empty() {
        return Outcome::TlsError {
            reason: "the server presented no certificate".into(),
        };
    }
    Outcome::Presented { chain }
}

fn client_config(
    family: Option<KeyFamily>,
    max_chain: usize,
) -> Result<rustls::ClientConfig, rustls::Error> {
    // ring is the project's one crypto library; the post-quantum key exchange this
    // deprecation points to (aws-lc-rs) protects secrecy, which a probe that reads only the
    // certificate does not need.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = RecordingVerifier {
        algorithms: provider.signature_verification_algorithms,
        schemes: schemes(family, &provider),
        max_chain,
    };
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

/// The signature schemes offered: those of `family`, or every one the provider verifies.
fn schemes(family: Option<KeyFamily>, provider: &CryptoProvider) -> Vec<SignatureScheme> {
    let all = provider
        .signature_verification_algorithms
        .supported_schemes();
    let Some(family) = family else {
        return all;
    };
    all.into_iter()
        .filter(|scheme| {
            use SignatureScheme::*;
            match family {
                KeyFamily::Rsa => matches!(
                    scheme,
                    RSA_PKCS1_SHA256
                        | RSA_PKCS1_SHA384
                        | RSA_PKCS1_SHA512
                        | RSA_PSS_SHA256
                        | RSA_PSS_SHA384
                        | RSA_PSS_SHA512
                ),
                KeyFamily::Ecdsa => matches!(
                    scheme,
                    ECDSA_NISTP256_SHA256 | ECDSA_NISTP384_SHA384 | ECDSA_NISTP521_SHA512
                ),
                KeyFamily::Ed25519 => matches!(scheme, ED25519),
                KeyFamily::Ed448 => matches!(scheme, ED448),
                _ => true,
            }
        })
        .collect()
}

/// Accepts any chain of at most `max_chain` certificates without a PKIX check (DANE decides
/// whether it is the right one), but verifies the handshake signature with the presented
/// key, so the server proved it holds that key.
#[derive(Debug)]
struct RecordingVerifier {
    algorithms: WebPkiSupportedAlgorithms,
    schemes: Vec<SignatureScheme>,
    max_chain: usize,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let count = intermediates.len() + 1;
        if count > self.max_chain {
            return Err(rustls::Error::General(format!(
                "a chain of {count} certificates (more than {})",
                self.max_chain
            )));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes.clone()
    }
}
