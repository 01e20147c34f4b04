"""Forms of the insights pages: upload, column mapping, index choice, fitting a model."""

from __future__ import annotations

from typing import Any

from django import forms

from insights.models import PriceModel, PriceModelKind
from insights.services import INDEX_FREQS
from market.importer import MAPPABLE_FIELDS

# Fields shown on the mapping form, most used first; feature_* columns are added by name.
MAPPED_FIELDS = (
    "artist",
    "title",
    "sale_date",
    "price",
    "currency",
    "premium_included",
    "estimate",
    "low_estimate",
    "high_estimate",
    "sold",
    "medium",
    "dimensions",
    "height",
    "width",
    "depth",
    "unit",
    "year_made",
    "signed",
    "auction_house",
    "location",
    "lot",
    "birth_year",
    "death_year",
    "nationality",
    "item_id",
)
assert set(MAPPED_FIELDS) <= set(MAPPABLE_FIELDS)


class UploadForm(forms.Form):
    """Step 1: the export file."""

    file = forms.FileField(
        label="Auction export",
        help_text="CSV (UTF-8 or UTF-16 with BOM; comma, semicolon, tab or |) or Excel .xlsx.",
    )


class MappingForm(forms.Form):
    """Step 2: which column holds each field, defaults for what the export lacks, options."""

    name = forms.CharField(max_length=120, label="Dataset name")
    base_currency = forms.CharField(
        max_length=3, initial="USD", help_text="Every amount is converted to this currency."
    )
    rates = forms.CharField(
        required=False,
        label="Exchange rates",
        help_text="Units of the base currency per unit of each other one, e.g. GBP=1.27, EUR=1.08.",
    )
    default_currency = forms.CharField(
        max_length=3, required=False, help_text="For rows that name no currency."
    )
    default_auction_house = forms.CharField(max_length=120, required=False)
    default_premium_included = forms.ChoiceField(
        choices=[("", "The export says (or unknown)"), ("true", "Yes"), ("false", "No")],
        required=False,
        label="Prices include the buyer's premium",
    )
    date_format = forms.CharField(
        max_length=40, required=False, help_text="Only if dates are unusual, e.g. %d.%m.%Y."
    )
    dayfirst = forms.BooleanField(required=False, label="Day first (12/05/2021 is 12 May)")
    premium = forms.FloatField(
        required=False,
        min_value=0,
        max_value=0.99,
        label="Premium rate",
        help_text="Added to prices that exclude it: 0.25 for 25%.",
    )
    decimal = forms.ChoiceField(choices=[(".", "1,234.5"), (",", "1.234,5")], initial=".")

    def __init__(self, *args: Any, headers: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [("", "—"), *((h, h) for h in headers)]
        self.field_names = [*MAPPED_FIELDS, *_feature_fields(headers)]
        for field in self.field_names:
            self.fields[f"col_{field}"] = forms.ChoiceField(
                choices=choices, required=False, label=field
            )

    def column_fields(self) -> list[forms.BoundField]:
        """The per-field column choosers, in order."""
        return [self[f"col_{field}"] for field in self.field_names]

    def mapping_values(self) -> dict[str, Any]:
        """Cleaned values as arguments for services.mapping_build."""
        data = self.cleaned_data
        defaults: dict[str, Any] = {
            "currency": data["default_currency"].strip().upper(),
            "auction_house": data["default_auction_house"].strip(),
        }
        if data["default_premium_included"]:
            defaults["premium_included"] = data["default_premium_included"] == "true"
        return {
            "columns": {f: data[f"col_{f}"] for f in self.field_names if data[f"col_{f}"]},
            "defaults": defaults,
            "date_format": data["date_format"].strip() or None,
            "dayfirst": data["dayfirst"],
            "premium": data["premium"],
            "decimal": data["decimal"],
        }


def _feature_fields(headers: list[str]) -> list[str]:
    return [h for h in headers if h.startswith("feature_")]


class IndexForm(forms.Form):
    """Which index to draw: an artist and/or a segment (or all lots), the method, the frequency."""

    artist = forms.CharField(required=False, max_length=255, label="Artist (empty: all lots)")
    segment_column = forms.ChoiceField(required=False, label="Segment by")
    segment_value = forms.CharField(
        required=False,
        max_length=255,
        label="Segment value",
        help_text="e.g. Alien, or 1 for a flag.",
    )
    method = forms.ChoiceField(
        choices=[("repeat_sales", "Repeat sales"), ("hedonic", "Hedonic")],
        initial="repeat_sales",
        required=False,
    )
    freq = forms.ChoiceField(
        choices=list(INDEX_FREQS.items()), initial="Q", label="Frequency", required=False
    )

    def clean_method(self) -> str:
        """Repeat sales unless another method is asked for."""
        return str(self.cleaned_data["method"] or "repeat_sales")

    def clean_freq(self) -> str:
        """Quarterly unless another frequency is asked for."""
        return str(self.cleaned_data["freq"] or "Q")

    def __init__(self, *args: Any, segments: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["segment_column"].choices = [("", "— (no segment)"), *segments.items()]  # type: ignore[attr-defined]

    def segment(self) -> tuple[str, str] | None:
        """The (column, value) chosen, or None."""
        column = self.cleaned_data["segment_column"]
        return (column, self.cleaned_data["segment_value"]) if column else None


class LotsUploadForm(forms.Form):
    """An upcoming sale's lots to forecast with a model (mapped on the next page)."""

    file = forms.FileField(
        label="Upcoming lots",
        help_text="A sale catalogue as CSV or .xlsx: the same fields as past sales, prices empty.",
    )


class ForecastWithForm(forms.Form):
    """Forecast an upcoming-lots dataset with one of the analyst's ready models."""

    model: forms.ModelChoiceField[PriceModel] = forms.ModelChoiceField(
        queryset=PriceModel.objects.none(), label="Model", empty_label=None
    )

    def __init__(self, *args: Any, models: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["model"].queryset = models  # type: ignore[attr-defined]


class FitForm(forms.Form):
    """Fit a model on the sales before a date; it is backtested on the sales after."""

    until = forms.DateField(
        label="Learn from sales before",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Lots sold on or after this day are held out and forecast.",
    )
    kind = forms.ChoiceField(choices=PriceModelKind.choices, label="Model")
    coverage = forms.FloatField(min_value=0.5, max_value=0.99, initial=0.8)
