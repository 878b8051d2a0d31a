"""Pretraining recipes: what a family's pretraining trains, on which batches, with which losses.

``zoo pretrain`` is family-agnostic: it asks the family's :class:`Recipe` (the ``recipe`` of
its :class:`zoo.registry.Family`, defined in the family folder's ``pretrain.py``) for

* ``flags``: the ``get_model`` switches of the model to train (``{"use_mlm": True, ...}``);
* ``pipeline(files, tokenizer, **options)``: an iterable of numpy batches with
  ``state_dict()`` / ``load_state_dict()`` (exact resume), ``files`` and ``batch_size``;
* ``prepare(batch)``: numpy batch -> numpy batch, once before it is split over devices;
* ``forward(model, part)``: one device's part of a batch (NDArrays, float32) ->
  :class:`StepOutput`: the loss to differentiate, the named loss terms to log, and
  ``(correct, count)`` pairs for named accuracies;
* ``perplexity_of``: the loss term whose exponential is reported as perplexity;
* ``progress_keys``: the metrics the progress bar shows;
* ``config_overrides(tokenizer)``: config fields a fresh model takes from the tokenizer
  (special-token ids), beside ``vocab_size``.

Metric names in ``metrics.jsonl`` are the recipe's term names plus ``loss`` (the mean of
the differentiated loss) and ``<name>`` for every accuracy.
"""
import dataclasses

import mxnet as mx

from heads.losses import MaskedLMLoss, NSPLoss

__all__ = ["Recipe", "StepOutput", "MaskedLMRecipe", "CausalLMRecipe", "RunningMetrics"]


@dataclasses.dataclass
class StepOutput:
    """What a recipe's forward gives for one part of a batch.

    loss: scalar NDArray to differentiate; terms: ``{name: scalar NDArray}`` averaged over
    steps in the log (e.g. ``mlm_loss``); hits: ``{name: (correct, count)}`` (NDArrays or
    numbers) summed and divided in the log (e.g. ``mlm_acc``).
    """
    loss: object
    terms: dict
    hits: dict


class Recipe:
    """The interface (see the module docstring); subclasses fill it in."""
    flags = {}
    perplexity_of = None
    progress_keys = ("loss",)

    def pipeline(self, files, tokenizer, **options):
        raise NotImplementedError

    def prepare(self, batch):
        return batch

    def forward(self, model, part):
        raise NotImplementedError

    def config_overrides(self, tokenizer):
        return {}

    def describe(self):
        return type(self).__name__


class MaskedLMRecipe(Recipe):
    """Masked language modelling, with an optional sentence-pair objective on the pooled
    output: ``"nsp"`` (next sentence prediction, BERT) or ``"sop"`` (sentence order
    prediction, ALBERT), whose scores the model returns as its fourth output.

    Batches come from :class:`zoo.data.PretrainingPipeline` (``task`` = the pair objective).
    """
    perplexity_of = "mlm_loss"
    progress_keys = ("loss", "mlm_acc")

    def __init__(self, flags, pair_objective=None):
        if pair_objective not in (None, "nsp", "sop"):
            raise ValueError(f"pair_objective must be None, 'nsp' or 'sop', not {pair_objective!r}")
        self.flags = dict(flags)
        self.pair_objective = pair_objective
        self.mlm_loss = MaskedLMLoss()
        self.pair_loss = NSPLoss()

    def describe(self):
        return "MLM" + (f" + {self.pair_objective.upper()}" if self.pair_objective else "")

    def pipeline(self, files, tokenizer, **options):
        from zoo.data import PretrainingPipeline
        return PretrainingPipeline(files, tokenizer, task=self.pair_objective, **options)

    def outputs(self, model, part):
        return model(part["input_ids"], part["token_types"], part["valid_length"],
                     part["masked_positions"])

    def mlm_terms(self, mlm_scores, part):
        """The MLM loss (scalar) and ``(correct, count)`` over the real masked positions."""
        w = part["masked_weights"]
        mlm = self.mlm_loss(mlm_scores, part["masked_ids"], w)
        correct = ((mlm_scores.argmax(axis=-1) == part["masked_ids"]) * w).sum()
        return mlm, (correct, w.sum())

    def forward(self, model, part):
        outs = self.outputs(model, part)
        mlm, mlm_hits = self.mlm_terms(outs[2], part)
        if self.pair_objective is None:
            return StepOutput(mlm, {"mlm_loss": mlm}, {"mlm_acc": mlm_hits})
        name = self.pair_objective
        labels = part["nsp_labels"]
        pair = self.pair_loss(outs[3], labels).mean()
        correct = (outs[3].argmax(axis=-1) == labels).sum()
        return StepOutput(mlm + pair, {"mlm_loss": mlm, f"{name}_loss": pair},
                          {"mlm_acc": mlm_hits, f"{name}_acc": (correct, labels.shape[0])})


class CausalLMRecipe(Recipe):
    """Causal language modelling: every position predicts the next token (GPT-2).

    Batches come from :class:`zoo.lm_data.CausalLMPipeline` (fixed-length token blocks);
    the model takes ``(input_ids, valid_length)`` and returns ``seq, lm_scores``. The loss
    is the cross-entropy averaged over the real targets (:class:`heads.losses.MaskedLMLoss`
    with every position a prediction).
    """
    perplexity_of = "lm_loss"
    progress_keys = ("loss", "lm_acc")

    def __init__(self, flags):
        self.flags = dict(flags)
        self.lm_loss = MaskedLMLoss()

    def describe(self):
        return "causal LM"

    def pipeline(self, files, tokenizer, **options):
        from zoo.lm_data import CausalLMPipeline
        for masking_only in ("mask_prob", "whole_word"):    # the program's MLM options
            options.pop(masking_only, None)
        return CausalLMPipeline(files, tokenizer, **options)

    def forward(self, model, part):
        scores = model(part["input_ids"], part["valid_length"])[1]
        w = part["label_weights"]
        loss = self.lm_loss(scores, part["labels"], w)
        correct = ((scores.argmax(axis=-1) == part["labels"]) * w).sum()
        return StepOutput(loss, {"lm_loss": loss}, {"lm_acc": (correct, w.sum())})


class DenoisingRecipe(Recipe):
    """Sequence-to-sequence denoising: the encoder reads a corrupted text, the decoder writes
    what the objective asks for, teacher-forced (T5's ``"span_corruption"``: the dropped
    spans after their sentinels; BART's ``"text_infilling"``: the original text).

    Batches come from :class:`zoo.seq2seq_data.DenoisingPipeline`; the loss is the
    cross-entropy averaged over the real target tokens. ``decoder_start``: the token the
    decoder starts from, ``"pad"`` (T5) or ``"eos"`` (BART), which a fresh model's config
    takes from the tokenizer with the other special ids.
    """
    perplexity_of = "lm_loss"
    progress_keys = ("loss", "lm_acc")
    OBJECTIVES = ("span_corruption", "text_infilling")

    def __init__(self, flags, objective, decoder_start):
        if objective not in self.OBJECTIVES:
            raise ValueError(f"objective must be one of {self.OBJECTIVES}, not {objective!r}")
        if decoder_start not in ("pad", "eos"):
            raise ValueError(f"decoder_start must be 'pad' or 'eos', not {decoder_start!r}")
        self.flags, self.objective, self.decoder_start = dict(flags), objective, decoder_start
        self.lm_loss = MaskedLMLoss()

    def describe(self):
        return self.objective.replace("_", " ")

    def config_overrides(self, tokenizer):
        from zoo.seq2seq_data import end_of_sequence_id
        bos = getattr(tokenizer, "bos_id", None)
        ids = {"pad_token_id": tokenizer.pad_id, "eos_token_id": end_of_sequence_id(tokenizer),
               "bos_token_id": tokenizer.cls_id if bos is None else bos}
        ids["decoder_start_token_id"] = ids[f"{self.decoder_start}_token_id"]
        return {k: v for k, v in ids.items() if v is not None}

    def pipeline(self, files, tokenizer, *, max_seq_length, **options):
        from zoo import seq2seq_data
        make = (seq2seq_data.SpanCorruption if self.objective == "span_corruption"
                else seq2seq_data.TextInfilling)
        return seq2seq_data.DenoisingPipeline(files, tokenizer, make(tokenizer, max_seq_length),
                                              **options)

    def forward(self, model, part):
        from zoo.seq2seq_data import decoder_inputs
        labels, w = part["labels"], part["label_weights"]
        tgt = decoder_inputs(mx.nd, labels, model.config.decoder_start_token_id)
        scores = model(part["input_ids"], part["valid_length"], tgt,
                       part["decoder_valid_length"])[2]
        loss = self.lm_loss(scores, labels, w)
        correct = ((scores.argmax(axis=-1) == labels) * w).sum()
        return StepOutput(loss, {"lm_loss": loss}, {"lm_acc": (correct, w.sum())})


class RunningMetrics:
    """Sums of a recipe's outputs between two log lines, kept on the device until read."""

    def __init__(self):
        self.reset()

    def reset(self):
        import time
        self.sums, self.hits = {}, {}
        self.loss = 0.0
        self.parts = 0
        self.steps = 0
        self.tokens = 0
        self.t0 = time.perf_counter()

    def add(self, out):
        self.loss = self.loss + out.loss
        self.parts += 1
        for k, v in out.terms.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
        for k, (correct, count) in out.hits.items():
            c0, n0 = self.hits.get(k, (0.0, 0.0))
            self.hits[k] = (c0 + correct, n0 + count)

    def read(self, loss_scale=1.0):
        """``{"loss": mean, <term>: mean, <accuracy>: ratio}`` over the parts added.
        ``loss_scale``: what each part's loss was divided by (gradient accumulation)."""
        def f(x):
            return float(x.asscalar()) if isinstance(x, mx.nd.NDArray) else float(x)
        n = max(1, self.parts)
        out = {"loss": f(self.loss) / n * loss_scale}
        out.update({k: f(v) / n for k, v in self.sums.items()})
        for k, (correct, count) in self.hits.items():
            total = f(count)
            if total:
                out[k] = f(correct) / total
        return out
