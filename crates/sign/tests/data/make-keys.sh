#!/bin/sh
# Regenerates the test-only PKCS#8 keys and their expected DNSKEY/DS records.
# These keys are for tests only; they protect nothing.
#
# The expected DNSKEY public keys are computed independently of daned:
#   - from the SubjectPublicKeyInfo printed by openssl, with Python's `cryptography`
#     (ECDSA: x||y, RFC 6605 §4; Ed25519: the raw 32 bytes, RFC 8080 §3;
#      RSA: RFC 3110 §2 from `openssl rsa -modulus` and the public exponent),
#   - and the key tag and DS (SHA-256) by BIND's dnssec-dsfromkey.
set -eu
cd "$(dirname "$0")"

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out openssl-p256.pem
openssl genpkey -algorithm ED25519 -out openssl-ed25519.pem
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out openssl-rsa2048.pem

for k in p256:13 ed25519:15 rsa2048:8; do
  name=${k%%:*}; alg=${k##*:}
  pem=openssl-$name.pem
  case $name in
    rsa2048)
      n=$(openssl rsa -in "$pem" -noout -modulus | sed 's/^Modulus=//')
      pub=$(python3 -c '
import sys, base64
from cryptography.hazmat.primitives.serialization import load_pem_private_key
key = load_pem_private_key(open(sys.argv[1], "rb").read(), None)
e = key.public_key().public_numbers().e
eb = e.to_bytes((e.bit_length() + 7) // 8, "big")
n = bytes.fromhex(sys.argv[2])
assert len(eb) < 256
print(base64.b64encode(bytes([len(eb)]) + eb + n).decode())' "$pem" "$n")
      ;;
    *)
      pub=$(openssl pkey -in "$pem" -pubout | python3 -c '
import sys, base64
from cryptography.hazmat.primitives.serialization import load_pem_public_key, Encoding, PublicFormat
key = load_pem_public_key(sys.stdin.buffer.read())
try:
    raw = key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)[1:]
except ValueError:
    raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
print(base64.b64encode(raw).decode())')
      ;;
  esac
  echo "example.com. 3600 IN DNSKEY 257 3 $alg $pub" > "openssl-$name.dnskey"
  dnssec-dsfromkey -2 -f "openssl-$name.dnskey" example.com > "openssl-$name.ds"
done
