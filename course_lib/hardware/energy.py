"""Energy of arithmetic and memory accesses in a 45 nm process (Horowitz, ISSCC 2014), in picojoules.

The table behind "more memory -> more energy": one 32-bit DRAM read costs as much as ~170 float
multiplies, so moving weights, not computing with them, dominates a network's energy. Lesson 00 uses
it for the motivation, lesson 08 for the simulated accelerator's energy, lesson 09 for the benefits.
"""

from ..core.validation import check_choice, check_int_in_range

HOROWITZ_45NM_PJ = {
    "32-bit int add": 0.1,
    "32-bit float add": 0.9,
    "32-bit float mult": 3.7,
    "32-bit SRAM read (8 KB)": 5.0,
    "32-bit DRAM read": 640.0,
}
# The table's keys, by the names the cost models use.
IADD, FADD, FMUL = "32-bit int add", "32-bit float add", "32-bit float mult"
SRAM, DRAM = "32-bit SRAM read (8 KB)", "32-bit DRAM read"


def weight_read_energy_pj(n_weights: int, memory: str = "32-bit DRAM read") -> float:
    """Energy to read ``n_weights`` 32-bit weights once from ``memory`` (a key of the table)."""
    check_choice("memory", memory, {k for k in HOROWITZ_45NM_PJ if "read" in k})
    check_int_in_range("n_weights", n_weights, 0)
    return n_weights * HOROWITZ_45NM_PJ[memory]
