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


class DatasetCreateSerializer(serializers.Serializer[None]):
    """A multipart import: the export `file`, a `name`, and the `mapping` as JSON text."""

    name = serializers.CharField(max_length=120)
    file = serializers.FileField()
    mapping = serializers.JSONField(
        help_text='{"columns": {"artist": "Artist", ...}, "defaults": {...}, "options": {...}}'
    )
    base_currency = serializers.CharField(max_length=3, default="USD")
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


class SaleSerializer(serializers.ModelSerializer[Sale]):
    """One lot."""

    class Meta:
        model = Sale
        exclude = ["dataset"]
        read_only_fields = ["id"]


class IndexQuerySerializer(serializers.Serializer[None]):
    """Which index: an artist (or all lots), method, frequency, forecast horizon."""

    artist = serializers.CharField(required=False, allow_blank=True, default="")
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
    """One held-out lot's forecast (the CSV's columns)."""

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
