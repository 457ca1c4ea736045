"""course_lib: the helper library of the pruning & sparsity course kit.

Subpackages named for the course's concepts, lowest layer first; a module imports only its own
subpackage and the layers below it (docs/architecture.md, enforced by tests/test_architecture.py):

    core        argument checks, the one top-k selection, module helpers, bits, tables, seeds
    data        the offline digits splits and loaders; optional torchvision datasets
    models      the lessons' models, their shipped hash-checked checkpoints, reference architectures
    train       seeding, train / evaluate / fine-tune loops
    pruning     masks: magnitude, granularity, N:M, importance criteria, the Pruner       [00-03, 05]
    structured  dependency groups, channel scores, physical channel removal               [04]
    analysis    params, MACs, latency, sensitivity scans, sweeps, searches, comparisons   [00-09]
    recipes     schedules, L0 gates, post-training (Wanda), LoRA, dynamic gates, transfer [01, 05, 06, 09]
    hardware    sparse formats, SpGEMM simulator, tensor cores, propagation, energy       [07-09]
    plots       figures: take computed results, draw on an Axes, return it
    widgets     slider panels
    checks      exercise checks, one module per lesson
    pretrain    ``python -m course_lib.pretrain``: rebuild the checkpoints
    student_edition  ``make student``: the notebooks with solutions blanked
"""

__version__ = "0.1.0"
