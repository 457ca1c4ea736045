"""Tiny Shakespeare: shipped, hash-checked, split by position, batched reproducibly."""

import gzip

import pytest
import torch

from course_lib.core.seeds import SEED_OFFSET_VARIABLE
from course_lib.data import text


def test_text_loads_offline_with_its_hash():
    raw = text.load_text()
    assert len(raw) == 1_115_394 and raw.startswith("First Citizen:")


def test_altered_text_is_refused(tmp_path):
    altered = tmp_path / "t.txt.gz"
    altered.write_bytes(gzip.compress(b"not shakespeare"))
    with pytest.raises(ValueError, match="SHA-256"):
        text.load_text(altered)
    with pytest.raises(FileNotFoundError, match="missing"):
        text.load_text(tmp_path / "absent.gz")


def test_vocabulary_round_trips_and_rejects_unknown_characters():
    splits = text.shakespeare_splits()
    vocab = splits.vocab
    assert len(vocab) == 65 and vocab.chars == "".join(sorted(vocab.chars))
    sample = "ROMEO:\nBut soft, what light?"
    assert vocab.decode(vocab.encode(sample)) == sample
    with pytest.raises(ValueError, match="outside the vocabulary.*'é'"):
        vocab.encode("café")
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 64\]"):
        vocab.decode([0, 65])


def test_split_is_by_position_first_90_percent_train():
    splits = text.shakespeare_splits()
    n = len(splits.train) + len(splits.validation)
    assert n == 1_115_394 and len(splits.validation) == round(0.1 * n)
    whole = text.split_text(text.load_text(), validation_fraction=0.1)
    assert torch.equal(whole.train, splits.train) and torch.equal(whole.validation, splits.validation)
    assert splits.vocab.decode(splits.validation[:20]) == text.load_text()[len(splits.train):][:20]


def test_random_windows_are_seeded_and_shifted_by_one():
    tokens = torch.arange(1000)
    x1, y1 = text.random_windows(tokens, 8, 16, text.text_generator(0))
    x2, y2 = text.random_windows(tokens, 8, 16, text.text_generator(0))
    assert x1.shape == (8, 16) and torch.equal(x1, x2) and torch.equal(y1, x1 + 1)


def test_seed_offset_moves_the_batches(monkeypatch):
    tokens = torch.arange(10_000)
    monkeypatch.setenv(SEED_OFFSET_VARIABLE, "0")
    base = text.random_windows(tokens, 4, 8, text.text_generator(0))[0]
    monkeypatch.setenv(SEED_OFFSET_VARIABLE, "3")
    moved = text.random_windows(tokens, 4, 8, text.text_generator(0))[0]
    assert not torch.equal(base, moved)


def test_sequential_windows_cover_the_start_in_order():
    tokens = torch.arange(100)
    x, y = text.sequential_windows(tokens, 10, max_chars=35)
    assert x.shape == (3, 10) and x.flatten().tolist() == list(range(30)) and torch.equal(y, x + 1)
    assert text.sequential_windows(tokens, 10)[0].shape == (9, 10)  # the last target must exist


def test_bad_arguments_are_clear():
    tokens = torch.arange(100)
    with pytest.raises(ValueError, match="context must be < len"):
        text.random_windows(tokens, 2, 100, text.text_generator(0))
    with pytest.raises(ValueError, match="tokens must be a 1-D LongTensor"):
        text.sequential_windows(tokens.float(), 10)
    with pytest.raises(ValueError, match="max_chars must be at least one window"):
        text.sequential_windows(tokens, 10, max_chars=5)
    with pytest.raises(ValueError, match="validation_fraction must be in"):
        text.split_text("abc", validation_fraction=1.0)
