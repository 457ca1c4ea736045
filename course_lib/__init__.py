"""course_lib: the helper library of the pruning & sparsity course kit.

Modules, one concept each:
    data       the offline digits dataset and optional torchvision datasets
    models     the lessons' small models and their shipped, hash-checked checkpoints
    train      seeding, train / evaluate / fine-tune loops
    metrics    parameter counts, sparsity, size in bytes, MACs, latency
    pruning    masks and applying them
    energy     the energy cost of arithmetic and memory accesses (Horowitz, ISSCC 2014)
    checks     exercise checks, one module per lesson
"""

__version__ = "0.1.0"
