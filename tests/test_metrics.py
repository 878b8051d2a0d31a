"""zoo.tasks.metrics against their reference implementations as oracles: scikit-learn
(accuracy, F1, MCC, MSE), scipy (Pearson, Spearman), seqeval (entities and entity-level
precision / recall / F1 in its default mode, IOB2 and BIOES), on many random cases and on
the edge cases; SQuAD exact match and F1 on hand-worked cases of the official evaluation
script's rules (normalization, the best of several gold answers, v2.0 no-answer)."""
import warnings

import numpy as np
import pytest

from zoo import tasks

sklearn_metrics = pytest.importorskip("sklearn.metrics")
scipy_stats = pytest.importorskip("scipy.stats")
seqeval = pytest.importorskip("seqeval.metrics.sequence_labeling")


def _random_labels(rng, n_cases=300):
    """(pred, gold, num_classes): random lengths 1..40 and 2..5 classes, with skewed draws so
    that a class is often missing from one side and single-class cases occur."""
    for _ in range(n_cases):
        k = int(rng.randint(2, 6))
        n = int(rng.randint(1, 41))
        p = rng.dirichlet(np.ones(k) * 0.5)
        gold = rng.choice(k, size=n, p=p)
        pred = np.where(rng.rand(n) < 0.6, gold, rng.choice(k, size=n, p=p))
        yield pred.tolist(), gold.tolist(), k


@pytest.fixture(autouse=True)
def _quiet_oracles():
    # the oracles warn about ill-defined values (and return 0.0 or NaN, compared below)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# ============================================================================ classification

def test_accuracy_f1_mcc_equal_scikit_learn_on_random_cases():
    rng = np.random.RandomState(0)
    checked = 0
    for pred, gold, k in _random_labels(rng):
        assert tasks.accuracy(pred, gold) == pytest.approx(
            sklearn_metrics.accuracy_score(gold, pred), abs=1e-12)
        assert tasks.f1_macro(pred, gold) == pytest.approx(
            sklearn_metrics.f1_score(gold, pred, average="macro"), abs=1e-12)
        assert tasks.f1_macro(pred, gold, labels=list(range(k))) == pytest.approx(
            sklearn_metrics.f1_score(gold, pred, average="macro", labels=list(range(k))),
            abs=1e-12)
        assert tasks.mcc(pred, gold) == pytest.approx(
            sklearn_metrics.matthews_corrcoef(gold, pred), abs=1e-12)
        m = tasks.classification_metrics(pred, gold, k)
        if k == 2:
            want = sklearn_metrics.f1_score(gold, pred, average="binary", pos_label=1)
            assert tasks.f1_binary(pred, gold) == pytest.approx(want, abs=1e-12)
            assert m["f1"] == pytest.approx(want, abs=1e-12)
        else:
            assert m["f1"] == m["macro_f1"]
        checked += 1
    assert checked == 300


@pytest.mark.parametrize("pred,gold", [
    ([1, 1, 1], [1, 1, 1]),          # one class everywhere: MCC undefined -> 0
    ([0, 0, 0, 0], [0, 1, 0, 1]),    # never predicts the positive class
    ([1, 0, 1, 0], [0, 0, 0, 0]),    # the positive class never occurs
    ([0], [1]),                      # one example
    ([2, 2, 0], [0, 1, 2]),          # all wrong, three classes
    ([1, 0, 1, 0, 1], [1, 0, 1, 0, 1]),   # all right
])
def test_classification_edge_cases_equal_scikit_learn(pred, gold):
    assert tasks.accuracy(pred, gold) == sklearn_metrics.accuracy_score(gold, pred)
    assert tasks.mcc(pred, gold) == pytest.approx(sklearn_metrics.matthews_corrcoef(gold, pred),
                                                  abs=1e-12)
    assert tasks.f1_macro(pred, gold) == pytest.approx(
        sklearn_metrics.f1_score(gold, pred, average="macro"), abs=1e-12)
    if set(pred) | set(gold) <= {0, 1}:
        assert tasks.f1_binary(pred, gold) == pytest.approx(
            sklearn_metrics.f1_score(gold, pred, average="binary", pos_label=1), abs=1e-12)


def test_classification_metrics_refuse_mismatched_lengths():
    with pytest.raises(ValueError, match=r"predictions \(3,\) and labels \(2,\) differ"):
        tasks.accuracy([0, 1, 1], [0, 1])


# ================================================================================ regression

def test_pearson_spearman_mse_equal_scipy_and_scikit_learn():
    rng = np.random.RandomState(1)
    for case in range(200):
        n = int(rng.randint(3, 60))
        x = rng.randn(n)
        if case % 2:   # small integers: many ties, where Spearman's average ranks matter
            x = rng.randint(0, 4, size=n).astype(float)
        y = 0.5 * x + rng.randn(n) * rng.choice([0.1, 1.0, 10.0])
        if case % 3 == 0:
            y = np.round(y)
        if np.ptp(x) == 0 or np.ptp(y) == 0:
            continue
        assert tasks.pearson(x, y) == pytest.approx(scipy_stats.pearsonr(x, y)[0], abs=1e-10)
        assert tasks.spearman(x, y) == pytest.approx(scipy_stats.spearmanr(x, y)[0], abs=1e-10)
        m = tasks.regression_metrics(y, x)
        assert m["mse"] == pytest.approx(sklearn_metrics.mean_squared_error(x, y), rel=1e-12)
        assert m["spearman"] == pytest.approx(scipy_stats.spearmanr(y, x)[0], abs=1e-10)


def test_correlation_of_a_constant_side_is_zero_where_scipy_gives_nan():
    # a constant prediction (e.g. the mean baseline) has no correlation; scipy says NaN, the
    # metrics say 0.0 so that a best-model comparison and the JSON log stay numbers
    x, const = [1.0, 2.0, 3.0, 4.0], [3.0, 3.0, 3.0, 3.0]
    assert np.isnan(scipy_stats.pearsonr(x, const)[0])
    assert np.isnan(scipy_stats.spearmanr(x, const)[0])
    assert tasks.pearson(x, const) == 0.0 and tasks.spearman(x, const) == 0.0
    assert tasks.pearson([1.0], [2.0]) == 0.0


# =================================================================== entity-level (seqeval)

TYPES = ("PER", "LOC", "ORG")


def _random_tags(rng, n, scheme):
    prefixes = "BIO" if scheme == "IOB2" else "BIOES"
    out = []
    for _ in range(n):
        p = prefixes[rng.randint(len(prefixes))]
        out.append("O" if p == "O" else f"{p}-{TYPES[rng.randint(len(TYPES))]}")
    return out


def _well_formed_iob2(rng, n):
    tags, i = [], 0
    while i < n:
        if rng.rand() < 0.5:
            tags.append("O")
            i += 1
            continue
        t, length = TYPES[rng.randint(len(TYPES))], int(rng.randint(1, 4))
        for j in range(min(length, n - i)):
            tags.append(("B-" if j == 0 else "I-") + t)
        i += min(length, n - i)
    return tags


@pytest.mark.parametrize("scheme", ["IOB2", "BIOES"])
def test_entities_equal_seqeval_on_random_sequences(scheme):
    # random tags include ill-formed sequences (I- after O, E- without B-, a type change
    # inside a chunk): seqeval's default mode has a rule for each, and so must we
    rng = np.random.RandomState(2 if scheme == "IOB2" else 3)
    for _ in range(500):
        seq = _random_tags(rng, int(rng.randint(1, 15)), scheme)
        assert tasks.get_entities(seq) == seqeval.get_entities(seq), seq


@pytest.mark.parametrize("scheme", ["IOB2", "BIOES"])
def test_entity_precision_recall_f1_equal_seqeval(scheme):
    rng = np.random.RandomState(4 if scheme == "IOB2" else 5)
    for _ in range(150):
        n_sent = int(rng.randint(1, 6))
        lengths = [int(rng.randint(1, 12)) for _ in range(n_sent)]
        if scheme == "IOB2":
            gold = [_well_formed_iob2(rng, n) for n in lengths]
        else:
            gold = [_random_tags(rng, n, scheme) for n in lengths]
        # predictions: gold with some tags replaced, so that most entities match
        pred = [[t if rng.rand() < 0.8 else _random_tags(rng, 1, scheme)[0] for t in s]
                for s in gold]
        p, r, f = tasks.entity_f1(pred, gold)
        assert p == pytest.approx(seqeval.precision_score(gold, pred), abs=1e-12)
        assert r == pytest.approx(seqeval.recall_score(gold, pred), abs=1e-12)
        assert f == pytest.approx(seqeval.f1_score(gold, pred), abs=1e-12)
        assert tasks.tagging_metrics(pred, gold)["accuracy"] == pytest.approx(
            seqeval.accuracy_score(gold, pred), abs=1e-12)


@pytest.mark.parametrize("pred,gold", [
    # an entity that ends the sentence, in both schemes
    ([["O", "B-PER", "I-PER"]], [["O", "B-PER", "I-PER"]]),
    ([["O", "B-PER", "E-PER"], ["S-LOC"]], [["O", "B-PER", "E-PER"], ["O"]]),
    # an entity cut short at the end of one sentence does not run into the next
    ([["B-LOC"], ["I-LOC", "O"]], [["B-LOC"], ["B-LOC", "O"]]),
    # empty predictions: nothing predicted, precision and F1 are 0
    ([["O", "O", "O"]], [["B-ORG", "I-ORG", "O"]]),
    # nothing to find and nothing found
    ([["O", "O"]], [["O", "O"]]),
    # everything predicted wrong-typed
    ([["B-PER", "I-PER"]], [["B-LOC", "I-LOC"]]),
    # right span, one token too long
    ([["B-PER", "I-PER", "I-PER"]], [["B-PER", "I-PER", "O"]]),
])
def test_entity_edge_cases_equal_seqeval(pred, gold):
    p, r, f = tasks.entity_f1(pred, gold)
    assert (p, r, f) == pytest.approx((seqeval.precision_score(gold, pred),
                                       seqeval.recall_score(gold, pred),
                                       seqeval.f1_score(gold, pred)), abs=1e-12)
    assert tasks.get_entities(pred) == seqeval.get_entities(pred)


def test_entity_f1_refuses_misaligned_sentences():
    with pytest.raises(ValueError, match="2 predicted sentences, 1 gold"):
        tasks.entity_f1([["O"], ["O"]], [["O"]])
    with pytest.raises(ValueError, match="a sentence of 2 tags got 1 predictions"):
        tasks.entity_f1([["O"]], [["O", "O"]])


# ================================================================================== SQuAD

@pytest.mark.parametrize("text,normalized", [
    ("The  Quick, brown fox!", "quick brown fox"),        # case, punctuation, article, spaces
    ("An apple a day", "apple day"),                      # a / an / the as whole words only
    ("theater and another anthem", "theater and another anthem"),
    ("U.S.A.", "usa"),                                    # punctuation removed, not split on
    ("state-of-the-art", "stateoftheart"),                # ... so "the" inside stays
    ("Levi's Stadium", "levis stadium"),
    ("caf\u00e9 \u2014 bar", "caf\u00e9 \u2014 bar"),      # only ASCII punctuation goes
    ("  \tThe\n", ""),
])
def test_squad_normalization_follows_the_official_rules(text, normalized):
    assert tasks.normalize_answer(text) == normalized


def test_squad_exact_match_and_f1_hand_worked():
    assert tasks.squad_exact("the Eiffel tower.", "Eiffel Tower") == 1.0
    assert tasks.squad_exact("Eiffel", "Eiffel Tower") == 0.0
    # token F1 with repeated tokens: common = min count per token (cat 1, dog 1) -> 2 of 3
    assert tasks.squad_f1("cat cat dog", "cat dog dog") == pytest.approx(2 / 3)
    # articles and punctuation do not count as tokens
    assert tasks.squad_f1("the cat sat", "a cat sat down") == pytest.approx(0.8)
    assert tasks.squad_f1("cat", "dog") == 0.0
    # an empty side (v2.0 no-answer): 1 only when both are empty
    assert tasks.squad_f1("", "") == 1.0 and tasks.squad_f1("x", "") == 0.0
    assert tasks.squad_f1("", "x") == 0.0


def test_squad_scores_take_the_best_gold_answer_and_v2_no_answer():
    # SQuAD v1.1 dev style: several annotators' answers, the prediction scores the best
    venue = tasks.QAExample("venue", "Where did Super Bowl 50 take place?", "c", [
        ("Santa Clara, California", 0), ("Levi's Stadium", 0),
        ("Levi's Stadium in the San Francisco Bay Area at Santa Clara, California.", 0)],
        False, 1)
    team = tasks.QAExample("team", "Which NFL team represented the AFC at Super Bowl 50?", "c",
                           [("Denver Broncos", 0)] * 3, False, 2)
    preds = {"venue": "Levi's Stadium in the San Francisco Bay Area",
             "team": "the Denver Broncos"}
    s = tasks.squad_scores(preds, [venue, team])
    # venue: 7 of the long answer's 11 normalized tokens -> F1 2 * 1 * 7/11 / (1 + 7/11) = 7/9
    assert s == pytest.approx({"exact_match": 50.0, "f1": 100 * (7 / 9 + 1) / 2})
    assert "HasAns_exact" not in s          # no unanswerable question: v1.1 keys only
    # v2.0: an unanswerable question is right only with the empty answer; a gold answer that
    # normalizes to nothing ("The") is dropped, leaving "" as the only gold, but the question
    # still counts among the answerable ones (the official script groups by "has answers")
    none = tasks.QAExample("none", "?", "c", [], True, 3)
    article = tasks.QAExample("article", "?", "c", [("The", 0)], False, 4)
    s = tasks.squad_scores({"venue": "", "team": "Denver Broncos", "none": "",
                            "article": "something"}, [venue, team, none, article])
    assert s["exact_match"] == pytest.approx(100 * 2 / 4)
    assert s["HasAns_exact"] == pytest.approx(100 / 3) and s["HasAns_f1"] == pytest.approx(100 / 3)
    assert s["NoAns_exact"] == 100.0 and s["NoAns_f1"] == 100.0
    assert tasks.squad_scores({"article": ""}, [article])["exact_match"] == 100.0
    # a question with no prediction at all is answered ""
    assert tasks.squad_scores({}, [none])["exact_match"] == 100.0
