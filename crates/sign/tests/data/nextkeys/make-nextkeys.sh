#!/bin/sh
# Regenerates the staged next-key fixtures and prints the expected SHA-256 of each file's
# SubjectPublicKeyInfo, as computed by openssl (copy them into ../../sign/spki.rs).
# Test-only keys: they protect nothing.
set -eu
cd "$(dirname "$0")"
subj=/CN=next.example.test

# PKCS#8 private keys ("PRIVATE KEY").
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out pkcs8-p256.pem
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out pkcs8-p384.pem
openssl genpkey -algorithm ED25519 -out pkcs8-ed25519.pem          # PKCS#8 v1: no public key
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out pkcs8-rsa2048.pem
openssl pkey -in pkcs8-p256.pem -outform DER -out pkcs8-p256.der

# SEC1 ("EC PRIVATE KEY"): acme.sh's *.key.next for ec-256 / ec-384.
openssl ecparam -name prime256v1 -genkey -noout -out sec1-p256.pem
openssl ecparam -name secp384r1 -genkey -noout -out sec1-p384.pem
# The same with the "EC PARAMETERS" block before the key (no -noout).
openssl ecparam -name prime256v1 -genkey -out sec1-p256-params.pem

# PKCS#1 ("RSA PRIVATE KEY").
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 | openssl rsa -traditional -out pkcs1-rsa2048.pem

# Public keys ("PUBLIC KEY", DER SPKI, and PKCS#1 "RSA PUBLIC KEY").
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 | openssl pkey -pubout -out spki-p256.pem
openssl pkey -pubin -in spki-p256.pem -outform DER -out spki-p256.der
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 | openssl rsa -RSAPublicKey_out -out pkcs1-rsa2048-pub.pem

# CSRs ("CERTIFICATE REQUEST" and, with -newhdr, "NEW CERTIFICATE REQUEST").
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null -subj "$subj" -out csr-p256.pem
openssl req -new -newkey rsa:2048 -nodes -keyout /dev/null -subj "$subj" -newhdr -out csr-rsa2048-newhdr.pem

# Certificates (PEM and DER).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null -subj "$subj" -days 3650 -out cert-p256.pem
openssl x509 -in cert-p256.pem -outform DER -out cert-p256.der

# Keys that must be refused with a clear reason: encrypted, an EC key stripped of its public
# key (daned does not derive EC public keys), and an algorithm daned does not support.
openssl ec -in sec1-p256.pem -no_public -out sec1-p256-nopub.pem
openssl genpkey -algorithm ED448 -out pkcs8-ed448.pem
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -aes-128-cbc -pass pass:test -out encrypted-p256.pem

spki_sha256() {
    case "$1" in
        csr-*) openssl req -in "$1" -pubkey -noout | openssl pkey -pubin -outform DER ;;
        cert-*.der) openssl x509 -inform DER -in "$1" -pubkey -noout | openssl pkey -pubin -outform DER ;;
        cert-*) openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform DER ;;
        spki-*.der) openssl pkey -pubin -inform DER -in "$1" -outform DER ;;
        spki-*|*-pub.pem) openssl pkey -pubin -in "$1" -outform DER ;;
        *.der) openssl pkey -inform DER -in "$1" -pubout -outform DER ;;
        *) openssl pkey -in "$1" -pubout -outform DER ;;
    esac | openssl dgst -sha256 -r | cut -d' ' -f1
}
for f in pkcs8-p256.pem pkcs8-p384.pem pkcs8-ed25519.pem pkcs8-rsa2048.pem pkcs8-p256.der \
    sec1-p256.pem sec1-p384.pem sec1-p256-params.pem pkcs1-rsa2048.pem spki-p256.pem \
    spki-p256.der pkcs1-rsa2048-pub.pem csr-p256.pem csr-rsa2048-newhdr.pem cert-p256.pem \
    cert-p256.der; do
    echo "$f $(spki_sha256 "$f")"
done
