"""RoBERTa's pretraining recipe: masked LM alone (Liu et al., 2019 drop NSP)."""
from ...recipes import MaskedLMRecipe

RECIPE = MaskedLMRecipe({"use_mlm": True})
