"""ELECTRA's pretraining recipe: the generator's masked LM plus the discriminator's replaced
token detection (Clark et al., 2020), whose loss weight is the paper's 50."""
import mxnet as mx

from heads import RTDLoss

from ...recipes import MaskedLMRecipe, StepOutput

RTD_WEIGHT = 50.0


class ReplacedTokenDetectionRecipe(MaskedLMRecipe):
    """MLM batches (no sentence pairs); the model's forward corrupts the masked positions
    with the generator's samples and returns ``rtd_scores`` (B, L) and ``corrupted`` (B, L)."""

    def __init__(self):
        super().__init__({"use_mlm": True})
        self.rtd_loss = RTDLoss()

    def describe(self):
        return "generator MLM + replaced token detection"

    def prepare(self, batch):
        """Adds ``original_ids``: the text before masking, the RTD labels' reference."""
        original = batch["input_ids"].copy()
        rows, cols = (batch["masked_weights"] > 0).nonzero()
        original[rows, batch["masked_positions"][rows, cols]] = batch["masked_ids"][rows, cols]
        return dict(batch, original_ids=original)

    def forward(self, model, part):
        outs = self.outputs(model, part)
        mlm, mlm_hits = self.mlm_terms(outs[2], part)
        rtd_scores, corrupted = outs[3], outs[4]
        labels = corrupted != part["original_ids"]
        rtd = self.rtd_loss(rtd_scores, labels, part["valid_length"]).mean()
        valid = mx.nd.SequenceMask(mx.nd.ones_like(rtd_scores), sequence_length=part["valid_length"],
                                   use_sequence_length=True, axis=1)
        correct = (((rtd_scores > 0) == labels) * valid).sum()
        return StepOutput(mlm + RTD_WEIGHT * rtd, {"mlm_loss": mlm, "rtd_loss": rtd},
                          {"mlm_acc": mlm_hits, "rtd_acc": (correct, valid.sum())})


RECIPE = ReplacedTokenDetectionRecipe()
