"""course_lib: the helper library of the pruning & sparsity course kit.

Modules, one concept each (the lesson that introduces each in brackets):

    data               the offline digits dataset and the optional torchvision datasets
    models             the lessons' small models and their shipped, hash-checked checkpoints
    pretrain           ``python -m course_lib.pretrain``: rebuild the checkpoints
    train              seeding, train / evaluate / fine-tune loops
    metrics            parameter counts, sparsity, size in bytes, MACs, latency
    validation         argument checks with clear error messages
    energy             the energy of arithmetic and memory accesses (Horowitz, ISSCC 2014)
    reference_models   AlexNet / GoogLeNet / ResNet-50 and Han et al.'s per-layer ratios   [00]
    sweeps             prune a copy and measure it: accuracy-vs-sparsity curves            [00]
    pruning            masks at every granularity, the mask-keeping Pruner, sensitivity    [01, 02]
    importance         importance criteria: magnitude, random, OBD, Taylor                 [01]
    l0                 the brute-force L0 study and hard-concrete gates                     [01]
    nm_sparsity        N:M masks, compression with metadata, channel permutation            [03]
    channels           dependency groups and physical channel removal                       [04]
    schedules          AGP, iterative pruning, lottery-ticket rewinding                     [05, 06]
    post_training      Wanda and magnitude pruning without retraining                       [06]
    lora               LoRA adapters on a frozen, pruned model                              [06]
    formats            sparse storage formats with exact decoding and byte counts           [07]
    accelerator        the SpGEMM simulator (inner / outer / SpArch) and 2:4 tensor cores   [08]
    propagation        sparsity-attribute propagation to find dead compute                  [08]
    benefits           the measured benefits table                                          [09]
    dynamic            input-dependent channel gating                                       [09]
    search             automated and hardware-aware per-layer ratio search                  [09]
    transfer           transfer learning and cross-domain pruning                           [09]
    viz, widgets, *_plots, pruning_viz   figures and slider panels
    checks             exercise checks, one module per lesson
    student_edition    ``make student``: the notebooks with solutions blanked
"""

__version__ = "0.1.0"
