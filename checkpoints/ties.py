"""The ``@tied`` registry: declare once on the class which parameters share storage.

A declaration ``@tied(alias, canonical)`` says that the parameter (or every parameter of
the block) at the structural path ``alias`` *is* the one at ``canonical``. The canonical
side is the name the head-less backbone has, so it is the name a checkpoint stores.

Declarations are stackable and inherited. They are applied when the outermost
``__init__`` of an instance returns, so a subclass that adds blocks after
``super().__init__()`` is covered. ``*`` in a path matches one component; ``*`` in the
canonical path is filled with what the alias's ``*`` matched, in order::

    @tied("mlm_decoder.1.weight", "word_embed.weight")      # one parameter
    @tied("l2", "l1")                                        # every parameter of a block
    @tied("encoder.layers.*", "encoder.layers.0")            # ALBERT-style sharing

A tie that a config switches (Hugging Face's ``tie_word_embeddings``) says so on the class::

    @tied("lm_head.weight", "word_embed.weight", when="tie_word_embeddings")

``when`` names a boolean field of the block's ``config`` attribute (or is a callable taking
the block); where it is false the declaration is inactive: the alias keeps a parameter of
its own, is saved under its own name, and loads from its own tensor.
"""
import functools
import re
from typing import Callable, NamedTuple, Optional, Union

import numpy as np

from . import _mx_compat as mxc
from .errors import TieError

__all__ = ["tied", "ties_of", "declared_ties", "active_declarations", "switched_ties",
           "resolve_declared", "TieDeclaration"]

_DECLS = "_tiezoo_tie_decls"          # class attribute: this class's own declarations
_HOOKED = "_tiezoo_init_hooked"        # class attribute: __init_subclass__ installed
_ACTIVE = "_tiezoo_active_ties"        # instance attribute: alias -> canonical applied
_ACTIVE_DECLS = "_tiezoo_active_decls"  # instance attribute: declarations that tied something
_SWITCHED = "_tiezoo_switched_ties"    # instance attribute: alias -> (canonical, config field)
_DEPTH = "_tiezoo_init_depth"          # instance attribute: nesting of __init__ calls
_COMPONENT = re.compile(r"^(\*|[A-Za-z0-9_]+)$")


def _check_path(path, what):
    if not isinstance(path, str) or not path:
        raise TieError(f"@tied {what} must be a non-empty dotted path, got {path!r}")
    for comp in path.split("."):
        if not _COMPONENT.match(comp):
            raise TieError(f"@tied {what} {path!r}: bad path component {comp!r}")


class TieDeclaration(NamedTuple):
    """One ``@tied`` declaration: alias and canonical path patterns, and its condition."""
    alias: str
    canonical: str
    when: Optional[Union[str, Callable]] = None

    def holds_for(self, block):
        """Whether the declaration is in force for the built ``block``: always without a
        condition; else the config field (or callable) ``when`` decides."""
        if self.when is None:
            return True
        if callable(self.when):
            return bool(self.when(block))
        config = getattr(block, "config", None)
        if config is None or not hasattr(config, self.when):
            raise TieError(f"@tied({self.alias!r}, {self.canonical!r}, when={self.when!r}) on "
                           f"{type(block).__name__}: the block has no config field "
                           f"{self.when!r} to decide it")
        return bool(getattr(config, self.when))

    def __str__(self):
        cond = f", when={self.when!r}" if isinstance(self.when, str) else \
            (", when=<callable>" if self.when else "")
        return f"@tied({self.alias!r}, {self.canonical!r}{cond})"


def tied(alias, canonical, *, when=None):
    """Class decorator: the parameter(s) at ``alias`` share storage with ``canonical``.

    ``when``: the name of a boolean field of the block's ``config`` (or a callable taking
    the block) that switches the tie; ``None``: always tied.

    Example::

        >>> from mxnet.gluon import HybridBlock, nn
        >>> @tied("l2", "l1")
        ... class Twice(HybridBlock):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.l1 = nn.Dense(4, in_units=4)
        ...         self.l2 = nn.Dense(4, in_units=4)
        ...     def hybrid_forward(self, F, x):
        ...         return self.l2(self.l1(x))
        >>> m = Twice()
        >>> m.l2.weight is m.l1.weight
        True
        >>> ties_of(m)
        {'l2.weight': 'l1.weight', 'l2.bias': 'l1.bias'}
    """
    _check_path(alias, "alias")
    _check_path(canonical, "canonical")
    if canonical.count("*") > alias.count("*"):
        raise TieError(f"@tied({alias!r}, {canonical!r}): the canonical path has more '*' "
                       f"than the alias, so it cannot be filled in")
    if alias == canonical:
        raise TieError(f"@tied({alias!r}, {canonical!r}): a path cannot be tied to itself")
    if when is not None and not (callable(when) or (isinstance(when, str) and when.isidentifier())):
        raise TieError(f"@tied({alias!r}, {canonical!r}): when= must be a config field name "
                       f"or a callable, not {when!r}")
    decl = TieDeclaration(alias, canonical, when)

    def decorate(cls):
        if not (isinstance(cls, type) and issubclass(cls, mxc.Block)):
            raise TypeError(f"@tied decorates a Block subclass, not {cls!r}")
        # Decorators run bottom-up; prepend so that the class keeps them in source order.
        setattr(cls, _DECLS, (decl,) + tuple(cls.__dict__.get(_DECLS, ())))
        _install_init_hook(cls)
        return cls

    return decorate


def _wrap_init(init):
    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        state = self.__dict__
        depth = state.get(_DEPTH, 0)
        state[_DEPTH] = depth + 1
        try:
            init(self, *args, **kwargs)
        finally:
            state[_DEPTH] = depth
        if depth == 0:
            _apply(self)

    __init__._tiezoo_wrapped = True
    return __init__


def _install_init_hook(cls):
    init = cls.__dict__.get("__init__")
    if init is not None and not getattr(init, "_tiezoo_wrapped", False):
        cls.__init__ = _wrap_init(init)
    elif init is None and not getattr(cls.__init__, "_tiezoo_wrapped", False):
        cls.__init__ = _wrap_init(cls.__init__)
    if getattr(cls, _HOOKED, False):
        return
    setattr(cls, _HOOKED, True)
    previous = cls.__dict__.get("__init_subclass__")

    def __init_subclass__(sub, **kwargs):
        # Every subclass's own __init__ is wrapped too, so the ties are applied when the
        # outermost constructor returns, after blocks a subclass adds.
        own = sub.__dict__.get("__init__")
        if own is not None and not getattr(own, "_tiezoo_wrapped", False):
            sub.__init__ = _wrap_init(own)
        if previous is not None:
            previous.__func__(sub, **kwargs)
        else:
            super(cls, sub).__init_subclass__(**kwargs)

    cls.__init_subclass__ = classmethod(__init_subclass__)


def declared_ties(cls):
    """All :class:`TieDeclaration` of a class (``(alias, canonical, when)``), base classes
    first, whether or not their condition holds for a given instance."""
    out = []
    for klass in reversed(cls.__mro__):
        for decl in klass.__dict__.get(_DECLS, ()):
            if decl not in out:
                out.append(decl)
    return out


def _match(pattern, names):
    """Yield ``(name, captures)`` for every name the ``*`` pattern matches."""
    pat = pattern.split(".")
    for name in names:
        parts = name.split(".")
        if len(parts) != len(pat):
            continue
        caps = []
        for p, c in zip(pat, parts):
            if p == "*":
                caps.append(c)
            elif p != c:
                break
        else:
            yield name, caps


def _fill(pattern, caps):
    caps = iter(caps)
    return ".".join(next(caps) if p == "*" else p for p in pattern.split("."))


def _expand(block, decls):
    """Parameter-level ``[(alias, canonical, decl)]`` for the declarations active in ``block``."""
    params = mxc.structural_params(block)
    blocks = dict(mxc.iter_blocks(block))
    pairs = []
    for declaration in decls:
        alias_pat, canon_pat = declaration.alias, declaration.canonical
        decl = f"@tied({alias_pat!r}, {canon_pat!r}) on {type(block).__name__}"
        for alias, caps in list(_match(alias_pat, params)) + list(_match(alias_pat, blocks)):
            canon = _fill(canon_pat, caps)
            if canon == alias:
                continue  # "layers.*" -> "layers.0" also matches layer 0 itself
            if alias in params:
                if canon not in params:
                    raise TieError(f"{decl}: alias {alias!r} exists but canonical parameter "
                                   f"{canon!r} does not")
                pairs.append((alias, canon, decl))
                continue
            if canon not in blocks:
                raise TieError(f"{decl}: alias block {alias!r} exists but canonical block "
                               f"{canon!r} does not")
            alias_params = mxc.structural_params(blocks[alias])
            canon_params = mxc.structural_params(blocks[canon])
            common = [rel for rel in alias_params if rel in canon_params]
            if not common:
                raise TieError(f"{decl}: blocks {alias!r} and {canon!r} have no parameter "
                               f"name in common ({sorted(alias_params)} vs {sorted(canon_params)})")
            pairs.extend((f"{alias}.{rel}", f"{canon}.{rel}", decl) for rel in common)
    return pairs


def _resolve_chains(pairs):
    """alias -> root canonical, raising on cycles and on an alias with two targets."""
    direct = {}
    for alias, canon, decl in pairs:
        if alias in direct and direct[alias][0] != canon:
            raise TieError(f"{alias!r} is tied to both {direct[alias][0]!r} and {canon!r} "
                           f"({direct[alias][1]}; {decl})")
        direct[alias] = (canon, decl)
    roots = {}
    for alias in direct:
        seen = [alias]
        node = direct[alias][0]
        while node in direct:
            if node in seen:
                raise TieError(f"tie cycle between {seen[-1]!r} and {node!r}: "
                               + " -> ".join(seen + [node]))
            seen.append(node)
            node = direct[node][0]
        roots[alias] = node
    return roots, direct


def _apply(block):
    decls = [d for d in declared_ties(type(block)) if d.holds_for(block)]
    if not decls:
        return
    pairs = _expand(block, decls)
    used = {p[2] for p in pairs}
    block.__dict__[_ACTIVE_DECLS] = [
        d for d in decls if f"@tied({d.alias!r}, {d.canonical!r}) on {type(block).__name__}" in used]
    switches = {f"@tied({d.alias!r}, {d.canonical!r}) on {type(block).__name__}": d.when
                for d in decls if isinstance(d.when, str)}
    block.__dict__[_SWITCHED] = {alias: (canon, switches[decl]) for alias, canon, decl in pairs
                                 if decl in switches}
    roots, direct = _resolve_chains(pairs)
    params = mxc.structural_params(block)
    blocks = dict(mxc.iter_blocks(block))
    for alias, root in roots.items():
        shared, own = params[root], params[alias]
        if own is shared:
            continue
        if np.dtype(own.dtype) != np.dtype(shared.dtype):
            raise TieError(f"cannot tie {alias!r} to {root!r}: dtype {np.dtype(own.dtype)} vs "
                           f"{np.dtype(shared.dtype)} ({direct[alias][1]})")
        shape = mxc.merge_shapes(shared.shape, own.shape)
        if shape is None:
            raise TieError(f"cannot tie {alias!r} to {root!r}: shape {tuple(own.shape)} vs "
                           f"{tuple(shared.shape)} ({direct[alias][1]})")
        if tuple(shape) != tuple(shared.shape or ()):
            mxc.set_shape(shared, shape)
        owner_path, _, attr = alias.rpartition(".")
        mxc.replace_parameter(blocks[owner_path], attr, shared)
    block.__dict__[_ACTIVE] = dict(roots)


def ties_of(block):
    """The active ties of a built block: ``{alias: canonical}`` over parameter paths.

    Covers ties declared with ``@tied`` anywhere in the block tree and any other sharing
    of one Parameter under several names (the first name met is then canonical).
    """
    declared_aliases = set()
    for path, sub in mxc.iter_blocks(block):
        for alias in sub.__dict__.get(_ACTIVE, {}):
            declared_aliases.add(f"{path}.{alias}" if path else alias)
    groups = {}
    for name, param in mxc.structural_params(block).items():
        groups.setdefault(id(param), []).append(name)
    out = {}
    for names in groups.values():
        if len(names) < 2:
            continue
        canonical = next((n for n in names if n not in declared_aliases), names[0])
        out.update({n: canonical for n in names if n != canonical})
    return out


def active_declarations(block):
    """``[(block path, TieDeclaration)]`` of the declarations that tie something in the built
    ``block`` (its own and its descendants'), for describing a model's sharing."""
    out = []
    for path, sub in mxc.iter_blocks(block):
        out.extend((path, d) for d in sub.__dict__.get(_ACTIVE_DECLS, ()))
    return out


def switched_ties(block):
    """``{alias: (canonical, config field)}``: the active ties of the built ``block`` that a
    config field switches (``@tied(..., when="tie_word_embeddings")``), with full paths."""
    out = {}
    for path, sub in mxc.iter_blocks(block):
        prefix = path + "." if path else ""
        for alias, (canon, field) in sub.__dict__.get(_SWITCHED, {}).items():
            out[prefix + alias] = (prefix + canon, field)
    return out


def resolve_declared(block, name):
    """Map a parameter path to the canonical path the declarations of ``block`` give it.

    Unlike :func:`ties_of`, this also resolves aliases whose block is absent from this
    variant (``mlm_decoder.1.weight`` on a head-less model), which is how a checkpoint
    written by another variant finds its place. Returns ``name`` when no declaration
    applies.
    """
    for _ in range(64):  # bounded: declarations may chain
        nxt = _resolve_once(block, name)
        if nxt == name:
            return name
        name = nxt
    raise TieError(f"tie declarations do not terminate for {name!r}")


def _resolve_once(block, name):
    for path, sub in mxc.iter_blocks(block):
        prefix = path + "." if path else ""
        if prefix and not name.startswith(prefix):
            continue
        rel = name[len(prefix):]
        for alias_pat, canon_pat, when in declared_ties(type(sub)):
            if when is not None and not TieDeclaration(alias_pat, canon_pat, when).holds_for(sub):
                continue      # switched off by the config: the alias is a tensor of its own
            n_alias = len(alias_pat.split("."))
            parts = rel.split(".")
            head, tail = ".".join(parts[:n_alias]), parts[n_alias:]
            for _, caps in _match(alias_pat, [head]):
                canon = _fill(canon_pat, caps)
                if canon != head:
                    return prefix + ".".join([canon] + tail)
    return name
