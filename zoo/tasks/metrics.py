"""The metrics GLUE, CoNLL and SQuAD report, in plain Python / numpy.

Each is checked against its reference implementation in tests/test_metrics.py
(scikit-learn, scipy, seqeval) or, for SQuAD, against hand-worked cases of the official
evaluation script's rules:

* :func:`accuracy`, :func:`f1_binary`, :func:`f1_macro`, :func:`mcc` (scikit-learn's
  ``accuracy_score``, ``f1_score`` with ``average="binary"`` / ``"macro"``,
  ``matthews_corrcoef``; an undefined value is 0.0, as there);
* :func:`pearson`, :func:`spearman` (scipy's ``pearsonr`` / ``spearmanr``; 0.0 where scipy
  gives NaN because one side is constant);
* :func:`get_entities`, :func:`entity_f1` (seqeval's default, CoNLL ``conlleval`` mode, for
  IOB2 and BIOES tags);
* :func:`squad_scores` (SQuAD v1.1 / v2.0: normalization, exact match, token F1, the maximum
  over the gold answers).

``classification_metrics`` & co. bundle what each task reports.
"""
import collections
import math
import re
import string

import numpy as np

__all__ = ["accuracy", "f1_binary", "f1_macro", "mcc", "pearson", "spearman", "get_entities",
           "entity_f1", "normalize_answer", "squad_exact", "squad_f1", "squad_scores",
           "classification_metrics", "regression_metrics", "tagging_metrics", "qa_metrics"]


def _arrays(pred, gold):
    pred, gold = np.asarray(pred), np.asarray(gold)
    if pred.shape != gold.shape:
        raise ValueError(f"predictions {pred.shape} and labels {gold.shape} differ in shape")
    return pred, gold


def accuracy(pred, gold):
    pred, gold = _arrays(pred, gold)
    return float(np.mean(pred == gold)) if len(gold) else 0.0


def _prf(tp, fp, fn):
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def f1_binary(pred, gold, positive=1):
    """F1 of the ``positive`` class (scikit-learn's ``average="binary"``; 0 when undefined)."""
    pred, gold = _arrays(pred, gold)
    tp = int(np.sum((pred == positive) & (gold == positive)))
    fp = int(np.sum((pred == positive) & (gold != positive)))
    fn = int(np.sum((pred != positive) & (gold == positive)))
    return _prf(tp, fp, fn)[2]


def f1_macro(pred, gold, labels=None):
    """Unweighted mean of the per-class F1 over ``labels`` (default: the classes that occur
    in ``pred`` or ``gold``, as scikit-learn)."""
    pred, gold = _arrays(pred, gold)
    labels = sorted(set(pred.tolist()) | set(gold.tolist())) if labels is None else labels
    if not labels:
        return 0.0
    return float(np.mean([f1_binary(pred, gold, positive=c) for c in labels]))


def mcc(pred, gold):
    """Matthews correlation coefficient, multi-class (Gorodkin's R_K, as scikit-learn)."""
    pred, gold = _arrays(pred, gold)
    classes = sorted(set(pred.tolist()) | set(gold.tolist()))
    idx = {c: i for i, c in enumerate(classes)}
    cm = np.zeros((len(classes), len(classes)), dtype=np.float64)
    for p, g in zip(pred.tolist(), gold.tolist()):
        cm[idx[g], idx[p]] += 1
    t, p = cm.sum(axis=1), cm.sum(axis=0)
    c, s = np.trace(cm), cm.sum()
    cov_pp = s * s - np.dot(p, p)
    cov_tt = s * s - np.dot(t, t)
    if cov_pp == 0 or cov_tt == 0:
        return 0.0
    return float((c * s - np.dot(t, p)) / math.sqrt(cov_tt * cov_pp))


def pearson(x, y):
    """Pearson correlation; 0.0 when either side is constant (undefined)."""
    x, y = _arrays(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    if len(x) < 2:
        return 0.0
    x, y = x - x.mean(), y - y.mean()
    den = math.sqrt(float(np.dot(x, x)) * float(np.dot(y, y)))
    return float(np.dot(x, y) / den) if den > 0 else 0.0


def _ranks(v):
    """Ranks 1..n, ties given their average rank (as scipy.stats.rankdata)."""
    v = np.asarray(v, dtype=np.float64)
    order = np.argsort(v, kind="mergesort")
    ranks = np.empty(len(v), dtype=np.float64)
    sv = v[order]
    i = 0
    while i < len(v):
        j = i
        while j + 1 < len(v) and sv[j + 1] == sv[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1
        i = j + 1
    return ranks


def spearman(x, y):
    """Spearman rank correlation (Pearson of the average ranks); 0.0 when undefined."""
    return pearson(_ranks(x), _ranks(y))


def _split_tag(tag):
    # seqeval: the first character is the prefix, the rest after a "-" the type ("_": none)
    tag = tag or "O"
    return tag[0], tag[1:].split("-", 1)[-1] or "_"


def get_entities(seq):
    """``[(type, start, end)]`` (end inclusive) of the chunks of a BIO / BIOES tag sequence,
    exactly as seqeval's default (non-strict, CoNLL ``conlleval``) mode finds them: an
    ``I-X`` after ``O`` or after another type starts a new chunk. A list of sequences is
    read as one, with an ``O`` between them."""
    if seq and isinstance(seq[0], (list, tuple)):
        seq = [t for s in seq for t in list(s) + ["O"]]
    chunks = []
    prev_tag, prev_type, begin = "O", "", 0   # as seqeval: the first prev_type is ""
    for i, tag in enumerate(list(seq) + ["O"]):
        tag_, type_ = _split_tag(tag)
        if _end_of_chunk(prev_tag, tag_, prev_type, type_):
            chunks.append((prev_type, begin, i - 1))
        if _start_of_chunk(prev_tag, tag_, prev_type, type_):
            begin = i
        prev_tag, prev_type = tag_, type_
    return chunks


def _end_of_chunk(prev_tag, tag, prev_type, type_):
    return (prev_tag in ("E", "S")
            or (prev_tag == "B" and tag in ("B", "S", "O"))
            or (prev_tag == "I" and tag in ("B", "S", "O"))
            or (prev_tag != "O" and prev_tag != "." and prev_type != type_))


def _start_of_chunk(prev_tag, tag, prev_type, type_):
    return (tag in ("B", "S")
            or (prev_tag in ("E", "S") and tag in ("E", "I"))
            or (prev_tag == "O" and tag in ("E", "I"))
            or (tag != "O" and tag != "." and prev_type != type_))


def entity_f1(pred_seqs, gold_seqs):
    """Entity-level micro ``(precision, recall, f1)`` over sentences (seqeval's default):
    a predicted entity counts when its type, start and end all match a gold one."""
    if len(pred_seqs) != len(gold_seqs):
        raise ValueError(f"{len(pred_seqs)} predicted sentences, {len(gold_seqs)} gold ones")
    tp = n_pred = n_gold = 0
    for p, g in zip(pred_seqs, gold_seqs):
        if len(p) != len(g):
            raise ValueError(f"a sentence of {len(g)} tags got {len(p)} predictions")
        pe, ge = set(get_entities(list(p))), set(get_entities(list(g)))
        tp += len(pe & ge)
        n_pred += len(pe)
        n_gold += len(ge)
    return _prf(tp, n_pred - tp, n_gold - tp)


# ---- SQuAD (the official evaluation script's normalization and scores) ---------------

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCT = set(string.punctuation)


def normalize_answer(s):
    """Lower case, drop punctuation and the articles a/an/the, collapse whitespace."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCT)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def squad_exact(pred, gold):
    return float(normalize_answer(pred) == normalize_answer(gold))


def squad_f1(pred, gold):
    """Token F1 after normalization; for an empty side (no answer) 1 if both are empty."""
    p, g = normalize_answer(pred).split(), normalize_answer(gold).split()
    if not p or not g:
        return float(p == g)
    common = collections.Counter(p) & collections.Counter(g)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def squad_scores(predictions, examples):
    """``{"exact_match", "f1"}`` in percent, plus ``HasAns_*`` / ``NoAns_*`` when there
    are unanswerable questions (SQuAD v2.0): each question scores its best gold answer;
    an unanswerable question's only gold answer is ``""``, and so is that of a question whose
    answers all normalize to nothing (it still counts as answerable, as in the official
    script). ``predictions``: qid -> text."""
    em, f1, has, no = [], [], [], []
    for ex in examples:
        answerable = bool(ex.answers) and not ex.is_impossible
        golds = [a for a, _ in ex.answers if normalize_answer(a)] if answerable else []
        golds = golds or [""]
        pred = predictions.get(ex.qid, "")
        e = max(squad_exact(pred, g) for g in golds)
        f = max(squad_f1(pred, g) for g in golds)
        em.append(e)
        f1.append(f)
        (has if answerable else no).append((e, f))
    out = {"exact_match": 100.0 * float(np.mean(em)) if em else 0.0,
           "f1": 100.0 * float(np.mean(f1)) if f1 else 0.0}
    if no:
        for name, group in (("HasAns", has), ("NoAns", no)):
            if group:
                out[f"{name}_exact"] = 100.0 * float(np.mean([e for e, _ in group]))
                out[f"{name}_f1"] = 100.0 * float(np.mean([f for _, f in group]))
    return out


# ---- per task -----------------------------------------------------------------------

def classification_metrics(pred, gold, num_classes):
    """accuracy, f1 (binary F1 of class 1 with two classes, else macro F1), macro_f1, mcc."""
    pred, gold = _arrays(pred, gold)
    labels = list(range(num_classes))
    out = {"accuracy": accuracy(pred, gold), "macro_f1": f1_macro(pred, gold, labels),
           "mcc": mcc(pred, gold)}
    out["f1"] = f1_binary(pred, gold, 1) if num_classes == 2 else out["macro_f1"]
    return out


def regression_metrics(pred, gold):
    pred, gold = _arrays(np.asarray(pred, np.float64), np.asarray(gold, np.float64))
    return {"spearman": spearman(pred, gold), "pearson": pearson(pred, gold),
            "mse": float(np.mean((pred - gold) ** 2)) if len(gold) else 0.0}


def tagging_metrics(pred_seqs, gold_seqs):
    """Entity-level precision / recall / f1 (seqeval) and token accuracy."""
    p, r, f = entity_f1(pred_seqs, gold_seqs)
    flat_p = [t for s in pred_seqs for t in s]
    flat_g = [t for s in gold_seqs for t in s]
    acc = float(np.mean([a == b for a, b in zip(flat_p, flat_g)])) if flat_g else 0.0
    return {"f1": f, "precision": p, "recall": r, "accuracy": acc}


def qa_metrics(predictions, examples):
    return squad_scores(predictions, examples)
