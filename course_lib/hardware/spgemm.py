"""A simulated sparse-matrix accelerator (SpArch, HPCA 2020) and a 2:4 sparse tensor-core roofline.

``simulate_spgemm(A, B, dataflow)`` multiplies two sparse matrices the way three kinds of hardware
would, and counts what each one costs: multiplications, partial matrices, merge rounds, DRAM and
on-chip traffic, cycles and energy. The product itself is computed along the dataflow's own merge
tree, so it is a real check of the bookkeeping, not a copy of ``A @ B``.

Shapes: ``A`` is (M, K), ``B`` is (K, N), the product ``C = A @ B`` is (M, N). nnz(X) counts the
stored non-zeros of X. One *entry* of a sparse matrix is a value and a column (or row) index.

The dataflows
-------------
``"inner"``
    Every output C[i, j] is a dot product of row i of A (CSR) with column j of B (CSC). The two index
    lists are intersected by a merge that advances one index per cycle, so each pair of a non-empty
    row and a non-empty column costs nnz(A[i, :]) + nnz(B[:, j]) comparisons, whether or not any
    index matches. Outputs are finished one at a time: no partial results. The operand that fits the
    on-chip buffer stays there; if neither fits, blocks of A's rows stay on chip and B is streamed
    once per block.
``"outer"`` (OuterSPACE)
    For each k, column k of A times row k of B gives a rank-1 *partial matrix* with
    nnz(A[:, k]) * nnz(B[k, :]) entries. A multiply phase writes all of them to DRAM; a merge phase
    reads them back, adds entries with the same (i, j) and writes C. A and B are read once.
``"sparch"`` (SpArch)
    Partial matrices stream from the multipliers straight into a ``merge_width``-way merge tree, so
    they never touch DRAM when there are at most ``merge_width`` of them. Three switchable parts:

    * ``condense``: matrix condensing. Each row of A is pushed to the left, so condensed column j
      holds the j-th non-zero of every row; the number of partial matrices drops from the number of
      non-empty columns of A to the longest row's nnz. The price: a condensed column needs rows of
      B from many different k, so B rows are fetched once per use.
    * ``huffman``: when there are more partial matrices than merger inputs, merge them in rounds in
      a k-ary Huffman order (smallest first) instead of the order they are produced; every round
      but the last writes its result to DRAM and reads it back later.
    * ``prefetch``: a row buffer of ``buffer_kib`` for B with look-ahead replacement (Belady's
      MIN: evict the row whose next use is furthest away, read from A's indices in advance), so a
      B row used again soon is read from DRAM once.

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

import heapq
import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch

from ..core.validation import check_choice, check_fraction, check_positive_int, check_positive_number
from .energy import DRAM, FADD, FMUL, HOROWITZ_45NM_PJ, IADD, SRAM

DATAFLOWS = ("inner", "outer", "sparch")


@dataclass(frozen=True)
class HardwareConfig:
    """The simulated accelerator. Defaults follow SpArch's setup (1 GHz, 16 multipliers, a 64-way
    merge tree, 128 GB/s of DRAM bandwidth); the buffer size and 32-bit values and indices are this
    kit's choice. ``energy_pj`` is the Horowitz 45 nm table of ``course_lib.energy``."""

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


def as_csr(x, name: str) -> sp.csr_matrix:
    """A 2-D scipy, torch (sparse or dense) or numpy matrix as a float64 scipy CSR matrix with
    sorted indices and no explicit zeros."""
    if isinstance(x, torch.Tensor):
        if x.dim() != 2:
            raise ValueError(f"{name} must be a 2-D matrix, got a tensor of shape {tuple(x.shape)}")
        x = x.to_sparse_coo().coalesce() if x.layout != torch.strided else x
        if x.layout == torch.sparse_coo:
            rows, cols = x.indices().numpy()
            x = sp.coo_matrix((x.values().double().numpy(), (rows, cols)), shape=tuple(x.shape))
        else:
            x = x.detach().double().numpy()
    if sp.issparse(x):
        if len(x.shape) != 2:
            raise ValueError(f"{name} must be a 2-D matrix, got shape {x.shape}")
        out = sp.csr_matrix(x, dtype=np.float64)
    elif isinstance(x, np.ndarray):
        if x.ndim != 2:
            raise ValueError(f"{name} must be a 2-D matrix, got an array of shape {x.shape}")
        out = sp.csr_matrix(x.astype(np.float64))
    else:
        raise TypeError(
            f"{name} must be a scipy.sparse matrix, a torch tensor or a numpy array, got {type(x).__name__}"
        )
    out.sum_duplicates()
    out.eliminate_zeros()
    out.sort_indices()
    return out


def _check_operands(A, B) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    A, B = as_csr(A, "A"), as_csr(B, "B")
    if A.shape[1] != B.shape[0]:
        raise ValueError(
            f"A has shape {A.shape} and B has shape {B.shape}: A's number of columns "
            f"({A.shape[1]}) must equal B's number of rows ({B.shape[0]})"
        )
    return A, B


def count_multiplications(A, B) -> int:
    """Useful multiplications of A @ B: sum over k of nnz(A[:, k]) * nnz(B[k, :]). Every dataflow
    performs exactly these (the inner product also compares indices that do not match)."""
    A, B = _check_operands(A, B)
    return int(np.dot(np.diff(A.tocsc().indptr), np.diff(B.indptr)))


def condense(A) -> tuple[np.ndarray, np.ndarray]:
    """Matrix condensing: push every row's non-zeros to the left.

    Returns ``(values, columns)``, both (M, L) where L is the longest row's nnz: row i holds its
    non-zeros in column order, then padding (value 0, column -1). Condensed column j is one partial
    matrix of the SpArch dataflow: it multiplies row ``columns[i, j]`` of B into row i of C.
    """
    A = as_csr(A, "A")
    lengths = np.diff(A.indptr)
    width = int(lengths.max(initial=0))
    rows = np.repeat(np.arange(A.shape[0]), lengths)
    position = np.arange(A.nnz) - A.indptr[rows]  # where each non-zero lands in its row
    values = np.zeros((A.shape[0], width))
    columns = np.full((A.shape[0], width), -1, dtype=np.int64)
    values[rows, position] = A.data
    columns[rows, position] = A.indices
    return values, columns


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
    A, B = _check_operands(A, B)
    return _partial_matrices(A, np.diff(B.indptr), condensed)[1]


def merge_schedule(sizes, width: int, huffman: bool = True) -> list[tuple[int, ...]]:
    """Plan the merge rounds of ``len(sizes)`` partial matrices on a ``width``-way merger.

    Items 0..P-1 are the partial matrices; the t-th round's result is item P + t. Each round merges
    at most ``width`` items; the last round is the root, whose result is C. To make every later
    round full, the first round takes 2 + (P - 2) mod (width - 1) items (the k-ary Huffman rule).
    ``huffman=True`` always merges the smallest items (estimated size: the sum of the inputs);
    ``huffman=False`` merges them in arrival order, each result joining the back of the queue.
    Returns the rounds in execution order, each a tuple of item ids.
    """
    width = check_positive_int("width", width)
    if width < 2:
        raise ValueError(f"width must be an integer >= 2, got {width}")
    sizes = [int(s) for s in sizes]
    if not sizes or min(sizes) < 0:
        raise ValueError(f"sizes must be a non-empty list of non-negative sizes, got {sizes!r}")
    n = len(sizes)
    if n <= width:
        return [tuple(range(n))]
    take = 2 + (n - 2) % (width - 1)
    rounds: list[tuple[int, ...]] = []
    if huffman:
        heap = [(s, i) for i, s in enumerate(sizes)]
        heapq.heapify(heap)
        while len(heap) > 1:
            picked = [heapq.heappop(heap) for _ in range(min(take, len(heap)))]
            heapq.heappush(heap, (sum(s for s, _ in picked), n + len(rounds)))
            rounds.append(tuple(i for _, i in picked))
            take = width
    else:
        queue = deque(range(n))
        estimate = list(sizes)
        while len(queue) > 1:
            picked = [queue.popleft() for _ in range(min(take, len(queue)))]
            estimate.append(sum(estimate[i] for i in picked))
            queue.append(n + len(rounds))
            rounds.append(tuple(picked))
            take = width
    return rounds


def schedule_cost(sizes, rounds) -> int:
    """Estimated entries spilled to DRAM by a plan: the summed input sizes of every round but the
    root (each is written once and read back once). Huffman's plan minimises this."""
    estimate = [int(s) for s in sizes]
    for picked in rounds:
        estimate.append(sum(estimate[i] for i in picked))
    return sum(estimate[len(sizes) : -1])


def spilled_partials(sizes, rounds) -> np.ndarray:
    """Ids of the partial matrices (0..P-1) that a plan sends through DRAM: those an earlier round
    merges, not the root (the last round) directly."""
    return np.setdiff1d(np.arange(len(sizes)), rounds[-1])


def outer_product_partials(A, B) -> np.ndarray:
    """The rank-1 partial matrices A[:, k] B[k, :] of the outer-product dataflow for small dense
    A (M, K) and B (K, N), stacked (K, M, N); their sum is A @ B."""
    A, B = np.asarray(A), np.asarray(B)
    if A.ndim != 2 or B.ndim != 2 or A.shape[1] != B.shape[0]:
        raise ValueError(f"A and B must be 2-D with A.shape[1] == B.shape[0], got {A.shape} and {B.shape}")
    return np.einsum("ik,kj->kij", A, B)


def lookahead_fetch_bytes(sequence, row_bytes, capacity: int) -> int:
    """DRAM bytes to serve the B-row accesses ``sequence`` (row ids, in order) through a buffer of
    ``capacity`` bytes with look-ahead replacement (Belady's MIN, with bypass).

    A row is fetched on a miss; it is kept only if it will be used again, evicting the rows whose
    next use is furthest away; if every buffered row is needed sooner, the new row bypasses the
    buffer. Rows larger than the buffer are always streamed. ``row_bytes[r]`` is row r's size.
    """
    seq = np.asarray(sequence, dtype=np.int64)
    sizes = np.asarray(row_bytes, dtype=np.int64)
    if seq.size == 0:
        return 0
    keep = np.flatnonzero(np.r_[True, seq[1:] != seq[:-1]])  # a repeat right away is a hit
    seq = seq[keep]
    uses = np.bincount(seq, minlength=sizes.size)
    reused = (uses[seq] > 1) & (sizes[seq] <= capacity) & (sizes[seq] > 0)
    compulsory = int(sizes[seq[~reused]].sum())
    seq = seq[reused]
    distinct = np.unique(seq)
    if sizes[distinct].sum() <= capacity:  # all reused rows fit: each is read once
        return compulsory + int(sizes[distinct].sum())
    n = seq.size
    order = np.argsort(seq, kind="stable")  # next use of each access, n when never again
    nxt = np.full(n, n, dtype=np.int64)
    same = seq[order[1:]] == seq[order[:-1]]
    nxt[order[:-1][same]] = order[1:][same]
    traffic, used = compulsory, 0
    cached: dict[int, int] = {}  # row -> its next use
    heap: list[tuple[int, int]] = []  # (-next use, row), with stale entries skipped lazily
    for r, nu, size in zip(seq.tolist(), nxt.tolist(), sizes[seq].tolist()):
        if r in cached:
            cached[r] = nu
            heapq.heappush(heap, (-nu, r))
            continue
        traffic += size
        if nu == n:
            continue
        while used + size > capacity:
            far, victim = heap[0]
            if cached.get(victim) != -far:
                heapq.heappop(heap)  # stale entry
            elif -far < nu:
                break  # everything buffered is needed sooner: bypass
            else:
                heapq.heappop(heap)
                del cached[victim]
                used -= sizes[victim]
        if used + size <= capacity:
            cached[r] = nu
            used += size
            heapq.heappush(heap, (-nu, r))
    return traffic


def _merge_tree_product(A, B, leaf_of_nnz, rounds, n_leaves):
    """Run the merge plan: round t multiplies its leaves (the non-zeros of A whose leaf it merges)
    with B and adds the results of its earlier rounds. Returns (C, true nnz of every round's result,
    input entries of every round, the order in which A's non-zeros are consumed)."""
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
    return results[-1].tocsr(), np.array(sizes), np.array(inputs), order


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
    ``condense``, ``huffman`` and ``prefetch`` apply to "sparch" only (all on = SpArch). The model
    and its assumptions are described in this module's docstring.
    """
    check_choice("dataflow", dataflow, set(DATAFLOWS))
    hw = HardwareConfig() if hw is None else hw
    if not isinstance(hw, HardwareConfig):
        raise TypeError(f"hw must be a HardwareConfig, got {type(hw).__name__}")
    for name, flag in (("condense", condense), ("huffman", huffman), ("prefetch", prefetch)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be True or False, got {flag!r}")
    A, B = _check_operands(A, B)
    M, K = A.shape
    N = B.shape[1]
    col_nnz_A, row_nnz_B = np.bincount(A.indices, minlength=K), np.diff(B.indptr)
    mults = int(np.dot(col_nnz_A, row_nnz_B))
    row_bytes_B = row_nnz_B * hw.entry_bytes
    options = {"condense": condense, "huffman": huffman, "prefetch": prefetch} if dataflow == "sparch" else {}

    if dataflow == "inner":
        C = A @ B  # each C[i, j] sums a_ik * b_kj in ascending k: the order an index merge uses
        rows_used = int(np.count_nonzero(np.diff(A.indptr)))
        cols_used = int(np.count_nonzero(np.bincount(B.indices, minlength=N)))
        comparisons = A.nnz * cols_used + B.nnz * rows_used
        a_bytes, b_bytes = _csr_bytes(A, hw, M), _csr_bytes(B, hw, N)
        fits = min(a_bytes, b_bytes) <= hw.buffer_bytes
        passes = 1 if fits else math.ceil(a_bytes / hw.buffer_bytes)
        dram = {"A": a_bytes, "B": passes * b_bytes, "partial_write": 0, "partial_read": 0,
                "C": _csr_bytes(C, hw, M)}
        on_chip = comparisons * hw.index_bytes + 2 * mults * hw.value_bytes
        compute = comparisons / hw.multipliers
        memory = sum(dram.values()) / hw.dram_bytes_per_cycle
        cycles, partial, rounds_n, spilled = max(compute, memory), 0, 0, 0
    else:
        pipelined = dataflow == "sparch"
        condensed = pipelined and condense
        leaf_of_nnz, leaf_sizes = _partial_matrices(A, row_nnz_B, condensed)
        n_leaves = leaf_sizes.size
        width = hw.merge_width if pipelined else max(n_leaves, 2)  # OuterSPACE merges all at once
        rounds = merge_schedule(leaf_sizes, width, huffman and pipelined) if n_leaves else [()]
        C, round_nnz, round_inputs, order = _merge_tree_product(A, B, leaf_of_nnz, rounds, n_leaves)
        spilled = int(round_nnz[:-1].sum())
        comparisons = int(sum(
            inputs * math.ceil(math.log2(max(len(picked), 2)))
            for inputs, picked in zip(round_inputs, rounds)
        ))
        a_bytes = _csr_bytes(A, hw, M if condensed else K)
        b_pointers = (K + 1) * hw.index_bytes
        if condensed:
            sequence = A.indices[order]  # B rows in the order the rounds use them
            b_data = (
                lookahead_fetch_bytes(sequence, row_bytes_B, hw.buffer_bytes)
                if prefetch
                else int(row_bytes_B[sequence].sum())
            )
        else:
            b_data = int(row_bytes_B[col_nnz_A > 0].sum())  # each needed row of B once
        partial_entries = spilled if pipelined else mults  # OuterSPACE spills every product
        dram = {
            "A": a_bytes,
            "B": b_pointers + b_data,
            "partial_write": partial_entries * hw.entry_bytes,
            "partial_read": partial_entries * hw.entry_bytes,
            "C": _csr_bytes(C, hw, M),
        }
        merge_inputs = int(round_inputs.sum())
        on_chip = (mults + merge_inputs) * hw.entry_bytes
        bpc = hw.dram_bytes_per_cycle
        if pipelined:
            compute = merge_inputs / hw.multipliers  # >= mults / multipliers: merger is the bottleneck
            memory = sum(dram.values()) / bpc
            cycles = max(compute, memory)
        else:
            multiply = max(mults / hw.multipliers, (dram["A"] + dram["B"] + dram["partial_write"]) / bpc)
            merge = max(mults / hw.multipliers, (dram["partial_read"] + dram["C"]) / bpc)
            compute = 2 * mults / hw.multipliers
            memory = sum(dram.values()) / bpc
            cycles = multiply + merge
        partial, rounds_n = n_leaves, len(rounds) if n_leaves else 0

    adds = max(mults - C.nnz, 0)
    total_dram = sum(dram.values())
    return SpGEMMReport(
        dataflow=dataflow,
        options=options,
        product=C,
        multiplications=mults,
        comparisons=int(comparisons),
        partial_matrices=partial,
        merge_rounds=rounds_n,
        spilled_entries=spilled,
        dram_bytes={k: int(v) for k, v in dram.items()},
        on_chip_bytes=int(on_chip),
        compute_cycles=float(compute),
        memory_cycles=float(memory),
        cycles=float(cycles),
        seconds=float(cycles) / (hw.clock_ghz * 1e9),
        energy_pj=_energy(hw, total_dram, on_chip, mults, adds, comparisons),
    )


MATRIX_KINDS = ("uniform", "power_law", "banded")


def sparse_matrix(kind: str, n: int, density: float, seed: int = 0) -> sp.csr_matrix:
    """An (n, n) test matrix with about ``density * n * n`` non-zeros, integer values 1..9 (so
    products and sums are exact in float64), made from ``seed``.

    ``"uniform"``: positions drawn uniformly (a random sparse matrix). ``"power_law"``: row and
    column of each non-zero drawn with probability proportional to 1/rank, then mirrored (an
    undirected graph with hubs: a few very long rows, and the same columns). ``"banded"``: a full
    band |i - j| <= b around the diagonal (a finite-element-like stencil), b set by the density.
    """
    check_choice("kind", kind, set(MATRIX_KINDS))
    n = check_positive_int("n", n)
    density = check_fraction("density", density)
    rng = np.random.default_rng(seed)
    target = round(density * n * n)
    if kind == "banded":
        half = max(round((density * n - 1) / 2), 0)
        rows = np.repeat(np.arange(n), 2 * half + 1)
        cols = rows + np.tile(np.arange(-half, half + 1), n)
        inside = (cols >= 0) & (cols < n)
        rows, cols = rows[inside], cols[inside]
    else:
        if kind == "uniform":
            weights = np.full(n, 1.0 / n)
        else:
            weights = 1.0 / np.arange(1, n + 1)
            weights /= weights.sum()
        rows, cols = rng.choice(n, size=(2, target // 2 if kind == "power_law" else target), p=weights)
        if kind == "power_law":  # an undirected graph: symmetric, hubs spread over the indices
            relabel = rng.permutation(n)
            rows, cols = np.r_[relabel[rows], relabel[cols]], np.r_[relabel[cols], relabel[rows]]
    values = rng.integers(1, 10, size=rows.size).astype(np.float64)
    matrix = sp.coo_matrix((values, (rows, cols)), shape=(n, n)).tocsr()
    matrix.data[:] = rng.integers(1, 10, size=matrix.nnz)  # duplicates were summed: redraw values
    return matrix


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
