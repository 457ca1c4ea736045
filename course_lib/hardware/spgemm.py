"""The SpGEMM simulator of lesson 08: a sparse-matrix accelerator after SpArch (HPCA 2020).

``simulate_spgemm(A, B, dataflow)`` multiplies two sparse matrices the way one of three kinds of
hardware would, and counts what it costs: multiplications, partial matrices, merge rounds, DRAM and
on-chip traffic, cycles and energy. The product itself is computed along the dataflow's own merge
tree, so it is a real check of the bookkeeping, not a copy of ``A @ B``.

Shapes: ``A`` is (M, K), ``B`` is (K, N), the product ``C = A @ B`` is (M, N). nnz(X) counts the
stored non-zeros of X. One *entry* of a sparse matrix is a value and a column (or row) index.

Each dataflow is one function, registered in ``DATAFLOWS`` (name -> function), and returns an
``SpGEMMReport``: ``"inner"`` (``_inner_product``: index-matching dot products), ``"outer"``
(``_outer_product``: OuterSPACE, every partial matrix through DRAM) and ``"sparch"`` (``_sparch``:
a pipelined merge tree with condensing, Huffman merge order and a look-ahead prefetcher, each of
which can be switched off). Their docstrings say what each one does and charges; the building
blocks (condensing, merge plans, the row buffer) are in ``course_lib.hardware.merging``.

Model assumptions (the simplifications, stated once)
----------------------------------------------------
* Values and indices have ``value_bytes`` and ``index_bytes``; CSR/CSC pointer arrays are read or
  written once per matrix; partial matrices are charged per entry (value + index).
* The merge scheduler plans with estimated sizes (the sum of a merge's input sizes: it cannot know
  in advance how many entries will collide), while DRAM traffic is charged at the true size of each
  merged result. Huffman's plan is optimal for the estimates (``schedule_cost``); on a matrix whose
  entries collide a lot a Huffman plan can occasionally spill more than the arrival order.
* Cycles: each multiplier does one multiplication per cycle; the merge tree consumes
  ``multipliers`` entries per cycle (matched to the multipliers); DRAM moves
  ``dram_gb_per_s / clock_ghz`` bytes per cycle, and reads and writes cost the same. Inside a
  pipelined phase compute and memory overlap, so the phase takes the larger of the two (a roofline);
  OuterSPACE's multiply and merge phases run one after the other.
* Energy (Horowitz, 45 nm): every 4 bytes of DRAM traffic costs one 32-bit DRAM access, every 4
  bytes of on-chip traffic one 32-bit SRAM access; each multiplication is a float multiply, each
  pair of colliding entries a float add (mults - nnz(C) adds in all), each index comparison an int
  add. On-chip traffic: B operands fed to the multipliers and entries entering the merge tree
  (value + index each); for the inner product, indices compared and values multiplied.
* No latency, bank conflicts or load imbalance are modelled: the numbers are the data-movement
  story of the paper, not a cycle-accurate simulator.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ..core.validation import check_choice, check_positive_int, check_positive_number
from .energy import DRAM, FADD, FMUL, HOROWITZ_45NM_PJ, IADD, SRAM
from .merging import lookahead_fetch_bytes, merge_schedule
from .operands import count_multiplications, csr_operands


@dataclass(frozen=True)
class HardwareConfig:
    """The simulated accelerator. Defaults follow SpArch's setup (1 GHz, 16 multipliers, a 64-way
    merge tree, 128 GB/s of DRAM bandwidth); the buffer size and 32-bit values and indices are this
    kit's choice. ``energy_pj`` is the Horowitz 45 nm table of ``course_lib.hardware.energy``."""

    clock_ghz: float = 1.0
    multipliers: int = 16
    merge_width: int = 64
    dram_gb_per_s: float = 128.0
    buffer_kib: float = 1024.0
    value_bytes: int = 4
    index_bytes: int = 4
    energy_pj: Mapping = field(default_factory=lambda: dict(HOROWITZ_45NM_PJ))

    def __post_init__(self):
        for name in ("clock_ghz", "dram_gb_per_s", "buffer_kib"):
            check_positive_number(name, getattr(self, name))
        for name in ("multipliers", "merge_width", "value_bytes", "index_bytes"):
            check_positive_int(name, getattr(self, name))
        if self.merge_width < 2:
            raise ValueError(f"merge_width must be an integer >= 2, got {self.merge_width!r}")
        missing = {DRAM, SRAM, FMUL, FADD, IADD} - set(self.energy_pj)
        if missing:
            raise ValueError(f"energy_pj must have the keys {sorted(missing)}, got {dict(self.energy_pj)}")
        for key, value in self.energy_pj.items():
            check_positive_number(f"energy_pj[{key!r}]", value)

    @property
    def entry_bytes(self) -> int:
        """Bytes of one sparse entry: a value and an index."""
        return self.value_bytes + self.index_bytes

    @property
    def dram_bytes_per_cycle(self) -> float:
        return self.dram_gb_per_s / self.clock_ghz

    @property
    def buffer_bytes(self) -> int:
        return int(self.buffer_kib * 1024)


@dataclass(frozen=True)
class SpGEMMReport:
    """What one simulated product cost. ``product`` is C = A @ B (scipy CSR, float64), computed
    along the dataflow's merge tree. Traffic in bytes, energy in pJ, time in cycles of the clock."""

    dataflow: str
    options: dict
    product: sp.csr_matrix
    multiplications: int
    comparisons: int
    partial_matrices: int
    merge_rounds: int
    spilled_entries: int
    dram_bytes: dict
    on_chip_bytes: int
    compute_cycles: float
    memory_cycles: float
    cycles: float
    seconds: float
    energy_pj: dict

    @property
    def dram_total(self) -> int:
        return sum(self.dram_bytes.values())

    @property
    def energy_total(self) -> float:
        return sum(self.energy_pj.values())

    def summary(self) -> dict:
        """The headline numbers as a flat dict (for tables)."""
        return {
            "multiplications": self.multiplications,
            "partial matrices": self.partial_matrices,
            "merge rounds": self.merge_rounds,
            "DRAM MB": self.dram_total / 1e6,
            "cycles (M)": self.cycles / 1e6,
            "energy (uJ)": self.energy_total / 1e6,
        }


def _partial_matrices(A: sp.csr_matrix, row_nnz_B: np.ndarray, condensed: bool):
    """(the partial matrix each non-zero of A feeds, the size of every partial matrix)."""
    if condensed:  # partial matrix j: the j-th non-zero of every row
        rows = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))
        leaf_of_nnz = np.arange(A.nnz) - A.indptr[rows]
    else:  # partial matrix: one per non-empty column of A, in column order
        leaf_of_nnz = np.cumsum(np.bincount(A.indices, minlength=A.shape[1]) > 0)[A.indices] - 1
    n_leaves = int(leaf_of_nnz.max(initial=-1)) + 1
    sizes = np.bincount(leaf_of_nnz, weights=row_nnz_B[A.indices], minlength=n_leaves)
    return leaf_of_nnz, sizes.astype(np.int64)


def partial_matrix_sizes(A, B, condensed: bool = True) -> np.ndarray:
    """Entries of each partial matrix of the outer product A @ B, in the order they are produced:
    (longest row's nnz,) with condensing, (non-empty columns of A,) without."""
    A, B = csr_operands(A, B)
    return _partial_matrices(A, np.diff(B.indptr), condensed)[1]


@dataclass(frozen=True)
class _MergeTree:
    """A merge plan run on the operands: the product C, the number of partial matrices (leaves),
    the rounds (tuples of item ids, as ``merge_schedule`` returns them), the true nnz of every
    round's result and the entries entering every round, and the order in which A's non-zeros are
    consumed."""

    product: sp.csr_matrix
    leaves: int
    rounds: list
    round_nnz: np.ndarray
    round_inputs: np.ndarray
    order: np.ndarray

    @property
    def merge_rounds(self) -> int:
        return len(self.rounds) if self.leaves else 0

    @property
    def spilled(self) -> int:
        """Entries of the intermediate results (every round but the root): written to DRAM and read back."""
        return int(self.round_nnz[:-1].sum())

    @property
    def merge_inputs(self) -> int:
        return int(self.round_inputs.sum())

    @property
    def comparisons(self) -> int:
        """Each entry entering a round of k inputs passes ceil(log2 k) comparators of the merger."""
        return int(sum(
            inputs * math.ceil(math.log2(max(len(picked), 2)))
            for inputs, picked in zip(self.round_inputs, self.rounds)
        ))


def _merge_tree(A: sp.csr_matrix, B: sp.csr_matrix, condensed: bool, width: int | None,
                huffman: bool) -> _MergeTree:
    """Plan the merge of A @ B's partial matrices on a ``width``-way merger (``None``: all of them
    at once) and run it: round t multiplies its leaves (the non-zeros of A whose partial matrix it
    merges) with B and adds the results of its earlier rounds."""
    leaf_of_nnz, leaf_sizes = _partial_matrices(A, np.diff(B.indptr), condensed)
    n_leaves = leaf_sizes.size
    width = max(n_leaves, 2) if width is None else width
    rounds = merge_schedule(leaf_sizes, width, huffman) if n_leaves else [()]
    round_of_item = np.empty(n_leaves + len(rounds), dtype=np.int64)
    for t, picked in enumerate(rounds):
        round_of_item[list(picked)] = t
    round_of_nnz = round_of_item[leaf_of_nnz]
    order = np.argsort(round_of_nnz, kind="stable")  # row-major inside each round
    bounds = np.searchsorted(round_of_nnz[order], np.arange(len(rounds) + 1))
    rows = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))
    products_per_nnz = np.diff(B.indptr)[A.indices]
    results, sizes, inputs = [], [], []
    for t, picked in enumerate(rounds):
        part = order[bounds[t] : bounds[t + 1]]
        leaves = sp.csr_matrix((A.data[part], (rows[part], A.indices[part])), shape=A.shape)
        result = leaves @ B
        merged = [results[i - n_leaves] for i in picked if i >= n_leaves]
        for earlier in merged:
            result = result + earlier
        results.append(result)
        sizes.append(result.nnz)
        inputs.append(int(products_per_nnz[part].sum()) + sum(m.nnz for m in merged))
    return _MergeTree(results[-1].tocsr(), n_leaves, rounds, np.array(sizes), np.array(inputs), order)


def _energy(hw: HardwareConfig, dram: int, on_chip: int, mults: int, adds: int, comparisons: int):
    e = hw.energy_pj
    return {
        "DRAM": dram / 4 * e[DRAM],
        "SRAM": on_chip / 4 * e[SRAM],
        "multiply": mults * e[FMUL],
        "add": adds * e[FADD],
        "compare": comparisons * e[IADD],
    }


def _csr_bytes(X, hw: HardwareConfig, outer_dim: int) -> int:
    return X.nnz * hw.entry_bytes + (outer_dim + 1) * hw.index_bytes


def _dram(hw: HardwareConfig, a_bytes: int, b_bytes: int, partial_entries: int, C: sp.csr_matrix) -> dict:
    """DRAM bytes by part: A and B read, ``partial_entries`` written and read back, C written (CSR)."""
    partial = partial_entries * hw.entry_bytes
    return {"A": a_bytes, "B": b_bytes, "partial_write": partial, "partial_read": partial,
            "C": _csr_bytes(C, hw, C.shape[0])}


def _b_rows_once(A: sp.csr_matrix, B: sp.csr_matrix, hw: HardwareConfig) -> int:
    """Bytes to read B's row pointers and, once each, the rows of B that A's non-empty columns need."""
    needed = np.bincount(A.indices, minlength=A.shape[1]) > 0
    return (B.shape[0] + 1) * hw.index_bytes + int((np.diff(B.indptr) * hw.entry_bytes)[needed].sum())


def _report(hw: HardwareConfig, dataflow: str, C: sp.csr_matrix, mults: int, comparisons: int,
            dram: dict, on_chip: int, compute: float, memory: float, cycles: float, *,
            tree: _MergeTree | None = None, options: dict | None = None) -> SpGEMMReport:
    """The report of one simulated product; ``tree`` is the merge tree of the outer-product kinds."""
    adds = max(mults - C.nnz, 0)
    return SpGEMMReport(
        dataflow=dataflow,
        options={} if options is None else options,
        product=C,
        multiplications=mults,
        comparisons=int(comparisons),
        partial_matrices=0 if tree is None else tree.leaves,
        merge_rounds=0 if tree is None else tree.merge_rounds,
        spilled_entries=0 if tree is None else tree.spilled,
        dram_bytes={k: int(v) for k, v in dram.items()},
        on_chip_bytes=int(on_chip),
        compute_cycles=float(compute),
        memory_cycles=float(memory),
        cycles=float(cycles),
        seconds=float(cycles) / (hw.clock_ghz * 1e9),
        energy_pj=_energy(hw, sum(dram.values()), on_chip, mults, adds, comparisons),
    )


def _inner_product(A: sp.csr_matrix, B: sp.csr_matrix, hw: HardwareConfig) -> SpGEMMReport:
    """Dataflow ``"inner"``: every output C[i, j] is a dot product of row i of A (CSR) with column j
    of B (CSC).

    The two index lists are intersected by a merge that advances one index per cycle, so each pair
    of a non-empty row and a non-empty column costs nnz(A[i, :]) + nnz(B[:, j]) comparisons, whether
    or not any index matches. Outputs are finished one at a time: no partial results. The operand
    that fits the on-chip buffer stays there; if neither fits, blocks of A's rows stay on chip and B
    is streamed once per block.
    """
    M, N = A.shape[0], B.shape[1]
    mults = count_multiplications(A, B)
    C = A @ B  # each C[i, j] sums a_ik * b_kj in ascending k: the order an index merge uses
    rows_used = int(np.count_nonzero(np.diff(A.indptr)))
    cols_used = int(np.count_nonzero(np.bincount(B.indices, minlength=N)))
    comparisons = A.nnz * cols_used + B.nnz * rows_used
    a_bytes, b_bytes = _csr_bytes(A, hw, M), _csr_bytes(B, hw, N)
    fits = min(a_bytes, b_bytes) <= hw.buffer_bytes
    passes = 1 if fits else math.ceil(a_bytes / hw.buffer_bytes)
    dram = _dram(hw, a_bytes, passes * b_bytes, 0, C)
    on_chip = comparisons * hw.index_bytes + 2 * mults * hw.value_bytes
    compute = comparisons / hw.multipliers
    memory = sum(dram.values()) / hw.dram_bytes_per_cycle
    return _report(hw, "inner", C, mults, comparisons, dram, on_chip, compute, memory, max(compute, memory))


def _outer_product(A: sp.csr_matrix, B: sp.csr_matrix, hw: HardwareConfig) -> SpGEMMReport:
    """Dataflow ``"outer"`` (OuterSPACE): for each k, column k of A times row k of B gives a rank-1
    *partial matrix* with nnz(A[:, k]) * nnz(B[k, :]) entries.

    A multiply phase writes all of them to DRAM; a merge phase reads them back, adds entries with
    the same (i, j) in one merge of all partial matrices and writes C. A (as CSC) and each needed
    row of B are read once. The two phases run one after the other.
    """
    mults = count_multiplications(A, B)
    tree = _merge_tree(A, B, condensed=False, width=None, huffman=False)
    dram = _dram(hw, _csr_bytes(A, hw, A.shape[1]), _b_rows_once(A, B, hw), mults, tree.product)
    bpc = hw.dram_bytes_per_cycle
    multiply = max(mults / hw.multipliers, (dram["A"] + dram["B"] + dram["partial_write"]) / bpc)
    merge = max(mults / hw.multipliers, (dram["partial_read"] + dram["C"]) / bpc)
    on_chip = (mults + tree.merge_inputs) * hw.entry_bytes
    return _report(hw, "outer", tree.product, mults, tree.comparisons, dram, on_chip,
                   compute=2 * mults / hw.multipliers, memory=sum(dram.values()) / bpc,
                   cycles=multiply + merge, tree=tree)


def _sparch(A: sp.csr_matrix, B: sp.csr_matrix, hw: HardwareConfig, *, condense: bool = True,
            huffman: bool = True, prefetch: bool = True) -> SpGEMMReport:
    """Dataflow ``"sparch"`` (SpArch): partial matrices stream from the multipliers straight into a
    ``hw.merge_width``-way merge tree, so they never touch DRAM when there are at most
    ``merge_width`` of them. Three switchable parts (all on = SpArch):

    * ``condense``: matrix condensing. Each row of A is pushed to the left, so condensed column j
      holds the j-th non-zero of every row; the number of partial matrices drops from the number of
      non-empty columns of A to the longest row's nnz. The price: a condensed column needs rows of
      B from many different k, so B rows are fetched once per use.
    * ``huffman``: when there are more partial matrices than merger inputs, merge them in rounds in
      a k-ary Huffman order (smallest first) instead of the order they are produced; every round
      but the last writes its result to DRAM and reads it back later.
    * ``prefetch``: a row buffer of ``hw.buffer_kib`` for B with look-ahead replacement (Belady's
      MIN: evict the row whose next use is furthest away, read from A's indices in advance), so a
      B row used again soon is read from DRAM once (condensed only: otherwise each row is read once).

    Multiplying and merging are one pipeline, limited by the merger or by DRAM, whichever is slower.
    """
    mults = count_multiplications(A, B)
    tree = _merge_tree(A, B, condensed=condense, width=hw.merge_width, huffman=huffman)
    if condense:
        row_bytes = np.diff(B.indptr) * hw.entry_bytes
        sequence = A.indices[tree.order]  # B rows in the order the rounds use them
        b_data = (lookahead_fetch_bytes(sequence, row_bytes, hw.buffer_bytes) if prefetch
                  else int(row_bytes[sequence].sum()))
        a_bytes, b_bytes = _csr_bytes(A, hw, A.shape[0]), (B.shape[0] + 1) * hw.index_bytes + b_data
    else:
        a_bytes, b_bytes = _csr_bytes(A, hw, A.shape[1]), _b_rows_once(A, B, hw)
    dram = _dram(hw, a_bytes, b_bytes, tree.spilled, tree.product)
    on_chip = (mults + tree.merge_inputs) * hw.entry_bytes
    compute = tree.merge_inputs / hw.multipliers  # >= mults / multipliers: the merger is the bottleneck
    memory = sum(dram.values()) / hw.dram_bytes_per_cycle
    return _report(hw, "sparch", tree.product, mults, tree.comparisons, dram, on_chip, compute, memory,
                   max(compute, memory), tree=tree,
                   options={"condense": condense, "huffman": huffman, "prefetch": prefetch})


# The dataflows by name: each takes (A, B, hw) as canonical float64 CSR and a HardwareConfig
# (``"sparch"`` also its three switches) and returns an SpGEMMReport.
DATAFLOWS = {"inner": _inner_product, "outer": _outer_product, "sparch": _sparch}


def simulate_spgemm(
    A,
    B,
    dataflow: str,
    hw: HardwareConfig | None = None,
    *,
    condense: bool = True,
    huffman: bool = True,
    prefetch: bool = True,
) -> SpGEMMReport:
    """Simulate C = A @ B on the accelerator ``hw`` with ``dataflow`` "inner", "outer" or "sparch".

    A (M, K) and B (K, N): scipy.sparse, torch (sparse or dense) or numpy matrices. The switches
    ``condense``, ``huffman`` and ``prefetch`` apply to "sparch" only (all on = SpArch). Each
    dataflow is one function of ``DATAFLOWS``; the model's assumptions are in this module's docstring.
    """
    check_choice("dataflow", dataflow, set(DATAFLOWS))
    hw = HardwareConfig() if hw is None else hw
    if not isinstance(hw, HardwareConfig):
        raise TypeError(f"hw must be a HardwareConfig, got {type(hw).__name__}")
    switches = {"condense": condense, "huffman": huffman, "prefetch": prefetch}
    for name, flag in switches.items():
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be True or False, got {flag!r}")
    A, B = csr_operands(A, B)
    return DATAFLOWS[dataflow](A, B, hw, **(switches if dataflow == "sparch" else {}))


def compare_dataflows(A, B, hw: HardwareConfig | None = None) -> dict[str, SpGEMMReport]:
    """The three dataflows on the same product: {"inner": ..., "outer": ..., "sparch": ...}."""
    return {dataflow: simulate_spgemm(A, B, dataflow, hw) for dataflow in DATAFLOWS}


ABLATION_STEPS = {
    "outer (OuterSPACE)": ("outer", {}),
    "+ condensing": ("sparch", {"condense": True, "huffman": False, "prefetch": False}),
    "+ Huffman order": ("sparch", {"condense": True, "huffman": True, "prefetch": False}),
    "+ prefetch (SpArch)": ("sparch", {"condense": True, "huffman": True, "prefetch": True}),
}


def sparch_ablation(A, B, hw: HardwareConfig | None = None) -> dict[str, SpGEMMReport]:
    """SpArch built up one idea at a time: OuterSPACE, then + pipelined merging with condensing,
    + Huffman merge order, + the look-ahead row prefetcher. Keys are ``ABLATION_STEPS``."""
    return {
        step: simulate_spgemm(A, B, dataflow, hw, **switches)
        for step, (dataflow, switches) in ABLATION_STEPS.items()
    }
