"""Person names: normalised, visible, and never a look-alike of another person's name.

`clean_name` normalises (NFC; any run of Unicode spaces becomes one ASCII space; trimmed) and refuses
(NameRefused, HTTP 422) what a reader cannot see or would misread: control characters (NUL included),
format characters (Cf: zero-width spaces and joiners, bidi overrides), surrogates, private use and
unassigned code points, line and paragraph separators, Unicode's default-ignorable code points and the
blank "letters" (Hangul fillers, the blank Braille pattern); a word that mixes scripts (a Cyrillic `о`
inside a Latin word), except the combinations Unicode's TR39 "highly restrictive" profile allows (Han with
Hiragana and Katakana, with Bopomofo or with Hangul, each also with Latin); and a name without a letter
or digit.

`skeleton` is what two names are compared by (TR39's idea, with Latin as the prototype script): NFKC (so
fullwidth, mathematical and other compatibility forms collapse), then every character that Unicode's
confusables data gives a Latin look-alike for is replaced by it (Cyrillic `О`, Greek `Ο`, digit `0` all
become `O`), then case folding. The library refuses a name whose skeleton another person's name
already has (HTTP 409 naming that person). Script and confusables data come from the
`confusable-homoglyphs` package (MIT; built from Unicode's Scripts.txt and confusables.txt).
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

MAX_NAME_CHARS = 100
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# Default_Ignorable_Code_Point (Unicode DerivedCoreProperties.txt) plus the blank Braille pattern.
_INVISIBLE_RANGES = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x2800, 0x2800),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)
_NEUTRAL_SCRIPTS = frozenset({"COMMON", "INHERITED"})
_ALLOWED_MIXES = (
    frozenset({"HAN", "HIRAGANA", "KATAKANA", "LATIN"}),
    frozenset({"HAN", "BOPOMOFO", "LATIN"}),
    frozenset({"HAN", "HANGUL", "LATIN"}),
)


class NameRefused(ValueError):
    """A name with invisible or control characters, mixed scripts in a word, or nothing visible in it."""


def _invisible(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in _INVISIBLE_RANGES)


def _script(char: str) -> str:
    from confusable_homoglyphs import categories

    return str(categories.alias(char))


def _check_chars(name: str) -> None:
    for char in name:
        category = unicodedata.category(char)
        if category in _REFUSED_CATEGORIES or _invisible(char):
            label = unicodedata.name(char, f"a {category} character")
            raise NameRefused(f"name contains an invisible or control character U+{ord(char):04X} ({label})")
    if not any(unicodedata.category(c)[0] in "LN" for c in name):
        raise NameRefused("name has no letter or digit")


def _check_scripts(name: str) -> None:
    for word in name.split(" "):
        scripts = {_script(c) for c in word} - _NEUTRAL_SCRIPTS
        if len(scripts) > 1 and not any(scripts <= allowed for allowed in _ALLOWED_MIXES):
            raise NameRefused(f"the word {word!r} mixes scripts ({', '.join(sorted(scripts)).lower()})")


def clean_name(raw: str) -> str:
    """The stored form of a person's name (NFC, single spaces, trimmed), or NameRefused saying why not."""
    spaced = "".join(" " if unicodedata.category(c) == "Zs" else c for c in unicodedata.normalize("NFC", raw))
    name = " ".join(part for part in spaced.split(" ") if part)
    if not name:
        raise NameRefused("name must not be blank")
    if len(name) > MAX_NAME_CHARS:
        raise NameRefused(f"name longer than {MAX_NAME_CHARS} characters")
    _check_chars(name)
    _check_scripts(name)
    return name


@lru_cache(maxsize=4096)
def _latin_look_alike(char: str) -> str:
    """`char`, or the Latin (or common) character Unicode's confusables data says it looks like."""
    from confusable_homoglyphs.confusables import confusables_data

    if _script(char) == "LATIN" or char == " ":
        return char
    glyphs = sorted(
        g["c"] for g in confusables_data.get(char, []) if all(_script(c) in {"LATIN", "COMMON"} for c in g["c"])
    )
    return glyphs[0] if glyphs else char


def skeleton(name: str) -> str:
    """The form two names are compared by: equal skeletons mean a reader could take one for the other."""
    compatible = unicodedata.normalize("NFKC", name)  # case kept: Cyrillic `В` looks like `B`, `в` does not
    return unicodedata.normalize("NFKC", "".join(_latin_look_alike(c) for c in compatible)).casefold()
