"""The verification form: an image, or a token id."""

from __future__ import annotations

from typing import Any

from django import forms


class VerifyForm(forms.Form):
    """An image file (a copy, a photo of a screen) or the id of a token on the chain."""

    image = forms.FileField(
        required=False,
        label="Image",
        help_text="PNG, JPEG, WebP, GIF, TIFF or BMP, at most 25 MiB.",
    )
    token_id = forms.IntegerField(required=False, min_value=0, label="Or a token id")

    def clean(self) -> dict[str, Any]:
        """Exactly one of the two."""
        data = super().clean() or {}
        if bool(data.get("image")) == (data.get("token_id") is not None):
            raise forms.ValidationError("Give an image or a token id (one of the two).")
        return data


class BatchForm(forms.Form):
    """A zip of images or a CSV of token ids."""

    file = forms.FileField(
        label="Zip of images or CSV of token ids",
        help_text="Up to 500 items; a CSV needs a token_id column (or one column of ids).",
    )
