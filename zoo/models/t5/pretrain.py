"""T5's pretraining recipe: span corruption (Raffel et al., 2020); the decoder starts from
the padding token, as T5's does."""
from ...recipes import DenoisingRecipe

RECIPE = DenoisingRecipe({"use_lm": True}, "span_corruption", decoder_start="pad")
