"""SpArch's building blocks (lesson 08 and its exercises): matrix condensing, the merge plan of a
k-way merger (arrival order or k-ary Huffman), what a plan spills to DRAM, and the look-ahead row
buffer for B. ``course_lib.hardware.spgemm`` puts them together into the simulated dataflows.

Shapes: ``A`` is (M, K), ``B`` is (K, N). A *partial matrix* is the product of one column of A (or
one condensed column) with the rows of B it selects; a merge plan only needs their sizes (P,).
"""

import heapq
from collections import deque

import numpy as np

from ..core.validation import check_positive_int
from .operands import as_csr


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
