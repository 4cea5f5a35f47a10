#!/usr/bin/env python3
"""Checks the SCALE-Sim reports of an `lbfp sim --out DIR` run against its layers.csv.

Usage: check_scalesim_reports.py DIR

COMPUTE_REPORT.csv, BANDWIDTH_REPORT.csv and DETAILED_ACCESS_REPORT.csv must carry SCALE-Sim v2's
header lines byte for byte (scalesim/simulator.py, generate_reports) and its row layout
("ID, v, v, ...,"), and every value must follow from the same layer's row of layers.csv as
docs/scalesim.md defines it. The reports of the run's first format are in DIR; with more than one
format, each format's are also in DIR/<format>.
"""
import csv
import json
import math
import os
import re
import sys

HEADERS = {
    "COMPUTE_REPORT.csv":
        "LayerID, Total Cycles, Stall Cycles, Overall Util %, Mapping Efficiency %, "
        "Compute Util %,",
    "BANDWIDTH_REPORT.csv":
        "LayerID, Avg IFMAP SRAM BW, Avg FILTER SRAM BW, Avg OFMAP SRAM BW, "
        "Avg IFMAP DRAM BW, Avg FILTER DRAM BW, Avg OFMAP DRAM BW,",
    "DETAILED_ACCESS_REPORT.csv":
        "LayerID, "
        "SRAM IFMAP Start Cycle, SRAM IFMAP Stop Cycle, SRAM IFMAP Reads, "
        "SRAM Filter Start Cycle, SRAM Filter Stop Cycle, SRAM Filter Reads, "
        "SRAM OFMAP Start Cycle, SRAM OFMAP Stop Cycle, SRAM OFMAP Writes, "
        "DRAM IFMAP Start Cycle, DRAM IFMAP Stop Cycle, DRAM IFMAP Reads, "
        "DRAM Filter Start Cycle, DRAM Filter Stop Cycle, DRAM Filter Reads, "
        "DRAM OFMAP Start Cycle, DRAM OFMAP Stop Cycle, DRAM OFMAP Writes,",
}

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)


def close(a, b):
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


def read_report(path, name, layers):
    """The rows of a report as {column name: float}, checked for SCALE-Sim's layout."""
    with open(os.path.join(path, name)) as f:
        lines = f.read().split("\n")
    check(lines[0] == HEADERS[name], f"{path}/{name}: header {lines[0]!r}")
    check(lines[-1] == "", f"{path}/{name}: no final newline")
    rows = lines[1:-1]
    check(len(rows) == layers, f"{path}/{name}: {len(rows)} rows for {layers} layers")
    # Read as a SCALE-Sim script would (csv with the spaces after the commas skipped).
    table = list(csv.reader(lines[:-1], skipinitialspace=True))
    columns = table[0][:-1]
    out = []
    for i, (line, cells) in enumerate(zip(rows, table[1:])):
        check(re.fullmatch(r"\d+(, [-0-9.e+]+)+,", line) is not None,
              f"{path}/{name}: row {line!r} is not SCALE-Sim's 'ID, v, ...,'")
        check(cells[-1] == "", f"{path}/{name}: row {i} lacks the trailing comma")
        values = dict(zip(columns, (float(c) for c in cells[:-1])))
        check(values["LayerID"] == i, f"{path}/{name}: row {i} has LayerID {values['LayerID']}")
        out.append(values)
    return out


def mapping_efficiency(dataflow, m, n, k, rows, cols):
    # The spatial dimensions of SCALE-Sim's dataflows (topology_utils.py,
    # calc_spatio_temporal_params); each fold maps min(R, rest) x min(C, rest).
    sr, sc = {"output-stationary": (m, n), "weight-stationary": (k, n),
              "input-stationary": (k, m)}[dataflow]
    return 100.0 * sr * sc / (math.ceil(sr / rows) * rows * math.ceil(sc / cols) * cols)


def check_format(path, layers, rows, cols, dataflow):
    comp = read_report(path, "COMPUTE_REPORT.csv", len(layers))
    bw = read_report(path, "BANDWIDTH_REPORT.csv", len(layers))
    det = read_report(path, "DETAILED_ACCESS_REPORT.csv", len(layers))
    pes = rows * cols
    for i, l in enumerate(layers):
        g = lambda key: int(l[key])
        total, compute, macs = g("total_cycles"), g("compute_cycles"), g("macs")
        where = f"{path}: layer {i} ({l['layer']})"
        c = comp[i]
        check(c["Total Cycles"] == total, f"{where}: Total Cycles {c['Total Cycles']} != {total}")
        check(c["Stall Cycles"] == g("stall_cycles"), f"{where}: Stall Cycles")
        check(close(c["Overall Util %"], 100.0 * macs / (pes * total)), f"{where}: Overall Util %")
        check(close(c["Overall Util %"] / 100.0, float(l["utilization"])) or
              abs(c["Overall Util %"] / 100.0 - float(l["utilization"])) < 1e-6,
              f"{where}: Overall Util % is not layers.csv's utilization")
        eff = mapping_efficiency(dataflow, g("m"), g("n") // g("groups"), g("k"), rows, cols)
        check(close(c["Mapping Efficiency %"], eff),
              f"{where}: Mapping Efficiency % {c['Mapping Efficiency %']} != {eff}")
        check(close(c["Compute Util %"], 100.0 * macs / (pes * compute)),
              f"{where}: Compute Util %")
        b = bw[i]
        for column, key in (("Avg IFMAP SRAM BW", "ifmap_sram_read_bytes"),
                            ("Avg FILTER SRAM BW", "filter_sram_read_bytes"),
                            ("Avg OFMAP SRAM BW", "ofmap_sram_write_bytes"),
                            ("Avg IFMAP DRAM BW", "ifmap_dram_read_bytes"),
                            ("Avg FILTER DRAM BW", "filter_dram_read_bytes"),
                            ("Avg OFMAP DRAM BW", "ofmap_dram_write_bytes")):
            check(close(b[column], g(key) / total), f"{where}: {column} {b[column]}")
        d = det[i]
        for prefix, key in (("SRAM IFMAP", "ifmap_sram_read_bytes"),
                            ("SRAM Filter", "filter_sram_read_bytes"),
                            ("SRAM OFMAP", "ofmap_sram_write_bytes"),
                            ("DRAM IFMAP", "ifmap_dram_read_bytes"),
                            ("DRAM Filter", "filter_dram_read_bytes"),
                            ("DRAM OFMAP", "ofmap_dram_write_bytes")):
            count = d[prefix + (" Writes" if "OFMAP" in prefix else " Reads")]
            check(count == g(key), f"{where}: {prefix} count {count} != {g(key)}")
            check(d[prefix + " Start Cycle"] == 0, f"{where}: {prefix} Start Cycle")
            check(d[prefix + " Stop Cycle"] == total - 1, f"{where}: {prefix} Stop Cycle")
            # SCALE-Sim's DRAM bandwidth is the count over the window, both reports agree.
            if prefix.startswith("DRAM"):
                window = d[prefix + " Stop Cycle"] - d[prefix + " Start Cycle"] + 1
                column = "Avg " + prefix.split()[1].upper() + " DRAM BW"
                check(close(bw[i][column], count / window), f"{where}: {prefix} window")


def main():
    out = sys.argv[1]
    with open(os.path.join(out, "layers.csv")) as f:
        rows = list(csv.DictReader(f))
    with open(os.path.join(out, "summary.json")) as f:
        arch = json.load(f)["arch"]
    formats = list(dict.fromkeys(r["format"] for r in rows))
    check(len(formats) >= 1, "layers.csv has no rows")
    by_format = {f: [r for r in rows if r["format"] == f] for f in formats}
    check_format(out, by_format[formats[0]], arch["rows"], arch["cols"], arch["dataflow"])
    for f in formats:
        folder = os.path.join(out, re.sub(r"_+$", "", re.sub(r"[^A-Za-z0-9-]", "_", f)))
        if len(formats) > 1:
            check_format(folder, by_format[f], arch["rows"], arch["cols"], arch["dataflow"])
        else:
            check(not os.path.exists(folder), f"{folder}: written for a run of one format")
    for message in failures:
        print("FAIL:", message)
    print(f"checked {out}: {len(formats)} format(s), {len(by_format[formats[0]])} layer(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
