"""BERT's pretraining recipe: masked LM + next sentence prediction (Devlin et al., 2019)."""
from ...recipes import MaskedLMRecipe

RECIPE = MaskedLMRecipe({"use_mlm": True, "use_nsp": True}, pair_objective="nsp")
