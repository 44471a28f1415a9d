#!/usr/bin/env python3
"""Rotation latency: certificate file replaced -> new TLSA RRset served with an RRSIG.

Stdlib only. Two subcommands (bench/rotation.sh drives them):

  rotation.py run --server 127.0.0.1:PORT --owner NAME --cert FILE --log DANED_LOG
                  --size N --debounce-ms D --tsv OUT.tsv  PEM:HEX [PEM:HEX ...]

      For each PEM:HEX (a pre-generated certificate and the SHA-256 of its key, as openssl
      computed it), in order: copies PEM to --tmp (default: next to FILE), waits --gap,
      renames it over FILE (atomic), and
      polls the server over UDP (DO set, 250 ms per try, bounded by --timeout) until the
      answer for NAME TLSA carries a `3 1 1 HEX` record and an RRSIG covering TLSA. The time
      from the rename to that answer is the end-to-end latency. daned's own `elapsed_us` is
      read from the `certificate change published` line it logs for that change (time from
      reading the changed file to the new version being ready to serve). One TSV row per
      rotation is appended to --tsv. With --delv and --anchor, each new RRset is then also
      validated by delv (not timed).

  rotation.py summary TSV [--debounce-ms D]
      Median and p90 per size: end to end, end to end minus the debounce, in daemon. Markdown.
"""
import argparse
import os
import random
import re
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import time

TYPE_TLSA = 52
TYPE_RRSIG = 46
TYPE_OPT = 41
TSV_HEADER = ("size\trotation\te2e_ms\te2e_minus_debounce_ms\tdaemon_ms\ttlsa_records\tqueries"
              "\tbackground_busy_pct\n")


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\x00"


def query_packet(qid, name, qtype):
    # Header: RD=0 (authoritative server), 1 question, 1 additional (OPT with DO).
    header = struct.pack("!HHHHHH", qid, 0, 1, 0, 0, 1)
    question = encode_name(name) + struct.pack("!HH", qtype, 1)
    # OPT: root name, type 41, payload 1232, ext-rcode 0, version 0, flags DO (0x8000), rdlen 0.
    opt = b"\x00" + struct.pack("!HHBBHH", TYPE_OPT, 1232, 0, 0, 0x8000, 0)
    return header + question + opt


def skip_name(msg, pos):
    """Position after the (possibly compressed) name at pos."""
    for _ in range(128):  # bounded: a name has at most 127 labels
        length = msg[pos]
        if length == 0:
            return pos + 1
        if length & 0xC0 == 0xC0:
            return pos + 2
        pos += 1 + length
    raise ValueError("name too long")


def answers(msg):
    """(rcode, truncated, [(type, rdata bytes)]) of the answer section."""
    qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", msg[:12])
    pos = 12
    for _ in range(qd):
        pos = skip_name(msg, pos) + 4
    records = []
    for _ in range(an):
        pos = skip_name(msg, pos)
        rtype, _cls, _ttl, rdlen = struct.unpack("!HHIH", msg[pos:pos + 10])
        pos += 10
        records.append((rtype, msg[pos:pos + rdlen]))
        pos += rdlen
    return flags & 0xF, bool(flags & 0x0200), records


class Client:
    def __init__(self, server):
        host, port = server.rsplit(":", 1)
        self.addr = (host, int(port))
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(0.25)
        self.qid = random.randrange(1 << 16)

    def ask(self, name, qtype):
        """The answer records, or None when no answer came within the per-try timeout."""
        self.qid = (self.qid + 1) & 0xFFFF
        self.sock.sendto(query_packet(self.qid, name, qtype), self.addr)
        deadline = time.monotonic() + 0.25
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data, _ = self.sock.recvfrom(65535)
            except socket.timeout:
                return None
            if len(data) >= 12 and struct.unpack("!H", data[:2])[0] == self.qid:
                rcode, truncated, records = answers(data)
                if truncated:
                    raise RuntimeError("answer truncated; use fewer rotations per run")
                return records

    def tlsa_state(self, owner):
        """(set of 3 1 1 association data hex, has an RRSIG over TLSA) or None."""
        records = self.ask(owner, TYPE_TLSA)
        if records is None:
            return None
        hexes = set()
        signed = False
        for rtype, rdata in records:
            if rtype == TYPE_TLSA and rdata[:3] == b"\x03\x01\x01":
                hexes.add(rdata[3:].hex())
            elif rtype == TYPE_RRSIG and struct.unpack("!H", rdata[:2])[0] == TYPE_TLSA:
                signed = True
        return hexes, signed


PUBLISHED = re.compile(r"certificate change published.*?elapsed_us=(\d+)")


def read_new_lines(path, offset):
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read()
    # Only complete lines; the rest is read next time.
    end = data.rfind(b"\n") + 1
    return data[:end].decode("utf-8", "replace").splitlines(), offset + end


def cmd_run(a):
    client = Client(a.server)
    state = client.tlsa_state(a.owner)
    if state is None or not state[1]:
        sys.exit("rotation: no signed TLSA answer for %s before the first rotation" % a.owner)
    log_offset = os.path.getsize(a.log)
    new_tsv = not os.path.exists(a.tsv)
    with open(a.tsv, "a") as out:
        if new_tsv:
            out.write(TSV_HEADER)
        for i, spec in enumerate(a.certs, 1):
            pem, hexdigest = spec.rsplit(":", 1)
            hexdigest = hexdigest.lower()
            if hexdigest in state[0]:
                sys.exit("rotation %d: %s is already served; every rotation needs a new key" % (i, hexdigest))
            tmp = a.tmp or a.cert + ".rotation-tmp"
            shutil.copyfile(pem, tmp)
            time.sleep(a.gap)  # the daemon idle, the copy's own events long settled
            t0 = time.monotonic()
            os.rename(tmp, a.cert)
            queries = 0
            while True:
                elapsed = time.monotonic() - t0
                if elapsed > a.timeout:
                    sys.exit("rotation %d: new TLSA not served within %.0f s" % (i, a.timeout))
                state_now = client.tlsa_state(a.owner)
                queries += 1
                if state_now is not None and hexdigest in state_now[0] and state_now[1]:
                    e2e_ms = (time.monotonic() - t0) * 1000.0
                    state = state_now
                    break
            # daned logs the line before it swaps the new version in; wait (bounded) for it.
            daemon_ms = None
            deadline = time.monotonic() + 5.0
            while daemon_ms is None and time.monotonic() < deadline:
                lines, log_offset = read_new_lines(a.log, log_offset)
                for line in lines:
                    m = PUBLISHED.search(line)
                    if m:
                        daemon_ms = int(m.group(1)) / 1000.0
                if daemon_ms is None:
                    time.sleep(0.02)
            if daemon_ms is None:
                sys.exit("rotation %d: no 'certificate change published' line in %s" % (i, a.log))
            if a.delv:
                validate(a, i, hexdigest)
            row = (a.size, i, "%.2f" % e2e_ms, "%.2f" % (e2e_ms - a.debounce_ms),
                   "%.3f" % daemon_ms, len(state[0]), queries, a.busy)
            out.write("\t".join(str(x) for x in row) + "\n")
            out.flush()
            print("size %d rotation %d: end to end %.1f ms (%.1f beyond the debounce), in daemon %.2f ms, "
                  "%d TLSA records" % (a.size, i, e2e_ms, e2e_ms - a.debounce_ms, daemon_ms, len(state[0])),
                  file=sys.stderr)


def validate(a, i, hexdigest):
    """delv, from the zone's trust anchor, fully validates the TLSA RRset with the new record
    (after the measurement, not timed)."""
    host, port = a.server.rsplit(":", 1)
    cmd = [a.delv, "@" + host, "-p", port, "-a", a.anchor, "+root=" + a.zone, "+tcp", "+nomtrace",
           a.owner, "TLSA"]
    try:
        text = subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout
    except subprocess.TimeoutExpired:
        sys.exit("rotation %d: delv timed out" % i)
    flat = "".join(text.lower().split())
    if "; fully validated" not in text or hexdigest not in flat:
        sys.exit("rotation %d: delv did not fully validate the new TLSA RRset:\n%s" % (i, text))


def percentile(values, p):
    """Nearest-rank percentile."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(-(-p * len(s) // 100)) - 1))
    return s[k]


def cmd_summary(a):
    rows = {}
    with open(a.tsv) as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            r = dict(zip(header, line.rstrip("\n").split("\t")))
            rows.setdefault(int(r["size"]), []).append(r)
    print("## Rotation latency (certificate renamed over -> new TLSA + RRSIG served)\n")
    print("watch-debounce-ms = %d; R rotations per size, each a new key; times in ms.\n" % a.debounce_ms)
    print("| names | R | e2e median | e2e p90 | e2e - debounce median | e2e - debounce p90 "
          "| in daemon median | in daemon p90 | in daemon max | busy before |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size in sorted(rows):
        e2e = [float(r["e2e_ms"]) for r in rows[size]]
        beyond = [float(r["e2e_minus_debounce_ms"]) for r in rows[size]]
        daemon = [float(r["daemon_ms"]) for r in rows[size]]
        busy = rows[size][0].get("background_busy_pct", "NA")
        print("| %d | %d | %.1f | %.1f | %.1f | %.1f | %.2f | %.2f | %.2f | %s%% |" % (
            size, len(e2e), statistics.median(e2e), percentile(e2e, 90),
            statistics.median(beyond), percentile(beyond, 90),
            statistics.median(daemon), percentile(daemon, 90), max(daemon), busy))
    print("\n`busy before`: the machine's busy % (other processes) when the size's run began"
          " (wait_quiet, QUIET_PCT/QUIET_WAIT).")
    print("\nGoal: the same at both sizes (incremental signing), and under 50 ms beyond the debounce.")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--server", required=True)
    r.add_argument("--owner", required=True)
    r.add_argument("--cert", required=True)
    r.add_argument("--log", required=True)
    r.add_argument("--size", type=int, required=True)
    r.add_argument("--debounce-ms", type=float, required=True)
    r.add_argument("--tsv", required=True)
    r.add_argument("--timeout", type=float, default=30.0, help="per rotation, seconds")
    r.add_argument("--tmp", help="where the new file is written before the rename (same file system)")
    r.add_argument("--busy", default="NA", help="machine busy %% before the run (recorded)")
    r.add_argument("--gap", type=float, default=1.0, help="idle seconds before each rotation")
    r.add_argument("--delv", help="validate each new RRset with this delv (not timed)")
    r.add_argument("--anchor", help="delv trust anchor file (daned ds --trust-anchor)")
    r.add_argument("--zone", default="bench.test.", help="the zone, for delv +root")
    r.add_argument("certs", nargs="+", help="PEM:HEX, one per rotation")
    s = sub.add_parser("summary")
    s.add_argument("tsv")
    s.add_argument("--debounce-ms", type=float, default=0)
    a = ap.parse_args()
    if a.cmd == "run":
        cmd_run(a)
    else:
        cmd_summary(a)


if __name__ == "__main__":
    main()
