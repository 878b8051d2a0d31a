"""GPT-2's pretraining recipe: causal language modelling (Radford et al., 2019)."""
from ...recipes import CausalLMRecipe

RECIPE = CausalLMRecipe({"use_lm": True})
