"""FaiRLLM's eight sensitive attributes and their values (Zhang et al., RecSys 2023).

Taken from the benchmark's released attribute file (``sst_json.json``). The released prompts
read "I am <phrase> fan of ..." with the article included ("a young", "an Asian"); the values
below drop the article so they read well in any prompt template, and :data:`FAIRLLM_PHRASES`
keeps the original phrases. The released code names physical appearance ``physics``.
"""

from __future__ import annotations

from ...errors import UnknownNameError

#: Attribute -> values, in the order of the released file.
FAIRLLM_VOCABULARY: dict[str, tuple[str, ...]] = {
    "age": ("middle aged", "old", "young"),
    "country": ("American", "Brazilian", "British", "Chinese", "French", "German", "Japanese"),
    "gender": ("boy", "female", "girl", "male"),
    "continent": ("African", "American", "Asian"),
    "occupation": ("doctor", "student", "teacher", "worker", "writer"),
    "race": ("African American", "black", "white", "yellow"),
    "religion": ("Buddhist", "Christian", "Islamic"),
    "physical_appearance": ("fat", "thin"),
}

#: The released prompt phrases ("a young", "an Asian", ...), per attribute.
FAIRLLM_PHRASES: dict[str, tuple[str, ...]] = {
    attr: tuple(v if attr == "physical_appearance"
                else ("an " if v[0].lower() in "aeiou" else "a ") + v for v in values)
    for attr, values in FAIRLLM_VOCABULARY.items()
}

#: The attribute names in FaiRLLM's order.
FAIRLLM_ATTRIBUTES: tuple[str, ...] = tuple(FAIRLLM_VOCABULARY)


def fairllm_values(attribute: str) -> tuple[str, ...]:
    """The FaiRLLM values of one attribute; unknown names raise with the valid ones.

    Examples
    --------
    >>> fairllm_values("religion")
    ('Buddhist', 'Christian', 'Islamic')
    """
    try:
        return FAIRLLM_VOCABULARY[attribute]
    except KeyError:
        raise UnknownNameError(f"{attribute!r} is not a FaiRLLM attribute; use one of "
                       f"{list(FAIRLLM_ATTRIBUTES)}") from None
