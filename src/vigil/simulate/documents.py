"""Synthetic identity documents with known truth and controlled defects.

The simulator's passports (TD3 data page, MRZ in OCR-B), ID cards (TD1, MRZ on the back) and
US driver's licenses (AAMVA PDF417 on the back) are drawn with Pillow (the layouts, issuers
and labels are ``simulate.document_layouts``), photographed on a table
(slight rotation, shadow, uneven light, sensor noise) and saved as JPEG, so the identity
pipeline reads them exactly as it reads a user's photo. They feed the demo, the tests and
``eval/identity_simulated.py``.

Invariants:

- ``render`` is deterministic for a given ``rng`` state, ``person``, ``defects`` and ``today``.
- ``SyntheticDocument.truth`` is what the MRZ or barcode encodes (names ICAO-transliterated,
  upper case); the visual zone prints the same facts in the issuing country's language and
  script, except where a defect (``tampered_field``) says otherwise.
- ``expected`` and ``expected_reasons`` are what the identity pipeline should conclude with
  the default settings; each defect adds its reasons, and the outcome is the most severe one
  (reject > review > approve), except that dates read from an MRZ that fails its check digits
  are not certain: with ``bad_check_digit``, ``expired`` and ``underage`` send to review.
- Issuer, nationality and profile agree: a passport or ID card is issued by the holder's
  nationality when the simulator draws that country (``document_layouts.ISSUERS``), else by
  the United States, and ``render`` sets the holder's nationality and country (the
  profile's) to the issuer's; a US license's holder lives in the US. So a clean document
  never meets a ``country_mismatch``.
- The MRZ lines and the AAMVA payload come from the project's own writers (``identity.mrz``,
  ``identity.aamva``), so a clean document always passes its check digits.
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from vigil.identity import aamva, mrz
from vigil.identity.names import transliterate
from vigil.identity.types import DocumentFields, DocumentKind, Outcome, Reason
from vigil.kit import clock
from vigil.simulate import portraits
from vigil.simulate.document_layouts import (
    OTHER_NAMES,
    PHONES,
    STATES,
    STREETS,
    Draft,
    draw_driver_license,
    draw_id_card,
    draw_passport,
    font,
    issuer_for,
    issuer_for_country,
    printed_date,
    random_number,
    state_iin,
)


class Defect(StrEnum):
    none = "none"
    blur = "blur"
    glare = "glare"
    low_resolution = "low_resolution"
    expired = "expired"
    underage = "underage"
    tampered_field = "tampered_field"  # printed birth date edited, with editing traces
    bad_check_digit = "bad_check_digit"  # document number check digit wrong (MRZ only)
    mismatched_profile = "mismatched_profile"  # the account's name and birth date differ
    reused_document = "reused_document"  # the same document submitted by another account
    face_mismatch = "face_mismatch"  # the selfie shows another person


# What the pipeline should conclude for each defect alone (default settings).
EXPECTED: dict[Defect, tuple[Outcome, frozenset[Reason]]] = {
    Defect.none: (Outcome.approve, frozenset()),
    Defect.blur: (Outcome.reject, frozenset({Reason.image_blurry})),
    Defect.glare: (Outcome.reject, frozenset({Reason.image_glare})),
    Defect.low_resolution: (Outcome.reject, frozenset({Reason.image_low_resolution})),
    Defect.expired: (Outcome.reject, frozenset({Reason.document_expired})),
    Defect.underage: (Outcome.reject, frozenset({Reason.holder_under_age})),
    Defect.tampered_field: (
        Outcome.review,
        frozenset({Reason.viz_mismatch, Reason.editing_suspected}),
    ),
    # A person looks: an MRZ failing its check digits is an OCR misread or a forgery sign.
    Defect.bad_check_digit: (Outcome.review, frozenset({Reason.mrz_check_digits_failed})),
    Defect.mismatched_profile: (
        Outcome.review,
        frozenset({Reason.name_mismatch, Reason.birth_date_mismatch}),
    ),
    Defect.reused_document: (Outcome.review, frozenset({Reason.document_reused})),
    Defect.face_mismatch: (Outcome.review, frozenset({Reason.face_mismatch})),
}
_SEVERITY = {Outcome.approve: 0, Outcome.review: 1, Outcome.reject: 2}


def applicable(kind: DocumentKind) -> list[Defect]:
    """The defects ``render`` can give a document of this kind (an MRZ check digit needs an
    MRZ; a driver's license carries a barcode instead)."""
    out = list(Defect)
    if kind is DocumentKind.driver_license:
        out.remove(Defect.bad_check_digit)
    return out


@dataclass(frozen=True)
class Person:
    """The holder. ``surname``/``given_names`` in their own spelling ("Muñoz", "João");
    ``face`` picks a portrait (``simulate.portraits``). ``render`` makes ``nationality`` and
    ``country`` those of the document it draws (see the module's invariants)."""

    surname: str
    given_names: str
    birth_date: date
    sex: str  # M | F
    nationality: str  # ICAO alpha-3
    country: str  # ISO alpha-2, where the account lives
    face: int = 0

    @property
    def legal_name(self) -> str:
        return f"{self.given_names} {self.surname}"


@dataclass
class SyntheticDocument:
    kind: DocumentKind
    truth: DocumentFields
    person: Person
    mrz_lines: list[str]
    aamva_payload: str | None
    front: bytes
    back: bytes | None
    selfie: bytes | None
    defects: tuple[Defect, ...]
    expected: Outcome
    expected_reasons: set[Reason]
    # The account's profile (``profile_for``); what the visual zone prints, for tests.
    profile: dict[str, Any] = field(default_factory=dict)
    printed: dict[str, str] = field(default_factory=dict)
    state: str | None = None  # the US state of a driver's license


def profile_for(doc: SyntheticDocument) -> dict[str, Any]:
    """The submitting account's ``legal_name``, ``date_of_birth`` and ``country``: the
    holder's own unless the document carries ``mismatched_profile``."""
    return dict(doc.profile)


def person_from_account(
    legal_name: str, birth_date: date, country: str, *, face: int, sex: str = "F"
) -> Person:
    """A holder for a simulated account: Spanish and Portuguese legal names carry two
    surnames, the others one. An account in a country the simulator draws no documents for
    gets the fallback issuer's nationality and country (``issuer_for``), so the holder and
    the document agree; the demo's accounts all live in drawn countries."""
    issuer = issuer_for_country(country)
    words = legal_name.split()
    cut = 2 if issuer.language in ("es", "pt") and len(words) >= 3 else 1
    return Person(
        surname=" ".join(words[-cut:]),
        given_names=" ".join(words[:-cut]) or words[0],
        birth_date=birth_date,
        sex=sex,
        nationality=issuer.alpha3,
        country=issuer.alpha2,
        face=face,
    )


def impostor(person: Person, rng: random.Random) -> Person:
    """Someone else from the same country: another name, born six to nine years earlier
    (never younger, so the impostor is no minor)."""
    surname, given = rng.choice(OTHER_NAMES)
    birth = _add_years(person.birth_date, -rng.randint(6, 9)) - timedelta(days=rng.randint(5, 200))
    return replace(person, surname=surname, given_names=given, birth_date=birth)


# --- photographing ---------------------------------------------------------------------


@dataclass
class _Shot:
    image: Image.Image
    scale: float
    angle: float
    offset: tuple[float, float]  # where the rotated card's top-left landed
    card_size: tuple[int, int]  # the rotated, scaled card's size

    def to_photo(self, x: float, y: float, card: tuple[int, int]) -> tuple[float, float]:
        """Map a point of the flat card into the photo."""
        cx, cy = card[0] * self.scale / 2, card[1] * self.scale / 2
        dx, dy = x * self.scale - cx, y * self.scale - cy
        a = math.radians(self.angle)
        rx = dx * math.cos(a) + dy * math.sin(a)
        ry = -dx * math.sin(a) + dy * math.cos(a)
        return (
            self.offset[0] + self.card_size[0] / 2 + rx,
            self.offset[1] + self.card_size[1] / 2 + ry,
        )


def _rounded_mask(size: tuple[int, int], radius: int) -> Image.Image:
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, size[0] - 1, size[1] - 1), radius, fill=255)
    return mask


def _photograph(card: Image.Image, rng: random.Random, width: int) -> _Shot:
    """The card lying on a table: ~85 % of the frame, turned a little, a soft shadow,
    uneven light and sensor noise."""
    fill = rng.uniform(0.82, 0.9)
    scale = width * fill / card.width
    cw, ch = round(card.width * scale), round(card.height * scale)
    height = round(ch / rng.uniform(0.8, 0.88))
    table = tuple(rng.randint(60, 150) for _ in range(3))
    photo = Image.new("RGB", (width, height), table)
    angle = rng.uniform(-2.0, 2.0)
    scaled = card.resize((cw, ch), Image.Resampling.LANCZOS).convert("RGBA")
    scaled.putalpha(_rounded_mask((cw, ch), round(ch * 0.04)))
    turned = scaled.rotate(angle, resample=Image.Resampling.BILINEAR, expand=True)
    ox = (width - turned.width) / 2 + rng.uniform(-0.02, 0.02) * width
    oy = (height - turned.height) / 2 + rng.uniform(-0.02, 0.02) * height
    # The shadow is soft, so it is blurred small and scaled up (much cheaper than full size).
    alpha = turned.getchannel("A")
    small = alpha.resize((max(1, alpha.width // 4), max(1, alpha.height // 4)))
    shade = small.filter(ImageFilter.GaussianBlur(3)).resize(alpha.size)
    shade = shade.point(lambda a: a * 0.45)
    photo.paste((0, 0, 0), (round(ox + 10), round(oy + 12)), shade)
    photo.paste(turned, (round(ox), round(oy)), turned)
    arr = np.asarray(photo, dtype=np.float32)
    yy = np.arange(height, dtype=np.float32)[:, None]
    xx = np.arange(width, dtype=np.float32)[None, :]
    lx, ly = rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height
    dist = np.sqrt((xx - lx) ** 2 + (yy - ly) ** 2) / math.hypot(width, height)
    light = (1.05 - 0.16 * dist)[..., None]
    # Luminance noise, one plane for the three channels (half the cost of colour noise).
    noise = np.random.default_rng(rng.getrandbits(32)).standard_normal(
        (height, width, 1), np.float32
    )
    arr *= light
    arr += noise * 1.5  # about the grey-level noise of 2.5 per independent channel
    np.clip(arr, 0, 255, out=arr)
    out = Image.fromarray(arr.astype(np.uint8), "RGB").filter(ImageFilter.GaussianBlur(0.4))
    return _Shot(out, scale, angle, (ox, oy), turned.size)


def _glare(img: Image.Image, rng: random.Random) -> Image.Image:
    """A lamp's reflection: a burnt-out core (about 6 % of the frame) fading into a halo."""
    arr = np.asarray(img, dtype=np.float32)
    h, w = arr.shape[:2]
    cx, cy = rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.6) * h
    rx, ry = rng.uniform(0.2, 0.24) * w, rng.uniform(0.2, 0.24) * h
    yy, xx = np.mgrid[0:h, 0:w]
    d = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2
    # 1.5 * exp(-0.9 d) >= 1 where d < 0.45: saturated there, soft outside.
    strength = np.clip(1.5 * np.exp(-0.9 * d), 0, 1)[..., None]
    arr = arr + (255 - arr) * strength
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def _jpeg(
    img: Image.Image, rng: random.Random, *, quality: int, software: str | None = None
) -> bytes:
    make, model = rng.choice(PHONES)
    exif = Image.Exif()
    exif[0x010F] = make
    exif[0x0110] = model
    if software:
        exif[0x0131] = software
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality, exif=exif.tobytes())
    return buf.getvalue()


def _tamper(
    shot: _Shot, draft: Draft, card: tuple[int, int], forged: str, rng: random.Random
) -> Image.Image:
    """Repaint the printed birth date in the photo, as an editor would: a patch of the
    paper colour over the old text, the new date in a near-miss font, on an image that was
    already JPEG-compressed once (so its error level differs from the rest)."""
    buf = io.BytesIO()
    shot.image.save(buf, "JPEG", quality=78)
    photo = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    x0, y0, x1, y1 = draft.birth_box
    pad = 8
    bw = max(x1 - x0, round(font("forged", 30).getlength(forged))) + 2 * pad
    bh = y1 - y0 + 2 * pad
    sample = draft.front.crop((x0 - pad, y0 - pad, x0 - pad + bw, y0 - pad + bh))
    paper = tuple(int(v) for v in np.median(np.asarray(sample).reshape(-1, 3), axis=0))
    patch = Image.new("RGB", (bw, bh), paper)
    ImageDraw.Draw(patch).text((pad, pad - 4), forged, font=font("forged", 30), fill=(30, 30, 30))
    size = (max(1, round(bw * shot.scale)), max(1, round(bh * shot.scale)))
    patch = patch.resize(size, Image.Resampling.LANCZOS).convert("RGBA")
    patch = patch.rotate(shot.angle, resample=Image.Resampling.BICUBIC, expand=True)
    cx, cy = shot.to_photo(x0 - pad + bw / 2, y0 - pad + bh / 2, card)
    photo.paste(patch, (round(cx - patch.width / 2), round(cy - patch.height / 2)), patch)
    return photo


# --- render ----------------------------------------------------------------------------


def document_dates(
    kind: DocumentKind,
    person: Person,
    defects: Sequence[Defect],
    today: date,
    issued: date | None,
    rng: random.Random,
) -> tuple[date, date, date]:
    """Birth, issue and expiry dates: valid on ``today`` unless ``expired``; a holder under
    age with ``underage``."""
    birth = person.birth_date
    if Defect.underage in defects:
        birth = today - timedelta(days=rng.randint(14 * 365 + 10, 17 * 365 + 300))
    adult = (today - birth).days >= 18 * 365
    years = {DocumentKind.passport: 10 if adult else 5, DocumentKind.id_card: 10}.get(kind, 8)
    expired = Defect.expired in defects
    chosen = issued is not None
    if issued is None:
        if expired:
            issued = today - timedelta(days=years * 365 + rng.randint(20, 900))
        else:
            issued = today - timedelta(days=rng.randint(30, years * 365 - 60))

    def expiry_of(issued: date) -> date:
        if kind is DocumentKind.driver_license:  # US licenses expire on a birthday
            return _add_years(birth, _add_years(issued, years).year - birth.year)
        return _add_years(issued, years) - timedelta(days=1)

    expiry = expiry_of(issued)
    # A birthday expiry can fall on the wrong side of today: move the issue by a year.
    while not chosen and expired and expiry >= today:
        issued -= timedelta(days=365)
        expiry = expiry_of(issued)
    while not chosen and not expired and expiry <= today:
        issued += timedelta(days=365)
        expiry = expiry_of(issued)
    return birth, issued, expiry


def _add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


def _break_check_digit(lines: list[str], kind: DocumentKind, rng: random.Random) -> list[str]:
    """Change the document number's check digit and recompute the composite, so exactly
    one check fails and no single-character repair can make the lines valid again."""
    out = list(lines)
    if kind is DocumentKind.passport:
        row, pos = 1, 9
    else:
        row, pos = 0, 14
    good = int(out[row][pos]) if out[row][pos].isdigit() else 0
    bad = str((good + rng.randint(3, 7)) % 10)
    out[row] = out[row][:pos] + bad + out[row][pos + 1 :]
    if kind is DocumentKind.passport:
        l2 = out[1]
        composite = l2[0:10] + l2[13:20] + l2[21:43]
        out[1] = l2[:43] + str(mrz.check_digit(composite))
    else:
        l1, l2 = out[0], out[1]
        composite = l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29]
        out[1] = l2[:29] + str(mrz.check_digit(composite))
    return out


def render(
    kind: DocumentKind,
    person: Person,
    *,
    rng: random.Random,
    defects: Sequence[Defect] = (),
    issued: date | None = None,
    today: date | None = None,
    number: str | None = None,
    state: str | None = None,
) -> SyntheticDocument:
    """Draw, photograph and JPEG-encode one document of ``person`` (front, back where the
    kind has one, and a selfie when portraits are available). ``number`` and ``state`` fix
    what would be random (``reuse`` re-renders the same document)."""
    wanted: tuple[Defect, ...] = tuple(d for d in defects if d is not Defect.none)
    for d in wanted:
        if d not in applicable(kind):
            raise ValueError(f"{d.value} does not apply to a {kind.value}")
    if kind not in (DocumentKind.passport, DocumentKind.id_card, DocumentKind.driver_license):
        raise ValueError(f"the simulator does not draw {kind.value} documents")
    today = today or clock.now().date()
    birth, issued, expiry = document_dates(kind, person, wanted, today, issued, rng)
    issuer = issuer_for(person.nationality)
    if kind is DocumentKind.driver_license:
        person = replace(person, birth_date=birth, country="US")
    else:
        # The holder is a national of the issuer and lives there: the profile agrees.
        person = replace(person, birth_date=birth, nationality=issuer.alpha3, country=issuer.alpha2)
    surname, given = transliterate(person.surname), transliterate(person.given_names)
    lines: list[str] = []
    payload: str | None = None
    if kind is DocumentKind.driver_license:
        state = state or rng.choice(sorted(STATES))
        number = number or random_number("LD8", rng)
        fields = DocumentFields(
            source="truth",
            document_kind=kind,
            issuing_country="USA",
            document_number=number,
            surname=surname,
            given_names=given,
            birth_date=birth,
            expiry_date=expiry,
            issue_date=issued,
            sex=person.sex,
            nationality=None,
        )
        _, city, zip3 = STATES[state]
        street = f"{rng.randint(10, 9800)} {rng.choice(STREETS)}"
        address = (street, city, f"{zip3}{rng.randint(10, 99)}")
        payload = aamva.encode(_aamva_elements(fields, state, address, rng), iin=state_iin(state))
        draft = draw_driver_license(fields, person, state, payload, address, rng)
    else:
        number = number or random_number(issuer.number_style, rng)
        fields = DocumentFields(
            source="truth",
            document_kind=kind,
            issuing_country=issuer.alpha3,
            document_number=number,
            surname=surname,
            given_names=given,
            birth_date=birth,
            expiry_date=expiry,
            issue_date=issued,
            sex=person.sex,
            nationality=issuer.alpha3,
        )
        fmt = mrz.MrzFormat.TD3 if kind is DocumentKind.passport else mrz.MrzFormat.TD1
        lines = list(mrz.build(fields, fmt))
        if Defect.bad_check_digit in wanted:
            lines = _break_check_digit(lines, kind, rng)
        if kind is DocumentKind.passport:
            draft = draw_passport(fields, person, issuer, lines, rng)
        else:
            draft = draw_id_card(fields, person, issuer, lines, rng)

    width = rng.randint(1250, 1600)
    front_shot = _photograph(draft.front, rng, width)
    software = None
    front_img = front_shot.image
    if Defect.tampered_field in wanted:
        forged_birth = _add_years(birth, -rng.randint(3, 6))
        forged = printed_date(forged_birth, *draft.date_style)
        front_img = _tamper(front_shot, draft, draft.front.size, forged, rng)
        draft.printed["birth_date"] = forged
        software = "Adobe Photoshop 25.0 (Windows)"
    if Defect.blur in wanted:
        # Out of focus: radius 6-7.5 px at 1400 px wide (text no longer legible).
        blur = rng.uniform(6.0, 7.5) * width / 1400
        front_img = front_img.filter(ImageFilter.GaussianBlur(blur))
    if Defect.glare in wanted:
        front_img = _glare(front_img, rng)
    if Defect.low_resolution in wanted:
        short = rng.randint(200, 270)
        ratio = short / min(front_img.size)
        front_img = front_img.resize(
            (round(front_img.width * ratio), round(front_img.height * ratio)),
            Image.Resampling.BILINEAR,
        )
    quality = rng.randint(85, 93)
    front = _jpeg(front_img, rng, quality=95 if software else quality, software=software)
    back = None
    if draft.back is not None:
        back = _jpeg(_photograph(draft.back, rng, width).image, rng, quality=quality)

    selfie = None
    face = person.face + 1 if Defect.face_mismatch in wanted else person.face
    shot = portraits.portrait(face, variant="selfie", seed=rng.getrandbits(31))
    if shot is not None:
        buf = io.BytesIO()
        shot.convert("RGB").save(buf, "JPEG", quality=90)
        selfie = buf.getvalue()
    elif Defect.face_mismatch in wanted:
        raise ValueError("face_mismatch needs the portraits (scikit-image, matplotlib)")

    profile = {
        "legal_name": person.legal_name,
        "date_of_birth": birth,
        "country": person.country,
    }
    if Defect.mismatched_profile in wanted:
        other = impostor(person, rng)
        profile["legal_name"] = other.legal_name
        profile["date_of_birth"] = other.birth_date
    expected, reasons = Outcome.approve, set[Reason]()
    each: tuple[Defect, ...] = wanted or (Defect.none,)
    for defect in each:
        outcome, why = EXPECTED[defect]
        reasons |= why
        if Defect.bad_check_digit in wanted and defect in (Defect.expired, Defect.underage):
            outcome = Outcome.review  # the dates of a failing MRZ may be misread
        if _SEVERITY[outcome] > _SEVERITY[expected]:
            expected = outcome
    return SyntheticDocument(
        kind=kind,
        truth=fields,
        person=person,
        mrz_lines=lines,
        aamva_payload=payload,
        front=front,
        back=back,
        selfie=selfie,
        defects=wanted,
        expected=expected,
        expected_reasons=reasons,
        profile=profile,
        printed=dict(draft.printed),
        state=state,
    )


def reuse(
    doc: SyntheticDocument, *, rng: random.Random, today: date | None = None
) -> SyntheticDocument:
    """The same document photographed again, for another account: same number, issuer,
    holder and dates; a new photo. Expected: review for reuse."""
    return render(
        doc.kind,
        doc.person,
        rng=rng,
        defects=(Defect.reused_document,),
        issued=doc.truth.issue_date,
        today=today,
        number=doc.truth.document_number,
        state=doc.state,
    )


def _aamva_elements(
    fields: DocumentFields, state: str, address: tuple[str, str, str], rng: random.Random
) -> dict[str, str]:
    def us(d: date | None) -> str:
        assert d is not None
        return aamva.format_date(d)

    given = (fields.given_names or "").split(" ", 1)
    return {
        "DCA": "C",
        "DCB": "NONE",
        "DCD": "NONE",
        "DBA": us(fields.expiry_date),
        "DCS": fields.surname or "",
        "DAC": given[0],
        "DAD": given[1] if len(given) > 1 else "NONE",
        "DBD": us(fields.issue_date),
        "DBB": us(fields.birth_date),
        "DBC": {"M": "1", "F": "2"}.get(fields.sex or "", "9"),
        "DAY": rng.choice(("BRO", "BLU", "GRN", "HAZ")),
        "DAU": f"{rng.randint(60, 76):03d} IN",
        "DAG": address[0],
        "DAI": address[1],
        "DAJ": state,
        "DAK": f"{address[2]}0000",
        "DAQ": fields.document_number or "",
        "DCF": random_number("D10L4", rng),
        "DCG": "USA",
        "DDE": "N",
        "DDF": "N",
        "DDG": "N",
    }
