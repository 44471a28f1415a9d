#!/usr/bin/env bash
# Start to first answer (issue 10, item 5): the time from `daned serve` being started to its
# first SOA answer for a signed RESTART_N-name zone, at a first start (the zone is signed
# whole, then kept in state/<zone>.signed) and at a restart after SIGTERM (the kept version is
# loaded, nothing signed), then at a restart after a certificate change while stopped (loaded,
# the change signed on top). Checks that the restart serves the same SOA serial and SOA RRSIG.
#
# Output: $RESULTS/restart.tsv (one row per start), $RESULTS/restart.md, daned's logs in
# $BENCH_WORK/restart/daned.*.log (its own `elapsed_ms` for the load and for writing the kept
# file are taken from there).
#
# env: RESTART_N=100000  RESTART_PORT=53521  RESTART_TIMEOUT=600 (seconds a start may take)
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

n=${RESTART_N:-100000}
port=${RESTART_PORT:-53521}
TIMEOUT=${RESTART_TIMEOUT:-600}
for t in python3 openssl dig; do
    command -v "$t" >/dev/null || die "$t is not installed"
done
if [ -z "${DANED:-}" ]; then
    (cd "$ROOT" && cargo build --release --locked --bin daned)
    DANED=$ROOT/target/release/daned
fi
[ -x "$DANED" ] || die "no daned binary at $DANED"

mkdir -p "$RESULTS" "$BENCH_WORK/zones"
zone=$BENCH_WORK/zones/bench.test.$n.zone
[ -s "$zone" ] || python3 "$H/gen-zone.py" "$n" --zone "$zone" \
    --queries "$BENCH_WORK/zones/queries.$n.txt"
W=$BENCH_WORK/restart
rm -rf "$W"
mkdir -p "$W/certs"
for i in 0 1; do
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
        -subj "/CN=rot.${ZONE_ORIGIN%.}" -keyout "$W/key$i.pem" -out "$W/cert$i.pem" 2>/dev/null
done
cp "$W/cert0.pem" "$W/certs/rot.pem"
write_daned_config "$W" "$port" "$zone"

TSV=$RESULTS/restart.tsv
printf 'names\tstart\tfirst_answer_ms\tzone_start_ms\tkept_load_ms\tkept_write_ms\tkept_bytes\tserial\n' > "$TSV"
spid=
trap 'stop_pid "$spid"' EXIT

# One start: sets `ms` to the milliseconds from the spawn to the first SOA answer. A query sent
# before the socket is bound is refused at once (ICMP) and sent again 10 ms later; one sent
# after waits in the socket until the zone is served.
ms=
start() {
    local label=$1 t0 t1 i
    t0=$(date +%s%N)
    (cd "$W" && RUST_LOG=info exec "$DANED" serve -c "$W/daned.toml" --threads 2 \
        > /dev/null 2> "$W/daned.$label.log") &
    spid=$!
    for ((i = 0; i < TIMEOUT * 100; i++)); do
        kill -0 "$spid" 2>/dev/null || die "daned exited (see $W/daned.$label.log)"
        if dig @127.0.0.1 -p "$port" "$ZONE_ORIGIN" SOA +short +time="$TIMEOUT" +tries=1 \
            2>/dev/null | grep -q '^[^;]'; then
            t1=$(date +%s%N)
            ms=$(((t1 - t0) / 1000000))
            return 0
        fi
        sleep 0.01
    done
    die "daned did not answer within ${TIMEOUT}s (see $W/daned.$label.log)"
}

# The SOA and its RRSIG as served.
soa() {
    dig @127.0.0.1 -p "$port" "$ZONE_ORIGIN" SOA +dnssec +norec +noall +answer +time=5 +tries=1
}

field() { { grep "$2" "$W/daned.$1.log" || true; } | grep -o "$3=[0-9]*" | head -1 | cut -d= -f2 || true; }

row() {
    local label=$1 ms=$2
    local load resume kept_ms kept_bytes serial
    resume=$(field "$label" 'kept signed zone loaded' elapsed_ms)
    load=$(field "$label" 'manager: zone loaded' elapsed_ms)
    kept_ms=$(field "$label" 'signed zone kept' elapsed_ms)
    kept_bytes=$(field "$label" 'signed zone kept' bytes)
    serial=$(field "$label" 'manager: zone loaded' serial)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$label" "$ms" "${load:--}" "${resume:--}" \
        "${kept_ms:--}" "${kept_bytes:--}" "$serial" >> "$TSV"
    log "$n names, $label: first answer after ${ms} ms (zone start ${load:-?} ms, of it kept zone ${resume:--} ms; kept file written in ${kept_ms:--} ms, ${kept_bytes:--} bytes)"
}

busy=$(wait_quiet)
log "machine ${busy}% busy before the first start"
start first
row first "$ms"
soa > "$W/soa.first"
stop_pid "$spid"
spid=

start restart
row restart "$ms"
soa > "$W/soa.restart"
grep -q 'kept signed zone loaded' "$W/daned.restart.log" || die "the restart did not load the kept zone (see $W/daned.restart.log)"
cmp -s "$W/soa.first" "$W/soa.restart" || die "the restart serves another SOA or RRSIG: $(diff "$W/soa.first" "$W/soa.restart")"
stop_pid "$spid"
spid=

cp "$W/cert1.pem" "$W/certs/rot.pem"
start changed
row changed "$ms"
stop_pid "$spid"
spid=

{
    echo "| names | start | first answer (ms) | zone start (ms) | of it, kept zone loaded (ms) | kept file written (ms) | kept file (bytes) |"
    echo "|---|---|---|---|---|---|---|"
    awk -F'\t' 'NR > 1 { printf "| %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7 }' "$TSV"
} | tee "$RESULTS/restart.md"
log "restart: $TSV, $RESULTS/restart.md"
