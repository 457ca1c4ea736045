"""course_lib: the helper library of the pruning & sparsity course kit.

Subpackages named for the course's concepts, lowest layer first; a module imports only its own
subpackage and the layers below it (docs/architecture.md, enforced by tests/test_architecture.py):

    core        argument checks, the one top-k selection, module helpers, bits, tables, seeds
    data        the offline digits splits and loaders, Tiny Shakespeare; optional torchvision sets
    models      the lessons' models (incl. a character transformer), hash-checked checkpoints
    train       seeding, train / evaluate / fine-tune loops
    pruning     masks: magnitude, granularity, N:M, importance criteria, the Pruner       [00-03, 05]
    structured  dependency groups, channel scores, channel / head removal                 [04, 10]
    analysis    params, MACs, latency, sensitivity, comparisons, perplexity, libraries   [00-11]
    recipes     schedules, L0, Wanda, SparseGPT, LoRA, dynamic gates, LM pruning  [01, 05, 06, 09, 10]
    hardware    sparse formats, SpGEMM simulator, tensor cores, propagation, ONNX deploy  [07-09, 11]
    plots       figures: take computed results, draw on an Axes, return it
    widgets     slider panels
    checks      exercise checks, one module per lesson
    pretrain    ``python -m course_lib.pretrain``: rebuild the checkpoints
    student_edition  ``make student``: the notebooks with solutions blanked
    colab       the set-up cell's installer when a lesson runs in Google Colab
"""

__version__ = "0.1.0"
