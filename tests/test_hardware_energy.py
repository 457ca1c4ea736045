"""hardware.energy: Horowitz's 45 nm energy table and the cost of reading weights (lesson 00)."""

import pytest

from course_lib import hardware


def test_dram_dominates_the_energy_table():
    table = hardware.HOROWITZ_45NM_PJ
    assert table["32-bit DRAM read"] == 640.0 and table["32-bit float mult"] == 3.7
    assert hardware.weight_read_energy_pj(1000) == 640_000.0
    assert hardware.weight_read_energy_pj(10, "32-bit SRAM read (8 KB)") == 50.0
    with pytest.raises(ValueError, match="memory must be one of"):
        hardware.weight_read_energy_pj(10, "32-bit float add")
    with pytest.raises(ValueError, match="n_weights"):
        hardware.weight_read_energy_pj(-1)
