"""What users write in their appeals and what reviewers answer, in English, Spanish and
Portuguese; and what a QA reviewer writes when they disagree. Hand-written for the simulator.
"""

from __future__ import annotations

Lang = str

# A user's appeal, by the policy of the decision (``*`` for any).
APPEALS: dict[Lang, dict[str, tuple[str, ...]]] = {
    "en": {
        "*": (
            "I think this was a mistake. I have worked on the platform honestly and I did not "
            "break any rule on purpose. Please look at my account again.",
            "My account was restricted without warning and I have clients waiting for "
            "deliveries. If I misunderstood a rule I am happy to fix it, but this is "
            "affecting my income.",
        ),
        "fee_circumvention": (
            "I only shared my portfolio link so the client could see earlier work. I never "
            "asked anyone to pay outside the platform and all my orders were paid here.",
        ),
        "fraud_scams": (
            "I did not scam anyone. The order was late because I was ill, and I told the "
            "client. I am ready to deliver or refund through the platform.",
        ),
        "duplicate_accounts": (
            "The other account is my brother's; we live in the same flat and use the same "
            "laptop. We are two different people with two different businesses.",
        ),
        "fake_reviews": (
            "The reviews are from real clients who bought from me. Some of them are friends, "
            "but they paid for their orders like anyone else.",
        ),
    },
    "es": {
        "*": (
            "Creo que se trata de un error. Trabajo en la plataforma de forma honesta y no "
            "incumplí ninguna norma a propósito. Por favor, revisen mi cuenta de nuevo.",
            "Restringieron mi cuenta sin aviso y tengo clientes esperando entregas. Si entendí "
            "mal alguna norma lo corrijo, pero esto afecta a mis ingresos.",
        ),
        "fee_circumvention": (
            "Solo compartí el enlace a mi portafolio para que el cliente viera trabajos "
            "anteriores. Nunca pedí que me pagaran fuera de la plataforma.",
        ),
        "fraud_scams": (
            "No estafé a nadie. El pedido se retrasó porque estuve enfermo y se lo dije al "
            "cliente. Puedo entregarlo o devolver el dinero por la plataforma.",
        ),
        "duplicate_accounts": (
            "La otra cuenta es de mi hermana; vivimos en el mismo piso y usamos el mismo "
            "portátil. Somos dos personas distintas con negocios distintos.",
        ),
        "fake_reviews": (
            "Las reseñas son de clientes reales que me compraron. Algunos son amigos, pero "
            "pagaron sus pedidos como cualquier otro.",
        ),
    },
    "pt": {
        "*": (
            "Acho que houve um engano. Trabalho na plataforma de forma honesta e não "
            "descumpri nenhuma regra de propósito. Peço que revisem minha conta.",
            "Minha conta foi restringida sem aviso e tenho clientes esperando entregas. Se "
            "entendi alguma regra errado eu corrijo, mas isso está afetando minha renda.",
        ),
        "fee_circumvention": (
            "Só compartilhei o link do meu portfólio para o cliente ver trabalhos anteriores. "
            "Nunca pedi pagamento fora da plataforma.",
        ),
        "fraud_scams": (
            "Não apliquei golpe em ninguém. O pedido atrasou porque fiquei doente e avisei o "
            "cliente. Posso entregar ou devolver o dinheiro pela plataforma.",
        ),
        "duplicate_accounts": (
            "A outra conta é do meu irmão; moramos no mesmo apartamento e usamos o mesmo "
            "notebook. Somos duas pessoas diferentes com negócios diferentes.",
        ),
        "fake_reviews": (
            "As avaliações são de clientes reais que compraram comigo. Alguns são amigos, mas "
            "pagaram pelos pedidos como qualquer um.",
        ),
    },
}

# The reviewer's reason for the outcome, in the user's language (it is part of the message).
OUTCOME_REASONS: dict[Lang, dict[str, str]] = {
    "en": {
        "uphold": "We looked at the messages and the account history again. The evidence "
        "shows the behaviour described in the decision, so the restriction stays.",
        "overturn": "Looking again, the evidence does not show a violation: the messages are "
        "consistent with ordinary use of the platform. The restriction is lifted.",
        "modify": "There was a violation, but it was a first one and the account has a good "
        "record. We are replacing the restriction with a lighter measure.",
    },
    "es": {
        "uphold": "Revisamos de nuevo los mensajes y el historial de la cuenta. Las pruebas "
        "muestran la conducta descrita en la decisión, por lo que la restricción se mantiene.",
        "overturn": "Tras revisarlo, las pruebas no muestran una infracción: los mensajes "
        "corresponden a un uso normal de la plataforma. Levantamos la restricción.",
        "modify": "Hubo una infracción, pero fue la primera y la cuenta tiene buen historial. "
        "Sustituimos la restricción por una medida más leve.",
    },
    "pt": {
        "uphold": "Revisamos novamente as mensagens e o histórico da conta. As evidências "
        "mostram a conduta descrita na decisão, então a restrição continua.",
        "overturn": "Na nova análise, as evidências não mostram uma violação: as mensagens "
        "são de uso normal da plataforma. A restrição foi retirada.",
        "modify": "Houve uma violação, mas foi a primeira e a conta tem um bom histórico. "
        "Substituímos a restrição por uma medida mais leve.",
    },
}

# The reasoning recorded with the lighter decision that replaces a modified one (internal).
MODIFIED_REASONING = (
    "Appeal: first violation, otherwise a clean record and an honest account of what "
    "happened; the original measure was heavier than the ladder needs."
)

# Policies a reviewer may reasonably cite instead of another (QA's policy disagreements).
CONFUSED_WITH: dict[str, tuple[str, ...]] = {
    "fraud_scams": ("spam", "payment_abuse"),
    "spam": ("fraud_scams", "fee_circumvention"),
    "fee_circumvention": ("spam",),
    "duplicate_accounts": ("fake_identity",),
    "fake_identity": ("duplicate_accounts",),
    "fake_reviews": ("duplicate_accounts",),
    "harassment_threats": ("discrimination",),
    "payment_abuse": ("fraud_scams",),
}

_LADDER = ("no_violation", "warn", "restrict", "suspend", "remove", "ban")


def _name(code: str | None) -> str:
    return (code or "no violation").replace("_", " ")


def qa_comment(original: str | None, was: str, policy: str | None, label: str) -> str:
    """What a QA reviewer writes when they mark the original decision wrong: how their own
    answer (``policy``, ``label``) differs from it (``original``, ``was``)."""
    if was == "no_violation":
        return (
            f"Closed as no violation, but the messages show {_name(policy)}: at least a "
            "warning was due."
        )
    if label == "no_violation":
        return f"Nothing in the evidence breaks {_name(original)}; close it as no violation."
    if policy != original:
        return (
            f"The conduct fits {_name(policy)} better than {_name(original)}: look at what "
            "the messages ask for."
        )
    if _LADDER.index(label) < _LADDER.index(was):
        return (
            f"Right policy, but a {was} is one step too heavy for a first occurrence; the "
            f"ladder says {label}."
        )
    return f"Right policy, but the record supports more than a {was}: {label} was due."


QA_PRAISE = (
    "Clear reasoning and a well-chosen template.",
    "",
    "Good: the statement names the messages relied on.",
    "",
)
