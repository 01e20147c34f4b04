"""The certificate as things to hand out: a QR code (SVG for the page) and a PDF to download."""

from __future__ import annotations

import io
from typing import Any

import segno
from fpdf import FPDF
from PIL import Image

from provenance.errors import InvalidImage
from provenance.hashing import open_image

QR_TITLE = "QR code that opens this certificate's public page"
# The PDF's built-in fonts are Latin-1; these common characters get a readable stand-in.
_LATIN1_STAND_INS = str.maketrans({"…": "...", "\u2014": "-", "\u2013": "-", "→": "->", "ψ": "psi"})


def certificate_qr_svg(url: str) -> str:
    """An inline SVG QR code of `url`, announced to screen readers as an image with a title."""
    svg = segno.make(url, error="m").svg_inline(scale=4, title=QR_TITLE, svgclass="qr")
    return svg.replace("<svg ", '<svg role="img" ', 1)


def _qr_png(url: str) -> io.BytesIO:
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="png", scale=8, border=2)
    buffer.seek(0)
    return buffer


def _thumbnail(image: bytes, size: int = 600) -> Image.Image | None:
    try:
        picture = open_image(image)
    except InvalidImage:
        return None
    picture.thumbnail((size, size))
    return picture


def latin1(text: Any) -> str:
    """Text in the PDF fonts' Latin-1, with stand-ins for common characters outside it."""
    return str(text).translate(_LATIN1_STAND_INS).encode("latin-1", "replace").decode("latin-1")


def report_lines(report: dict[str, Any]) -> list[tuple[str, str]]:
    """The report as (label, value) lines, in reading order (the PDF's body)."""
    lineage, signer, signature = report["lineage"], report["signer"], report["signature"]
    royalty, chain, mint = report["royalty"], report["chain"] or {}, report["mint"]
    lines = [("Content hash (sha256)", report["content_hash"])]
    if lineage["kind"] == "generated":
        lines += [
            ("Lineage", lineage["summary"]),
            ("Model weights (sha256)", lineage["weights_sha256"]),
            ("Dataset", f"{lineage['dataset']} (manifest {lineage['dataset_manifest_hash']})"),
            ("Training config hash", lineage["config_hash"]),
            ("Training steps", str(lineage["steps"])),
            ("Seed", str(lineage["seed"])),
            ("Truncation", f"{lineage['truncation']:g}"),
            ("Memorization check", lineage["memorization"]["summary"]),
        ]
    else:
        lines.append(("Lineage", lineage["summary"]))
    lines += [
        ("Signer", f"{signer['address']} ({signer['kind_label']})"),
        ("Signature", "; ".join([signature["summary"], *signature["problems"]])),
        ("Royalty", f"{royalty['percent']}% ({royalty['bps']} bps) to {royalty['receiver']}"),
        ("Chain", f"chain id {report['chain_id']}, contract {report['contract']}"),
        ("Metadata", report["metadata_uri"]),
        ("Mint", mint["state_label"]),
    ]
    if chain.get("minted"):
        lines += [
            ("Token", f"#{chain['token_id']}, owned by {chain['owner']}"),
            ("Mint transaction", f"{chain['mint_tx']} (block {chain['block']})"),
            ("Confirmations", str(chain["confirmations"])),
        ]
    elif chain:
        lines.append(("Chain record", chain["summary"]))
    return lines


def pdf_fields(pdf: FPDF, lines: list[tuple[str, str]]) -> None:
    """Label and value lines in a PDF: labels bold, hex values in a fixed-width font."""
    for label, value in lines:
        pdf.set_font("Helvetica", "B", 9)
        pdf.multi_cell(0, 5, latin1(label), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Courier" if value.startswith("0x") else "Helvetica", "", 9)
        pdf.multi_cell(0, 5, latin1(value), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)


def certificate_pdf(report: dict[str, Any], *, image: bytes, url: str) -> bytes:
    """A one-page PDF: title, thumbnail, the report's fields and a QR code of the public page."""
    pdf = FPDF(format="A4")
    pdf.set_title(latin1(report["title"]))
    pdf.set_author(latin1(report["signer"]["address"]))
    pdf.set_creator("Atelier")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.multi_cell(0, 9, latin1(report["title"]), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    pdf.multi_cell(0, 6, "Certificate of authorship", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    top = pdf.get_y()
    thumbnail = _thumbnail(image)
    if thumbnail is not None:
        pdf.image(
            thumbnail,
            x=pdf.l_margin,
            y=top,
            w=70,
            h=70,
            keep_aspect_ratio=True,
            alt_text="The certified image",
        )
    pdf.image(_qr_png(url), x=pdf.w - pdf.r_margin - 40, y=top, w=40, alt_text=url)
    pdf.set_xy(pdf.l_margin, top + 75)
    pdf_fields(pdf, report_lines(report))
    pdf.ln(2)
    pdf.set_font("Helvetica", "", 8)
    pdf.multi_cell(0, 4, latin1(f"Check it online: {url}"), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
