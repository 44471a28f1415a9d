#!/usr/bin/env bash
# Restart time: how long `daned serve` takes from its start until it answers, for a zone of N
# names, on its first start (nothing in the state directory: it signs the whole zone) and on a
# restart with the same content (it finds its last published zone in the state directory).
# The anchors' figure to compare with is the load time of their signed zone in servers.tsv
# (issue 10: a restart at most 2 x knotd's load time).
#
# For each size: a gen-zone.py zone (bench.test.), a daemon config with a key-dir and a
# state-dir, then: start, wait until it answers the SOA with an RRSIG, stop with SIGTERM,
# start again (RESTART_R times), each time timed until the first signed SOA answer. The SOA
# serial and its RRSIG after each restart are compared with the first start's: a restart with
# unchanged content must serve the same serial (the `same` column says whether the RRSIG is
# identical too, i.e. nothing was re-signed).
#
# Output: $RESULTS/restart.tsv (one row per start), daned's logs in $BENCH_WORK/restart/n*/.
# env: RESTART_NS="100000"  RESTART_R=2  RESTART_PORT=53551  DANED, BENCH_WORK, RESULTS as in
#      run.sh. Everything is on 127.0.0.1, every wait is bounded, the server is stopped by PID.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
H=${BENCH_HARNESS:-$ROOT/../shared/bench}
[ -f "$H/lib.sh" ] || { echo "bench: harness not found at $H" >&2; exit 1; }
export BENCH_WORK=${BENCH_WORK:-${TMPDIR:-/tmp}/daned-bench}
export RESULTS=${RESULTS:-$BENCH_WORK/results-$(date +%Y%m%d-%H%M%S)}
. "$H/lib.sh"

NS=(${RESTART_NS:-100000})
R=${RESTART_R:-2}
port=${RESTART_PORT:-53551}
if [ -z "${DANED:-}" ]; then
    (cd "$ROOT" && cargo build --release --locked --bin daned)
    DANED=$ROOT/target/release/daned
fi
[ -x "$DANED" ] || die "no daned binary at $DANED"
mkdir -p "$RESULTS" "$BENCH_WORK/zones"
TSV=$RESULTS/restart.tsv
printf 'N\tstart\tanswering_s\tpss_MB\tserial\tsame_rrsig\n' > "$TSV"

# The SOA and its RRSIG as served (one line each), or nothing.
signed_soa() {
    dig @127.0.0.1 -p "$1" "$ZONE_ORIGIN" SOA +dnssec +norec +nocookie +time=1 +tries=1 \
        +noall +answer 2>/dev/null | awk '$4 == "SOA" || ($4 == "RRSIG" && $5 == "SOA")' || true
}

spid=
trap 'stop_pid "$spid"' EXIT
for n in "${NS[@]}"; do
    zone=$BENCH_WORK/zones/bench.test.$n.zone
    [ -s "$zone" ] || python3 "$H/gen-zone.py" "$n" --zone "$zone" \
        --queries "$BENCH_WORK/zones/queries.$n.txt"
    W=$BENCH_WORK/restart/n$n
    rm -rf "$W"
    mkdir -p "$W"
    cat > "$W/daned.toml" <<TOML
version = "v1"
[server]
listen = ["127.0.0.1:$port"]
key-dir = "keys"
state-dir = "state"
rate-limit = 0

[[zone]]
origin = "$ZONE_ORIGIN"
file = "$zone"
TOML
    first=
    for ((i = 0; i <= R; i++)); do
        busy=$(wait_quiet)
        t0=$(now)
        RUST_LOG=info "$DANED" serve -c "$W/daned.toml" > /dev/null 2> "$W/daned.$i.log" &
        spid=$!
        answered=
        for ((k = 0; k < 3000; k++)); do
            kill -0 "$spid" 2>/dev/null || die "daned exited (see $W/daned.$i.log)"
            soa=$(signed_soa "$port")
            if grep -q RRSIG <<< "$soa"; then answered=1; break; fi
            sleep 0.05
        done
        [ -n "$answered" ] || die "daned did not answer a signed SOA (see $W/daned.$i.log)"
        s=$(awk -v a="$t0" -v b="$(now)" 'BEGIN {printf "%.2f", b - a}')
        sleep 1
        pss=$(( $(proc_tree_rss_kb "$spid") / 1024 ))
        serial=$(awk '$4 == "SOA" {print $7}' <<< "$soa")
        if [ -z "$first" ]; then first=$soa; same=first; label=first; else
            label=restart; if [ "$soa" = "$first" ]; then same=yes; else same=no; fi
        fi
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$label" "$s" "$pss" "$serial" "$same" >> "$TSV"
        log "$n names, $label: answering after ${s}s (machine ${busy}% busy before), PSS ${pss} MB, serial $serial, same RRSIG: $same"
        stop_pid "$spid"
        spid=
    done
    port=$((port + 1))
done
log "restart: $TSV"
