"""The role-drift check measured on turns it was not written from (data/drift_heldout*.json).

A regression guard, at the figures the check really reaches (benchmarks/bench_drift.py after
development round 5, precision / recall; round 4 in brackets): `heldout_v5` 0.892 / 0.922 (0.874 /
0.927; independent author, written after the round-4 check was final, its errors then read);
`heldout_v4` 0.849 / 0.960 (0.889 / 0.955), `heldout_real` 0.869 / 0.930 (0.862 / 0.877; turns the
embedded simulator really wrote), `heldout_v3` 0.860 / 0.940 (0.825 / 0.940), `heldout_v2` 0.883 /
0.883 (0.800 / 0.867) and `heldout` 0.863 / 1.000 (0.871 / 0.994; its errors shaped dev round 2, so
it flatters). All these sets have now been read while the check was developed; none was trained
on. `heldout_v6` 0.878 / 0.927 (round 4: 0.875 / 0.944), by an independent author during round 5,
was measured once after it and never read: the clean figure. Recall clears the 0.9 target on the written sets but v2; precision does not. The floors sit
just under those. Needs the embedding classifier (all-MiniLM-L6-v2, installed with ise-trace):
where it cannot load, the install is broken, and the test fails rather than measure the patterns
alone.
"""

from __future__ import annotations

import pytest

from ise_trace.simulate import drift_classifier, drift_labelled
from ise_trace.simulate.drift import DriftKind, check_drift


@pytest.fixture(scope="module")
def classifier():
    found = drift_classifier.default()
    assert found is not None, "the drift classifier did not load (embedder or torch missing from the install)"
    return found


FLOORS = {  # precision, recall
    "heldout": (0.85, 0.98),
    "heldout_v2": (0.86, 0.86),
    "heldout_v3": (0.84, 0.92),
    "heldout_v4": (0.84, 0.94),
    "heldout_v5": (0.87, 0.90),
    "heldout_v6": (0.86, 0.91),
    "heldout_real": (0.85, 0.90),
}


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_current_check_keeps_its_measured_precision_and_recall_on_each_heldout_set(classifier, name):
    assert drift_labelled.available(name), f"{drift_labelled.SETS[name]} is missing from the package data"
    s = drift_labelled.score(drift_labelled.as_simulator_gates(check_drift), drift_labelled.load(name))
    precision, recall = FLOORS[name]
    assert s.precision >= precision and s.recall >= recall, f"precision {s.precision:.3f}, recall {s.recall:.3f}"


def test_the_sets_are_disjoint_and_both_classes_are_there():
    names = [n for n in drift_labelled.SETS if drift_labelled.available(n)]
    texts = {name: {e.text for e in drift_labelled.load(name)} for name in names}
    # Held-out sets by different authors may share a stock turn ("yes"); none may share one with dev.
    for b in names:
        if b != "dev":
            assert not texts["dev"] & texts[b], f"dev and {b} share {len(texts['dev'] & texts[b])} turns"
    heldout = drift_labelled.load("heldout")
    assert len(heldout) >= 300 and 0.4 <= sum(e.drift for e in heldout) / len(heldout) <= 0.6


def test_shipped_weights_were_trained_on_the_shipped_development_set():
    # Edit drift_dev.json without retraining and the check runs on stale weights: retrain with
    # python -m ise_trace.simulate.drift_classifier
    assert drift_classifier.load_weights().trained_on == drift_classifier.dev_fingerprint()


def test_classifier_evidence_is_the_most_assistant_like_sentence(classifier):
    import dataclasses

    always = drift_classifier.Classifier(dataclasses.replace(classifier.weights, threshold=-1.0), classifier.encode)
    text = "Use tabs, not commas. I've split the file by year and saved 27 output files."
    assert always.verdict(text) == "I've split the file by year and saved 27 output files."


def test_without_the_classifier_the_patterns_still_run(monkeypatch):
    monkeypatch.setenv(drift_classifier.DISABLE_ENV, "0")
    drift_classifier.default.cache_clear()
    try:
        assert drift_classifier.default() is None
        assert check_drift("Consider it done.", None)[0].kind is DriftKind.assistant_voice
        assert check_drift("Use tabs, not commas.", None) == []
    finally:
        drift_classifier.default.cache_clear()


def test_a_missing_embedder_degrades_to_patterns_with_a_warning(monkeypatch, caplog):
    def broken(name):
        raise ImportError("no torch here")

    monkeypatch.setattr(drift_classifier, "_encoder", broken)
    drift_classifier.default.cache_clear()
    try:
        assert drift_classifier.default() is None
        assert "patterns only" in caplog.text
    finally:
        drift_classifier.default.cache_clear()


def test_ngrams_see_the_speech_act_not_the_topic():
    # Two requests on different topics share every n-gram; a report differs from them.
    a = drift_classifier.ngram_features("Can you merge the invoices into one file?")
    b = drift_classifier.ngram_features("Can you merge the photos into one folder?")
    c = drift_classifier.ngram_features("I've merged the invoices into one file.")
    assert (a == b).all() and not (a == c).all()
    assert drift_classifier.speech_act_tokens("I've updated report.py") == ["i've", "<ed>", "<w>", ".", "<w>"]


def test_contradiction_examples_are_mirrored_in_role_after_an_agreeing_record():
    examples = drift_labelled.load("dev")
    mirrors = drift_classifier.record_mirrors(examples)
    assert mirrors and not any(m.drift for m in mirrors)
    originals = {e.text: e for e in examples if "contradict" in e.category and e.drift}
    for m in mirrors:
        before = drift_classifier.record_kind(originals[m.text].digest)
        after = drift_classifier.record_kind(m.digest)
        assert after == ("ok" if before in ("failed", "nothing") else "failed")
