"""Page addresses of the authenticity checks."""

from django.urls import path

from authenticity import views

app_name = "authenticity"

urlpatterns = [
    path("", views.verify, name="verify"),
    path("log/", views.log, name="log"),
    path("batches/", views.batch_new, name="batch-new"),
    path("batches/<uuid:batch_id>/", views.batch_detail, name="batch"),
    path("batches/<uuid:batch_id>/verifications.csv", views.batch_csv_file, name="batch-csv"),
    path("batches/<uuid:batch_id>/verifications.pdf", views.batch_pdf_file, name="batch-pdf"),
    path("<uuid:verification_id>/", views.report, name="report"),
    path("<uuid:verification_id>/report.pdf", views.report_pdf, name="report-pdf"),
    path("<uuid:verification_id>/rerender/", views.rerender, name="rerender"),
]
