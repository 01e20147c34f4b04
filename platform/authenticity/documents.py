"""A verification report as a PDF (what a gallery files with the work)."""

from __future__ import annotations

from typing import Any

from fpdf import FPDF
from registry.documents import latin1, pdf_fields


def report_lines(report: dict[str, Any]) -> list[tuple[str, str]]:
    """The report as (label, value) lines, in reading order."""
    query, match, mark = report["query"], report["match"], report["watermark"]
    asked = (
        f"token #{query['token_id']}"
        if query["kind"] == "token"
        else f"{query.get('name') or 'an image'} ({query['width']}x{query['height']})"
    )
    lines = [
        ("Asked about", asked),
        ("File sha256", "0x" + query["sha256"]),
        ("Verdict", report["verdict"]["summary"]),
    ]
    for rank in ("decisive", "strong", "weak", "conflicts"):
        for item in report["evidence"][rank]:
            lines.append((f"Evidence ({rank})", item))
    lines.append(("Match", _match_text(match)))
    lines.append(("Watermark", mark["summary"]))
    registered = report.get("registered")
    if registered:
        lines.append(("Registered work", f"{registered['title']} by {registered['artist']}"))
        lineage = registered.get("lineage")
        if lineage:
            lines += [
                ("Model", f"{lineage['model']} (weights {lineage['weights_sha256']})"),
                ("Dataset", f"{lineage['dataset']} (manifest {lineage['dataset_manifest_hash']})"),
                ("Seed", f"{lineage['seed']} (truncation {lineage['truncation']:g})"),
                ("Memorization check", lineage["memorization"]["summary"]),
            ]
    certificate = report.get("certificate")
    if certificate:
        signature, chain = certificate["signature"], certificate.get("chain") or {}
        lines.append(("Certificate", f"{certificate['id']}: signature {signature['summary']}"))
        if chain.get("minted"):
            lines.append(
                (
                    "Token",
                    f"#{chain['token_id']} owned by {chain['owner']}, minted in {chain['mint_tx']} "
                    f"({chain['confirmations']} confirmations)",
                )
            )
        elif chain:
            lines.append(("Chain record", chain["summary"]))
    attribution = report.get("attribution")
    if attribution:
        lines.append(("Machine-made (weak evidence)", attribution["summary"]))
    lines.append(("Checked", f"{report['created_at']} against {report['registry_size']} works"))
    return lines


def _match_text(match: dict[str, Any]) -> str:
    if not match["found"]:
        return str(match["summary"])
    if match["method"] == "exact":
        return "the exact bytes of a registered image"
    if match["method"] == "hash":
        return f"global hash, {match['distance']} bits apart (threshold {match['threshold']})"
    return f"local features, {match['inliers']} inliers (threshold {match['threshold']})"


def verification_pdf(report: dict[str, Any], *, url: str) -> bytes:
    """A PDF of the report: the verdict first, then every piece of evidence and the records."""
    pdf = FPDF(format="A4")
    pdf.set_title(latin1(f"Verification {report['id']}"))
    pdf.set_creator("Atelier")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.multi_cell(0, 9, latin1(report["verdict"]["label"]), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    pdf.multi_cell(0, 6, latin1(f"Verification {report['id']}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf_fields(pdf, report_lines(report))
    pdf.set_font("Helvetica", "", 8)
    pdf.multi_cell(0, 4, latin1(f"This report online: {url}"), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
