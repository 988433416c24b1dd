"""Where every fact of the catalogue comes from: one row per source, with its commit and date.

The newest dated source wins (Together's 2026-10-07 skill reference); an older one is followed only where
the newer says nothing, and the entry says so (``ModelSpec.facts``). Third-party observations are recorded
as such and never override Together. ``OURS`` marks a choice of ours where no source decides (a default
Together does not document, a replacement no source names), so the catalogue never passes one off as
Together's word.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "API",
    "CATALOGUE_AS_OF",
    "DOMAINS",
    "EARLIER",
    "LISTING",
    "LORAS_DEPRECATED",
    "OPENAPI",
    "OURS",
    "SCRIPTS",
    "SKILLS_2026_02",
    "SKILLS_2026_06",
    "SKILLS_2026_07",
    "SOURCES",
    "THIRD_PARTY_PRICES",
    "Source",
]

CATALOGUE_AS_OF = "2026-10-07"
"""The date of the Together list this catalogue follows."""


class Source(NamedTuple):
    key: str
    where: str
    """Repository and file (or the document), as one would look it up."""
    commit: str
    """The commit read ("" for a document without one)."""
    date: str
    """ISO date of what it states (how that date is known: ``note``)."""
    note: str = ""
    third_party: bool = False
    ours: bool = False

    @property
    def cited(self) -> str:
        """One line: ``togethercomputer/skills .../models.md @ 4818f98 (2026-10-07)``."""
        at = f" @ {self.commit[:7]}" if self.commit else ""
        return f"{self.where}{at} ({self.date})"


_SKILLS = "togethercomputer/skills skills/together-ai"
_OLD_SKILLS = "togethercomputer/skills skills/together-images/references"
LISTING = "together-2026-10-07-models"
API = "together-2026-10-07-api"
DOMAINS = "together-2026-10-07-domains"
SCRIPTS = "together-2026-10-07-scripts"
OPENAPI = "together-openapi-2026-04-28"
SKILLS_2026_07 = "together-skills-2026-07-12"
SKILLS_2026_06 = "together-skills-2026-06-01"
SKILLS_2026_02 = "together-skills-2026-02-20"
THIRD_PARTY_PRICES = "third-party-prices-2026-10-08"
EARLIER = "together-magic-2026-05"
OURS = "together-magic"

SOURCES: dict[str, Source] = {
    source.key: source
    for source in (
        Source(
            LISTING,
            f"{_SKILLS}/references/images/models.md",
            "4818f9840175e5ae1456c49c56596e4f88a72086",
            "2026-10-07",
            'states "Serverless image models as of 2026-10-07": the list, default steps, the Gemini 3 Pro '
            "Image sizes, the standard sizes, the billing units, which models take image_url and "
            "reference_images",
        ),
        Source(
            API,
            f"{_SKILLS}/references/images/api-reference.md",
            "665299de0b1f6ab8565b95df840cec000720560a",
            "2026-10-07",
            'the parameter table and feature matrix; same skill revision as SKILL.md, "checked 2026-10-07"',
        ),
        Source(
            DOMAINS,
            f"{_SKILLS}/domains/images.md",
            "665299de0b1f6ab8565b95df840cec000720560a",
            "2026-10-07",
            "LoRAs deprecated, billing per model, guidance_scale on FLUX.2 dev/flex",
        ),
        Source(
            SCRIPTS,
            f"{_SKILLS}/scripts/images/generate_image.py",
            "4818f9840175e5ae1456c49c56596e4f88a72086",
            "2026-10-07",
            "Together's own script: FLUX.2 [dev] with steps=20 by default, seed=42 in an example",
        ),
        Source(
            OPENAPI,
            "togethercomputer/openapi openapi.yaml",
            "090263aa0fde006d9cd958bef52719958079bbc4",
            "2026-04-28",
            "followed only where the 2026-10-07 reference says nothing (guidance_scale 3.5 generic default)",
        ),
        Source(
            SKILLS_2026_07,
            f"{_OLD_SKILLS}/models.md",
            "0984445739ead1ff032f09a65f1ff59990ff9390",
            "2026-07-12",
            "the last list that named the models retired since (FLUX.1 [schnell]: 4 default steps)",
        ),
        Source(
            SKILLS_2026_06,
            f"{_OLD_SKILLS}/api-reference.md",
            "1c0106559dd65ad3ff78e72e601677aff2d745a8",
            "2026-06-01",
            "the older feature matrix: negative_prompt and aspect_ratio on FLUX.1 [schnell], LoRAs on dev",
        ),
        Source(
            SKILLS_2026_02,
            f"{_OLD_SKILLS}/models.md",
            "460aba812cd2db88c6f7a186b336e2d9726b5000",
            "2026-02-20",
            "the last list that named FLUX.1 [dev] and Kontext [dev] (28 default steps)",
        ),
        Source(
            THIRD_PARTY_PRICES,
            "Routstr note 'Image generation e2e — 2026-10-08 (PR #773)'",
            "",
            "2026-10-08",
            "a third party's reading of Together's /models feed and pricing page: FLUX.2 [dev] $0.0154 per "
            "image, Seedream 3.0 $0.018 per image, FLUX.1 Kontext [pro] $0.04 per MP. Together's dated "
            "sources publish no price",
            third_party=True,
        ),
        Source(
            EARLIER,
            "together-magic's catalogue before 2026-10 (models.py)",
            "",
            "2026-05",
            "no Together source was recorded for these figures; kept only for retired models, so old "
            "notebooks still run offline",
            ours=True,
        ),
        Source(
            OURS,
            "together-magic's own choice",
            "",
            CATALOGUE_AS_OF,
            "no source decides this (an undocumented default, a replacement no source names)",
            ours=True,
        ),
    )
}

LORAS_DEPRECATED = (
    "LoRA image generation is no longer available: the FLUX LoRA models were deprecated and current FLUX.2 "
    "models reject image_loras (a LoRA-adapted model needs a dedicated endpoint)"
)
"""Together's words (domains/images.md, 2026-10-07), said wherever a LoRA is refused."""
