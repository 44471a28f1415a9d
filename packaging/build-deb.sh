#!/usr/bin/env bash
# Builds the Debian package of daned from this repository, without cargo-deb: stages the
# files and runs `dpkg-deb --build`. Needs dpkg-deb and gzip (and cargo without --binary).
#
#   packaging/build-deb.sh [--binary PATH] [--out DIR] [--fast]
#
# --binary  a daned binary already built (default: `cargo build --release --locked`)
# --out     where the .deb goes (default: target/debian); its path is printed last
# --fast    gzip -1 instead of xz (tests)
#
# The package installs /usr/bin/daned, /etc/daned/daned.toml (a conffile), /var/lib/daned
# with keys/ and state/, the systemd unit, man pages and bash/zsh/fish completions generated
# from the binary's own command line, the renewal hooks of contrib/ in /usr/lib/daned, and
# creates the daned system user (postinst).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
binary=
out="$repo/target/debian"
compression=(-Zxz)
while [ "$#" -gt 0 ]; do
    case "$1" in
        --binary) binary=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --fast) compression=(-Zgzip -z1); shift ;;
        *) echo "usage: $0 [--binary PATH] [--out DIR] [--fast]" >&2; exit 2 ;;
    esac
done
if [ -z "$binary" ]; then
    cargo build --release --locked -p daned --manifest-path "$repo/Cargo.toml"
    binary="$repo/target/release/daned"
fi

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$repo/Cargo.toml" | head -n1)
[ -n "$version" ] || { echo "build-deb: no version in $repo/Cargo.toml" >&2; exit 1; }
arch=$(dpkg --print-architecture)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
pkg="$stage/daned"

install -D -m 0755 "$binary" "$pkg/usr/bin/daned"
# Debug information stays in the build tree; the package carries the code.
strip --strip-debug "$pkg/usr/bin/daned"
install -D -m 0644 "$repo/packaging/daned.toml" "$pkg/etc/daned/daned.toml"
install -D -m 0644 "$repo/packaging/daned.service" "$pkg/lib/systemd/system/daned.service"
install -d -m 0750 "$pkg/var/lib/daned"
install -d -m 0700 "$pkg/var/lib/daned/keys" "$pkg/var/lib/daned/state"

"$pkg/usr/bin/daned" generate man "$stage/man"
install -d "$pkg/usr/share/man/man1"
for page in "$stage"/man/*.1; do
    gzip -9n -c "$page" >"$pkg/usr/share/man/man1/$(basename "$page").gz"
done
"$pkg/usr/bin/daned" generate completions "$stage/completions"
install -D -m 0644 "$stage/completions/daned.bash" "$pkg/usr/share/bash-completion/completions/daned"
install -D -m 0644 "$stage/completions/_daned" "$pkg/usr/share/zsh/vendor-completions/_daned"
install -D -m 0644 "$stage/completions/daned.fish" "$pkg/usr/share/fish/vendor_completions.d/daned.fish"

# The renewal hooks (README.md, docs/rotation.md).
install -d "$pkg/usr/lib/daned"
for hook in "$repo"/contrib/*; do
    if [ -f "$hook" ] && [ -x "$hook" ]; then
        install -m 0755 "$hook" "$pkg/usr/lib/daned/"
    fi
done

doc="$pkg/usr/share/doc/daned"
install -d "$doc"
install -m 0644 "$repo/README.md" "$repo/etc/example.toml" "$doc/"
for file in "$repo"/docs/*.md; do install -m 0644 "$file" "$doc/"; done
gzip -9n -c "$repo/CHANGELOG.md" >"$doc/changelog.gz"
{
    echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
    echo "Upstream-Name: daned"
    echo
    echo "Files: *"
    echo "Copyright: 2026 The daned developers"
    echo "License: MIT or Apache-2.0"
    echo
    echo "License: MIT"
    sed -e 's/^$/./' -e 's/^/ /' "$repo/LICENSE-MIT"
    echo
    echo "License: Apache-2.0"
    echo " On Debian systems, the full text of the Apache License 2.0 is in"
    echo " /usr/share/common-licenses/Apache-2.0 (the same text as LICENSE-APACHE)."
} >"$doc/copyright"

install -d "$pkg/DEBIAN"
install -m 0755 "$repo"/packaging/debian/postinst "$repo"/packaging/debian/prerm \
    "$repo"/packaging/debian/postrm "$pkg/DEBIAN/"
echo "/etc/daned/daned.toml" >"$pkg/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
cat >"$pkg/DEBIAN/control" <<CONTROL
Package: daned
Version: $version
Architecture: $arch
Maintainer: The daned developers <daned@localhost>
Installed-Size: $size
Depends: libc6, adduser
Section: net
Priority: optional
Description: authoritative DNS server for DNSSEC-signed DANE TLSA records
 daned watches certificate files, publishes their TLSA records (RFC 6698),
 signs the zone with DNSSEC, rolls TLSA and DNSSEC keys safely and serves it
 over UDP and TCP, with zone transfers to secondaries.
CONTROL

mkdir -p "$out"
deb="$out/daned_${version}_${arch}.deb"
dpkg-deb --root-owner-group "${compression[@]}" --build "$pkg" "$deb" >/dev/null
echo "$deb"
