#!/usr/bin/env python3
"""Summarises scripts/memory-soak.sh's run: OUT/samples.csv and the run's settings into OUT/soak.json and OUT/soak.md,
and prints the summary. Exits 1 when memory grew by more than the growth limit.
    summarize_soak.py OUT RUN_JSON ENVIRONMENT_JSON

Growth: the mean RSS of the last fifth of the soak against the mean of the fifth that follows the warm-up (the first
tenth): for a 10-minute soak, minutes 8-10 against minutes 1-3. Start-up effects (JIT, the GC growing its budgets,
thread-pool threads) are over by then, so a steady service shows ~0% and a leak shows up as steady growth.
"""
import csv
import json
import os
import sys


def mean(values):
    return sum(values) / len(values) if values else float("nan")


def main(out, run_json, environment_json):
    run = json.loads(run_json)
    environment = json.loads(environment_json)
    with open(os.path.join(out, "samples.csv")) as f:
        samples = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]
    seconds = int(run["minutes"]) * 60
    warmup_end = seconds * 0.1
    early = [s for s in samples if warmup_end <= s["seconds"] < warmup_end + seconds * 0.2]
    late = [s for s in samples if s["seconds"] >= seconds * 0.8]
    if not early or not late:
        sys.exit(f"too few samples for a growth check ({len(samples)} every {run['interval']} s); use a longer soak or a shorter --interval")
    rss = [s["rss_kib"] / 1024 for s in samples]
    early_rss, late_rss = mean([s["rss_kib"] / 1024 for s in early]), mean([s["rss_kib"] / 1024 for s in late])
    early_heap, late_heap = mean([s["gc_heap_bytes"] / 2**20 for s in early]), mean([s["gc_heap_bytes"] / 2**20 for s in late])
    growth = (late_rss - early_rss) / early_rss * 100
    # Still growing at the end, or a step that then levelled off? The same comparison over the second half only.
    middle = [s for s in samples if seconds * 0.4 <= s["seconds"] < seconds * 0.6]
    middle_rss = mean([s["rss_kib"] / 1024 for s in middle]) if middle else float("nan")
    second_half_growth = (late_rss - middle_rss) / middle_rss * 100
    threads = [int(s["threads"]) for s in samples if "threads" in s]
    grew = growth > float(run["growth_limit"])
    wrk = json.loads(run["wrk_result"])

    summary = {
        "settings": {k: v for k, v in run.items() if k not in ("wrk_result",)},
        "environment": environment,
        "rss_mib": {
            "after_start": round(int(run["rss_started_kib"]) / 1024, 1),
            "with_models_loaded": round(int(run["rss_loaded_kib"]) / 1024, 1),
            "after_warmup": round(int(run["rss_warmed_kib"]) / 1024, 1),
            "model_files": round(int(run["model_file_bytes"]) / 2**20, 1),
            "soak_first": round(rss[0], 1), "soak_last": round(rss[-1], 1), "soak_max": round(max(rss), 1),
            "peak_vmhwm": round(int(run["rss_peak_kib"]) / 1024, 1),
            "early_window_mean": round(early_rss, 1), "late_window_mean": round(late_rss, 1),
        },
        "gc_heap_mib": {"early_window_mean": round(early_heap, 1), "late_window_mean": round(late_heap, 1)},
        "growth_percent": round(growth, 2),
        "second_half_growth_percent": round(second_half_growth, 2),
        "threads": {"first": threads[0], "last": threads[-1], "max": max(threads)} if threads else None,
        "grew": grew,
        "load": {"requests": wrk["requests"], "requests_per_second": round(wrk["requests_per_second"], 1),
                 "p50_ms": wrk["latency_us"]["p50"] / 1000, "p99_ms": wrk["latency_us"]["p99"] / 1000,
                 "non_2xx": wrk["errors"]["status"],
                 "socket_errors": sum(wrk["errors"][k] for k in ("connect", "read", "write", "timeout"))},
        "samples": samples,
    }
    json.dump(summary, open(os.path.join(out, "soak.json"), "w"), indent=2)

    r = summary["rss_mib"]
    lines = [
        f"# Memory soak: {run['models']} models, hidden {run['hidden']}, input {run['input']}, {run['minutes']} min"
        + (f" after {run['warmup_minutes']} min of warm-up" if int(run["warmup_minutes"]) > 0 else ""),
        "",
        f"`{run['command']}`",
        "",
        f"{environment['cores']} cores ({environment['cpu']}), commit {environment['commit']}"
        f"{' (dirty)' if environment['dirty'] else ''}, .NET SDK {environment['dotnet']}; batching {run['batching']}; "
        f"request log {run['request_log']}; load average {run['load_before']} before, {run['load_after']} after",
        "",
        "| what | MiB |",
        "|---|---:|",
        f"| RSS after start-up, no model | {r['after_start']} |",
        f"| RSS with {run['models']} models loaded ({r['model_files']} MiB of files) | {r['with_models_loaded']} |",
        *([f"| after {run['warmup_minutes']} min of warm-up under the same load | {r['after_warmup']} |"] if int(run["warmup_minutes"]) > 0 else []),
        f"| soak: first sample | {r['soak_first']} |",
        f"| soak: last sample | {r['soak_last']} |",
        f"| soak: largest sample | {r['soak_max']} |",
        f"| peak RSS (VmHWM) | {r['peak_vmhwm']} |",
        f"| mean RSS, window after warm-up | {r['early_window_mean']} |",
        f"| mean RSS, last window | {r['late_window_mean']} |",
        f"| mean GC heap, window after warm-up / last window | {summary['gc_heap_mib']['early_window_mean']} / {summary['gc_heap_mib']['late_window_mean']} |",
        "",
        f"Growth: {growth:+.2f}% (limit {run['growth_limit']}%): {'GREW' if grew else 'steady'}; over the second half "
        f"(last fifth against the fifth around the middle): {second_half_growth:+.2f}%. "
        + (f"Threads: {threads[0]} at the first sample, {threads[-1]} at the last, {max(threads)} at most. " if threads else "") +
        f"Load: {wrk['requests']} requests, {wrk['requests_per_second']:.0f} req/s, p50 {summary['load']['p50_ms']:.2f} ms, "
        f"p99 {summary['load']['p99_ms']:.2f} ms, {summary['load']['non_2xx']} non-2xx, {summary['load']['socket_errors']} socket errors.",
        "",
        f"- load: `{run['wrk_command']}`",
        f"- service: `{run['service_command']}`",
    ]
    text = "\n".join(lines) + "\n"
    open(os.path.join(out, "soak.md"), "w").write(text)
    print()
    print(text)
    if summary["load"]["non_2xx"] or summary["load"]["socket_errors"]:
        print("WARNING: the load had errors; see wrk.txt")
    sys.exit(1 if grew else 0)


if __name__ == "__main__":
    main(*sys.argv[1:])
