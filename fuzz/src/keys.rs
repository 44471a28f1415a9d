//! The key readers: bytes in as a PKCS#8 key (PEM, as key files and `import-key` read it, or
//! DER) and as a BIND key pair (`.key` text, a NUL byte, `.private` text).

use daned_sign::bindkey::{
    format_private_key, format_public_key, import_pair, parse_private_key, parse_public_key,
};
use daned_sign::keys::{KeyRole, Pkcs8Key, SigningKey};
use hickory_proto::dnssec::PublicKey as _;
use ring::rand::SystemRandom;

/// Reads `data` as every kind of key file daned reads, and round-trips what loads.
pub fn keys(data: &[u8]) {
    let rng = SystemRandom::new();
    let text = std::str::from_utf8(data).ok();
    if let Some(text) = text
        && let Ok(pkcs8) = Pkcs8Key::from_pem(text)
    {
        pkcs8_key(&pkcs8, &rng);
    }
    pkcs8_key(&Pkcs8Key::from_der(data.to_vec()), &rng);

    let (public, private) = match data.iter().position(|&b| b == 0) {
        Some(nul) => (&data[..nul], &data[nul + 1..]),
        None => (data, data),
    };
    let (Ok(public), Ok(private)) = (std::str::from_utf8(public), std::str::from_utf8(private))
    else {
        return;
    };
    let public = parse_public_key(public, "K.key");
    let private = parse_private_key(private, "K.private");
    let (Ok(public), Ok(private)) = (public, private) else {
        return;
    };
    let Ok(imported) = import_pair(&public, "K.key", &private, "K.private", None, &rng) else {
        return;
    };
    // `import_pair` promises the DNSKEY of the `.key` file (so the same key tag and DS).
    assert_eq!(
        imported.key.dnskey().public_key().public_bytes(),
        public.dnskey.public_key().public_bytes(),
        "an imported key has another public key than its .key file"
    );
    // `export-key` writes what `import-key` reads back as the same key.
    let parts = imported.pkcs8.parts().expect("an imported key has parts");
    let key_text = format_public_key(&public.owner, public.ttl, &imported.key, Some(0));
    let private_text = format_private_key(&parts, Some(0));
    let public_again = parse_public_key(&key_text, "again.key").expect("written .key reads");
    let private_again =
        parse_private_key(&private_text, "again.private").expect("written .private reads");
    let again = import_pair(
        &public_again,
        "again.key",
        &private_again,
        "again.private",
        Some(imported.key.role()),
        &rng,
    )
    .expect("an exported pair imports");
    assert_eq!(
        again.key.dnskey(),
        imported.key.dnskey(),
        "an exported and re-imported key changed"
    );
    pkcs8_key(&imported.pkcs8, &rng);
}

/// A PKCS#8 key as daned loads it; one that loads also loads from its re-encoded parts, as
/// `import-key` canonicalises keys, with the same public key.
fn pkcs8_key(pkcs8: &Pkcs8Key, rng: &SystemRandom) {
    let loaded = SigningKey::from_pkcs8(pkcs8, KeyRole::Csk, rng);
    let Ok(parts) = pkcs8.parts() else {
        return;
    };
    let Ok(canonical) = Pkcs8Key::from_parts(&parts) else {
        return;
    };
    let reloaded = SigningKey::from_pkcs8(&canonical, KeyRole::Csk, rng);
    if let (Ok(loaded), Ok(reloaded)) = (&loaded, &reloaded) {
        assert_eq!(
            loaded.dnskey(),
            reloaded.dnskey(),
            "a key re-encoded from its parts has another public key"
        );
    }
    if loaded.is_ok() {
        assert!(
            reloaded.is_ok(),
            "a key that loads does not load from its re-encoded parts"
        );
    }
}
