"""API shapes of the insights app."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from insights.models import PriceModel, PriceModelKind, Sale, SalesDataset
from insights.services import INDEX_FREQS, INDEX_METHODS


class SalesDatasetSerializer(serializers.ModelSerializer[SalesDataset]):
    """A dataset with its import report."""

    sale_count = serializers.SerializerMethodField()

    class Meta:
        model = SalesDataset
        fields = [
            "id",
            "name",
            "base_currency",
            "purpose",
            "source_name",
            "sale_count",
            "report",
            "created_at",
        ]
        read_only_fields = fields

    def get_sale_count(self, dataset: SalesDataset) -> int:
        """How many lots the dataset holds."""
        return int(getattr(dataset, "sale_count", None) or dataset.sales.count())


class MappingSerializer(serializers.Serializer[None]):
    """A column mapping in the TOML layout: columns, defaults, options."""

    columns = serializers.DictField(child=serializers.CharField())
    defaults = serializers.DictField(required=False, default=dict)
    options = serializers.DictField(required=False, default=dict)


class ExportSerializer(serializers.Serializer[None]):
    """A multipart export: the `file`, a `name`, the `mapping` as JSON text, exchange rates."""

    name = serializers.CharField(max_length=120)
    file = serializers.FileField()
    mapping = serializers.JSONField(
        help_text='{"columns": {"artist": "Artist", ...}, "defaults": {...}, "options": {...}}'
    )
    rates = serializers.JSONField(
        required=False, default=dict, help_text='Units of base_currency per unit: {"GBP": 1.27}.'
    )

    def validate_mapping(self, value: Any) -> dict[str, Any]:
        """The mapping must be an object with a `columns` object."""
        serializer = MappingSerializer(data=value)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def validate_rates(self, value: Any) -> dict[str, float]:
        """Rates must be an object of currency code -> number."""
        serializer = serializers.DictField(child=serializers.FloatField())
        return dict(serializer.run_validation(value))


class DatasetCreateSerializer(ExportSerializer):
    """A multipart import of past sales, converted to `base_currency`."""

    base_currency = serializers.CharField(max_length=3, default="USD")


class LotsForecastSerializer(serializers.Serializer[None]):
    """Upcoming lots to forecast: an upcoming-lots `dataset` already imported, or an export.

    An export (multipart `file`, `name`, `mapping`, `rates`) is imported in the model's currency.
    """

    dataset = serializers.IntegerField(required=False, min_value=1)
    name = serializers.CharField(max_length=120, required=False)
    file = serializers.FileField(required=False)
    mapping = serializers.JSONField(required=False)
    rates = serializers.JSONField(required=False, default=dict)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """Exactly one of `dataset` or an export (`file`, `name` and `mapping`)."""
        if "dataset" in attrs:
            if "file" in attrs:
                raise serializers.ValidationError("Send a dataset id or a file, not both.")
            return attrs
        missing = [key for key in ("file", "name", "mapping") if key not in attrs]
        if missing:
            raise serializers.ValidationError(
                f"Send `dataset` (an upcoming-lots dataset id) or a file with its name and "
                f"mapping; missing: {', '.join(missing)}."
            )
        export = ExportSerializer(data={k: attrs[k] for k in ("file", "name", "mapping", "rates")})
        export.is_valid(raise_exception=True)
        return dict(export.validated_data)


class SaleSerializer(serializers.ModelSerializer[Sale]):
    """One lot."""

    class Meta:
        model = Sale
        exclude = ["dataset"]
        read_only_fields = ["id"]


class IndexQuerySerializer(serializers.Serializer[None]):
    """Which index: an artist (or all lots), method, frequency, forecast horizon."""

    artist = serializers.CharField(required=False, allow_blank=True, default="")
    segment_column = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="e.g. feature_type or medium"
    )
    segment_value = serializers.CharField(required=False, allow_blank=True, default="")
    method = serializers.ChoiceField(choices=list(INDEX_METHODS), default="repeat_sales")
    freq = serializers.ChoiceField(choices=list(INDEX_FREQS), default="Q")
    horizon = serializers.IntegerField(min_value=1, max_value=24, default=4)


class IndexPointSerializer(serializers.Serializer[None]):
    """One period of an index: value and band (or forecast and interval)."""

    period = serializers.CharField()
    index = serializers.FloatField()
    lower = serializers.FloatField()
    upper = serializers.FloatField()
    n = serializers.IntegerField(required=False)


class IndexSerializer(serializers.Serializer[None]):
    """An index with its 95% bands, notes, and a forecast with 80% intervals (or why none)."""

    subject = serializers.CharField()
    method = serializers.CharField()
    freq = serializers.CharField()
    n_observations = serializers.IntegerField()
    notes = serializers.ListField(child=serializers.CharField())
    index = IndexPointSerializer(many=True)
    forecast = IndexPointSerializer(many=True)
    forecast_note = serializers.CharField()


class FitSerializer(serializers.Serializer[None]):
    """What a fit needs: the split date, the model kind, the interval coverage."""

    until = serializers.DateField()
    kind = serializers.ChoiceField(choices=PriceModelKind.values, default="boosted")
    coverage = serializers.FloatField(min_value=0.5, max_value=0.99, default=0.8)


class PriceModelSerializer(serializers.ModelSerializer[PriceModel]):
    """A price model: its state, job, metrics and backtest table."""

    class Meta:
        model = PriceModel
        fields = [
            "id",
            "dataset",
            "kind",
            "fitted_until",
            "coverage",
            "state",
            "job",
            "metrics",
            "backtest",
            "created_at",
        ]
        read_only_fields = fields


class ForecastSerializer(serializers.Serializer[None]):
    """One lot's forecast (the CSV's columns); `actual_price` is empty for an upcoming lot."""

    sale_id = serializers.IntegerField()
    artist = serializers.CharField()
    title = serializers.CharField()
    sale_date = serializers.CharField()
    lot = serializers.CharField()
    auction_house = serializers.CharField()
    currency = serializers.CharField()
    low_estimate = serializers.FloatField(allow_null=True)
    high_estimate = serializers.FloatField(allow_null=True)
    actual_price = serializers.FloatField(allow_null=True)
    predicted_price = serializers.FloatField()
    lower = serializers.FloatField()
    upper = serializers.FloatField()
    inside_interval = serializers.BooleanField(allow_null=True)
    top_factors = serializers.CharField()


class LotsForecastResultSerializer(serializers.Serializer[None]):
    """The upcoming-lots dataset and each lot's forecast."""

    dataset = SalesDatasetSerializer()
    forecasts = ForecastSerializer(many=True)
