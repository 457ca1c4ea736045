"""``python -m course_lib.llm``: prune a Hugging Face causal language model from the command line.

    python -m course_lib.llm prune facebook/opt-125m --method wanda --sparsity 0.5 \\
        --calibration-text c4_sample.txt --eval-text wikitext2_test.txt --save opt-125m-wanda50
    python -m course_lib.llm prune ./my-model --method sparsegpt --pattern 2:4 --device cuda
    python -m course_lib.llm estimate meta-llama/Llama-2-7b-hf --calibration-samples 128 --seqlen 2048

MODEL is a local folder (``save_pretrained``'s) or a Hugging Face Hub name: only a Hub name uses the
network, to download it. The memory a run needs is estimated from the model's configuration before
any weight is loaded; a run that does not fit stops there, unless ``--force``.
"""

import argparse
import json
import sys
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from ..analysis.compare import compare_losses
from ..core.validation import check_fraction
from ..data.text import load_text
from .families import FAMILIES
from .memory import GIB, available_bytes, estimate, measured_flops_per_second, meta_model
from .prune import check_pattern_fits, prune_causal_lm
from .text import calibration_sequences, token_perplexity, tokenize

METHOD_NAMES = ("magnitude", "magnitude_per_row", "wanda", "sparsegpt")
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def _pattern(text: str) -> tuple[int, int]:
    try:
        n, m = (int(part) for part in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--pattern must look like 2:4 (n:m), got {text!r}") from None
    if not 0 < n <= m:
        raise argparse.ArgumentTypeError(f"--pattern n:m needs 0 < n <= m, got {text!r}")
    return n, m


def _sparsity(text: str) -> float:
    try:
        return check_fraction("--sparsity", float(text), allow_one=False)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{err} (a fraction such as 0.5)") from None


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m course_lib.llm", description=__doc__.split("\n\n")[0])
    commands = top.add_subparsers(dest="command", required=True)
    for name in ("prune", "estimate"):
        sub = commands.add_parser(name, help=f"{name} a causal LM")
        sub.add_argument("model", help="a local folder or a Hugging Face Hub name")
        sub.add_argument("--method", choices=METHOD_NAMES, default="wanda")
        sub.add_argument("--calibration-samples", type=int, default=128)
        sub.add_argument("--seqlen", type=int,
                         help="tokens per calibration and evaluation window (default: 2048, as in the "
                              "papers, or the model's context if shorter)")
        sub.add_argument("--batch-size", type=int, default=8, help="calibration sequences per forward pass")
        sub.add_argument("--device", default="cpu", help="cpu, or cuda: each block visits the GPU in turn")
        sub.add_argument("--dtype", choices=DTYPES, default="float32")
        if name == "prune":
            target = sub.add_mutually_exclusive_group(required=True)
            target.add_argument("--sparsity", type=_sparsity,
                                help="unstructured: the fraction removed per layer")
            target.add_argument("--pattern", type=_pattern, help="N:M along the input dimension, e.g. 2:4")
            sub.add_argument("--calibration-text", type=Path,
                             help="text file to calibrate on (default: the kit's Tiny Shakespeare "
                                  "training text)")
            sub.add_argument("--eval-text", type=Path,
                             help="text file: perplexity per token before and after")
            sub.add_argument("--save", type=Path,
                             help="folder for save_pretrained (safetensors) and the report")
            sub.add_argument("--seed", type=int, default=0, help="seed of the calibration windows")
            sub.add_argument("--force", action="store_true",
                             help="run even if the estimate says it does not fit")
    return top


def _estimate(args, config) -> bool:
    """Print the estimate for this run; True when it fits in the free memory now."""
    found = estimate(config, samples=args.calibration_samples, seqlen=args.seqlen, method=args.method,
                     dtype=DTYPES[args.dtype], batch_size=args.batch_size, device=args.device)
    print(found.table())
    rate = measured_flops_per_second(args.device)
    print(f"about {found.flops / 1e12:.2f} TFLOP: {found.flops / rate / 60:.1f} min at the "
          f"{rate / 1e9:.0f} GFLOP/s a float32 matrix product reaches on {args.device} now (a lower bound)")
    fits = True
    for where, needed in (("cpu", found.cpu_bytes), (args.device, found.gpu_bytes)):
        if needed:
            free = available_bytes(where)
            fits &= needed <= free
            print(f"{where}: needs {needed / GIB:.2f} GiB, {free / GIB:.2f} GiB free -> "
                  f"{'fits' if needed <= free else 'DOES NOT FIT'}")
    return fits


def _check_config(args):
    """The model's configuration (a small file: nothing large is loaded), checked against the run."""
    config = AutoConfig.from_pretrained(args.model)
    if config.model_type not in FAMILIES:
        raise SystemExit(f"error: {args.model} is a {config.model_type!r} model; supported families: "
                         f"{', '.join(sorted(FAMILIES))}")
    positions = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", 2048)
    if args.seqlen is None:
        args.seqlen = min(2048, positions)
    elif args.seqlen > positions:
        raise SystemExit(f"error: --seqlen {args.seqlen} exceeds the model's {positions} positions")
    return config


def _text(path: Path | None) -> str:
    if path is None:
        text = load_text()
        return text[: int(0.9 * len(text))]  # the training part of Tiny Shakespeare
    if not path.is_file():
        raise SystemExit(f"error: text file {path} not found")
    return path.read_text(encoding="utf-8")


def prune_command(args) -> int:
    config = _check_config(args)
    if args.pattern:
        try:
            check_pattern_fits(meta_model(config), *args.pattern)  # shapes only: nothing is loaded yet
        except ValueError as err:
            raise SystemExit(f"error: {err}") from None
    if not _estimate(args, config) and not args.force:
        print("stopping: not enough free memory for this run (add --force to try anyway, or lower "
              "--calibration-samples / --seqlen / --batch-size, or use --device cuda)", file=sys.stderr)
        return 2
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=DTYPES[args.dtype]).eval()
    calibration_tokens = tokenize(tokenizer, _text(args.calibration_text))
    calibration = calibration_sequences(calibration_tokens, args.calibration_samples, args.seqlen, args.seed)
    evaluation = tokenize(tokenizer, _text(args.eval_text)) if args.eval_text else None
    if evaluation is not None:
        before, before_losses = token_perplexity(model, evaluation, args.seqlen)
        print(f"before: perplexity {before:.3f} per token on {args.eval_text}")
    n, m = args.pattern or (None, None)
    report = prune_causal_lm(model, calibration, method=args.method, sparsity=args.sparsity, n=n, m=m,
                             batch_size=args.batch_size, device=None if args.device == "cpu" else args.device)
    print(report.table())
    print(f"{report.sparsity:.2%} of the block weights removed")
    summary = {"model": args.model, "method": args.method, "sparsity": args.sparsity, "pattern": args.pattern,
               "removed": report.sparsity, "layers": {k: vars(v) for k, v in report.layers.items()}}
    if evaluation is not None:
        after, after_losses = token_perplexity(model, evaluation, args.seqlen)
        change = compare_losses(after_losses, before_losses)
        print(f"after: perplexity {after:.3f} per token (before {before:.3f}); loss after - before "
              f"{change.difference:+.4f} nats/token [{change.interval[0]:+.4f}, {change.interval[1]:+.4f}]")
        summary |= {"perplexity_before": before, "perplexity_after": after}
    if args.save:
        model.save_pretrained(args.save, safe_serialization=True)
        tokenizer.save_pretrained(args.save)
        (args.save / "pruning_report.json").write_text(json.dumps(summary, indent=1))
        print(f"saved to {args.save}")
    return 0


def estimate_command(args) -> int:
    return 0 if _estimate(args, _check_config(args)) else 2


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    for name in ("calibration_samples", "seqlen", "batch_size"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            flag = "--" + name.replace("_", "-")
            parser().error(f"{flag} must be a positive integer, got {getattr(args, name)}")
    return prune_command(args) if args.command == "prune" else estimate_command(args)


if __name__ == "__main__":
    sys.exit(main())
