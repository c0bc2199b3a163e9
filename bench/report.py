"""Write one harness run's ratio table into docs/BENCHMARKS.md.

Usage: python3 bench/report.py [RUN]   (from the repository root)

RUN is the run id the scripts stamped on their raw figures (`BENCH_RUN`,
set by `just bench-peers`); without it, the latest run found in
docs/peers-results.jsonl. The table is built only from the lines of that
run in docs/peers-results.jsonl, docs/import-results.jsonl and
docs/index-memory-results.jsonl and replaces
the text between the two `bench-peers` markers in docs/BENCHMARKS.md.
"""
import json
import sys

DOC = "docs/BENCHMARKS.md"
BEGIN = "<!-- bench-peers:begin (written by bench/report.py; edit the script, not this table) -->"
END = "<!-- bench-peers:end -->"


def lines(path):
    out = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as e:
                sys.exit(f"{path}: line {n}: {e}")
    return out


def met(ok):
    return "**met**" if ok else "**not met**"


def target(applies, what, ok):
    """A target's verdict, where the issue sets it for this size."""
    return f"{what}: {met(ok)}" if applies else f"({what} is set for other sizes)"


def ms(seconds):
    """GNU time's 10 ms resolution, said as such."""
    return "< 10 ms" if seconds < 0.01 else f"{seconds * 1000:.0f} ms"


def main():
    peers = [r for r in lines("docs/peers-results.jsonl") if "run" in r]
    try:
        memory = [r for r in lines("docs/index-memory-results.jsonl") if "run" in r]
    except FileNotFoundError:
        memory = []
    imports = [r for r in lines("docs/import-results.jsonl") if "run" in r]
    run = sys.argv[1] if len(sys.argv) > 1 else (peers[-1]["run"] if peers else None)
    if run is None:
        sys.exit("docs/peers-results.jsonl: no run stamped with a run id; run `just bench-peers`")
    peers = [r for r in peers if r["run"] == run]
    imports = [r for r in imports if r["run"] == run]
    memory = [r for r in memory if r["run"] == run]
    if not peers and not imports:
        sys.exit(f"no figures of run {run} in docs/peers-results.jsonl or docs/import-results.jsonl")
    m = (peers or imports)[0]["machine"]
    v = {}
    for r in peers + imports:
        v.update(r["versions"])
    out = [
        BEGIN,
        "",
        f"## Latest harness run ({run}), generated",
        "",
        f"Machine: {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB, Linux {m['kernel']}. "
        f"Versions: {v.get('nostrike', '?')}; PostgreSQL {v.get('postgresql', 'not run')}; {v.get('gdal', '?')}. "
        "Commands (`just bench-peers`): "
        + ", ".join(f"`{c}`" for c in dict.fromkeys(r["command"] for r in peers + imports + memory))
        + ". Each ratio is taken from one run of both sides; raw figures are the lines of this run in "
        "`docs/peers-results.jsonl` and `docs/import-results.jsonl`.",
        "",
        "| | nostrike | peer | ratio | target |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for r in sorted(peers, key=lambda r: (r.get("set", "sparse") == "dense", r["sites"])):
        best = min(r["postgis_default_s"], r["postgis_parallel_s"])
        k = f"{r['sites'] // 1000}k" if r["sites"] < 1_000_000 else f"{r['sites'] // 1_000_000}M"
        dense = r.get("set") == "dense"
        if dense:
            out.append(
                f"| **dense set**: batch checks, {k} sites, {r['areas']:,} point areas, {r['hits']:,} identical hits, full JSON report "
                f"| CLI {r['nostrike_cli_s']:.2f} s (median of 3), peak RSS {r['nostrike_check_peak_rss_kb'] // 1024} MB "
                f"| PostGIS faster plan {best:.2f} s (default {r['postgis_default_s']:.2f} s, parallel {r['postgis_parallel_s']:.2f} s) "
                f"| **{r['ratio_checks_per_s']:.1f}×** | 5×: {met(r['ratio_checks_per_s'] >= 5)}; peak RSS ≤ 100 MB: {met(r['nostrike_check_peak_rss_kb'] <= 100 * 1024)} |"
            )
            out.append(
                f"| the same through the core API (no report), dense | {r['nostrike_api_check_s']:.3f} s | {best:.2f} s "
                f"| {r['ratio_api']:.1f}× | — |"
            )
            continue
        out.append(
            f"| batch checks, {k} sites, {r['areas']:,} areas, {r['hits']:,} identical hits, full JSON report "
            f"| CLI {r['nostrike_cli_s']:.2f} s (median of 3), peak RSS {r['nostrike_check_peak_rss_kb'] // 1024} MB "
            f"| PostGIS faster plan {best:.2f} s (default {r['postgis_default_s']:.2f} s, parallel {r['postgis_parallel_s']:.2f} s) "
            f"| **{r['ratio_checks_per_s']:.1f}×** | {target(r['sites'] in (100_000, 1_000_000), '10×', r['ratio_checks_per_s'] >= 10)} |"
        )
        out.append(
            f"| the same through the core API (no report) | {r['nostrike_api_check_s']:.3f} s | {best:.2f} s "
            f"| {r['ratio_api']:.1f}× | — |"
        )
        out.append(
            f"| distances against PostGIS, {k} | largest difference {r['largest_distance_difference_m']:.3f} m; "
            f"pairs over 0.1 m: {r['pairs_differing_over_0_1_m']} (the harness has GeodSolve confirm nostrike's value for each) | | | — |"
        )
        pg_mem = ""
        if "postgis_load_server_peak_pss_kb" in r:
            pg_mem = (
                f", server peak PSS {r['postgis_load_server_peak_pss_kb'] // 1024} MB, "
                f"ogr2ogr client peak RSS {r['postgis_load_client_peak_rss_kb'] // 1024} MB"
            )
        out.append(
            f"| load {k} mixed sites: `nostrike import` vs PostGIS load + GiST + ANALYZE "
            f"| {r['nostrike_import_s']:.2f} s, peak RSS {r['nostrike_import_peak_rss_kb'] // 1024} MB "
            f"| {r['postgis_load_index_s']:.2f} s{pg_mem} | {r['postgis_load_index_s'] / r['nostrike_import_s']:.1f}× | — |"
        )
        if r["sites"] >= 1_000_000:
            out.append(
                f"| cold start: fresh `nostrike check` of one point, {k} sites "
                f"| {r['nostrike_cold_start_best_s'] * 1000:.0f} ms best of 5 (first {r['nostrike_cold_start_first_s'] * 1000:.0f} ms) "
                f"| | | < 300 ms: {met(r['nostrike_cold_start_best_s'] < 0.3)} |"
            )
    for r in sorted(imports, key=lambda r: r["n"]):
        ok = r["ratio_import"] >= 5
        rss = r["nostrike_import_peak_rss_kb"] // 1024
        out.append(
            f"| import {r['n']:,} points from GeoJSON | {r['nostrike_import_s']:.2f} s, peak RSS {rss} MB "
            f"| `ogr2ogr -f GPKG` {r['ogr2ogr_gpkg_s']:.2f} s, {r['ogr2ogr_gpkg_peak_rss_kb'] // 1024} MB "
            f"| **{r['ratio_import']:.1f}×** | {target(r['n'] == 1_000_000, '5×', ok)}; RSS < 300 MB: {met(rss < 300)} |"
        )
        out.append(
            f"| cold check of one point / `verify`, {r['n']:,} points | {ms(r['nostrike_cold_check_s'])} / "
            f"{r['nostrike_verify_s']:.1f} s ({r['nostrike_verify_peak_rss_kb'] // 1024} MB) | | | — |"
        )
    for r in memory:
        out.append(
            f"| in-memory index per site (`index_memory`: the 800k points, then all 1M sites, of the synthetic set) | points {r['point_bytes_per_site']:.1f} B; "
            f"mixed (80 % points) {r['mixed_bytes_per_site']:.1f} B | | | points < 150 B: {met(r['point_bytes_per_site'] < 150)} |"
        )
    out += ["", END]
    text = open(DOC).read()
    block = "\n".join(out)
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + block + tail
    else:
        sys.exit(f"{DOC}: the bench-peers markers are missing")
    with open(DOC, "w") as f:
        f.write(text)
    print(f"{DOC}: table of run {run} written")


if __name__ == "__main__":
    main()
