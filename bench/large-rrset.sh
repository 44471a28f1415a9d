#!/bin/sh
# Loading time of one large RRset (issue 11, failure 4: a duplicate check per record made it
# quadratic: 10k records at one name 0.31 s, 40k 6.05 s, 80k 23.98 s).
#
#   bench/large-rrset.sh [DANED] [N...]
#
# For each N, writes a zone with N A records at one name (www) and times `daned check` on it,
# with max-records-per-type raised to N (the default, 100, refuses such a zone). Prints N, the
# wall time and the peak RSS. Linear loading shows as a constant time per record.
# RAISE_LIMIT=0 leaves the setting out, for a daned older than it.
set -eu
DANED=${1:-target/release/daned}
[ $# -gt 0 ] && shift
SIZES=${*:-10000 40000 80000 1000000}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/daned-large-rrset.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

printf '%10s %10s %12s %10s\n' records seconds "us/record" "RSS MB"
for n in $SIZES; do
    dir=$WORK/$n
    mkdir -p "$dir"
    {
        printf '$TTL 300\n$ORIGIN example.com.\n'
        printf '@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\n'
        awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++)
            printf "www A 10.%d.%d.%d\n", int(i / 65536) % 256, int(i / 256) % 256, i % 256 }'
    } >"$dir/zone"
    cat >"$dir/daned.toml" <<EOF
version = "v1"
[server]
key-dir = "keys"
state-dir = "state"
$( [ "${RAISE_LIMIT:-1}" = 0 ] || echo "max-records-per-type = $n" )
[[zone]]
origin = "example.com."
file = "zone"
EOF
    /usr/bin/time -f '%e %M' -o "$dir/time" "$DANED" check -c "$dir/daned.toml" >"$dir/out" 2>&1 ||
        { cat "$dir/out"; exit 1; }
    read -r secs kb <"$dir/time"
    awk -v n="$n" -v s="$secs" -v kb="$kb" \
        'BEGIN { printf "%10d %10.2f %12.2f %10.0f\n", n, s, s * 1e6 / n, kb / 1024 }'
done
