"""What a prompt asks for: the colours and scene words the procedural painter understands.

Plain data and one function, so the painter, the README and tests read the same vocabulary.
"""

from __future__ import annotations

import re

__all__ = ["COLOURS", "FEATURES", "LANDSCAPE", "RGB", "scene_words", "words"]

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
    "sky": frozenset({"sky", "horizon", "landscape", "scenery", "view"}),
    "creature": frozenset(
        {
            "fox",
            "cat",
            "dog",
            "wolf",
            "bear",
            "rabbit",
            "bunny",
            "deer",
            "horse",
            "owl",
            "bird",
            "lion",
            "tiger",
            "squirrel",
            "mouse",
            "kitten",
            "puppy",
            "animal",
            "robot",
            "astronaut",
        }
    ),
}
LANDSCAPE = frozenset(FEATURES) - {"creature"}
WORD = re.compile(r"[a-z]+")


def words(text: str) -> set[str]:
    found: set[str] = set()
    for word in WORD.findall(text.lower()):
        found.add(word)
        if word.endswith("s") and len(word) > 3:
            found.add(word[:-1])
    return found


def scene_words(prompt: str, negative: str = "") -> tuple[set[str], list[RGB]]:
    """The features and colours a prompt asks for, after the negative prompt has taken its share away."""
    wanted, unwanted = words(prompt), words(negative)
    features = {name for name, triggers in FEATURES.items() if triggers & wanted}
    features -= {name for name, triggers in FEATURES.items() if triggers & unwanted}
    if "water" in unwanted:
        features -= {"lake", "sea"}
    if "night" in features and "moon" not in features and "sun" not in features and "moon" not in unwanted:
        features.add("moon")
    if "night" in features:
        features.discard("sun")
    ordered = [w for w in WORD.findall(prompt.lower()) if w in COLOURS and w not in unwanted]
    palette = list(dict.fromkeys(COLOURS[w] for w in ordered))
    return features, palette
