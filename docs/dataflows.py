#!/usr/bin/env python3
"""The tables of docs/dataflows.md from `lbfp sim --dataflow best` runs.

Usage: dataflows.py RUNS_DIR BY, where RUNS_DIR/<arch>-<workload>/ holds the layers.csv and
summary.json of `lbfp sim --arch configs/arch/<arch>.yaml --workload sim/workloads/<workload>.csv
--format arch --dataflow best --best-by BY --out RUNS_DIR/<arch>-<workload>` (the commands in
dataflows.md) and BY is cycles or energy. Prints Markdown: per workload, each layer's choice per
configuration with what it saves (cycles or energy) against output-stationary for that layer, then
the whole-network totals against each fixed dataflow.
"""
import csv
import json
import os
import sys
import textwrap

ARCHS = ["lbfp8_16x16", "bfp8_16x16", "lbfp8_32x32", "bfp8_32x32"]
WORKLOADS = [("resnet18", "ResNet-18"), ("mobilenet_v1", "MobileNet v1")]
SHORT = {"output-stationary": "OS", "weight-stationary": "WS", "input-stationary": "IS"}
FIXED = ["output-stationary", "weight-stationary", "input-stationary"]


def load(runs, arch, workload):
    d = os.path.join(runs, f"{arch}-{workload}")
    rows = list(csv.DictReader(open(os.path.join(d, "layers.csv"))))
    summary = json.load(open(os.path.join(d, "summary.json")))
    (run,) = summary["formats"].values()
    return rows, run


def label(arch):
    fmt, size = arch.split("_")
    return f"{size} {fmt.upper()}"


def main(runs, by):
    what = "total_cycles" if by == "cycles" else "energy_pj"
    for workload, title in WORKLOADS:
        data = {a: load(runs, a, workload) for a in ARCHS}
        print(f"#### {title}, by {by}\n")
        print(textwrap.fill(f"Each layer's dataflow by {by}, and the {by} that choice saves "
                            "against output-stationary for that layer.", 100) + "\n")
        print("| layer | " + " | ".join(label(a) for a in ARCHS) + " |")
        print("|---|" + "---|" * len(ARCHS))
        names = [r["layer"] for r in data[ARCHS[0]][0]]
        for i, name in enumerate(names):
            cells = []
            for a in ARCHS:
                row = data[a][0][i]
                per_layer = data[a][1]["dataflow_choice"]["layers"][i]
                assert per_layer["layer"] == name
                assert data[a][1]["dataflow_choice"]["by"] == by
                os_cost = per_layer[what]["output-stationary"]
                chosen = per_layer[what][row["dataflow"]]
                saved = 100.0 * (os_cost - chosen) / os_cost if os_cost else 0.0
                cell = SHORT[row["dataflow"]]
                if row["dataflow"] != "output-stationary":
                    cell += f" ({saved:.0f} %)"
                cells.append(cell)
            print(f"| {name} | " + " | ".join(cells) + " |")
        print()
        print(textwrap.fill("Whole network: the per-layer choice against each dataflow "
                            "throughout (cycles saved, energy saved, layers that chose it).",
                            100) + "\n")
        print("| configuration | cycles, chosen | vs OS | vs WS | vs IS | energy uJ, chosen |"
              " energy vs OS | energy vs WS | energy vs IS | layers OS / WS / IS |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for a in ARCHS:
            run = data[a][1]
            v = run["dataflow_choice"]["versus"]
            cyc = [f"{100 * v[d]['cycles_saved_fraction']:.1f} %" for d in FIXED]
            en = [f"{100 * v[d]['energy_saved_fraction']:.1f} %" for d in FIXED]
            chose = " / ".join(str(v[d]["layers_chosen"]) for d in FIXED)
            print(f"| {label(a)} | {run['total_cycles']} | " + " | ".join(cyc) +
                  f" | {run['energy_pj']['total'] * 1e-6:.1f} | " + " | ".join(en) +
                  f" | {chose} |")
        print()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
