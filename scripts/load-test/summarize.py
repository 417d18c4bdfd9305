#!/usr/bin/env python3
"""Summarises scripts/load-test.sh's runs: reads OUT/run-MODE.json, prints a table, writes OUT/results.json and
OUT/results.md, with issue 4's targets checked for the service runs.
    summarize.py OUT SETTINGS_JSON ENVIRONMENT_JSON_FILE
"""
import json
import os
import sys

# Issue 4: at 64 connections, >= 15,000 req/s with p99 <= 10 ms, and >= 40% of the parse-only baseline's throughput.
TARGET_RPS = 15_000
TARGET_P99_MS = 10.0
TARGET_BASELINE_RATIO = 0.40

LABELS = {"off": "service, batching off", "on": "service, batching on", "baseline": "parse-only baseline",
          "floor": "HTTP floor (body read, not parsed)"}


def main(out, settings_json, environment_file):
    settings = json.loads(settings_json)
    environment = json.load(open(environment_file))
    runs = []
    for mode in settings["modes"].split(","):
        path = os.path.join(out, f"run-{mode}.json")
        if os.path.exists(path):
            runs.append(json.load(open(path)))
    baseline = next((r for r in runs if r["mode"] == "baseline"), None)
    baseline_rps = baseline["result"]["requests_per_second"] if baseline else None

    rows = []
    for run in runs:
        r = run["result"]
        lat = r["latency_us"]
        errors = r["errors"]
        row = {
            "mode": run["mode"],
            "label": LABELS[run["mode"]],
            "requests_per_second": round(r["requests_per_second"], 1),
            "p50_ms": lat["p50"] / 1000,
            "p90_ms": lat["p90"] / 1000,
            "p99_ms": lat["p99"] / 1000,
            "p999_ms": lat["p999"] / 1000,
            "max_ms": lat["max"] / 1000,
            "requests": r["requests"],
            "non_2xx": errors["status"],
            "socket_errors": errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
            "ratio_to_baseline": round(r["requests_per_second"] / baseline_rps, 3) if baseline_rps else None,
            "server_rss_mib_after": round(run["server_rss_kib_after"] / 1024, 1),
            "server_cpu_us_per_request": run["server_cpu_us_per_request"],
            "inference_us_per_request": run["inference_us_per_request"],
            "wrk_cpu_us_per_request": run["wrk_cpu_us_per_request"],
            "warmup_requests_per_second": run["warmup_requests_per_second"],
            "load_average_before": run["load_average_before"],
            "load_average_after": run["load_average_after"],
            "wrk_command": run["wrk_command"],
            "server_command": run["server_command"],
        }
        if run["mode"] in ("off", "on"):
            row["targets"] = {
                "requests_per_second": row["requests_per_second"] >= TARGET_RPS,
                "p99": row["p99_ms"] <= TARGET_P99_MS,
                "baseline_ratio": None if row["ratio_to_baseline"] is None else row["ratio_to_baseline"] >= TARGET_BASELINE_RATIO,
                "no_errors": row["non_2xx"] == 0 and row["socket_errors"] == 0,
            }
        rows.append(row)

    results = {"settings": settings, "environment": environment,
               "targets": {"requests_per_second": TARGET_RPS, "p99_ms": TARGET_P99_MS, "baseline_ratio": TARGET_BASELINE_RATIO},
               "runs": rows}
    json.dump(results, open(os.path.join(out, "results.json"), "w"), indent=2)

    table = markdown_table(rows)
    print()
    print(table)
    for row in rows:
        if row["non_2xx"] or row["socket_errors"]:
            print(f"WARNING: {row['label']}: {row['non_2xx']} non-2xx answers, {row['socket_errors']} socket errors/timeouts")
    with open(os.path.join(out, "results.md"), "w") as md:
        md.write(f"# Load test, {settings['steps']} steps x {settings['input']} features, hidden {settings['hidden']}\n\n")
        md.write(f"`{settings['command']}`\n\n")
        md.write(f"{environment['cores']} cores ({environment['cpu']}), commit {environment['commit']}"
                 f"{' (dirty)' if environment['dirty'] else ''}, .NET SDK {environment['dotnet']}, {environment['wrk']}; "
                 f"request log: {settings['request_log']}; server cpus: {settings['server_cpus'] or 'any'}; "
                 f"wrk cpus: {settings['wrk_cpus'] or 'any'}; DOTNET_ environment: {environment['dotnet_env'] or 'none'}\n\n")
        md.write(table + "\n\n")
        md.write(f"Targets (service runs): >= {TARGET_RPS} req/s, p99 <= {TARGET_P99_MS} ms, >= {TARGET_BASELINE_RATIO:.0%} of the baseline.\n\n")
        for row in rows:
            md.write(f"- {row['label']}: `{row['wrk_command']}` against `{row['server_command']}`\n")


def markdown_table(rows):
    lines = ["| run | req/s | p50 ms | p90 ms | p99 ms | max ms | vs baseline | server CPU µs/req | wrk CPU µs/req | inference µs/req | RSS MiB | load before | targets |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for row in rows:
        ratio = "" if row["ratio_to_baseline"] is None else f"{row['ratio_to_baseline']:.1%}"
        targets = ""
        if "targets" in row:
            t = row["targets"]
            failed = [name for name, ok in t.items() if ok is False]
            targets = "met" if not failed else "missed: " + ", ".join(failed)
        lines.append(f"| {row['label']} | {row['requests_per_second']:,.0f} | {row['p50_ms']:.2f} | {row['p90_ms']:.2f} | "
                     f"{row['p99_ms']:.2f} | {row['max_ms']:.1f} | {ratio} | {row['server_cpu_us_per_request']:.0f} | {row['wrk_cpu_us_per_request']:.0f} | "
                     f"{'' if row['inference_us_per_request'] is None else round(row['inference_us_per_request'])} | {row['server_rss_mib_after']} | "
                     f"{row['load_average_before']} | {targets} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main(*sys.argv[1:])
