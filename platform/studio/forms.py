"""Forms of the studio's pages."""

from __future__ import annotations

from typing import Any

from django import forms

from gan.generate import parse_seeds
from studio.services import MAX_FRAMES, PRESETS, RESOLUTIONS, random_seeds


class MultipleFileInput(forms.ClearableFileInput):
    """A file input that accepts many files at once."""

    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """A field holding every file chosen."""

    widget = MultipleFileInput

    def clean(self, data: object, initial: object = None) -> list[object]:
        files = data if isinstance(data, list | tuple) else [data]
        return [super(MultipleFileField, self).clean(item, initial) for item in files if item]


class DatasetForm(forms.Form):
    """A name, a resolution and the images (or zips of them)."""

    name = forms.CharField(max_length=120)
    resolution = forms.TypedChoiceField(
        choices=[(r, f"{r} px") for r in RESOLUTIONS], coerce=int, initial=64
    )
    images = MultipleFileField(
        help_text="JPEG, PNG or WebP images, or zip files of them. Hundreds work best."
    )


class RunForm(forms.Form):
    """How to train: a preset, optionally another architecture or step count."""

    preset = forms.ChoiceField(choices=[(key, p.label) for key, p in PRESETS.items()])
    arch = forms.ChoiceField(
        choices=[("", "As the preset says"), ("fastgan", "FastGAN (few-shot)"), ("dcgan", "DCGAN")],
        required=False,
    )
    steps = forms.IntegerField(min_value=10, max_value=1_000_000, required=False)
    works_on_finish = forms.IntegerField(
        min_value=0, max_value=64, initial=16, required=False, label="Works to generate when done"
    )


class GenerateForm(forms.Form):
    """Seeds (e.g. 0-15, 3,7,42), or a number of random ones, and a truncation."""

    seeds = forms.CharField(initial="0-15", max_length=200, required=False)
    random = forms.IntegerField(
        min_value=1, max_value=64, required=False, label="Or this many random seeds"
    )
    truncation = forms.FloatField(min_value=0.05, max_value=1.0, initial=0.8)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        text, count = data.get("seeds") or "", data.get("random")
        if bool(text.strip()) == bool(count):
            raise forms.ValidationError(
                "Give either seeds (like 0-15) or a number of random seeds."
            )
        try:
            data["seeds"] = random_seeds(count) if count else parse_seeds(text)
        except ValueError as error:
            raise forms.ValidationError(str(error)) from error
        data.pop("random", None)
        return data


class InterpolateForm(forms.Form):
    """Two seeds and how many frames between them."""

    seed = forms.IntegerField(min_value=0, initial=0)
    seed_end = forms.IntegerField(min_value=0, initial=1)
    frames = forms.IntegerField(min_value=2, max_value=MAX_FRAMES, initial=8)
    truncation = forms.FloatField(min_value=0.05, max_value=1.0, initial=0.8)
