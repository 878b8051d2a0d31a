"""BART's pretraining recipe: text infilling with sentence permutation (Lewis et al., 2020);
the decoder starts from the end-of-sequence token, as BART's does."""
from ...recipes import DenoisingRecipe

RECIPE = DenoisingRecipe({"use_lm": True}, "text_infilling", decoder_start="eos")
