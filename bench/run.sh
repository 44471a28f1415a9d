#!/usr/bin/env bash
# `make bench`: daned side by side with the anchor servers and signers, measured with the
# shared harness (../shared/bench, see its README) in one run, ratios at the end.
#
#  1. zones (gen-zone.py) and one ECDSAP256SHA256 KSK+ZSK pair (dnssec-keygen), shared.
#  2. signing: `daned sign` on 1 and 2 threads (each of DENIALS) against ldns-signzone,
#     dnssec-signzone and knotd, at each N.
#  3. serving: daned, knotd and nsd on the same BIND-signed 100k zone, one worker on CPU 0
#     (daned also with two UDP workers on both cores),
#     dnsperf pinned to CPU 1 (server-bench.sh: plain and DO, RUNS times, plus dig checks).
#  4. server CPU time per answered query at a fixed offered rate (dnsperf -Q), because on two
#     cores dnsperf saturates near 80k q/s before Knot or NSD do.
#  5. response bytes per query class (bytes.tsv): dig against each server, plain and DO.
#  6. restart: start to first answer of a signed 100k-name zone, first start (signs) against a
#     restart after SIGTERM (loads the kept signed zone) and one after a certificate change
#     while stopped (bench/restart.sh; RESTART_N): restart.tsv, restart.md.
#  7. rotation latency: certificate replaced -> new TLSA RRset served with its RRSIG, at 1k and
#     100k names (bench/rotation.sh; ROT_NS, ROT_R, ROT_DEBOUNCE_MS): rotation.tsv, rotation.md.
#  8. report.md (the harness's tables) and ratios.md (daned / anchor).
#
# env: NS="10000 100000"  SIGNERS="ldns bind-n1 knot-t1 knot-t2"  DENIALS=nsec  REPEATS=3
#      SERVERS="daned knotd nsd"  RUNS=2  FIXED_QPS=20000  STEPS="gen sign serve fixed bytes restart rotation report"
#      BENCH_WORK (default ${TMPDIR:-/tmp}/daned-bench)  BENCH_HARNESS (default ../shared/bench)
# Every load is on 127.0.0.1 and bounded (dnsperf -l/-n, timeouts); every server is stopped by PID.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
H=${BENCH_HARNESS:-$ROOT/../shared/bench}
[ -x "$H/run-anchors.sh" ] || { echo "bench: harness not found at $H" >&2; exit 1; }
export BENCH_WORK=${BENCH_WORK:-${TMPDIR:-/tmp}/daned-bench}
export RESULTS=${RESULTS:-$BENCH_WORK/results-$(date +%Y%m%d-%H%M%S)}
. "$H/lib.sh"

NS=(${NS:-10000 100000})
STEPS=${STEPS:-"gen sign serve fixed bytes restart rotation report"}
SIGNERS=${SIGNERS:-"ldns bind-n1 knot-t1 knot-t2"}
DENIALS=${DENIALS:-nsec}
SERVERS=${SERVERS:-"daned knotd nsd"}
FIXED_QPS=${FIXED_QPS:-20000}
export REPEATS=${REPEATS:-3} RUNS=${RUNS:-2}
SERVE_N=$(printf '%s\n' "${NS[@]}" | sort -n | tail -1)
has_step() { [[ " $STEPS " == *" $1 "* ]]; }
for t in dnsperf dig knotd nsd ldns-signzone dnssec-signzone dnssec-verify taskset; do
    command -v "$t" >/dev/null || die "$t is not installed (see ../shared/bench/README.md)"
done

(cd "$ROOT" && cargo build --release --locked --bin daned)
DANED=$ROOT/target/release/daned
mkdir -p "$RESULTS"

# Zones, keys and the anchors' signed zones (the serving step needs bind-n1 at SERVE_N).
anchor_steps=""
has_step gen && anchor_steps+="gen "
has_step sign && anchor_steps+="sign "
if [ -n "$anchor_steps" ]; then
    STEPS="$anchor_steps" SIGNERS="$SIGNERS" DENIALS="$DENIALS" "$H/run-anchors.sh" "${NS[@]}"
fi
ZD=$BENCH_WORK/zones SD=$BENCH_WORK/signed
if has_step sign; then
    for n in "${NS[@]}"; do
        for denial in $DENIALS; do
            flag=""
            [ "$denial" = nsec3 ] && flag="--nsec3"
            label=$(echo "$denial" | tr a-z A-Z)
            # One signing thread and two (the machine's cores): `signing-threads` of the daemon.
            for t in 1 2; do
                out=$SD/daned-$denial-t$t-$n.zone
                "$H/sign-bench.sh" "daned sign $label t$t" "$n" "$out" -- \
                    "$DANED" sign --zone "$ZD/bench.test.$n.zone" --origin "$ZONE_ORIGIN" \
                    --out "$out" --threads "$t" $flag
            done
        done
    done
fi

signed=$SD/bind-n1-nsec-$SERVE_N.zone
qf=$ZD/queries.$SERVE_N.txt
if has_step serve; then
    [ -s "$signed" ] || die "no $signed: run with the sign step (SIGNERS including bind-n1) first"
    port=53301
    for srv in $SERVERS; do
        case $srv in
        daned) SERVER_CPUS=0 "$H/server-bench.sh" "daned w1" "$port" "$qf" -- \
                   "$DANED" serve-presigned --zone "$signed" --origin "$ZONE_ORIGIN" \
                   --listen "127.0.0.1:$port" --threads 1 --udp-workers 1 --rate-limit 0
               # Two UDP workers on both cores (dnsperf shares CPU 1: a floor, not a ceiling).
               port=$((port + 1))
               SERVER_CPUS=0-1 "$H/server-bench.sh" "daned w2" "$port" "$qf" -- \
                   "$DANED" serve-presigned --zone "$signed" --origin "$ZONE_ORIGIN" \
                   --listen "127.0.0.1:$port" --threads 2 --udp-workers 2 --rate-limit 0 ;;
        *) SERVER_CPUS=0 "$H/server-bench.sh" "$srv w1" "$port" "$qf" -- \
               "$H/anchor-server.sh" "$srv" "$port" "$signed" 1 "$BENCH_WORK/serve/$srv-w1" ;;
        esac
        port=$((port + 1))
    done
fi

# Server CPU per answered query at a fixed offered rate, below everyone's saturation.
if has_step fixed; then
    [ -s "$signed" ] || die "no $signed"
    FT=$RESULTS/fixed-rate.tsv
    [ -f "$FT" ] || printf 'label\tdo\toffered_qps\tanswered_qps\tserver_cpu_s\tserver_us_per_q\tlost\n' > "$FT"
    HZ=$(getconf CLK_TCK)
    port=53401
    for srv in $SERVERS; do
        case $srv in
        daned) cmd=("$DANED" serve-presigned --zone "$signed" --origin "$ZONE_ORIGIN" --listen "127.0.0.1:$port" --threads 1 --rate-limit 0) ;;
        *) cmd=("$H/anchor-server.sh" "$srv" "$port" "$signed" 1 "$BENCH_WORK/serve/$srv-fixed") ;;
        esac
        taskset -c 0 "${cmd[@]}" > "$RESULTS/fixed-$srv.log" 2>&1 &
        spid=$!
        wait_dns "$port" 600 "$spid" || { stop_pid "$spid"; die "$srv did not answer"; }
        for d in 0 1; do
            extra=(); [ "$d" = 1 ] && extra=(-D)
            wait_quiet > /dev/null
            t0=$(proc_tree_ticks "$spid")
            taskset -c 1 timeout 60 dnsperf -s 127.0.0.1 -p "$port" -d "$qf" -l 15 -n 100 \
                -Q "$FIXED_QPS" -c 4 -T 1 -t 2 "${extra[@]}" > "$RESULTS/fixed-$srv-do$d.dnsperf" 2>&1
            t1=$(proc_tree_ticks "$spid")
            q=$(sed -n 's/^ *Queries completed: *\([0-9]*\).*/\1/p' "$RESULTS/fixed-$srv-do$d.dnsperf")
            lost=$(sed -n 's/^ *Queries lost: *\([0-9]*\).*/\1/p' "$RESULTS/fixed-$srv-do$d.dnsperf")
            qps=$(sed -n 's/^ *Queries per second: *\([0-9.]*\).*/\1/p' "$RESULTS/fixed-$srv-do$d.dnsperf")
            cpu=$(awk -v t=$((t1 - t0)) -v hz="$HZ" 'BEGIN {printf "%.2f", t / hz}')
            usq=$(awk -v c="$cpu" -v q="$q" 'BEGIN {printf "%.2f", (q > 0) ? 1e6 * c / q : 0}')
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$srv" "$d" "$FIXED_QPS" "$qps" "$cpu" "$usq" "$lost" >> "$FT"
            log "fixed $FIXED_QPS q/s $srv DO=$d: answered ${qps} q/s, server ${usq} us/query, lost $lost"
        done
        stop_pid "$spid"
        port=$((port + 1))
    done
fi

# Response bytes per query class of the bench mix (and an MX query, whose answer carries the
# target's addresses), plain (no EDNS) and DO (EDNS, no cookie), as dig receives them.
if has_step bytes; then
    [ -s "$signed" ] || die "no $signed"
    BT=$RESULTS/bytes.tsv
    printf 'label\tclass\tdo\tquestion\tbytes\trcode\tcounts\n' > "$BT"
    tlsa_q=$(grep -m1 ' TLSA$' "$qf") a_q=$(grep -m1 '^host.* A$' "$qf")
    nx_q=$(grep -m1 '^nx' "$qf") nodata_q=$(grep -m1 ' TXT$' "$qf")
    mx_q="host10.$ZONE_ORIGIN MX"
    port=53451
    for srv in $SERVERS; do
        case $srv in
        daned) cmd=("$DANED" serve-presigned --zone "$signed" --origin "$ZONE_ORIGIN" --listen "127.0.0.1:$port" --threads 1 --rate-limit 0) ;;
        *) cmd=("$H/anchor-server.sh" "$srv" "$port" "$signed" 1 "$BENCH_WORK/serve/$srv-bytes") ;;
        esac
        "${cmd[@]}" > "$RESULTS/bytes-$srv.log" 2>&1 &
        spid=$!
        wait_dns "$port" 600 "$spid" || { stop_pid "$spid"; die "$srv did not answer"; }
        for class in TLSA A NXDOMAIN NODATA MX; do
            case $class in
            TLSA) q=$tlsa_q ;; A) q=$a_q ;; NXDOMAIN) q=$nx_q ;; NODATA) q=$nodata_q ;; MX) q=$mx_q ;;
            esac
            for d in 0 1; do
                flags=(+noedns); [ "$d" = 1 ] && flags=(+dnssec +nocookie +bufsize=1232)
                out=$(dig @127.0.0.1 -p "$port" +norec +time=2 +tries=2 "${flags[@]}" $q)
                bytes=$(sed -n 's/.*MSG SIZE *rcvd: *\([0-9]*\).*/\1/p' <<< "$out")
                rcode=$(sed -n 's/.*status: *\([A-Z]*\).*/\1/p' <<< "$out")
                counts=$(sed -n 's/.*QUERY: [0-9]*, ANSWER: \([0-9]*\), AUTHORITY: \([0-9]*\), ADDITIONAL: \([0-9]*\).*/\1\/\2\/\3/p' <<< "$out")
                printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$srv" "$class" "$d" "$q" "$bytes" "$rcode" "$counts" >> "$BT"
            done
        done
        stop_pid "$spid"
        port=$((port + 1))
    done
    log "response bytes per class: $BT"
fi

# Time from a certificate file replaced to the new TLSA RRset served with an RRSIG.
if has_step rotation; then
    DANED="$DANED" BENCH_HARNESS="$H" "$ROOT/bench/rotation.sh"
fi

# Time from `daned serve` started to its first answer: signing at a first start, loading the
# kept signed zone at a restart.
if has_step restart; then
    DANED="$DANED" BENCH_HARNESS="$H" RESTART_N="$SERVE_N" "$ROOT/bench/restart.sh"
fi

if has_step report; then
    tool_versions > "$RESULTS/versions.txt" 2>/dev/null || true
    python3 "$H/make-report.py" "$RESULTS" > "$RESULTS/report.md"
    python3 "$ROOT/bench/ratios.py" "$RESULTS" | tee "$RESULTS/ratios.md"
    log "report: $RESULTS/report.md, ratios: $RESULTS/ratios.md"
fi
