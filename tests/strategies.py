"""Hypothesis strategies for untrusted JSON, shared by the validator's unit test and the server fuzz."""

from __future__ import annotations

from hypothesis import strategies as st

REQUEST_FIELDS = (
    "prompt", "model", "n", "width", "height", "steps", "seed", "guidance_scale", "negative_prompt",
    "response_format", "output_format", "image_url", "image_base64", "reference_images",
)  # fmt: skip

json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False), st.text(max_size=20)
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
