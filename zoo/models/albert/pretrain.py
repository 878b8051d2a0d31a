"""ALBERT's pretraining recipe: masked LM + sentence order prediction (Lan et al., 2020)."""
from ...recipes import MaskedLMRecipe

RECIPE = MaskedLMRecipe({"use_mlm": True, "use_sop": True}, pair_objective="sop")
