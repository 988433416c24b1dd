"""What a prompt asks for: the colours, scene words, animals and style words the procedural painter knows.

Plain data and a few functions, so the painter, the README and tests read the same vocabulary. The prompt's
*elements* (its scene words and colours, in the order they are named) are what guidance keeps or lets drift;
the negative prompt takes away the elements, animals and colours it names, and tones down the styles.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = [
    "ANIMALS",
    "COLOURS",
    "FEATURES",
    "LANDSCAPE",
    "RGB",
    "STYLES",
    "Animal",
    "elements",
    "scene_words",
    "styles",
    "subject",
    "words",
]

RGB = tuple[int, int, int]

COLOURS: dict[str, RGB] = {
    "red": (205, 40, 40),
    "orange": (240, 140, 30),
    "yellow": (245, 215, 50),
    "green": (60, 160, 70),
    "blue": (45, 95, 210),
    "purple": (130, 60, 170),
    "violet": (140, 90, 200),
    "pink": (240, 130, 170),
    "white": (240, 240, 240),
    "black": (20, 20, 25),
    "gray": (128, 128, 132),
    "grey": (128, 128, 132),
    "brown": (120, 80, 45),
    "gold": (220, 175, 60),
    "golden": (225, 180, 60),
    "silver": (190, 195, 205),
    "cyan": (60, 200, 220),
    "teal": (30, 130, 130),
    "turquoise": (60, 210, 190),
    "magenta": (210, 50, 160),
    "crimson": (170, 20, 50),
    "navy": (25, 35, 90),
    "amber": (250, 180, 40),
    "emerald": (30, 150, 90),
    "indigo": (70, 50, 140),
    "lavender": (180, 160, 220),
    "beige": (225, 210, 170),
    "scarlet": (230, 35, 30),
    "azure": (40, 130, 240),
    "coral": (250, 125, 95),
    "ochre": (205, 145, 40),
    "olive": (110, 120, 40),
}

# Each scene feature and the words that call it up (plurals are folded to the singular first).
FEATURES: dict[str, frozenset[str]] = {
    "night": frozenset({"night", "midnight", "starry", "star", "nocturnal", "moonlit", "dark"}),
    "sunset": frozenset({"sunset", "sunrise", "dusk", "dawn", "twilight", "evening"}),
    "sun": frozenset({"sun", "sunny", "sunshine", "sunset", "sunrise", "sunlight"}),
    "moon": frozenset({"moon", "moonlit", "moonlight", "lunar"}),
    "mountain": frozenset({"mountain", "peak", "alps", "hill", "volcano", "cliff", "range"}),
    "lake": frozenset({"lake", "pond", "river", "reflection", "water", "lagoon"}),
    "sea": frozenset({"sea", "ocean", "beach", "wave", "coast", "bay", "shore", "island", "harbor"}),
    "forest": frozenset({"forest", "tree", "wood", "woods", "pine", "jungle", "grove"}),
    "snow": frozenset({"snow", "snowy", "winter", "ice", "icy", "frozen", "blizzard", "snowfall"}),
    "city": frozenset({"city", "skyline", "town", "building", "skyscraper", "street", "cyberpunk"}),
    "desert": frozenset({"desert", "sand", "dune", "sahara", "canyon"}),
    "meadow": frozenset({"meadow", "field", "grass", "garden", "flower", "prairie", "lawn"}),
    "cloud": frozenset({"cloud", "cloudy", "storm", "overcast", "fog", "mist", "misty"}),
    "rain": frozenset({"rain", "rainy", "storm", "drizzle", "raining"}),
    "tower": frozenset({"lighthouse", "tower", "castle", "windmill"}),
    "house": frozenset({"house", "cabin", "cottage", "hut", "barn", "farmhouse", "chalet"}),
    "boat": frozenset({"boat", "ship", "sailboat", "yacht", "sail", "canoe"}),
    "sky": frozenset({"sky", "horizon", "landscape", "scenery", "view"}),
}


class Animal(NamedTuple):
    """How the painter draws one kind of creature: its build, ears, and colour when the prompt names none."""

    build: str
    ears: str
    colour: RGB


_FOUR = "four-legged"
ANIMALS: dict[str, Animal] = {
    "fox": Animal(_FOUR, "pointed", (214, 104, 36)),
    "cat": Animal(_FOUR, "pointed", (120, 116, 112)),
    "kitten": Animal(_FOUR, "pointed", (215, 170, 110)),
    "tiger": Animal(_FOUR, "round", (232, 130, 30)),
    "lion": Animal(_FOUR, "round", (205, 160, 80)),
    "dog": Animal(_FOUR, "floppy", (150, 100, 60)),
    "puppy": Animal(_FOUR, "floppy", (200, 160, 110)),
    "wolf": Animal(_FOUR, "pointed", (110, 112, 120)),
    "bear": Animal(_FOUR, "round", (92, 60, 36)),
    "mouse": Animal(_FOUR, "round", (150, 146, 140)),
    "squirrel": Animal(_FOUR, "pointed", (170, 90, 40)),
    "rabbit": Animal(_FOUR, "long", (228, 222, 212)),
    "bunny": Animal(_FOUR, "long", (228, 222, 212)),
    "deer": Animal(_FOUR, "antlers", (160, 110, 64)),
    "horse": Animal(_FOUR, "pointed", (110, 70, 40)),
    "animal": Animal(_FOUR, "pointed", (150, 90, 50)),
    "owl": Animal("bird", "tufts", (140, 100, 60)),
    "bird": Animal("bird", "none", (70, 110, 190)),
    "robot": Animal("upright", "antenna", (170, 178, 190)),
    "astronaut": Animal("upright", "helmet", (236, 236, 240)),
}
"""The creatures, by the word that calls each up; any of them is the scene's "creature" element."""
FEATURES["creature"] = frozenset(ANIMALS)
LANDSCAPE = frozenset(FEATURES) - {"creature"}

# Style words: in a negative prompt each tones down what it names ("blurry", "grainy", "painting").
STYLES: dict[str, frozenset[str]] = {
    "blur": frozenset({"blurry", "blur", "blurred", "unfocused", "fuzzy", "soft"}),
    "grain": frozenset({"grain", "grainy", "noise", "noisy", "artifact", "artefact"}),
    "dark": frozenset({"dark", "gloomy", "underexposed", "dim", "shadow"}),
    "bright": frozenset({"bright", "overexposed", "washed", "glare"}),
    "vivid": frozenset({"saturated", "oversaturated", "vivid", "colorful", "colourful", "garish"}),
    "dull": frozenset({"dull", "desaturated", "muted", "monochrome", "grayscale", "greyscale", "bland"}),
    # the kinds of look a model family has (see looks.py): naming one suppresses that family's treatment
    "photo": frozenset({"photo", "photograph", "photographic", "realistic", "photorealistic", "realism"}),
    "painting": frozenset({"painting", "painterly", "painted", "oil", "brushstroke", "impasto", "canvas"}),
    "illustration": frozenset({"illustration", "cartoon", "drawing", "flat", "vector", "anime", "comic"}),
    "poster": frozenset({"poster", "graphic", "outline", "outlines", "logo", "typography"}),
    "ink": frozenset({"ink", "watercolor", "watercolour", "wash", "sketch", "paper"}),
    "glow": frozenset({"glow", "bloom", "dreamy", "haze", "hazy", "fantasy"}),
    "film": frozenset({"film", "retro", "vintage", "faded", "sepia"}),
    "neon": frozenset({"neon", "synthwave", "vaporwave"}),
}
WORD = re.compile(r"[a-z]+")


def words(text: str) -> set[str]:
    return set(_ordered(text))


def _ordered(text: str) -> list[str]:
    """The words of ``text`` in order, each followed by its singular when it looks like a plural."""
    found = []
    for word in WORD.findall(text.lower()):
        found.append(word)
        if word.endswith("s") and len(word) > 3:
            found.append(word[:-1])
    return found


def elements(prompt: str) -> list[str]:
    """The prompt's elements in the order it names them: scene features and colour words ("sky" is none)."""
    found: dict[str, None] = {}
    for word in _ordered(prompt):
        for name, triggers in FEATURES.items():
            if word in triggers and name != "sky":
                found.setdefault(name)
        if word in COLOURS:
            found.setdefault(word)
    return list(found)


def subject(prompt: str) -> str | None:
    """The first creature the prompt names, or None."""
    return next((w for w in _ordered(prompt) if w in ANIMALS), None)


def styles(negative: str) -> frozenset[str]:
    """The styles a negative prompt names (keys of STYLES)."""
    unwanted = words(negative)
    return frozenset(name for name, triggers in STYLES.items() if triggers & unwanted)


def scene_words(
    prompt: str, negative: str = "", kept: frozenset[str] | None = None
) -> tuple[set[str], list[RGB]]:
    """The features and colours a prompt asks for, after the negative prompt has taken its share away.

    ``kept``: the elements guidance holds on to (None: all of them); the others drift away.
    """
    wanted, unwanted = words(prompt), words(negative)
    features = {name for name, triggers in FEATURES.items() if triggers & wanted}
    if kept is not None:
        features &= kept | {"sky"}
    # a negative "cat" does not remove a fox: only the prompt's own animal, or animals in general
    animal = subject(prompt)
    gone = {name for name, triggers in FEATURES.items() if name != "creature" and triggers & unwanted}
    if animal in unwanted or unwanted & {"animal", "creature", "creatures"}:
        gone.add("creature")
    if "water" in unwanted:
        gone |= {"lake", "sea"}
    features -= gone
    if "night" in features and "moon" not in features and "sun" not in features and "moon" not in gone:
        features.add("moon")
    if "night" in features:
        features.discard("sun")
    ordered = [
        w
        for w in WORD.findall(prompt.lower())
        if w in COLOURS and w not in unwanted and (kept is None or w in kept)
    ]
    palette = list(dict.fromkeys(COLOURS[w] for w in ordered))
    return features, palette
