"""Helpers for the character tables of the pure-Python tokenizers (WordPiece, byte-level BPE).

The Rust ``tokenizers`` library classifies characters with Unicode tables that differ from
the ones in Python's ``unicodedata`` (another Unicode version, other definitions), so each
tokenizer keeps the exact table it needs as text ranges ("41-5A 61-7A AA") and compiles it
into a regular-expression character class here.
"""
import re

__all__ = ["WHITESPACE", "char_class", "parse_ranges"]

# Rust's char::is_whitespace (the White_Space property), which includes \t \n \r.
WHITESPACE = ((0x09, 0x0D), (0x20, 0x20), (0x85, 0x85), (0xA0, 0xA0), (0x1680, 0x1680),
              (0x2000, 0x200A), (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F),
              (0x3000, 0x3000))


def parse_ranges(spec):
    """``"41-5A 61"`` -> ``[(0x41, 0x5A), (0x61, 0x61)]``."""
    out = []
    for part in "".join(spec).split():
        a, _, b = part.partition("-")
        out.append((int(a, 16), int(b or a, 16)))
    return out


def char_class(ranges):
    """The inside of a regex character class ``[...]`` matching the code point ``ranges``."""
    return "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
                   for a, b in ranges)
