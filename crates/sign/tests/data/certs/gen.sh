#!/bin/sh
# Regenerates the test certificates. Private keys are written to a temporary directory and
# deleted; only the certificates are kept. Run from this directory.
set -eu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
days=36500

# Self-signed end-entity certificates, one per key type.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/rsa2048.key" -days $days \
  -subj "/CN=rsa2048.example.com" -out rsa2048.pem
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/p256.key" \
  -days $days -subj "/CN=p256.example.com" -out p256.pem
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout "$tmp/p384.key" \
  -days $days -subj "/CN=p384.example.com" -out p384.pem
openssl req -x509 -newkey ed25519 -nodes -keyout "$tmp/ed25519.key" -days $days \
  -subj "/CN=ed25519.example.com" -out ed25519.pem

# The P-256 certificate again, in DER.
openssl x509 -in p256.pem -outform DER -out p256.der

# A CA and an end-entity certificate it issued; chain.pem is the end entity then the CA.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/ca.key" \
  -days $days -subj "/CN=Test CA" -addext "basicConstraints=critical,CA:TRUE" -out ca.pem
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/ee.key" \
  -subj "/CN=mail.example.com" -out "$tmp/ee.csr"
openssl x509 -req -in "$tmp/ee.csr" -CA ca.pem -CAkey "$tmp/ca.key" -CAcreateserial \
  -CAserial "$tmp/ca.srl" -days $days -out ee.pem
cat ee.pem ca.pem > chain.pem
