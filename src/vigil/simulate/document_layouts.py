"""How the simulator's documents look: issuing countries, labels in their languages, US
states, and the card layouts (passport data page, ID card front and back, US driver's
license front and back) drawn flat, before ``simulate.documents`` photographs them.

Invariants:

- Every issuer is a country the identity checks know (``mrz.country_alpha2`` of its alpha-3
  is its alpha-2), so a holder of that nationality living there matches the profile.
- Labels are printed in the issuer's language with the English beside them
  (``"Apelido / Surname"``); the values are printed under them in the holder's own spelling.
- A US license's IIN is AAMVA's for its state (``aamva.JURISDICTION_IIN``): the simulator
  keeps no table of its own.
- Layout drawing is deterministic for a given ``rng`` state and records, in ``Draft.printed``,
  the text printed for each field the pipeline compares.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from vigil.identity import aamva, barcode
from vigil.identity.types import DocumentFields
from vigil.simulate import portraits

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

OCRB = Path("/usr/share/fonts/opentype/ocr-b/OCRB.otf")
DEJAVU = Path("/usr/share/fonts/truetype/dejavu")


class Holder(Protocol):
    """What a layout prints of the holder (``simulate.documents.Person``)."""

    @property
    def surname(self) -> str: ...
    @property
    def given_names(self) -> str: ...
    @property
    def birth_date(self) -> date: ...
    @property
    def face(self) -> int: ...


# --- countries -------------------------------------------------------------------------


@dataclass(frozen=True)
class Issuer:
    alpha3: str
    alpha2: str
    language: str  # en | es | pt
    name: str  # in the issuing country's language
    english: str
    id_title: str = ""
    number_style: str = "LLD7"  # L letter, D digit: see random_number


# fmt: off
ISSUERS: dict[str, Issuer] = {
    i.alpha3: i
    for i in (
        Issuer("USA", "US", "en", "UNITED STATES OF AMERICA", "", number_style="D9"),
        Issuer("GBR", "GB", "en", "UNITED KINGDOM", "", number_style="D9"),
        Issuer("IND", "IN", "en", "REPUBLIC OF INDIA", "", number_style="LD7"),
        Issuer("PHL", "PH", "en", "REPUBLIC OF THE PHILIPPINES", "", number_style="LD7L"),
        Issuer("NGA", "NG", "en", "FEDERAL REPUBLIC OF NIGERIA", "", number_style="LD8"),
        Issuer("ESP", "ES", "es", "REINO DE ESPAÑA", "KINGDOM OF SPAIN",
               "DOCUMENTO NACIONAL DE IDENTIDAD", "LLLD6"),
        Issuer("MEX", "MX", "es", "ESTADOS UNIDOS MEXICANOS", "UNITED MEXICAN STATES",
               "CREDENCIAL PARA VOTAR", "LD8"),
        Issuer("ARG", "AR", "es", "REPÚBLICA ARGENTINA", "ARGENTINE REPUBLIC",
               "DOCUMENTO NACIONAL DE IDENTIDAD", "D8L"),
        Issuer("COL", "CO", "es", "REPÚBLICA DE COLOMBIA", "REPUBLIC OF COLOMBIA",
               "CÉDULA DE CIUDADANÍA", "LLD6"),
        Issuer("BRA", "BR", "pt", "REPÚBLICA FEDERATIVA DO BRASIL",
               "FEDERATIVE REPUBLIC OF BRAZIL", "CARTEIRA DE IDENTIDADE", "LLD6"),
        Issuer("PRT", "PT", "pt", "REPÚBLICA PORTUGUESA", "PORTUGUESE REPUBLIC",
               "CARTÃO DE CIDADÃO", "LD6"),
    )
}
BY_ALPHA2 = {i.alpha2: i for i in ISSUERS.values()}

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "passport": "PASSPORT", "type": "Type", "code": "Code", "number": "Passport No.",
        "doc_number": "Document No.", "surname": "Surname", "given": "Given names",
        "nationality": "Nationality", "birth": "Date of birth", "sex": "Sex",
        "birthplace": "Place of birth", "issue": "Date of issue", "expiry": "Date of expiry",
        "authority": "Authority", "address": "Address", "id": "IDENTITY CARD",
    },
    "es": {
        "passport": "PASAPORTE", "type": "Tipo", "code": "Código", "number": "Pasaporte N.º",
        "doc_number": "Núm. soporte", "surname": "Apellidos", "given": "Nombre",
        "nationality": "Nacionalidad", "birth": "Fecha de nacimiento", "sex": "Sexo",
        "birthplace": "Lugar de nacimiento", "issue": "Fecha de expedición",
        "expiry": "Fecha de caducidad", "authority": "Autoridad", "address": "Domicilio",
        "id": "DOCUMENTO DE IDENTIDAD",
    },
    "pt": {
        "passport": "PASSAPORTE", "type": "Tipo", "code": "Código", "number": "Passaporte N.º",
        "doc_number": "N.º documento", "surname": "Apelido", "given": "Nome",
        "nationality": "Nacionalidade", "birth": "Data de nascimento", "sex": "Sexo",
        "birthplace": "Local de nascimento", "issue": "Data de emissão",
        "expiry": "Válido até", "authority": "Autoridade", "address": "Morada",
        "id": "DOCUMENTO DE IDENTIFICAÇÃO",
    },
}
MONTHS = {
    "en": ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"],
    "es": ["ENE", "FEB", "MAR", "ABR", "MAY", "JUN", "JUL", "AGO", "SEP", "OCT", "NOV", "DIC"],
    "pt": ["JAN", "FEV", "MAR", "ABR", "MAI", "JUN", "JUL", "AGO", "SET", "OUT", "NOV", "DEZ"],
}
CITIES = {
    "USA": ["CHICAGO", "DENVER", "AUSTIN"], "GBR": ["LONDON", "LEEDS", "BRISTOL"],
    "IND": ["PUNE", "CHENNAI", "JAIPUR"], "PHL": ["MANILA", "CEBU CITY", "DAVAO"],
    "NGA": ["LAGOS", "IBADAN", "KANO"], "ESP": ["MADRID", "SEVILLA", "VALENCIA"],
    "MEX": ["PUEBLA", "MONTERREY", "OAXACA"], "ARG": ["CÓRDOBA", "ROSARIO", "MENDOZA"],
    "COL": ["MEDELLÍN", "CALI", "BOGOTÁ"], "BRA": ["SÃO PAULO", "RECIFE", "CURITIBA"],
    "PRT": ["LISBOA", "PORTO", "BRAGA"],
}
# US states whose licenses the simulator prints: name, a city and ZIP prefix (the IIN is
# ``aamva.JURISDICTION_IIN``'s).
STATES = {
    "VA": ("VIRGINIA", "RICHMOND", "232"),
    "NY": ("NEW YORK", "ALBANY", "122"),
    "FL": ("FLORIDA", "TAMPA", "336"),
    "CA": ("CALIFORNIA", "SACRAMENTO", "958"),
    "TX": ("TEXAS", "AUSTIN", "787"),
    "CO": ("COLORADO", "DENVER", "802"),
}
STREETS = ["MAPLE AVE", "OAK ST", "PINE RD", "CEDAR LN", "ELM ST", "LAKE DR", "HILL ST"]
OTHER_NAMES = [("Ortega Vidal", "Camila"), ("Nakamura", "Kenji"), ("Okoye", "Chidi"),
               ("Lindqvist", "Astrid"), ("Moreau", "Julien"), ("Kowalski", "Marta")]
PHONES = [("Google", "Pixel 7"), ("samsung", "SM-A536B"), ("Apple", "iPhone 13"),
          ("motorola", "moto g54 5G")]
# fmt: on


def issuer_for(nationality: str | None) -> Issuer:
    """The issuer of a holder's passport or ID card: their nationality's (ICAO alpha-3) when
    the simulator draws it, else the United States'."""
    return ISSUERS.get((nationality or "").upper(), ISSUERS["USA"])


def issuer_for_country(country: str | None) -> Issuer:
    """The issuer of the documents of someone living in ``country`` (ISO alpha-2), with the
    same fallback as ``issuer_for``."""
    return BY_ALPHA2.get((country or "").upper(), ISSUERS["USA"])


def state_iin(state: str) -> str:
    """The AAMVA Issuer Identification Number of a US state's licenses."""
    return aamva.JURISDICTION_IIN[state]


# --- drawing helpers -------------------------------------------------------------------


@lru_cache(maxsize=64)
def font(role: str, size: int) -> Font:
    """OCR-B for the MRZ (DejaVu Sans Mono, then Pillow's own font when missing); DejaVu
    for the printed zone."""
    names = {
        "mrz": [OCRB, DEJAVU / "DejaVuSansMono.ttf"],
        "label": [DEJAVU / "DejaVuSans.ttf"],
        "value": [DEJAVU / "DejaVuSans-Bold.ttf"],
        "forged": [DEJAVU / "DejaVuSansCondensed-Bold.ttf", DEJAVU / "DejaVuSans-Bold.ttf"],
        "title": [DEJAVU / "DejaVuSerif-Bold.ttf", DEJAVU / "DejaVuSans-Bold.ttf"],
    }[role]
    for path in names:
        if path.exists():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size=size)


def random_number(style: str, rng: random.Random) -> str:
    out, i = [], 0
    while i < len(style):
        kind = style[i]
        j = i + 1
        while j < len(style) and style[j].isdigit():
            j += 1
        count = int(style[i + 1 : j] or 1)
        # Letters that no OCR confuses with digits, so a number is not ambiguous by design.
        pool = "ACEFHJKLMNPRTVXY" if kind == "L" else "0123456789"
        out += [rng.choice(pool) for _ in range(count)]
        i = j
    return "".join(out)


def printed_date(d: date, language: str, style: str) -> str:
    if style == "us":
        return d.strftime("%m/%d/%Y")
    if style == "dots":
        return d.strftime("%d.%m.%Y")
    month = MONTHS["en"][d.month - 1]
    if language != "en" and MONTHS[language][d.month - 1] != month:
        month = f"{MONTHS[language][d.month - 1]}/{month}"
    return f"{d.day:02d} {month} {d.year}"


def label(key: str, language: str) -> str:
    local = LABELS[language][key]
    english = LABELS["en"][key]
    return local if local == english else f"{local} / {english}"


def _tint(base: tuple[int, int, int], delta: int) -> tuple[int, int, int]:
    r, g, b = (max(0, min(255, c + delta)) for c in base)
    return (r, g, b)


def _background(w: int, h: int, rng: random.Random, base: tuple[int, int, int]) -> Image.Image:
    """Security-print look: a soft gradient, fine wave lines and two guilloche rosettes,
    all within a few levels of the paper colour so they never compete with the text."""
    y = np.linspace(0.0, 1.0, h)[:, None, None]
    x = np.linspace(0.0, 1.0, w)[None, :, None]
    colour = np.array(base, dtype=np.float32)[None, None, :]
    shade = 1.0 + 0.035 * np.sin(2.4 * x + 1.3 * y + rng.uniform(0, 6.28))
    img = Image.fromarray(np.clip(colour * shade, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    line = _tint(base, -22)
    phase = rng.uniform(0, 6.28)
    for k in range(0, h, 14):
        xs = np.arange(0, w + 8, 8)
        ys = k + 5 * np.sin(xs / 37.0 + phase + k / 50.0)
        draw.line(list(zip(xs.tolist(), ys.tolist(), strict=True)), fill=line, width=1)
    for _ in range(2):
        cx, cy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.25, 0.75) * h
        radius = rng.uniform(0.18, 0.28) * h
        lobes = rng.choice((7, 9, 11, 13))
        colour_r = _tint(base, -32)
        t = np.linspace(0, 2 * math.pi, 900)
        for n in range(18):
            turn = n * math.pi / 18
            r = radius * (0.72 + 0.28 * np.cos(lobes * t + turn))
            pts = zip((cx + r * np.cos(t)).tolist(), (cy + r * np.sin(t)).tolist(), strict=True)
            draw.line(list(pts), fill=colour_r, width=1)
    return img


def _fit(img: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Scale and centre-crop to ``size`` (cover)."""
    w, h = size
    scale = max(w / img.width, h / img.height)
    resized = img.resize((max(w, round(img.width * scale)), max(h, round(img.height * scale))))
    left, top = (resized.width - w) // 2, (resized.height - h) // 2
    return resized.crop((left, top, left + w, top + h))


def _silhouette(size: tuple[int, int]) -> Image.Image:
    w, h = size
    img = Image.new("RGB", size, (214, 220, 226))
    draw = ImageDraw.Draw(img)
    draw.ellipse((w * 0.3, h * 0.16, w * 0.7, h * 0.6), fill=(120, 128, 138))
    draw.ellipse((w * 0.08, h * 0.64, w * 0.92, h * 1.3), fill=(120, 128, 138))
    return img


def _portrait(face: int, size: tuple[int, int]) -> Image.Image:
    img = portraits.portrait(face, variant="document")
    return _silhouette(size) if img is None else _fit(img.convert("RGB"), size)


def _field(
    draw: ImageDraw.ImageDraw,
    xy: tuple[int, int],
    label: str,
    value: str,
    scale: float,
    printed: dict[str, str],
    key: str | None = None,
) -> tuple[int, int, int, int]:
    """A label above its value; returns the value's box (for tampering)."""
    x, y = xy
    draw.text((x, y), label, font=font("label", round(17 * scale)), fill=(70, 78, 96))
    vy = y + round(22 * scale)
    vfont = font("value", round(29 * scale))
    draw.text((x, vy), value, font=vfont, fill=(18, 18, 24))
    if key:
        printed[key] = value
    box = draw.textbbox((x, vy), value, font=vfont)
    return (round(box[0]), round(box[1]), round(box[2]), round(box[3]))


def _mrz_zone(img: Image.Image, lines: Sequence[str], box: tuple[int, int, int, int]) -> None:
    """MRZ characters on a fixed pitch (OCR-B is monospaced; the pitch also holds for the
    fallback fonts), lines spread over the zone's height."""
    x0, y0, x1, y1 = box
    draw = ImageDraw.Draw(img)
    n = max(len(line) for line in lines)
    pitch = (x1 - x0) / n
    probe = font("mrz", 100)
    advance = probe.getlength("M") / 100 or 0.6
    f = font("mrz", max(8, int(pitch * 0.98 / advance)))
    step = (y1 - y0) / len(lines)
    for row, line in enumerate(lines):
        top = y0 + row * step + step * 0.15
        for col, ch in enumerate(line):
            draw.text((x0 + col * pitch, top), ch, font=f, fill=(22, 22, 28))


# --- the documents ---------------------------------------------------------------------


@dataclass
class Draft:
    """A document before it is photographed: its card images and where the printed birth
    date sits (``tampered_field`` paints over it)."""

    front: Image.Image
    back: Image.Image | None
    birth_box: tuple[int, int, int, int]
    birth_text: str
    printed: dict[str, str]
    date_style: tuple[str, str]  # (language, style) the dates are printed in


def draw_passport(
    fields: DocumentFields, person: Holder, issuer: Issuer, lines: list[str], rng: random.Random
) -> Draft:
    w, h = 1400, 985
    img = _background(w, h, rng, (236, 228, 240) if rng.random() < 0.5 else (226, 236, 232))
    draw = ImageDraw.Draw(img)
    lang = issuer.language
    printed: dict[str, str] = {}
    title = LABELS[lang]["passport"] + ("" if lang == "en" else " / PASSPORT")
    draw.text((60, 34), issuer.name, font=font("title", 34), fill=(40, 40, 90))
    if issuer.english:
        draw.text((60, 76), issuer.english, font=font("label", 22), fill=(60, 60, 100))
    draw.text((w - 60, 40), title, font=font("title", 30), fill=(40, 40, 90), anchor="ra")
    img.paste(_portrait(person.face, (360, 460)), (60, 150))
    x1, x2, y = 470, 960, 140
    _field(draw, (x1, y), label("type", lang), "P", 1.0, printed)
    _field(draw, (x1 + 200, y), label("code", lang), fields.issuing_country or "", 1.0, printed)
    _field(
        draw,
        (x2, y),
        label("number", lang),
        fields.document_number or "",
        1.0,
        printed,
        "document_number",
    )
    y += 70
    _field(draw, (x1, y), label("surname", lang), person.surname.upper(), 1.0, printed, "surname")
    y += 70
    _field(
        draw,
        (x1, y),
        label("given", lang),
        person.given_names.upper(),
        1.0,
        printed,
        "given_names",
    )
    y += 70
    _field(draw, (x1, y), label("nationality", lang), issuer.name.split(" ")[-1], 1.0, printed)
    y += 70
    birth_text = printed_date(fields.birth_date or person.birth_date, lang, "months")
    birth_box = _field(draw, (x1, y), label("birth", lang), birth_text, 1.0, printed, "birth_date")
    _field(draw, (x2, y), label("sex", lang), fields.sex or "X", 1.0, printed)
    y += 70
    city = rng.choice(CITIES.get(issuer.alpha3, ["CAPITAL"]))
    _field(draw, (x1, y), label("birthplace", lang), city, 1.0, printed)
    y += 70
    assert fields.issue_date is not None and fields.expiry_date is not None
    _field(
        draw,
        (x1, y),
        label("issue", lang),
        printed_date(fields.issue_date, lang, "months"),
        1.0,
        printed,
        "issue_date",
    )
    _field(draw, (x2, y), label("authority", lang), "MFA" if lang == "en" else "DGP", 1.0, printed)
    y += 70
    _field(
        draw,
        (x1, y),
        label("expiry", lang),
        printed_date(fields.expiry_date, lang, "months"),
        1.0,
        printed,
        "expiry_date",
    )
    draw.rectangle((0, 790, w, h), fill=_tint((246, 246, 244), 0))
    _mrz_zone(img, lines, (50, 815, w - 50, 960))
    return Draft(img, None, birth_box, birth_text, printed, (lang, "months"))


def draw_id_card(
    fields: DocumentFields, person: Holder, issuer: Issuer, lines: list[str], rng: random.Random
) -> Draft:
    w, h = 1300, 820
    lang = issuer.language
    printed: dict[str, str] = {}
    front = _background(w, h, rng, (224, 234, 240))
    draw = ImageDraw.Draw(front)
    draw.text((50, 30), issuer.name, font=font("title", 34), fill=(30, 50, 90))
    title = issuer.id_title or LABELS[lang]["id"]
    draw.text((50, 74), f"{title} / IDENTITY CARD", font=font("label", 22), fill=(50, 60, 100))
    front.paste(_portrait(person.face, (330, 420)), (50, 150))
    x1, x2, y = 420, 880, 150
    _field(draw, (x1, y), label("surname", lang), person.surname.upper(), 1.0, printed, "surname")
    y += 72
    _field(
        draw,
        (x1, y),
        label("given", lang),
        person.given_names.upper(),
        1.0,
        printed,
        "given_names",
    )
    y += 72
    _field(draw, (x1, y), label("sex", lang), fields.sex or "X", 1.0, printed)
    _field(draw, (x1 + 200, y), label("nationality", lang), fields.nationality or "", 1.0, printed)
    y += 72
    birth_text = printed_date(fields.birth_date or person.birth_date, lang, "dots")
    birth_box = _field(draw, (x1, y), label("birth", lang), birth_text, 1.0, printed, "birth_date")
    y += 72
    _field(
        draw,
        (x1, y),
        label("doc_number", lang),
        fields.document_number or "",
        1.0,
        printed,
        "document_number",
    )
    assert fields.expiry_date is not None and fields.issue_date is not None
    _field(
        draw,
        (x2, y),
        label("expiry", lang),
        printed_date(fields.expiry_date, lang, "dots"),
        1.0,
        printed,
        "expiry_date",
    )
    back = _background(w, h, rng, (230, 236, 232))
    bdraw = ImageDraw.Draw(back)
    city = rng.choice(CITIES.get(issuer.alpha3, ["CAPITAL"]))
    _field(bdraw, (50, 40), label("birthplace", lang), city, 1.0, {})
    street = f"{rng.choice(STREETS)} {rng.randint(2, 180)}"
    _field(bdraw, (50, 115), label("address", lang), f"{street}, {city}", 1.0, {})
    _field(
        bdraw,
        (50, 190),
        label("issue", lang),
        printed_date(fields.issue_date, lang, "dots"),
        1.0,
        {},
    )
    bdraw.rectangle((0, 500, w, h), fill=(246, 246, 244))
    _mrz_zone(back, lines, (55, 530, w - 55, 800))
    return Draft(front, back, birth_box, birth_text, printed, (lang, "dots"))


def draw_driver_license(
    fields: DocumentFields,
    person: Holder,
    state: str,
    payload: str,
    address: tuple[str, str, str],
    rng: random.Random,
) -> Draft:
    w, h = 1300, 820
    name = STATES[state][0]
    printed: dict[str, str] = {}
    front = _background(w, h, rng, (232, 236, 222))
    draw = ImageDraw.Draw(front)
    draw.text((50, 28), name, font=font("title", 44), fill=(20, 50, 100))
    draw.text(
        (w - 50, 40), "DRIVER LICENSE", font=font("title", 34), fill=(140, 30, 30), anchor="ra"
    )
    front.paste(_portrait(person.face, (330, 420)), (50, 150))
    x1, x2, y = 420, 860, 140
    _field(draw, (x1, y), "4d DLN", fields.document_number or "", 1.0, printed, "document_number")
    _field(draw, (x2, y), "9 CLASS", "C", 1.0, printed)
    y += 70
    _field(draw, (x1, y), "1 LN", person.surname.upper(), 1.0, printed, "surname")
    y += 70
    _field(draw, (x1, y), "2 FN", person.given_names.upper(), 1.0, printed, "given_names")
    y += 70
    _field(draw, (x1, y), "8 ADDRESS", f"{address[0]}, {address[1]}", 1.0, printed)
    y += 70
    birth_text = printed_date(fields.birth_date or person.birth_date, "en", "us")
    birth_box = _field(draw, (x1, y), "3 DOB", birth_text, 1.0, printed, "birth_date")
    _field(draw, (x2, y), "15 SEX", fields.sex or "X", 1.0, printed)
    y += 70
    assert fields.issue_date is not None and fields.expiry_date is not None
    _field(
        draw,
        (x1, y),
        "4a ISS",
        printed_date(fields.issue_date, "en", "us"),
        1.0,
        printed,
        "issue_date",
    )
    _field(
        draw,
        (x2, y),
        "4b EXP",
        printed_date(fields.expiry_date, "en", "us"),
        1.0,
        printed,
        "expiry_date",
    )
    back = _background(w, h, rng, (236, 238, 230))
    bdraw = ImageDraw.Draw(back)
    code = barcode.render_pdf417(payload, width=1100).convert("RGB")
    code = code.resize((1100, min(480, round(code.height * 1100 / code.width))))
    back.paste(Image.new("RGB", (code.width + 40, code.height + 40), "white"), (80, 60))
    back.paste(code, (100, 80))
    bdraw.text(
        (100, code.height + 140),
        f"{name} DEPARTMENT OF MOTOR VEHICLES",
        font=font("label", 22),
        fill=(60, 60, 60),
    )
    return Draft(front, back, birth_box, birth_text, printed, ("en", "us"))
