#!/usr/bin/env bash
# Rotation latency: the time from a certificate file being replaced to the new TLSA RRset being
# served with an RRSIG, at each zone size (issue goal: the same at 1k and 100k names, since
# signing is incremental, and under 50 ms beyond the watcher's debounce).
#
# For each size: a gen-zone.py zone (bench.test.), the release `daned serve` with one TLSA
# binding (_443._tcp.rot) on it and watch-debounce-ms = ROT_DEBOUNCE_MS, then ROT_R rotations,
# each to a certificate with a new key (pre-generated with openssl), renamed over the watched
# file. bench/rotation.py times each one end to end (rename -> UDP answer with the new record
# and an RRSIG over TLSA), reads daned's own `elapsed_us` from its "certificate change
# published" log line, and has delv validate every new RRset (untimed).
#
# Output: $RESULTS/rotation.tsv (one row per rotation), $RESULTS/rotation.md (median and p90
# per size), daned's logs in $BENCH_WORK/rotation/n*/daned.log.
#
# env: ROT_NS="1000 100000"  ROT_R=10  ROT_DEBOUNCE_MS=200  ROT_PORT=53501 (one port per size)
#      ROT_TIMEOUT=120 (seconds one rotation may take before the run fails)
#      DANED (default: target/release/daned, built here)  BENCH_WORK, RESULTS as in run.sh
# Everything is on 127.0.0.1, every wait is bounded, the server is stopped by its PID.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
H=${BENCH_HARNESS:-$ROOT/../shared/bench}
[ -f "$H/lib.sh" ] || { echo "bench: harness not found at $H" >&2; exit 1; }
export BENCH_WORK=${BENCH_WORK:-${TMPDIR:-/tmp}/daned-bench}
export RESULTS=${RESULTS:-$BENCH_WORK/results-$(date +%Y%m%d-%H%M%S)}
. "$H/lib.sh"
. "$ROOT/bench/daned-config.sh"

NS=(${ROT_NS:-1000 100000})
R=${ROT_R:-10}
DEBOUNCE_MS=${ROT_DEBOUNCE_MS:-200}
TIMEOUT=${ROT_TIMEOUT:-120}
port=${ROT_PORT:-53501}
OWNER=_443._tcp.rot.$ZONE_ORIGIN
for t in python3 openssl dig; do
    command -v "$t" >/dev/null || die "$t is not installed"
done
if [ -z "${DANED:-}" ]; then
    (cd "$ROOT" && cargo build --release --locked --bin daned)
    DANED=$ROOT/target/release/daned
fi
[ -x "$DANED" ] || die "no daned binary at $DANED"
DELV=$(command -v delv || true)
[ -n "$DELV" ] || log "delv is not installed: the new RRsets are not validated"

mkdir -p "$RESULTS" "$BENCH_WORK/zones"
TSV=$RESULTS/rotation.tsv
rm -f "$TSV"

# ROT_R + 1 certificates, each with its own key, and the SHA-256 of each key's SPKI (the 3 1 1
# association data), computed by openssl.
PKI=$BENCH_WORK/rotation/pki
rm -rf "$PKI"
mkdir -p "$PKI"
for ((i = 0; i <= R; i++)); do
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$PKI/key$i.pem" 2>/dev/null
    openssl req -x509 -key "$PKI/key$i.pem" -subj "/CN=rot.${ZONE_ORIGIN%.}" -days 30 \
        -out "$PKI/cert$i.pem" 2>/dev/null
    openssl pkey -in "$PKI/key$i.pem" -pubout -outform DER | openssl dgst -sha256 -r \
        | cut -d' ' -f1 > "$PKI/cert$i.hex"
done
certs=()
for ((i = 1; i <= R; i++)); do certs+=("$PKI/cert$i.pem:$(cat "$PKI/cert$i.hex")"); done

spid=
trap 'stop_pid "$spid"' EXIT
for n in "${NS[@]}"; do
    zone=$BENCH_WORK/zones/bench.test.$n.zone
    [ -s "$zone" ] || python3 "$H/gen-zone.py" "$n" --zone "$zone" \
        --queries "$BENCH_WORK/zones/queries.$n.txt"
    W=$BENCH_WORK/rotation/n$n
    rm -rf "$W"
    mkdir -p "$W/certs" "$W/stage"
    cp "$PKI/cert0.pem" "$W/certs/rot.pem"
    write_daned_config "$W" "$port" "$zone" "watch-debounce-ms = $DEBOUNCE_MS" \
        'rescan-interval = "3600"'
    RUST_LOG=info "$DANED" serve -c "$W/daned.toml" --threads 2 > /dev/null 2> "$W/daned.log" &
    spid=$!
    wait_dns "$port" 600 "$spid" || die "daned did not answer on port $port (see $W/daned.log)"
    log "$n names: $(grep -o 'elapsed_ms=[0-9]*' "$W/daned.log" | head -1) to load and sign at start"
    busy=$(wait_quiet)
    log "$n names: machine ${busy}% busy before the rotations"
    check=()
    if [ -n "$DELV" ]; then
        "$DANED" ds -c "$W/daned.toml" --trust-anchor > "$W/anchor.conf"
        check=(--delv "$DELV" --anchor "$W/anchor.conf" --zone "$ZONE_ORIGIN")
    fi
    python3 "$ROOT/bench/rotation.py" run --server "127.0.0.1:$port" --owner "$OWNER" \
        --cert "$W/certs/rot.pem" --tmp "$W/stage/rot.pem" --log "$W/daned.log" --size "$n" \
        --debounce-ms "$DEBOUNCE_MS" --timeout "$TIMEOUT" --tsv "$TSV" --busy "$busy" "${check[@]}" "${certs[@]}"
    stop_pid "$spid"
    spid=
    port=$((port + 1))
done

python3 "$ROOT/bench/rotation.py" summary "$TSV" --debounce-ms "$DEBOUNCE_MS" | tee "$RESULTS/rotation.md"
log "rotation: $TSV, $RESULTS/rotation.md"
