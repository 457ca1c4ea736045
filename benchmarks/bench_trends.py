"""Lesson 09's trends: how long the automated search and the latency table take, and what they find.

On the shipped digits ConvNet (one CPU thread): the MAC-budget search (population 8, 4 generations,
each candidate pruned by ``structured.prune_channels`` and scored on 384 held-out training images)
against the uniform 50% cut at the same MAC budget, and the per-layer latency table at batch 64.
"""

import torch
from common import fmt_seconds, time_call

from course_lib import analysis, data, models, structured

GRID = (0.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75)


def run() -> str:
    torch.set_num_threads(1)
    model = models.load_pretrained("convnet")
    train = data.digits_splits().train
    x, held_x, held_y = torch.zeros(1, 1, 8, 8), train.x[-384:], train.y[-384:]
    cost = analysis.ChannelCostModel(model, x)
    groups = list(cost.channels)

    @torch.no_grad()
    def score(ratios):
        pruned = structured.prune_channels(model, ratios, x).eval()
        return (pruned(held_x).argmax(dim=1) == held_y).float().mean().item()

    budget = cost.macs_kept({g: 0.5 for g in groups})
    results = []

    def run_search():
        found = analysis.evolutionary_search(groups, GRID, score, cost.macs_kept, budget, progress=False)
        results.append(found)

    search_time = time_call(run_search, repeats=3, warmup=0)
    best = results[-1].best
    table_time = time_call(lambda: analysis.latency_table(model, x, GRID, 64, 5, progress=False), repeats=3)
    uniform = score({g: 0.5 for g in groups})
    return "\n".join([
        "## Trends (lesson 09): automated search and latency table",
        "",
        "| what | time | result |",
        "| --- | --- | --- |",
        f"| MAC-budget search, {len(results[-1].history)} candidates | {fmt_seconds(search_time)} | "
        f"score {best.score:.2%} at {best.cost:.1%} MACs vs uniform {uniform:.2%} at {budget:.1%} |",
        f"| latency table, 161 entries, batch 64 | {fmt_seconds(table_time)} | |",
    ])  # fmt: skip
