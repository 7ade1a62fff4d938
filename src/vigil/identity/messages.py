"""What the user is told about a verification, in their language (en, es, pt), and the short
labels reviewers see for every reason code.

Invariants:

- Every reason in ``USER_REASONS`` has a text in every language of ``LOCALES``; each text says
  what went wrong and what the user can do about it.
- Reasons outside ``USER_REASONS`` (screening, reuse, editing signs, internal read states) are
  never disclosed: ``user_text`` gives them the neutral ``GENERIC`` text, so a reviewer's
  rejection can never tip off the holder of a listed name or a reused document.
- Locales are the communications domain's (``LOCALES``, ``DEFAULT_LOCALE`` and its
  ``normalize_locale``): ``pt-BR`` -> ``pt``; unknown -> English.
"""

from __future__ import annotations

from vigil.communications import service as communications
from vigil.communications.templating import DEFAULT_LOCALE, LOCALES
from vigil.identity.types import Reason

__all__ = [
    "DEFAULT_LOCALE",
    "GENERIC",
    "LOCALES",
    "USER_REASONS",
    "normalize_locale",
    "reviewer_label",
    "user_text",
    "user_texts",
]

GENERIC: dict[str, str] = {
    "en": (
        "We could not verify your identity with this document. Please submit a valid "
        "passport, national ID card or driver's license in your name."
    ),
    "es": (
        "No hemos podido verificar tu identidad con este documento. Envía un pasaporte, "
        "documento nacional de identidad o permiso de conducir válido a tu nombre."
    ),
    "pt": (
        "Não conseguimos verificar sua identidade com este documento. Envie um passaporte, "
        "documento de identidade ou carteira de motorista válido em seu nome."
    ),
}

_TEXTS: dict[Reason, dict[str, str]] = {
    Reason.image_blurry: {
        "en": "The photo is too blurry to read. Please retake it in good light, holding the "
        "camera steady.",
        "es": "La foto está demasiado borrosa para leerla. Vuelve a tomarla con buena luz y "
        "sin mover la cámara.",
        "pt": "A foto está desfocada demais para ser lida. Tire-a novamente com boa "
        "iluminação, mantendo a câmera firme.",
    },
    Reason.image_glare: {
        "en": "Glare or reflections hide part of the document. Please retake the photo away "
        "from direct light, without flash.",
        "es": "Los reflejos ocultan parte del documento. Vuelve a tomar la foto lejos de la "
        "luz directa y sin flash.",
        "pt": "Reflexos escondem parte do documento. Tire a foto novamente longe de luz "
        "direta e sem flash.",
    },
    Reason.image_low_resolution: {
        "en": "The photo's resolution is too low. Please retake it so that the document fills "
        "most of the frame, or upload the original photo rather than a screenshot.",
        "es": "La resolución de la foto es demasiado baja. Vuelve a tomarla de modo que el "
        "documento ocupe casi todo el encuadre, o sube la foto original en lugar de una "
        "captura de pantalla.",
        "pt": "A resolução da foto é baixa demais. Tire-a novamente de modo que o documento "
        "ocupe quase todo o enquadramento, ou envie a foto original em vez de uma captura "
        "de tela.",
    },
    Reason.image_unreadable: {
        "en": "We could not open one of the images. Please upload a JPEG, PNG, WebP or HEIC "
        "photo, or a PDF.",
        "es": "No hemos podido abrir una de las imágenes. Sube una foto JPEG, PNG, WebP o "
        "HEIC, o un PDF.",
        "pt": "Não conseguimos abrir uma das imagens. Envie uma foto JPEG, PNG, WebP ou HEIC, "
        "ou um PDF.",
    },
    Reason.image_missing: {
        "en": "A required photo is missing. Please submit the front of the document, its back "
        "where it has one, and a selfie.",
        "es": "Falta una foto obligatoria. Envía el anverso del documento, el reverso si lo "
        "tiene, y un selfie.",
        "pt": "Falta uma foto obrigatória. Envie a frente do documento, o verso quando houver "
        "e uma selfie.",
    },
    Reason.face_not_found: {
        "en": "We could not see the photo of the holder on the document. Please retake the "
        "photo showing the whole document, with nothing covering the portrait.",
        "es": "No vemos la foto del titular en el documento. Vuelve a tomar la foto mostrando "
        "el documento completo, sin nada que tape el retrato.",
        "pt": "Não conseguimos ver a foto do titular no documento. Tire a foto novamente "
        "mostrando o documento inteiro, sem nada cobrindo o retrato.",
    },
    Reason.selfie_face_not_found: {
        "en": "We could not see your face in the selfie. Please take a new selfie facing the "
        "camera in good light, without sunglasses or a hat.",
        "es": "No vemos tu cara en el selfie. Toma un selfie nuevo mirando a la cámara, con "
        "buena luz y sin gafas de sol ni sombrero.",
        "pt": "Não conseguimos ver seu rosto na selfie. Tire uma nova selfie olhando para a "
        "câmera, com boa iluminação, sem óculos escuros ou chapéu.",
    },
    Reason.multiple_faces: {
        "en": "More than one face appears in the selfie. Please take a new selfie with only "
        "you in the picture.",
        "es": "Aparece más de una cara en el selfie. Toma un selfie nuevo en el que salgas "
        "solo tú.",
        "pt": "Aparece mais de um rosto na selfie. Tire uma nova selfie em que apareça só você.",
    },
    Reason.mrz_not_found: {
        "en": "We could not find the machine-readable lines (the rows of letters and <<< "
        "signs) on the document. Please retake the photo showing the whole page or card, "
        "including those lines.",
        "es": "No encontramos las líneas de lectura mecánica (las filas de letras y signos "
        "<<<) del documento. Vuelve a tomar la foto mostrando la página o tarjeta completa, "
        "con esas líneas.",
        "pt": "Não encontramos as linhas de leitura mecânica (as fileiras de letras e sinais "
        "<<<) do documento. Tire a foto novamente mostrando a página ou o cartão inteiro, "
        "incluindo essas linhas.",
    },
    Reason.mrz_check_digits_failed: {
        "en": "We could not read the machine-readable lines (the rows of letters and <<< signs) "
        "reliably. Please retake the photo flat, in good light, with those lines sharp and "
        "fully visible.",
        "es": "No hemos podido leer con fiabilidad las líneas de lectura mecánica (las filas de "
        "letras y signos <<<). Vuelve a tomar la foto con el documento plano, con buena luz y "
        "esas líneas nítidas y completas.",
        "pt": "Não conseguimos ler com segurança as linhas de leitura mecânica (as fileiras de "
        "letras e sinais <<<). Tire a foto novamente com o documento plano, boa iluminação e "
        "essas linhas nítidas e completas.",
    },
    Reason.barcode_not_found: {
        "en": "We could not read the barcode on the back of your license. Please retake the "
        "photo of the back, flat and in good light, with the whole barcode visible.",
        "es": "No hemos podido leer el código de barras del reverso de tu permiso. Vuelve a "
        "tomar la foto del reverso, plano y con buena luz, con todo el código visible.",
        "pt": "Não conseguimos ler o código de barras no verso da sua carteira. Tire a foto do "
        "verso novamente, plana e com boa iluminação, com o código inteiro visível.",
    },
    Reason.barcode_invalid: {
        "en": "The barcode on the back of your license could not be validated. Please submit "
        "a valid driver's license or ID card, or a passport.",
        "es": "No se ha podido validar el código de barras del reverso de tu permiso. Envía un "
        "permiso de conducir o documento de identidad válido, o un pasaporte.",
        "pt": "Não foi possível validar o código de barras no verso da sua carteira. Envie uma "
        "carteira de motorista ou documento de identidade válido, ou um passaporte.",
    },
    Reason.document_kind_mismatch: {
        "en": "The document does not match the type you selected. Please choose the right "
        "document type and submit again.",
        "es": "El documento no coincide con el tipo que seleccionaste. Elige el tipo correcto "
        "y vuelve a enviarlo.",
        "pt": "O documento não corresponde ao tipo que você selecionou. Escolha o tipo certo e "
        "envie novamente.",
    },
    Reason.sides_mismatch: {
        "en": "The front and the back you sent seem to belong to different documents. Please "
        "photograph both sides of the same document.",
        "es": "El anverso y el reverso que enviaste parecen de documentos distintos. "
        "Fotografía las dos caras del mismo documento.",
        "pt": "A frente e o verso que você enviou parecem ser de documentos diferentes. "
        "Fotografe os dois lados do mesmo documento.",
    },
    Reason.document_expired: {
        "en": "This document has expired. Please submit a document that is still valid.",
        "es": "Este documento está caducado. Envía un documento que siga vigente.",
        "pt": "Este documento está vencido. Envie um documento que ainda esteja válido.",
    },
    Reason.expiry_unknown: {
        "en": "We could not read the document's expiry date. Please retake the photo with the "
        "whole document visible and sharp.",
        "es": "No hemos podido leer la fecha de caducidad del documento. Vuelve a tomar la "
        "foto con el documento completo y nítido.",
        "pt": "Não conseguimos ler a data de validade do documento. Tire a foto novamente com "
        "o documento inteiro visível e nítido.",
    },
    Reason.holder_under_age: {
        "en": "You must be of legal age to use this service. We cannot verify an account "
        "whose holder is under the minimum age.",
        "es": "Debes ser mayor de edad para usar este servicio. No podemos verificar una "
        "cuenta cuyo titular no alcanza la edad mínima.",
        "pt": "Você precisa ser maior de idade para usar este serviço. Não podemos verificar "
        "uma conta cujo titular não tem a idade mínima.",
    },
    Reason.birth_date_unknown: {
        "en": "We could not read the date of birth on the document. Please retake the photo "
        "with the whole document visible and sharp.",
        "es": "No hemos podido leer la fecha de nacimiento del documento. Vuelve a tomar la "
        "foto con el documento completo y nítido.",
        "pt": "Não conseguimos ler a data de nascimento no documento. Tire a foto novamente "
        "com o documento inteiro visível e nítido.",
    },
    Reason.name_mismatch: {
        "en": "The name on the document does not match the name on your account. Please "
        "correct the legal name in your profile, or submit a document in your own name.",
        "es": "El nombre del documento no coincide con el de tu cuenta. Corrige el nombre "
        "legal en tu perfil o envía un documento a tu nombre.",
        "pt": "O nome no documento não corresponde ao nome da sua conta. Corrija o nome "
        "civil no seu perfil ou envie um documento em seu próprio nome.",
    },
    Reason.birth_date_mismatch: {
        "en": "The date of birth on the document does not match the one on your account. "
        "Please correct your date of birth in your profile, or submit a document in your own "
        "name.",
        "es": "La fecha de nacimiento del documento no coincide con la de tu cuenta. Corrígela "
        "en tu perfil o envía un documento a tu nombre.",
        "pt": "A data de nascimento no documento não corresponde à da sua conta. Corrija-a no "
        "seu perfil ou envie um documento em seu próprio nome.",
    },
    Reason.country_mismatch: {
        "en": "The document's country does not match the country on your account. Please "
        "check the country in your profile, or submit a document issued by that country.",
        "es": "El país del documento no coincide con el de tu cuenta. Revisa el país de tu "
        "perfil o envía un documento expedido por ese país.",
        "pt": "O país do documento não corresponde ao da sua conta. Verifique o país no seu "
        "perfil ou envie um documento emitido por esse país.",
    },
    Reason.profile_incomplete: {
        "en": "Your profile is missing your legal name, date of birth or country. Please "
        "complete it and submit the document again.",
        "es": "A tu perfil le falta el nombre legal, la fecha de nacimiento o el país. "
        "Complétalo y vuelve a enviar el documento.",
        "pt": "Falta no seu perfil o nome civil, a data de nascimento ou o país. Complete-o e "
        "envie o documento novamente.",
    },
    Reason.face_mismatch: {
        "en": "Your selfie does not match the photo on the document. Please take a new selfie "
        "facing the camera in good light, and make sure the document is your own.",
        "es": "Tu selfie no coincide con la foto del documento. Toma un selfie nuevo mirando a "
        "la cámara con buena luz, y asegúrate de que el documento es tuyo.",
        "pt": "Sua selfie não corresponde à foto do documento. Tire uma nova selfie olhando "
        "para a câmera com boa iluminação e confirme que o documento é seu.",
    },
    Reason.face_uncertain: {
        "en": "We could not compare your selfie with the photo on the document. Please take a "
        "new selfie facing the camera in good light, without glasses.",
        "es": "No hemos podido comparar tu selfie con la foto del documento. Toma un selfie "
        "nuevo mirando a la cámara, con buena luz y sin gafas.",
        "pt": "Não conseguimos comparar sua selfie com a foto do documento. Tire uma nova "
        "selfie olhando para a câmera, com boa iluminação e sem óculos.",
    },
}

# The reasons whose text may be shown to the user: what ``decide`` gives on a rejection and
# what a reviewer can pick when rejecting.
USER_REASONS: tuple[Reason, ...] = tuple(_TEXTS)

_LABELS: dict[Reason, str] = {
    Reason.ok: "OK",
    Reason.not_applicable: "Not applicable",
    Reason.image_blurry: "Image blurry",
    Reason.image_glare: "Glare on the document",
    Reason.image_low_resolution: "Resolution too low",
    Reason.image_unreadable: "Image could not be decoded",
    Reason.image_missing: "Required image missing",
    Reason.face_not_found: "No portrait on the document",
    Reason.selfie_face_not_found: "No face on the selfie",
    Reason.multiple_faces: "Several faces on the selfie",
    Reason.mrz_not_found: "MRZ not found",
    Reason.mrz_check_digits_failed: "MRZ check digits fail",
    Reason.mrz_unconfirmed: "MRZ read not confirmed by a second read or the visual zone",
    Reason.mrz_invalid_field: "MRZ field invalid (country code, date)",
    Reason.barcode_not_found: "Barcode not found",
    Reason.barcode_invalid: "Barcode invalid (AAMVA)",
    Reason.viz_mismatch: "Printed fields differ from the MRZ / barcode",
    Reason.viz_unreadable: "Printed fields not readable enough to confirm the read",
    Reason.sides_mismatch: "Front and back disagree",
    Reason.document_kind_mismatch: "Document type differs from the one claimed",
    Reason.document_expired: "Document expired",
    Reason.expiry_unknown: "Expiry date not read",
    Reason.holder_under_age: "Holder under the minimum age",
    Reason.birth_date_unknown: "Birth date not read",
    Reason.name_mismatch: "Name differs from the profile",
    Reason.name_partial_match: "Name partly matches the profile",
    Reason.birth_date_mismatch: "Birth date differs from the profile",
    Reason.country_mismatch: "Country differs from the profile",
    Reason.profile_incomplete: "Profile incomplete (name, birth date or country)",
    Reason.document_reused: "Document used by another account",
    Reason.image_reused: "Image used by another account",
    Reason.face_mismatch: "Selfie does not match the portrait",
    Reason.face_uncertain: "Face match uncertain",
    Reason.editing_suspected: "Signs of editing",
    Reason.screening_hit: "Sanctions / PEP list hit",
    Reason.screening_possible_hit: "Possible sanctions / PEP list hit",
    Reason.name_unknown: "Name not read",
    Reason.selfie_is_document_copy: "Selfie is a copy of the document's photo",
}


def normalize_locale(locale: str | None) -> str:
    """The shipped language for an account's locale, as the communications domain chooses it:
    ``pt-BR`` -> ``pt``, ``fr`` -> ``en``."""
    return communications.normalize_locale(locale)[0]


def user_text(reason: Reason, locale: str) -> str:
    """The text the user reads for ``reason`` in ``locale``; the neutral ``GENERIC`` text for
    reasons that are not disclosed to users."""
    language = normalize_locale(locale)
    texts = _TEXTS.get(Reason(reason))
    if texts is None:
        return GENERIC[language]
    return texts[language]


def user_texts(reasons: list[Reason], locale: str) -> list[dict[str, str]]:
    """``[{"code": ..., "text": ...}]`` for a webhook or an API response; the reasons that are
    not disclosed collapse into one generic entry (code ``not_verified``)."""
    out: list[dict[str, str]] = []
    generic = False
    for reason in reasons:
        reason = Reason(reason)
        if reason in _TEXTS:
            out.append({"code": reason.value, "text": user_text(reason, locale)})
        elif not generic and reason not in (Reason.ok, Reason.not_applicable):
            generic = True
    if generic:
        out.append({"code": "not_verified", "text": GENERIC[normalize_locale(locale)]})
    return out


def reviewer_label(reason: Reason) -> str:
    """A short English label of a reason for reviewers (the console)."""
    return _LABELS.get(Reason(reason), Reason(reason).value.replace("_", " ").capitalize())
