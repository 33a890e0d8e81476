"""`annotate` on Ray: a local cluster started here (2 CPUs) gives the
single-process output, resumes, and survives a killed worker. Skipped where
the `ray` extra is not installed (CI installs it)."""

import json
import os
import signal
import sys

import psutil
import pytest
import spacy
from spacy.tokens import Doc, DocBin
from test_annotate import LABELED, UNLABELED, _doc_records
from typer.testing import CliRunner

import spacy_kd_ner.annotated_corpus as annotated_corpus_module
from spacy_kd_ner.annotate import annotate_corpus
from spacy_kd_ner.annotated_corpus import MANIFEST, AnnotateError
from spacy_kd_ner.cli import kd_app
from spacy_kd_ner.ray_annotate import RayOptions

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.ray

SHARD_SIZE = 40


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def pool_path(tmp_path_factory):
    """400 docs (10 shards): gold and raw sentences, an empty doc."""
    nlp = spacy.blank("en")
    docs = []
    for i in range(80):
        for text, entities in LABELED:
            doc = nlp.make_doc(f"{text} {i}")
            doc.ents = [doc.char_span(s, e, label=lab) for s, e, lab in entities]
            docs.append(doc)
        docs.extend(nlp.make_doc(f"{text} {i}") for text in UNLABELED)
    docs[7] = Doc(nlp.vocab, words=[])
    path = tmp_path_factory.mktemp("ray-input") / "pool.spacy"
    DocBin(docs=docs, store_user_data=True).to_disk(path)
    return path


@pytest.fixture(scope="module")
def single_process(tmp_path_factory, tiny_teacher_dir, pool_path):
    out = tmp_path_factory.mktemp("ray-reference") / "annotated"
    annotate_corpus(tiny_teacher_dir, pool_path, out, shard_size=SHARD_SIZE)
    return out


def _shards(path):
    return json.loads((path / MANIFEST).read_text())["shards"]


def _kill_a_worker_after_first_shard(monkeypatch):
    """Kill one Ray worker (SIGKILL, as the OOM killer would) once the first
    shard is written; returns the pids killed."""
    write_shard = annotated_corpus_module.write_shard
    killed = []

    def write_then_kill(path, docs):
        entry = write_shard(path, docs)
        if not killed:
            workers = [
                p
                for p in psutil.process_iter(["cmdline"])
                if "ray::AnnotateWorker" in " ".join(p.info["cmdline"] or [])
            ]
            assert workers, "no Ray worker process found"
            os.kill(workers[0].pid, signal.SIGKILL)
            killed.append(workers[0].pid)
        return entry

    monkeypatch.setattr(annotated_corpus_module, "write_shard", write_then_kill)
    return killed


@pytest.mark.parametrize("num_workers", [1, 2])
def test_ray_output_equals_single_process(
    local_ray, tmp_path, tiny_teacher_dir, pool_path, single_process, num_workers
):
    out = tmp_path / "annotated"
    stats = annotate_corpus(
        tiny_teacher_dir,
        pool_path,
        out,
        shard_size=SHARD_SIZE,
        ray=RayOptions(num_workers=num_workers),
    )
    assert stats.workers == num_workers
    assert stats.docs_annotated == stats.docs_written == 400
    assert stats.startup_seconds > 0
    assert _doc_records(out) == _doc_records(single_process)
    assert _shards(out) == _shards(single_process)


def test_interrupted_ray_run_resumes(
    local_ray, tmp_path, tiny_teacher_dir, pool_path, single_process, monkeypatch
):
    out = tmp_path / "annotated"
    write_shard = annotated_corpus_module.write_shard
    written = []

    def interrupt_after_three(path, docs):
        if len(written) == 3:
            raise KeyboardInterrupt
        written.append(path)
        return write_shard(path, docs)

    monkeypatch.setattr(annotated_corpus_module, "write_shard", interrupt_after_three)
    options = RayOptions(num_workers=2)
    with pytest.raises(KeyboardInterrupt):
        annotate_corpus(
            tiny_teacher_dir, pool_path, out, shard_size=SHARD_SIZE, ray=options
        )
    monkeypatch.setattr(annotated_corpus_module, "write_shard", write_shard)
    stats = annotate_corpus(
        tiny_teacher_dir, pool_path, out, shard_size=SHARD_SIZE, ray=options
    )
    assert stats.shards_resumed == 3
    assert stats.docs_annotated == 400 - 3 * SHARD_SIZE
    assert _doc_records(out) == _doc_records(single_process)


def test_killed_worker_is_restarted_and_the_output_is_whole(
    local_ray, tmp_path, tiny_teacher_dir, pool_path, single_process, monkeypatch
):
    out = tmp_path / "annotated"
    killed = _kill_a_worker_after_first_shard(monkeypatch)
    stats = annotate_corpus(
        tiny_teacher_dir,
        pool_path,
        out,
        shard_size=SHARD_SIZE,
        ray=RayOptions(num_workers=2, max_restarts=1),
    )
    assert killed and not psutil.pid_exists(killed[0])
    assert stats.docs_written == 400
    assert _doc_records(out) == _doc_records(single_process)


def test_worker_that_cannot_restart_stops_the_run_and_it_resumes(
    local_ray, tmp_path, tiny_teacher_dir, pool_path, single_process, monkeypatch
):
    out = tmp_path / "annotated"
    write_shard = annotated_corpus_module.write_shard
    _kill_a_worker_after_first_shard(monkeypatch)
    options = RayOptions(num_workers=1, max_restarts=0)
    with pytest.raises(AnnotateError, match="rerun the same command to resume"):
        annotate_corpus(
            tiny_teacher_dir, pool_path, out, shard_size=SHARD_SIZE, ray=options
        )
    assert not out.exists()
    monkeypatch.setattr(annotated_corpus_module, "write_shard", write_shard)
    stats = annotate_corpus(
        tiny_teacher_dir, pool_path, out, shard_size=SHARD_SIZE, ray=options
    )
    assert stats.shards_resumed >= 1
    assert _doc_records(out) == _doc_records(single_process)


def test_ray_refuses_a_teacher_in_memory(local_ray, tmp_path, pool_path):
    nlp = spacy.blank("en")
    nlp.add_pipe("kd_ner").add_label("PER")
    nlp.initialize()
    with pytest.raises(AnnotateError, match="nlp.to_disk"):
        annotate_corpus(nlp, pool_path, tmp_path / "out", ray=RayOptions())
    assert not (tmp_path / "out").exists()


def test_ray_needs_ray_installed(tmp_path, tiny_teacher_dir, pool_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(AnnotateError, match=r"spacy-kd-ner\[ray\]"):
        annotate_corpus(tiny_teacher_dir, pool_path, tmp_path / "out", ray=RayOptions())


def test_ray_options_are_checked():
    with pytest.raises(AnnotateError, match="num_workers=0"):
        RayOptions(num_workers=0)
    with pytest.raises(AnnotateError, match="max_restarts"):
        RayOptions(max_restarts=-1)


def test_annotate_cli_ray(local_ray, tmp_path, tiny_teacher_dir, pool_path):
    out = tmp_path / "annotated"
    args = ["annotate", str(tiny_teacher_dir), str(pool_path), str(out)]
    result = CliRunner().invoke(kd_app, [*args, "--num-workers", "2"])
    assert result.exit_code == 1 and "need --ray" in result.output
    assert not out.exists()
    stats_path = tmp_path / "stats.json"
    result = CliRunner().invoke(
        kd_app, [*args, "--ray", "--num-workers", "2", "--stats", str(stats_path)]
    )
    assert result.exit_code == 0, result.output
    assert "Ray workers" in result.output
    stats = json.loads(stats_path.read_text())
    assert stats["workers"] == 2 and stats["docs_written"] == 400
