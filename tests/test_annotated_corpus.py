"""The annotated-corpus format: the writer's lock, the manifest's checksums and
counts, and the readers' verification of them."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import spacy
from spacy.tokens import Doc, DocBin

from spacy_kd_ner.annotated_corpus import (
    FORMAT,
    MANIFEST,
    AnnotateError,
    ShardWriter,
    lock_path,
    read_annotated,
    read_manifest,
    write_json,
)

WORDS = [["Peter", "lives", "here"], ["It", "rained"], ["Yes"], ["No", "way"]]


def make_docs(words=WORDS):
    vocab = spacy.blank("en").vocab
    return [Doc(vocab, words=w) for w in words]


def write_corpus(path, docs, shard_size=2, overwrite=False):
    with ShardWriter(path, overwrite=overwrite) as writer:
        writer.begin({"format": FORMAT, "shard_size": shard_size})
        for i in range(0, len(docs), shard_size):
            writer.write(docs[i : i + shard_size])
        writer.publish({}, {})
    return path


def _manifest(path):
    return json.loads((path / MANIFEST).read_text())


def test_manifest_records_a_checksum_per_shard(tmp_path):
    out = write_corpus(tmp_path / "out", make_docs())
    shards = _manifest(out)["shards"]
    assert [s["n_docs"] for s in shards] == [2, 2]
    for shard in shards:
        data = (out / shard["file"]).read_bytes()
        assert shard["sha256"] == hashlib.sha256(data).hexdigest()
    assert not lock_path(out).exists()
    assert [doc.text for doc in read_annotated(out)] == [
        doc.text for doc in make_docs()
    ]


def test_second_writer_is_refused_while_the_first_runs(tmp_path):
    """Two runs into one output: the second refuses, naming the lock and the
    first's pid; the first publishes a corpus that its manifest describes."""
    out = tmp_path / "out"
    docs = make_docs()
    first = ShardWriter(out)
    first.begin({"format": FORMAT, "shard_size": 2})
    first.write(docs[:2])
    lock = lock_path(out)
    with pytest.raises(AnnotateError) as err:
        ShardWriter(out, overwrite=True)
    assert str(lock) in str(err.value) and f"process {os.getpid()}" in str(err.value)
    first.write(docs[2:])
    first.publish({}, {})
    assert len(list(read_annotated(out))) == 4
    # released: the next run may write
    write_corpus(tmp_path / "out", docs, shard_size=3, overwrite=True)


HOLD_LOCK = textwrap.dedent(
    """
    import sys, time
    from spacy_kd_ner.annotated_corpus import ShardWriter
    writer = ShardWriter(sys.argv[1])
    print("locked", flush=True)
    time.sleep(600)
    """
)


def test_lock_of_a_live_process_refuses_a_dead_ones_is_taken_over(tmp_path):
    out = tmp_path / "out"
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(out)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "locked"
        with pytest.raises(AnnotateError, match=f"process {child.pid}"):
            ShardWriter(out)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    # The killed process left its lock file behind; it holds nothing.
    assert lock_path(out).exists()
    write_corpus(out, make_docs())
    assert len(list(read_annotated(out))) == 4


def test_reader_refuses_a_shard_that_is_not_the_manifests(tmp_path):
    out = write_corpus(tmp_path / "out", make_docs())
    shard = out / "shard-00001.spacy"
    # Same number of docs, other content: only the checksum tells.
    DocBin(docs=make_docs([["Other"], ["two", "docs"]])).to_disk(shard)
    with pytest.raises(AnnotateError, match="shard-00001.spacy.*checksum") as err:
        list(read_annotated(out))
    assert str(out) in str(err.value)
    # A manifest without checksums (older writers) is read, its counts checked.
    manifest = _manifest(out)
    for entry in manifest["shards"]:
        del entry["sha256"]
    write_json(out / MANIFEST, manifest)
    assert len(list(read_annotated(out))) == 4
    DocBin(docs=make_docs([["Three"], ["docs"], ["now"]])).to_disk(shard)
    with pytest.raises(AnnotateError, match="shard-00001.spacy holds 3 docs.*lists 2"):
        list(read_annotated(out))


def test_reader_refuses_a_truncated_shard_and_unlisted_files(tmp_path):
    out = write_corpus(tmp_path / "out", make_docs())
    shard = out / "shard-00000.spacy"
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2])
    with pytest.raises(AnnotateError, match="shard-00000.spacy"):
        list(read_annotated(out))
    shard.write_bytes(data)
    DocBin(docs=make_docs([["Extra"]])).to_disk(out / "shard-00002.spacy")
    unlisted = "manifest does not list.*shard-00002.spacy"
    with pytest.raises(AnnotateError, match=unlisted):
        read_manifest(out)


def test_manifest_totals_must_match_its_shards(tmp_path):
    out = write_corpus(tmp_path / "out", make_docs())
    manifest = _manifest(out)
    manifest["n_docs"] = 5
    write_json(out / MANIFEST, manifest)
    with pytest.raises(AnnotateError, match="n_docs"):
        read_manifest(out)
