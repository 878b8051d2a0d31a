"""The families of the zoo, one folder each (see :class:`zoo.registry.Family`).

Adding a family is a new folder that builds a ``FAMILY`` plus one line here; nothing
generic changes. A family defined outside the zoo registers itself the same way, with
``zoo.register_family(FAMILY)``.
"""
from ..registry import register_family
from . import albert, bart, bert, electra, gpt2, roberta, t5

register_family(bert.FAMILY)
register_family(roberta.FAMILY)
register_family(albert.FAMILY)
register_family(electra.FAMILY)
register_family(gpt2.FAMILY)
register_family(bart.FAMILY)
register_family(t5.FAMILY)
