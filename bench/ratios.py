#!/usr/bin/env python3
"""daned / anchor ratios from one bench run's TSVs (sign.tsv, serve.tsv, servers.tsv,
fixed-rate.tsv, bytes.tsv).

usage: ratios.py RESULTS_DIR   (markdown on stdout)
"""
import csv
import os
import statistics
import sys


def rows(d, name):
    p = os.path.join(d, name)
    if not os.path.exists(p):
        return []
    with open(p, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def num(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def main():
    d = sys.argv[1]
    out = ["# daned against the anchors (one run; ratio = daned / anchor)", ""]

    sign = rows(d, "sign.tsv")
    if sign:
        out += ["## Signing: median wall time (lower is better)", "",
                "| N | daned | daned s | anchor | anchor s | daned / anchor |",
                "|---:|---|---:|---|---:|---:|"]
        for n in sorted({r["N"] for r in sign}, key=int):
            for mine in [r for r in sign if r["N"] == n and r["label"].startswith("daned")]:
                m = num(mine["median_wall_s"])
                nsec3 = "NSEC3" in mine["label"]
                for r in sign:
                    if r["N"] != n or r["label"].startswith("daned") or ("NSEC3" in r["label"]) != nsec3:
                        continue
                    a = num(r["median_wall_s"])
                    ratio = "%.2f" % (m / a) if m and a else "NA"
                    out.append("| %s | %s | %s | %s | %s | %s |" % (
                        n, mine["label"], mine["median_wall_s"], r["label"], r["median_wall_s"], ratio))
        out.append("")

    serve = rows(d, "serve.tsv")
    if serve:
        def med(label, do, field):
            v = [num(r[field]) for r in serve if r["label"] == label and r["do"] == do]
            v = [x for x in v if x is not None]
            return statistics.median(v) if v else None
        out += ["## Serving, one worker on CPU 0 (dnsperf on CPU 1): qps (higher is better) and server us/query (lower is better)", "",
                "| anchor | DO | daned qps | anchor qps | qps ratio | daned us/q | anchor us/q | us/q ratio |",
                "|---|---|---:|---:|---:|---:|---:|---:|"]
        for anchor in sorted({r["label"] for r in serve if not r["label"].startswith("daned")}):
            for do in ("0", "1"):
                dq, aq = med("daned w1", do, "qps"), med(anchor, do, "qps")
                du, au = med("daned w1", do, "server_us_per_q"), med(anchor, do, "server_us_per_q")
                fmt = lambda x: "NA" if x is None else "%.0f" % x
                fmt2 = lambda x: "NA" if x is None else "%.2f" % x
                out.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    anchor, do, fmt(dq), fmt(aq), fmt2(dq / aq) if dq and aq else "NA",
                    fmt2(du), fmt2(au), fmt2(du / au) if du and au else "NA"))
        out.append("")
        w2 = [(do, med("daned w2", do, "qps")) for do in ("0", "1")]
        if any(q for _, q in w2):
            out += ["daned with two UDP workers on both cores (dnsperf shares CPU 1, so a floor): " +
                    ", ".join("DO=%s %s q/s" % (do, "NA" if q is None else "%.0f" % q) for do, q in w2), ""]

    fixed = rows(d, "fixed-rate.tsv")
    if fixed:
        out += ["## Server CPU per answered query at a fixed offered rate (lower is better)", "",
                "| server | DO | offered q/s | answered q/s | server us/query | daned / this | lost |",
                "|---|---|---:|---:|---:|---:|---:|"]
        mine = {r["do"]: num(r["server_us_per_q"]) for r in fixed if r["label"] == "daned"}
        for r in fixed:
            u = num(r["server_us_per_q"])
            ratio = "%.2f" % (mine[r["do"]] / u) if mine.get(r["do"]) and u else "NA"
            out.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                r["label"], r["do"], r["offered_qps"], r["answered_qps"], r["server_us_per_q"], ratio, r["lost"]))
        out.append("")
    servers = rows(d, "servers.tsv")
    if servers:
        out += ["## Start-up (zone load until answering) and memory after load (lower is better)", "",
                "| server | load s | PSS MB | daned w1 / this (load, PSS) |",
                "|---|---:|---:|---:|"]
        mine = next((r for r in servers if r["label"] == "daned w1"), None)
        for r in servers:
            ratio = "NA"
            if mine and num(r["load_s"]) and num(r["pss_MB"]):
                ratio = "%.2f, %.2f" % (num(mine["load_s"]) / num(r["load_s"]),
                                        num(mine["pss_MB"]) / num(r["pss_MB"]))
            out.append("| %s | %s | %s | %s |" % (r["label"], r["load_s"], r["pss_MB"], ratio))
        out.append("")

    restart = rows(d, "restart.tsv")
    if restart:
        knot = next((num(r["load_s"]) for r in servers if r["label"].startswith("knotd")), None)
        out += ["## daned serve: start until the first answer (lower is better)", "",
                "| names | start | first answer s | / knotd load of its signed zone |",
                "|---:|---|---:|---:|"]
        for r in restart:
            ms = num(r["first_answer_ms"])
            s = ms / 1000 if ms else None
            ratio = "%.2f" % (s / knot) if s and knot else "NA"
            out.append("| %s | %s | %s | %s |" % (
                r["names"], r["start"], "NA" if s is None else "%.2f" % s, ratio))
        out.append("")

    sizes = rows(d, "bytes.tsv")
    if sizes:
        out += ["## Response bytes per query class, as dig receives them (lower is better)", "",
                "| class | DO | question | " + " | ".join(sorted({r["label"] for r in sizes})) +
                " | daned / knotd |", "|---|---|---|" + "---:|" * (len({r["label"] for r in sizes}) + 1)]
        labels = sorted({r["label"] for r in sizes})
        for cls in dict.fromkeys(r["class"] for r in sizes):
            for do in ("0", "1"):
                got = {r["label"]: r for r in sizes if r["class"] == cls and r["do"] == do}
                if not got:
                    continue
                q = next(iter(got.values()))["question"]
                cells = ["%s (%s %s)" % (got[l]["bytes"], got[l]["rcode"], got[l]["counts"]) if l in got else "NA"
                         for l in labels]
                dn, kn = num(got.get("daned", {}).get("bytes")), num(got.get("knotd", {}).get("bytes"))
                ratio = "%.2f" % (dn / kn) if dn and kn else "NA"
                out.append("| %s | %s | %s | %s | %s |" % (cls, do, q, " | ".join(cells), ratio))
        out.append("")
    print("\n".join(out))


if __name__ == "__main__":
    main()
