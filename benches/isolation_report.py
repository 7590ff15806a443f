"""The report of a benches/isolation.sh run, from its tps.txt and run.env:
    python3 benches/isolation_report.py benches/results/isolation-<date>
(isolation.sh runs it at the end; run it again after changing the report).
"""
import collections, datetime, os, shlex, statistics, sys

out = sys.argv[1]
env = dict(shlex.split(line)[0].split("=", 1) for line in open(f"{out}/run.env") if "=" in line)
rounds, seconds, clients, version = env["ROUNDS"], env["SECONDS_PER_RUN"], env["CLIENTS"], env["VERSION"]
pinned, mode, blocks_read = env.get("CLUSTER_CPUS", ""), env["MODE"], env["BLOCKS_READ"]
finished = datetime.datetime.utcfromtimestamp(os.path.getmtime(f"{out}/tps.txt"))
tps = collections.defaultdict(dict)        # (workload, variant) -> {round: tps}
statement = collections.defaultdict(dict)  # (workload, variant) -> {round: ms}
for line in open(f"{out}/tps.txt"):
    r, w, v, value, ms = line.split()
    tps[(w, v)][int(r)] = float(value)
    statement[(w, v)][int(r)] = float(ms)
workloads = ["point", "list", "insert", "update", "count"]
variants = ["baseline", "baseline_ctx", "pg_tenant", "pg_tenant_quota", "pg_tenant_onetrip", "better_tenant", "nself"]
targets = {"point": 0.97, "list": 0.97, "count": 0.97, "insert": 0.95, "update": 0.95}
def paired(w, v, base, data=tps, invert=False):
    """Per-round ratios of v's figure against base's in the same round."""
    a, b = data.get((w, v), {}), data.get((w, base), {})
    if invert:
        return [b[r] / a[r] for r in a if r in b and a[r] > 0]
    return [a[r] / b[r] for r in a if r in b and b[r] > 0]
def med(values):
    return statistics.median(values) if values else 0.0
def spread(values):
    return f" ({min(values):.2f}-{max(values):.2f})" if len(values) > 1 else ""
pin = f"server on CPUs {pinned}, pgbench on CPU 0" if pinned else "not pinned"
how = ("each workload one pgbench run per round with the variants' scripts interleaved at random, transaction by transaction"
       " (Better Tenant's full-scan list and count in a 3 s run of their own)") if mode == "mixed" else \
      "each workload x variant its own pgbench run, each workload's variants back to back in a new random order"
lines = [f"# Isolation benchmark, finished {finished:%Y-%m-%d %H:%M} UTC",
         "", f"{version}; mode {mode}: {how}; {rounds} rounds x {seconds}s per run, {clients} client(s), {pin}.",
         "TPS: clients / average transaction latency, median over rounds. Ratios: median over rounds of the variant's TPS divided by the same round's baseline TPS (min-max over rounds in brackets).",
         "Statement: average latency of the workload's statement alone (no BEGIN, set_config, COMMIT; pg_tenant_onetrip: set_config and the statement, sent as one message), median over rounds; its ratio is baseline's statement latency / the variant's, per round.",
         f"Blocks read from outside shared buffers during the runs: {int(blocks_read):,} (everything was loaded into shared buffers first).", "",
         "| workload | variant | TPS | vs baseline | vs baseline+context | statement µs | statement vs baseline |",
         "|---|---|---:|---:|---:|---:|---:|"]
for w in workloads:
    for v in variants:
        m = med(list(tps.get((w, v), {}).values()))
        rb, rc = paired(w, v, "baseline"), paired(w, v, "baseline_ctx")
        sb = spread(rb) if v != "baseline" else ""
        sc = spread(rc) if v != "baseline_ctx" else ""
        st = med(list(statement.get((w, v), {}).values())) * 1000
        sr = med(paired(w, v, "baseline", statement, invert=True))
        lines.append(f"| {w} | {v} | {m:,.0f} | {med(rb):.3f}{sb} | {med(rc):.3f}{sc} | {st:,.0f} | {sr:.3f} |")
lines += ["", "Targets (issue 6), against baseline+context. The last two columns: the variant's TPS / the anchor's in the same round (> 1: ahead).", "",
          "| workload | variant | vs baseline+context | target | met | vs better_tenant | vs nself |", "|---|---|---:|---:|---|---:|---:|"]
for w in workloads:
    for v, target in (("pg_tenant", targets[w]), ("pg_tenant_quota", 0.90)):
        r = med(paired(w, v, "baseline_ctx"))
        bt, ns = med(paired(w, v, "better_tenant")), med(paired(w, v, "nself"))
        lines.append(f"| {w} | {v} | {r:.3f} | {target:.2f} | {'yes' if r >= target else 'NO'} | {bt:.3f} | {ns:.3f} |")
lines += ["", "The context sent in the statement's message (pg_tenant_onetrip): what it saves against pg_tenant, and what remains against the baseline, which sends no context at all.", "",
          "| workload | onetrip vs pg_tenant | onetrip vs baseline+context | onetrip vs baseline |", "|---|---:|---:|---:|"]
for w in workloads:
    ratios = [med(paired(w, "pg_tenant_onetrip", base)) for base in ("pg_tenant", "baseline_ctx", "baseline")]
    lines.append(f"| {w} | " + " | ".join(f"{r:.3f}" for r in ratios) + " |")
open(f"{out}/report.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
