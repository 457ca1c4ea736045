"""course_lib.llm: the kit's pipeline on Hugging Face causal LMs of four families (tiny models built from
configs: no download), the exact conversion of the shipped charlm to GPT-2, the memory estimate and the
command line."""

import copy
import json

import pytest
import torch

transformers = pytest.importorskip("transformers")

from course_lib import llm, models, pruning  # noqa: E402
from course_lib.data import calibration_windows, shakespeare_splits  # noqa: E402
from course_lib.llm.__main__ import main  # noqa: E402
from course_lib.recipes import prune_post_training  # noqa: E402

VOCAB, WIDTH, CONTEXT = 64, 32, 32
SIZES = dict(vocab_size=VOCAB, hidden_size=WIDTH, num_hidden_layers=2, num_attention_heads=2,
             max_position_embeddings=CONTEXT)
CONFIGS = {
    "gpt2": transformers.GPT2Config(vocab_size=VOCAB, n_embd=WIDTH, n_layer=2, n_head=2, n_positions=CONTEXT),
    "opt": transformers.OPTConfig(ffn_dim=64, word_embed_proj_dim=WIDTH, **SIZES),
    "llama": transformers.LlamaConfig(intermediate_size=64, num_key_value_heads=2, **SIZES),
    "qwen2": transformers.Qwen2Config(intermediate_size=64, num_key_value_heads=1, **SIZES),
    "gpt_neox": transformers.GPTNeoXConfig(intermediate_size=64, **SIZES),
}


def tiny(family: str, seed: int = 0):
    torch.manual_seed(seed)
    return transformers.AutoModelForCausalLM.from_config(CONFIGS[family]).eval()


def tokens(batch=8, length=16, seed=1):
    return torch.randint(VOCAB, (batch, length), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("family", sorted(CONFIGS))
def test_every_family_is_pruned_to_exact_sparsity_and_nm(family):
    model, calibration = tiny(family), tokens()
    embeddings = model.get_input_embeddings().weight.clone()
    head = model.get_output_embeddings().weight.clone()
    report = llm.prune_causal_lm(model, calibration, method="wanda", sparsity=0.5, progress=False)
    blocks = llm.decoder_blocks(model)
    inside = sum(1 for m in blocks.modules() if pruning.is_prunable_layer(m))
    assert len(report.masks) == inside and report.sparsity == 0.5
    for name, mask in report.masks.items():
        assert (model.get_parameter(name)[~mask] == 0).all(), name
    assert torch.equal(model.get_input_embeddings().weight, embeddings)  # embeddings and head stay dense
    assert torch.equal(model.get_output_embeddings().weight, head)
    nm = llm.prune_causal_lm(tiny(family), calibration, method="sparsegpt", n=2, m=4, progress=False)
    for name, mask in nm.masks.items():
        matrix = mask.T if family == "gpt2" else mask  # GPT-2's Conv1D stores (in, out)
        assert (pruning.kept_per_group(matrix, 4) == 2).all(), name


@pytest.mark.parametrize("family", sorted(CONFIGS))
def test_layer_errors_order_as_the_methods_promise(family):
    """On the calibration data each method optimises, SparseGPT's output error is the lowest, and
    Wanda's (which weighs each weight by its input's norm) is below per-row magnitude's."""
    calibration = tokens(batch=16)
    total = {}
    for method in ("magnitude_per_row", "wanda", "sparsegpt"):
        report = llm.prune_causal_lm(tiny(family), calibration, method=method, sparsity=0.5, progress=False)
        total[method] = sum(layer.error for layer in report.layers.values())
    assert total["sparsegpt"] < total["wanda"] < total["magnitude_per_row"], total


def test_gpt2_fused_attention_is_pruned_as_three_projections():
    model = tiny("gpt2")
    report = llm.prune_causal_lm(model, None, method="magnitude", sparsity=0.5, progress=False)
    mask = report.masks["transformer.h.0.attn.c_attn.weight"].T  # (3C, C): q, k, v rows
    for part in mask.split(WIDTH):
        assert (~part).sum() == round(0.5 * part.numel())  # one threshold per projection


def test_the_converted_charlm_computes_the_same_logits_and_prunes_the_same():
    """to_hf_gpt2 is exact, and the Hugging Face path gives the native path's masks and perplexity (both
    in float64, so that no score ties break differently)."""
    dense = models.load_pretrained("charlm").double()
    hf = llm.to_hf_gpt2(dense).double()
    splits = shakespeare_splits()
    x = splits.validation[: 8 * 64].view(8, 64)
    with torch.no_grad():
        assert (hf(x).logits - dense(x)).abs().max() < 1e-4
    calibration = calibration_windows(splits.train, dense.context, n_windows=8)
    held_out = splits.validation[:4097]
    for method, target in (("wanda", dict(sparsity=0.5)), ("sparsegpt", dict(n=2, m=4))):
        native, ours = prune_post_training(dense, calibration, method, **target)
        converted = copy.deepcopy(hf)
        theirs = llm.prune_causal_lm(converted, calibration, method=method, progress=False, **target)
        for b in range(dense.config.n_layer):
            qkv = torch.cat([ours.masks[f"blocks.{b}.attn.{p}.weight"] for p in "qkv"])
            assert torch.equal(qkv.T, theirs.masks[f"transformer.h.{b}.attn.c_attn.weight"])
            assert torch.equal(ours.masks[f"blocks.{b}.mlp.proj.weight"].T,
                               theirs.masks[f"transformer.h.{b}.mlp.c_proj.weight"])
        native_ppl = llm.token_perplexity(native, held_out, 64, progress=False)[0]
        hf_ppl = llm.token_perplexity(converted, held_out, 64, progress=False)[0]
        assert abs(torch.tensor(native_ppl).log() - torch.tensor(hf_ppl).log()) < 1e-4


def test_a_saved_pruned_model_reloads_with_the_same_logits(tmp_path):
    model = tiny("llama")
    llm.prune_causal_lm(model, tokens(), method="wanda", sparsity=0.5, progress=False)
    model.save_pretrained(tmp_path, safe_serialization=True)
    again = transformers.AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert (tmp_path / "model.safetensors").exists()
    with torch.no_grad():
        assert torch.equal(model(tokens()).logits, again(tokens()).logits)


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="supported family.*gpt2.*llama.*opt"):
        bert = transformers.BertConfig(vocab_size=VOCAB, hidden_size=WIDTH, num_hidden_layers=1,
                                       num_attention_heads=2, intermediate_size=64)
        llm.prune_causal_lm(transformers.BertForMaskedLM(bert), tokens(), sparsity=0.5)
    with pytest.raises(ValueError, match="sparsity must be in"):
        llm.prune_causal_lm(tiny("opt"), tokens(), sparsity=1.5, progress=False)
    with pytest.raises(ValueError, match="integer tensor \\(B, T\\) of token ids, got torch.float32"):
        llm.prune_causal_lm(tiny("opt"), tokens().float(), sparsity=0.5, progress=False)
    with pytest.raises(ValueError, match="multiple of m=64; .* has 32 inputs"):
        llm.prune_causal_lm(tiny("opt"), tokens(), n=2, m=64, progress=False)
    with pytest.raises(ValueError, match="method must be one of"):
        llm.prune_causal_lm(tiny("opt"), tokens(), method="obd", sparsity=0.5, progress=False)


def test_the_memory_estimate_counts_what_the_pipeline_holds():
    config = CONFIGS["llama"]
    found = llm.estimate(config, samples=4, seqlen=16, method="sparsegpt")
    model = tiny("llama")
    assert found.weights == sum(p.numel() for p in model.parameters()) * 4
    assert found.block == sum(p.numel() for p in llm.decoder_blocks(model)[0].parameters()) * 4
    assert found.grams == (4 * WIDTH**2 + 2 * WIDTH**2 + 64**2) * 4  # q, k, v, o, gate, up: K=32; down: K=64
    assert found.cpu_bytes > found.weights and found.gpu_bytes == 0 and found.flops > 0
    assert "peak CPU memory" in found.table()


@pytest.fixture
def local_model(tmp_path):
    """A tiny Llama with a character tokenizer, saved as save_pretrained saves it."""
    tokenizers = pytest.importorskip("tokenizers")
    chars = sorted(set("abcdefghijklmnopqrstuvwxyz .,\n"))
    vocabulary = {c: i for i, c in enumerate(["<unk>", *chars])}
    word_level = tokenizers.models.WordLevel(vocabulary, unk_token="<unk>")
    tok = tokenizers.Tokenizer(word_level)
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Split(tokenizers.Regex("."), behavior="isolated")
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>")
    fast.save_pretrained(tmp_path / "model")
    tiny("llama").save_pretrained(tmp_path / "model")
    text = tmp_path / "text.txt"
    text.write_text("the quick brown fox jumps over the lazy dog, again and again.\n" * 40)
    return tmp_path / "model", text


def test_the_command_line_prunes_evaluates_and_saves(local_model, tmp_path, capsys):
    model_dir, text = local_model
    out = tmp_path / "pruned"
    code = main(["prune", str(model_dir), "--method", "wanda", "--pattern", "2:4", "--calibration-text",
                 str(text), "--calibration-samples", "4", "--seqlen", "16", "--eval-text", str(text),
                 "--save", str(out)])
    printed = capsys.readouterr().out
    assert code == 0 and "peak CPU memory" in printed and "fits" in printed
    assert "before: perplexity" in printed and "after: perplexity" in printed
    assert "50.00% of the block" in printed
    report = json.loads((out / "pruning_report.json").read_text())
    assert report["removed"] == 0.5 and report["perplexity_after"] > 0
    again = transformers.AutoModelForCausalLM.from_pretrained(out)
    mlp = again.model.layers[0].mlp.down_proj.weight
    assert (pruning.kept_per_group(mlp != 0, 4) <= 2).all()
    assert main(["estimate", str(model_dir), "--calibration-samples", "4", "--seqlen", "16"]) == 0


@pytest.mark.parametrize("argv, message", [
    (["--sparsity", "1.5"], "--sparsity must be in"),
    (["--pattern", "3:2"], "needs 0 < n <= m"),
    (["--pattern", "2-4"], "must look like 2:4"),
    (["--pattern", "2:64"], "multiple of m=64"),
    (["--sparsity", "0.5", "--seqlen", "64"], "exceeds the model's 32 positions"),
    (["--sparsity", "0.5", "--calibration-samples", "0"], "must be a positive integer"),
])
def test_the_command_line_refuses_bad_input_with_a_message(local_model, capsys, argv, message):
    model_dir, _ = local_model
    with pytest.raises(SystemExit) as stopped:
        main(["prune", str(model_dir), *argv])
    assert stopped.value.code != 0
    assert message in capsys.readouterr().err + str(stopped.value.code)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_blocks_visit_the_gpu_and_come_back():
    model, calibration = tiny("llama"), tokens()
    settings = dict(method="sparsegpt", sparsity=0.5, progress=False)
    on_cpu = llm.prune_causal_lm(copy.deepcopy(model), calibration, **settings)
    report = llm.prune_causal_lm(model, calibration, device="cuda", **settings)
    assert report.sparsity == on_cpu.sparsity == 0.5
    assert all(p.device.type == "cpu" for p in model.parameters())
    agree = sum(int((report.masks[k].cpu() == on_cpu.masks[k]).sum()) for k in on_cpu.masks)
    assert agree > 0.99 * sum(m.numel() for m in on_cpu.masks.values())  # float32 sums on two devices
