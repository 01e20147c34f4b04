"""Imported sales datasets, their lots, fitted price models and per-lot forecasts."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from core.models import Job


class DatasetPurpose(models.TextChoices):
    """Past sales (indices, fitting, backtests) or upcoming lots (forecast with a fitted model)."""

    HISTORY = "history", "Past sales"
    UPCOMING = "upcoming", "Upcoming lots"


class SalesDataset(models.Model):
    """One imported auction export (or a library dataset such as CryptoPunks), in one currency."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sales_datasets"
    )
    name = models.CharField(max_length=120)
    base_currency = models.CharField(max_length=8, help_text="ISO 4217 (or ETH) of every amount.")
    purpose = models.CharField(
        max_length=16, choices=DatasetPurpose.choices, default=DatasetPurpose.HISTORY
    )
    source_name = models.CharField(max_length=255, blank=True, help_text="The file imported.")
    report = models.JSONField(
        default=dict, blank=True, help_text="The import's report: counts, warnings, the mapping."
    )
    feature_kinds = models.JSONField(
        default=dict, blank=True, help_text="feature_* column -> 'number' or 'text'."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class Sale(models.Model):
    """One lot: the canonical columns of docs/MARKET_SPEC.md, and its `feature_*` values."""

    dataset = models.ForeignKey(SalesDataset, on_delete=models.CASCADE, related_name="sales")
    line = models.PositiveIntegerField(null=True, blank=True, help_text="Line in the export.")
    artist = models.CharField(max_length=255)
    title = models.CharField(max_length=500, blank=True)
    sale_date = models.DateField()
    price = models.FloatField(null=True, blank=True, help_text="Empty when unsold.")
    currency = models.CharField(max_length=8)
    premium_included = models.BooleanField(null=True, blank=True)
    low_estimate = models.FloatField(null=True, blank=True)
    high_estimate = models.FloatField(null=True, blank=True)
    sold = models.BooleanField()
    medium = models.CharField(max_length=255, blank=True)
    width = models.FloatField(null=True, blank=True, help_text="Centimetres.")
    height = models.FloatField(null=True, blank=True, help_text="Centimetres.")
    depth = models.FloatField(null=True, blank=True, help_text="Centimetres.")
    year_made = models.IntegerField(null=True, blank=True)
    signed = models.BooleanField(null=True, blank=True)
    auction_house = models.CharField(max_length=255, blank=True)
    location = models.CharField(max_length=255, blank=True)
    lot = models.CharField(max_length=64, blank=True)
    birth_year = models.IntegerField(null=True, blank=True)
    death_year = models.IntegerField(null=True, blank=True)
    nationality = models.CharField(max_length=120, blank=True)
    item_id = models.CharField(max_length=500, blank=True, help_text="Identity across sales.")
    features = models.JSONField(
        default=dict,
        blank=True,
        help_text="feature_* values; numeric zeros are left out (see SalesDataset.feature_kinds).",
    )

    class Meta:
        ordering = ["sale_date", "pk"]
        indexes = [
            models.Index(fields=["dataset", "artist"]),
            models.Index(fields=["dataset", "sale_date"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(price__isnull=True) | models.Q(price__gt=0),
                name="sale_price_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.artist}, {self.title or 'untitled'} ({self.sale_date})"


class PriceModelKind(models.TextChoices):
    """Which market model: LightGBM on past prices and the estimate, or the hedonic ridge."""

    BOOSTED = "boosted", "Gradient boosting (LightGBM)"
    HEDONIC = "hedonic", "Hedonic regression"


class PriceModelState(models.TextChoices):
    """Where a fit is: queued or running, ready to read, or failed (the job says why)."""

    FITTING = "fitting", "Fitting"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class PriceModel(models.Model):
    """A price model fitted on a dataset's sales before `fitted_until`, with its backtest there.

    The fitted estimator is a pickle-free folder (market.model_file: JSON, CSV, LightGBM text)
    under MEDIA_ROOT/insights/models/<id>/; `file_sha256` is the hash of its model.json, checked
    before it is loaded (see services.model_load).
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="price_models"
    )
    dataset = models.ForeignKey(SalesDataset, on_delete=models.CASCADE, related_name="models")
    kind = models.CharField(max_length=16, choices=PriceModelKind.choices)
    fitted_until = models.DateField(help_text="Learns from sales strictly before this day.")
    coverage = models.FloatField(default=0.8, help_text="Prediction interval coverage.")
    state = models.CharField(
        max_length=16, choices=PriceModelState.choices, default=PriceModelState.FITTING
    )
    job = models.ForeignKey(Job, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    metrics = models.JSONField(default=dict, blank=True, help_text="The model's backtest scores.")
    backtest = models.JSONField(
        default=dict, blank=True, help_text="market.backtest table: rows and attrs."
    )
    file = models.CharField(
        max_length=255, blank=True, help_text="The model folder, relative to MEDIA_ROOT."
    )
    file_sha256 = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(coverage__gt=0) & models.Q(coverage__lt=1),
                name="price_model_coverage_fraction",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} until {self.fitted_until}"


class Forecast(models.Model):
    """A model's forecast for one lot: price, interval, and what moved it most.

    The lot is one the model held out (its dataset's sales from `fitted_until` on) or one of an
    upcoming-lots dataset forecast with it.
    """

    model = models.ForeignKey(PriceModel, on_delete=models.CASCADE, related_name="forecasts")
    sale = models.ForeignKey(Sale, on_delete=models.CASCADE, related_name="forecasts")
    predicted_price = models.FloatField()
    lower = models.FloatField()
    upper = models.FloatField()
    explanation = models.JSONField(
        default=list, blank=True, help_text="Top factors: [{factor, effect}] in log price."
    )

    class Meta:
        ordering = ["sale__sale_date", "sale_id"]
        constraints = [
            models.UniqueConstraint(fields=["model", "sale"], name="forecast_one_per_lot"),
        ]

    def __str__(self) -> str:
        return f"{self.predicted_price:.4g} for sale {self.sale_id}"

    @property
    def inside(self) -> bool | None:
        """Whether the actual price fell inside the interval (None for an unsold lot)."""
        price = self.sale.price
        return None if price is None else self.lower <= price <= self.upper
