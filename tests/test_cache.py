"""Content-addressed cache: keys, hits, invalidation, corruption, resume, ls/gc, CLI."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
import torch

from probekit.cache import CacheEntry, collect_garbage, fingerprint, list_entries
from probekit.cli import main
from probekit.errors import ProbekitError
from probekit.extract import engine, extract
from probekit.extract import models as M
from probekit.extract.tiny import save_tiny

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TEXTS = [["The", "cat", "sat", "on", "the", "mat", "."], ["Dogs", "bark", "!"],
         ["Prices", "rose", "12.5", "%", "."], ["A"], ["Zürich", "is", "naïve", "?"]] * 3


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_tiny("bert", tmp_path_factory.mktemp("m") / "bert")


@pytest.fixture()
def no_model_load(monkeypatch):
    """Fail if the model is loaded (a cache hit must not load it)."""
    def boom(*a, **k):
        raise AssertionError("model loaded on what should be a cache hit")
    monkeypatch.setattr(M, "load_model", boom)


def test_fingerprint_is_order_independent_and_sensitive():
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint({"a": 1, "b": [1, 2]}) != fingerprint({"a": 1, "b": [2, 1]})


def test_hit_and_invalidation_per_keyed_input(folder, tmp_path, monkeypatch):
    root = tmp_path / "c"
    base = dict(layers=[0, 2], cache_dir=root, progress=False)
    first = extract(folder, TEXTS, **base)
    keys = {first.key}
    variants = [
        dict(texts=TEXTS[:-1]),
        dict(texts=[t[::-1] for t in TEXTS]),
        dict(layers=[0, 1]),
        dict(word_pooling="max"),
        dict(sentence_pooling="mean"),
        dict(dtype="bf16"),
        dict(store_dtype="float32"),
        dict(window_stride=3),
        dict(max_length=16),
    ]
    for change in variants:
        kwargs = {**base, **change}
        texts = kwargs.pop("texts", TEXTS)
        keys.add(extract(folder, texts, **kwargs).key)
    assert len(keys) == len(variants) + 1  # every keyed input changes the key
    monkeypatch.setattr(engine, "CODE_VERSION", engine.CODE_VERSION + 1)
    assert extract(folder, TEXTS, **base).key not in keys
    monkeypatch.undo()

    # model weights, tokenizer files: copies with one change each
    other = tmp_path / "other"
    shutil.copytree(folder, other)
    assert extract(other, TEXTS, **base).key == first.key  # identity is content, not path
    weights = other / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0xFF
    weights.write_bytes(bytes(data))
    assert extract(other, TEXTS, **base).key not in keys
    shutil.copytree(folder, other, dirs_exist_ok=True)
    tok_json = json.loads((other / "tokenizer.json").read_text())
    tok_json["normalizer"]["lowercase"] = False
    (other / "tokenizer.json").write_text(json.dumps(tok_json))
    assert extract(other, TEXTS, **base).key not in keys


def test_cache_hit_loads_nothing(folder, tmp_path, monkeypatch):
    root = tmp_path / "c"
    first = extract(folder, TEXTS, layers=[1], cache_dir=root, progress=False)
    monkeypatch.setattr(M, "load_model", lambda *a, **k: pytest.fail("model loaded on a cache hit"))
    monkeypatch.setattr(M, "load_tokenizer", lambda *a, **k: pytest.fail("tokenizer loaded on a hit"))
    again = extract(folder, TEXTS, layers=[1], cache_dir=root, progress=False)
    assert again.path == first.path
    np.testing.assert_array_equal(again.layer(1), first.layer(1))


def test_one_shot_iterator_input_hits_the_same_entry(folder, tmp_path):
    root = tmp_path / "c"
    a = extract(folder, TEXTS, layers=[1], cache_dir=root, progress=False)
    b = extract(folder, iter(TEXTS), layers=[1], cache_dir=root, progress=False)
    assert a.path == b.path


@pytest.mark.parametrize("damage", ["truncate", "flip", "no_manifest", "bad_manifest"])
def test_damaged_entry_is_detected_and_rebuilt(folder, tmp_path, damage):
    root = tmp_path / "c"
    reps = extract(folder, TEXTS, layers=[2], cache_dir=root, store_dtype="float32", progress=False)
    good = np.array(reps.layer(2))
    layer_file = reps.path / "layer_02.npy"
    if damage == "truncate":
        with open(layer_file, "r+b") as f:
            f.truncate(layer_file.stat().st_size - 100)
    elif damage == "flip":
        data = bytearray(layer_file.read_bytes())
        data[200] ^= 0xFF  # inside the data, within a sampled block
        layer_file.write_bytes(bytes(data))
    elif damage == "no_manifest":
        (reps.path / "manifest.json").unlink()
    else:
        (reps.path / "manifest.json").write_text("{not json")
    with pytest.warns(UserWarning, match="broken") if damage != "no_manifest" else _nothing():
        assert CacheEntry("reps", reps.key, root).load_manifest() is None  # never read as garbage
    rebuilt = extract(folder, TEXTS, layers=[2], cache_dir=root, store_dtype="float32", progress=False)
    np.testing.assert_array_equal(rebuilt.layer(2), good)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_generic_entry_and_full_verify(tmp_path):
    """The generic writer other stages reuse; full verification catches any byte."""
    entry = CacheEntry("probes", fingerprint({"x": 1}), tmp_path)
    assert entry.load_manifest() is None
    with entry.build() as folder:
        (folder / "big.bin").write_bytes(np.random.default_rng(0).bytes(2 * 2**20))
        assert entry.load_manifest() is None  # still partial
        entry.commit({"summary": {"what": "test"}})
    assert sorted(p.name for p in entry.path.iterdir()) == ["big.bin", "manifest.json"]
    big = entry.path / "big.bin"
    data = bytearray(big.read_bytes())
    data[2**16 + 12345] ^= 0xFF  # outside every sampled block
    big.write_bytes(bytes(data))
    assert entry.load_manifest(verify="sample") is not None  # the fast default samples
    with pytest.warns(UserWarning, match="checksum"):
        assert entry.load_manifest(verify="full") is None
    assert not entry.path.exists()


def test_resume_after_crash(folder, tmp_path, monkeypatch):
    root = tmp_path / "c"
    texts = [t + [str(i)] for i, t in enumerate(TEXTS * 4)]
    clean = extract(folder, texts, layers=[0, 2], sentence_pooling="mean", cache=False,
                    max_tokens_per_batch=64, progress=False)

    def crash(number):
        if number == 3:
            raise KeyboardInterrupt("simulated crash")

    monkeypatch.setattr(engine, "_on_batch_done", crash)
    with pytest.raises(KeyboardInterrupt) as crashed:
        extract(folder, texts, layers=[0, 2], sentence_pooling="mean", cache_dir=root,
                max_tokens_per_batch=64, shard_tokens=1, progress=False)
    table = list_entries(root)
    assert table.status.tolist() == ["partial"]  # nothing looks complete
    import threading

    # while the traceback (and so the engine's frames) is still held, as a notebook holds it
    assert crashed.tb is not None
    assert not [t.name for t in threading.enumerate() if t.name.startswith(("probekit-prepare", "probekit-writer"))]
    monkeypatch.setattr(engine, "_on_batch_done", None)
    resumed = extract(folder, texts, layers=[0, 2], sentence_pooling="mean", cache_dir=root,
                      max_tokens_per_batch=64, shard_tokens=1, progress=False)
    assert 0 < resumed.stats["resumed_texts"] < len(texts)
    for layer in (0, 2):
        np.testing.assert_array_equal(resumed.layer(layer), clean.layer(layer))
        np.testing.assert_array_equal(resumed.sentence(layer), clean.sentence(layer))
    assert list_entries(root).status.tolist() == ["ok"]


def test_unwritable_cache_is_a_clear_error(folder, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(ProbekitError, match="cannot write to the cache folder"):
        extract(folder, TEXTS, cache_dir=blocker / "cache", progress=False)
    if os.geteuid() != 0:  # root ignores permissions
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        with pytest.raises(ProbekitError, match="cannot write"):
            extract(folder, TEXTS, cache_dir=ro, progress=False)


def test_ls_and_gc(folder, tmp_path):
    root = tmp_path / "c"
    a = extract(folder, TEXTS, layers=[0], cache_dir=root, progress=False)
    b = extract(folder, TEXTS, layers=[1], cache_dir=root, progress=False)
    (root / "reps" / "deadbeef").mkdir()  # an entry without a manifest does not exist
    os.utime(a.path / "manifest.json", (1, 1))  # a was used long ago
    table = list_entries(root)
    assert sorted(table.status) == ["incomplete", "ok", "ok"]
    dry = collect_garbage(root, dry_run=True, max_size_mb=table.size_bytes.max() * 1.5 / 2**20)
    assert set(dry.key) == {"deadbeef", a.key} and (root / "reps" / "deadbeef").exists()
    removed = collect_garbage(root, older_than_days=30)
    assert set(removed.key) == {"deadbeef", a.key}
    assert list_entries(root).key.tolist() == [b.key]


def test_cli_extract_and_cache(folder, tmp_path, capsys):
    conllu = tmp_path / "tiny.conllu"
    conllu.write_text(
        "# sent_id = s1\n# text = The cat sat.\n"
        "1\tThe\tthe\tDET\tDT\t_\t2\tdet\t_\t_\n2\tcat\tcat\tNOUN\tNN\t_\t3\tnsubj\t_\t_\n"
        "3\tsat\tsit\tVERB\tVBD\t_\t0\troot\t_\t_\n4\t.\t.\tPUNCT\t.\t_\t3\tpunct\t_\t_\n\n"
        "# sent_id = s2\n# text = Dogs bark\n"
        "1\tDogs\tdog\tNOUN\tNNS\t_\t2\tnsubj\t_\t_\n2\tbark\tbark\tVERB\tVBP\t_\t0\troot\t_\t_\n\n"
    )
    root = tmp_path / "c"
    out = tmp_path / "out"
    argv = ["extract", "--model", str(folder), "--data", str(conllu), "--task", "pos",
            "--layers", "0,2", "--cache", str(root), "--out", str(out), "--quiet"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "2 texts, 6 words, layers [0, 2]" in text
    assert (out / "manifest.json").is_file() and (out / "layer_02.npy").is_file()
    assert main(["cache", "ls", "--cache", str(root)]) == 0
    assert " ok " in capsys.readouterr().out
    assert main(["extract", "--model", str(folder), "--data", str(conllu), "--layers", "7",
                 "--cache", str(root), "--quiet"]) == 2
    assert "valid layers are 0..2" in capsys.readouterr().err
    assert main(["cache", "gc", "--cache", str(root), "--max-size", "0M"]) == 0
    assert "removed 1 entries" in capsys.readouterr().out


def test_full_disk_is_a_clear_error_and_leaves_no_entry(folder, tmp_path, monkeypatch):
    import errno

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(engine.os, "pwrite", full)
    with pytest.raises(ProbekitError, match="disk full"):
        extract(folder, TEXTS, cache_dir=tmp_path / "c", progress=False)
    assert list_entries(tmp_path / "c").status.tolist() == ["partial"]


def test_a_failed_background_write_logs_no_text_whose_rows_are_missing(folder, tmp_path, monkeypatch):
    """Writes and checkpoints run on the writer thread; after a failed write the queued
    checkpoints are dropped, so the resumed entry equals an uninterrupted one."""
    import errno

    root = tmp_path / "c"
    texts = [t + [str(i)] for i, t in enumerate(TEXTS * 4)]
    kw = dict(layers=[0, 2], sentence_pooling="mean", max_tokens_per_batch=64, progress=False)
    clean = extract(folder, texts, cache=False, **kw)
    calls, pwrite = [], engine.os.pwrite

    def fails_later(*args):
        calls.append(1)
        if len(calls) == 120:  # of 240, mid-run
            raise OSError(errno.ENOSPC, "No space left on device")
        return pwrite(*args)

    monkeypatch.setattr(engine.os, "pwrite", fails_later)
    with pytest.raises(ProbekitError, match="disk full"):
        extract(folder, texts, cache_dir=root, shard_tokens=1, **kw)
    monkeypatch.setattr(engine.os, "pwrite", pwrite)
    resumed = extract(folder, texts, cache_dir=root, shard_tokens=1, **kw)
    assert 0 < resumed.stats["resumed_texts"] < len(texts)
    for layer in (0, 2):
        np.testing.assert_array_equal(resumed.layer(layer), clean.layer(layer))
        np.testing.assert_array_equal(resumed.sentence(layer), clean.sentence(layer))


def test_writer_runs_tasks_in_order_and_drops_those_after_a_failure():
    done = []
    writer = engine._Writer(depth=2)
    for i in range(5):
        writer.submit(done.append, i)
    writer.submit(lambda: 1 / 0)
    writer.submit(done.append, "after")  # may be queued before the failure is seen
    with pytest.raises(ZeroDivisionError):
        for _ in range(50):
            writer.submit(done.append, "later")
        writer.close()
    writer.close(raise_error=False)
    assert done == [0, 1, 2, 3, 4]


def test_batches_are_prepared_in_order_one_ahead_on_another_thread_and_errors_reach_the_caller():
    import threading

    seen, second_started = [], threading.Event()

    def prepare(i):
        seen.append((i, threading.current_thread().name))
        if i == 1:
            second_started.set()
        if i == 3:
            raise ValueError("bad window")
        return i * 10

    results = engine._one_ahead(prepare, range(5))
    assert next(results) == 0
    assert second_started.wait(timeout=10)  # the next item is under way while the caller works
    assert next(results) == 10 and next(results) == 20
    with pytest.raises(ValueError, match="bad window"):
        next(results)
    assert [i for i, _ in seen][:4] == [0, 1, 2, 3]  # in order (4 may have started too)
    assert all(name.startswith("probekit-prepare") for _, name in seen)
    assert list(engine._one_ahead(prepare, [])) == []


def test_full_verify_of_an_entry_written_with_blake2b_digests(tmp_path):
    """Entries committed before the full digest became SHA-256 still verify, and still catch a byte."""
    import json

    from probekit.cache import file_digest

    entry = CacheEntry("probes", fingerprint({"x": 2}), tmp_path)
    with entry.build() as folder:
        (folder / "big.bin").write_bytes(np.random.default_rng(1).bytes(2**20))
        entry.commit({"summary": {"what": "test"}})
    manifest_path = entry.path / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    meta = manifest["files"]["big.bin"]
    assert meta.pop("sha256") == file_digest(entry.path / "big.bin", algorithm="sha256")
    meta["blake2b"] = file_digest(entry.path / "big.bin")
    manifest_path.write_text(json.dumps(manifest))
    assert entry.load_manifest(verify="full") is not None
    data = bytearray((entry.path / "big.bin").read_bytes())
    data[2**16 + 7] ^= 0xFF
    (entry.path / "big.bin").write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="checksum"):
        assert entry.load_manifest(verify="full") is None


def test_values_beyond_float16_are_counted_and_warned_from_the_writer_thread(folder, tmp_path):
    from probekit.extract.models import load_model, load_tokenizer

    model, tok = load_model(folder), load_tokenizer(folder)
    with torch.no_grad():
        model.embeddings.LayerNorm.weight.mul_(1e6)  # layer 0 far beyond 65504
    with pytest.warns(UserWarning, match="exceed the float16 range"):
        reps = extract((model, tok), TEXTS, layers=[0], cache_dir=tmp_path / "c", progress=False)
    assert reps.stats["fp16_overflow_values"] > 0
    assert np.isinf(np.asarray(reps.layer(0))).any()


def test_the_writer_flushes_every_flush_bytes_and_the_rows_are_unchanged(folder, tmp_path, monkeypatch):
    kw = dict(layers=[0, 2], store_dtype="float32", max_tokens_per_batch=64, progress=False)
    plain = extract(folder, TEXTS, cache_dir=tmp_path / "a", **kw)
    flushed, sync = [], engine._fdatasync
    monkeypatch.setattr(engine, "FLUSH_BYTES", 4096)
    monkeypatch.setattr(engine, "_fdatasync", lambda fd: (flushed.append(fd), sync(fd)))
    again = extract(folder, TEXTS, cache_dir=tmp_path / "b", **kw)
    row_bytes = sum(np.asarray(again.layer(l)).nbytes for l in again.layers)
    assert len(flushed) >= 2 * (row_bytes // 4096 // 2)  # both files, about every 4 KiB of rows
    for layer in (0, 2):
        np.testing.assert_array_equal(again.layer(layer), plain.layer(layer))
