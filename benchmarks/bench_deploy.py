"""Deployment: ONNX Runtime against eager PyTorch, for the dense and pruned ConvNet and a wider model.

Each model is exported with ``hardware.export_onnx`` (the TorchScript-based exporter) and loaded in
ONNX Runtime on the CPU with the same thread count as PyTorch (``hardware.OnnxRuntimeModel``). Every
PyTorch model and every ONNX Runtime session of one table is timed in the same alternating turns
(``analysis.interleaved_latency``: fastest run of 7 turns x 5 runs), at batch 1 and batch 64, with one
torch thread and with all of them. Sizes are the ONNX file's bytes, raw and gzip (level 9).

Models: the shipped ConvNet (digits, 1x8x8), a copy with 50% of its channels removed
(``structured.prune_channels``) and a copy with 90% of its weights zeroed by global magnitude
(unstructured: dense size and dense speed expected), then the same three for the benchmarks' half-width
VGG-11 on 3x32x32 inputs (untrained: weights do not change the time).
"""

import copy

import torch
from bench_channels import SmallVGG  # benchmarks/ is on sys.path (run.py, or run as a script)

from course_lib import analysis, core, hardware, pruning, structured
from course_lib.models import load_pretrained

BATCH_SIZES = (1, 64)
ROUNDS, REPEATS = 7, 5


def variants(model, example) -> dict:
    return {
        "dense": model,
        "50% channels": structured.prune_channels(model, 0.5, example),
        "90% unstructured": core.apply_masks(copy.deepcopy(model),
                                             pruning.global_magnitude_masks(model, 0.9)),
    }


def table(name: str, models: dict, example: torch.Tensor, threads: int) -> list[str]:
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        runtimes = {label: hardware.OnnxRuntimeModel.from_model(m, example) for label, m in models.items()}
        lines = []
        timed = {}
        for b in BATCH_SIZES:
            batch = torch.randn(b, *example.shape[1:], generator=torch.Generator().manual_seed(0))
            everything = [*models.values(), *runtimes.values()]
            timed[b] = analysis.interleaved_latency(everything, batch, ROUNDS, REPEATS)
        n = len(models)
        base = None
        for i, (label, model) in enumerate(models.items()):
            raw = runtimes[label].onnx_bytes
            sizes = hardware.sizes(raw)
            if base is None:
                base = sizes
            cells = [name, str(threads), label, f"{analysis.count_params(model):,}",
                     f"{sizes['raw'] / 1e3:.1f} ({sizes['raw'] / base['raw']:.2f}x)",
                     f"{sizes['gzip'] / 1e3:.1f} ({sizes['gzip'] / base['gzip']:.2f}x)"]
            for b in BATCH_SIZES:
                torch_ms, ort_ms = timed[b][i]["min"], timed[b][n + i]["min"]
                cells += [f"{torch_ms:.3f}", f"{ort_ms:.3f}", f"{torch_ms / ort_ms:.2f}x"]
            lines.append("| " + " | ".join(cells) + " |")
        return lines
    finally:
        torch.set_num_threads(previous)


def run() -> str:
    torch.manual_seed(0)
    digits = torch.zeros(1, 1, 8, 8)
    image = torch.zeros(1, 3, 32, 32)
    convnet = variants(load_pretrained("convnet"), digits)
    vgg = variants(SmallVGG().eval(), image)
    header = ["model", "threads", "variant", "params", "ONNX KB", "gzip KB"]
    for b in BATCH_SIZES:
        header += [f"PyTorch ms b={b}", f"ORT ms b={b}", f"ORT speedup b={b}"]
    lines = [
        "## Deployment: ONNX Runtime vs PyTorch",
        "",
        f"{hardware.EXPORTER}, ONNX opset {hardware.OPSET}; ONNX Runtime on the CPU with PyTorch's thread "
        "count. Fastest run of 7 alternating turns x 5 runs; sizes raw and gzip (multiple of the dense "
        "file). The 90% unstructured rows show dense size and dense speed: zeros are stored and "
        "multiplied like any number; only gzip shrinks them.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + " --- |" * len(header),
    ]
    for threads in sorted({1, torch.get_num_threads()}):
        lines += table("ConvNet (digits)", convnet, digits, threads)
        lines += table("half-width VGG-11 (3x32x32)", vgg, image, threads)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(run())
