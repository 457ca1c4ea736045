"""course_lib.llm: the Hugging Face path's cost, the kit's per-layer algorithms against the papers' code, and
the memory and time the kit's estimator gives for real models.

1. The shipped ``charlm`` converted to GPT-2 (``llm.to_hf_gpt2``) and pruned through ``llm.prune_causal_lm``,
   against the native ``recipes.prune_post_training`` on the same model and calibration windows (Wanda and
   SparseGPT at 50%); the ratio of the two times is what the Hugging Face path costs.
2. One Llama-shaped layer (Linear 2816 -> 1024, as a small Llama's MLP down-projection) with 2,048
   calibration tokens: the kit's Wanda and SparseGPT (statistics plus mask and update) against the
   reference implementations' own code run on the same layer on this CPU: IST-DASLab/sparsegpt's
   ``SparseGPT`` class, and locuslab/wanda's ``WrappedGPT`` statistics with its per-row sort. The
   reference code is not part of the kit: clone the two repositories and point ``REFERENCE_SPARSEGPT``
   and ``REFERENCE_WANDA`` at them (without them this part is skipped). Masks are compared.
3. ``llm.estimate`` for OPT-125M, Pythia-160M and Llama-2-7B (configurations written out here, so that
   nothing is downloaded), 128 calibration sequences of 2,048 tokens.
"""

import copy
import os
import sys
from pathlib import Path

import torch
from common import fmt_seconds, time_call

from course_lib import data, llm, models, recipes
from course_lib.core import markdown_table
from course_lib.recipes.post_training import METHODS, InputStats

REAL_MODELS = {  # the published sizes of each model (their config.json files)
    "OPT-125M": ("OPTConfig", dict(hidden_size=768, num_hidden_layers=12, ffn_dim=3072,
                                   num_attention_heads=12, vocab_size=50272, max_position_embeddings=2048,
                                   word_embed_proj_dim=768)),
    "Pythia-160M": ("GPTNeoXConfig", dict(hidden_size=768, num_hidden_layers=12, intermediate_size=3072,
                                          num_attention_heads=12, vocab_size=50304,
                                          max_position_embeddings=2048)),
    "Llama-2-7B": ("LlamaConfig", dict(hidden_size=4096, num_hidden_layers=32, intermediate_size=11008,
                                       num_attention_heads=32, num_key_value_heads=32, vocab_size=32000,
                                       max_position_embeddings=4096)),
}


def hf_against_native() -> str:
    splits = data.shakespeare_splits()
    dense = models.load_pretrained("charlm")
    calibration = data.calibration_windows(splits.train, dense.context, n_windows=64)
    hf = llm.to_hf_gpt2(dense)
    rows = []
    for method in ("wanda", "sparsegpt"):
        native = time_call(lambda m=method: recipes.prune_post_training(dense, calibration, m, sparsity=0.5),
                           3)
        through_hf = time_call(lambda m=method: llm.prune_causal_lm(copy.deepcopy(hf), calibration, method=m,
                                                                    sparsity=0.5, progress=False), 3)
        copying = time_call(lambda: copy.deepcopy(hf), 3)  # the native path copies inside, the other here
        rows.append([method, fmt_seconds(native), fmt_seconds(through_hf),
                     f"{(through_hf[0] - copying[0]) / native[0]:.2f}"])
    return markdown_table(["method (50%)", "native", "Hugging Face (GPT-2)", "ratio"], rows)


def _reference_sparsegpt(path: Path, layer: torch.nn.Linear, x: torch.Tensor, sparsity: float):
    sys.path.insert(0, str(path))
    import sparsegpt as reference  # noqa: E402  (the cloned repository's module)

    torch.cuda.synchronize = lambda *args: None  # their code syncs a GPU; on the CPU there is none
    solver = reference.SparseGPT(layer)
    solver.add_batch(x[None], None)
    solver.fasterprune(sparsity, blocksize=128, percdamp=0.01)
    return layer.weight.data != 0


def _reference_wanda(path: Path, layer: torch.nn.Linear, x: torch.Tensor, sparsity: float):
    sys.path.insert(0, str(path))
    from lib.layerwrapper import WrappedGPT  # noqa: E402  (the cloned repository's module)

    wrapped = WrappedGPT(layer)
    wrapped.add_batch(x[None], None)
    metric = layer.weight.data.abs() * wrapped.scaler_row.sqrt()[None]
    order = torch.sort(metric, dim=-1, stable=True)[1][:, : int(metric.shape[1] * sparsity)]
    return torch.ones_like(metric, dtype=torch.bool).scatter_(1, order, False)  # their per-row selection


def _kit(method: str, layer: torch.nn.Linear, x: torch.Tensor, sparsity: float):
    chosen = METHODS[method]
    stats = InputStats.of(x, with_gram=chosen.needs_gram)
    return chosen.prune(layer.weight.detach(), stats, sparsity)[1]


def one_layer_against_references() -> str:
    paths = {"sparsegpt": os.environ.get("REFERENCE_SPARSEGPT"), "wanda": os.environ.get("REFERENCE_WANDA")}
    if not all(paths.values()):
        return ("Not measured: clone IST-DASLab/sparsegpt and locuslab/wanda and set REFERENCE_SPARSEGPT and "
                "REFERENCE_WANDA to the two folders.")
    torch.manual_seed(0)
    layer = torch.nn.Linear(2816, 1024, bias=False)
    x = torch.randn(2048, 2816) @ (torch.randn(2816, 2816) / 2816**0.5 + torch.eye(2816))  # correlated inputs
    reference = {"sparsegpt": _reference_sparsegpt, "wanda": _reference_wanda}
    rows = []
    for method in ("wanda", "sparsegpt"):
        kit_mask = _kit(method, layer, x, 0.5)
        ref_mask = reference[method](Path(paths[method]), copy.deepcopy(layer), x, 0.5)
        kit_time = time_call(lambda m=method: _kit(m, layer, x, 0.5), 3)
        ref_time = time_call(lambda m=method: reference[m](Path(paths[m]), copy.deepcopy(layer), x, 0.5), 3)
        agree = float((kit_mask == ref_mask).float().mean())
        rows.append([method, fmt_seconds(kit_time), fmt_seconds(ref_time), f"{kit_time[0] / ref_time[0]:.2f}",
                     f"{agree:.4%}"])
    return markdown_table(["method (50%)", "kit", "reference code", "kit / reference", "same mask"], rows)


def estimates() -> str:
    import transformers

    rate = llm.measured_flops_per_second("cpu")
    rows = []
    for name, (config_class, sizes) in REAL_MODELS.items():
        config = getattr(transformers, config_class)(**sizes)
        for method, dtype, device in (("wanda", torch.float32, "cpu"), ("sparsegpt", torch.float32, "cpu"),
                                      ("sparsegpt", torch.float16, "cuda")):
            if device == "cuda" and name != "Llama-2-7B":
                continue
            found = llm.estimate(config, samples=128, seqlen=2048, method=method, dtype=dtype, device=device)
            gpu = f"{found.gpu_bytes / llm.GIB:.2f}" if found.gpu_bytes else "-"
            minutes = f"{found.flops / rate / 60:.0f}" if device == "cpu" else "-"
            rows.append([name, method, str(dtype).removeprefix("torch."), device,
                         f"{found.cpu_bytes / llm.GIB:.2f}", gpu, f"{found.flops / 1e12:.1f}", minutes])
    return (f"128 calibration sequences of 2,048 tokens, 8 per forward pass. Time at the {rate / 1e9:.0f} "
            "GFLOP/s a float32 matrix product reaches on this CPU (a lower bound; on a GPU the command "
            "measures its own):\n\n"
            + markdown_table(["model", "method", "dtype", "device", "peak CPU GiB", "peak GPU GiB", "TFLOP",
                              "minutes here"], rows))


LLM_DOC = Path(__file__).resolve().parent.parent / "docs" / "llm.md"
START, END = "<!-- estimates: start -->", "<!-- estimates: end -->"


def write_into_guide(table: str) -> None:
    """docs/llm.md quotes the estimates: replace what stands between its markers."""
    text = LLM_DOC.read_text()
    head, rest = text.split(START, 1)
    LLM_DOC.write_text(f"{head}{START}\n{table}\n{END}{rest.split(END, 1)[1]}")


def run() -> str:
    table = estimates()
    write_into_guide(table)
    return "\n".join([
        "## Pruning Hugging Face models (course_lib.llm)",
        "",
        "The converted `charlm` pruned through the Hugging Face path against the native path "
        "(4,096 calibration characters; median (min-max) of 3 runs; the ratio excludes the model copy the "
        "native path makes internally):",
        "",
        hf_against_native(),
        "",
        "One Llama-shaped layer (2816 -> 1024, 2,048 calibration tokens) pruned to 50% by the kit and by the "
        "reference implementations' code, on this CPU:",
        "",
        one_layer_against_references(),
        "",
        "What `python -m course_lib.llm estimate` computes for real models (also quoted in docs/llm.md):",
        "",
        table,
    ])


if __name__ == "__main__":
    print(run())
