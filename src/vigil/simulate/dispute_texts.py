"""What the parties and the mediators of simulated disputes write, in English, Spanish and
Portuguese: the opener's statement, the respondent's side, the conversation excerpts each
attaches, answers to proposals, and the mediator's proposals and rulings.

Hand-written for the simulator, as templates with slots: ``{task}`` (what was bought),
``{buyer}`` and ``{seller}`` (first names), ``{price}`` (the amount as people write it),
``{refund}`` (a refund in the same style), ``{day}`` (a weekday). Each reason has its own
story; the respondent's side is sometimes an admission and sometimes a defence, which is what
makes a mediator's work.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Lang = str  # "en" | "es" | "pt"

DAYS: dict[Lang, tuple[str, ...]] = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday"),
    "es": ("lunes", "martes", "miércoles", "jueves", "viernes"),
    "pt": ("segunda", "terça", "quarta", "quinta", "sexta"),
}


def price(amount: str, lang: Lang) -> str:
    """An amount as a person writes it: "$120.50", "120,50 USD", "US$ 120,50"."""
    whole, _, cents = amount.partition(".")
    cents = "" if cents in ("", "00") else cents
    if lang == "en":
        return f"${whole}" + (f".{cents}" if cents else "")
    local = whole + (f",{cents}" if cents else "")
    return f"{local} USD" if lang == "es" else f"US$ {local}"


# Opener's statements, by reason (buyer-opened: not_delivered, not_as_described, quality,
# cancellation; seller-opened: payment_not_received, cancellation_seller).
OPENER: dict[Lang, dict[str, tuple[str, ...]]] = {
    "en": {
        "not_delivered": (
            "I paid {price} for {task} and the deadline was last {day}. Nothing has been "
            "delivered and {seller} has stopped answering my messages. I would like a refund.",
            "The order was due on {day}. {seller} kept saying 'tomorrow' for a week and I still "
            "have no files. I need my {price} back so I can hire someone else.",
        ),
        "not_as_described": (
            "What I received is not what we agreed. The brief asked for {task}; I got a "
            "template with my name pasted in. I asked for the agreed version twice.",
            "The delivery does not match the offer: half of the items in the description are "
            "missing and {seller} says they were 'extras'. They were in the listing.",
        ),
        "quality": (
            "My order was {task}. It was delivered but it is not usable: spelling mistakes, "
            "broken layout on phones, and the colours we agreed are not there. I am asking for "
            "part of the payment back.",
            "The quality is far below the samples in {seller}'s portfolio. I would accept a "
            "partial refund; I cannot use most of it.",
        ),
        "cancellation": (
            "I cancelled the order on {day}, two hours after paying, before any work started. "
            "{seller} refuses to refund the {price}.",
            "Our plans changed and I cancelled the same day. {seller} says the money is "
            "non-refundable, which was never mentioned.",
        ),
        "payment_not_received": (
            "I delivered {task} on {day} and {buyer} confirmed it looked good, but the payment "
            "of {price} is still not released to me. {buyer} now says they want changes that "
            "were never in the order.",
            "The work was delivered and approved in the chat. Since then {buyer} has held the "
            "payment and stopped replying. I have the delivery messages.",
        ),
        "cancellation_seller": (
            "{buyer} cancelled the order ({task}) after I had already done most of it. I spent "
            "two full days on it and I am asking to keep part of the payment for the work done.",
        ),
    },
    "es": {
        "not_delivered": (
            "Pagué {price} por {task} y la entrega era el {day} pasado. No he recibido nada y "
            "{seller} ya no contesta mis mensajes. Quiero que me devuelvan el dinero.",
            "El pedido vencía el {day}. {seller} me dijo 'mañana' durante una semana y sigo "
            "sin archivos. Necesito recuperar los {price} para contratar a otra persona.",
        ),
        "not_as_described": (
            "Lo que recibí no es lo que acordamos. Pedí {task} y me entregaron una plantilla "
            "con mi nombre. Pedí dos veces la versión acordada.",
            "La entrega no coincide con la oferta: faltan la mitad de las cosas de la "
            "descripción y {seller} dice que eran 'extras'. Estaban en el anuncio.",
        ),
        "quality": (
            "Mi pedido era {task}. Se entregó pero no sirve: faltas de ortografía, se ve mal en "
            "el móvil y no respeta los colores acordados. Pido que me devuelvan una parte.",
            "La calidad está muy por debajo de los ejemplos del portafolio de {seller}. "
            "Aceptaría un reembolso parcial; casi nada se puede usar.",
        ),
        "cancellation": (
            "Cancelé el pedido el {day}, dos horas después de pagar y antes de que empezara el "
            "trabajo. {seller} se niega a devolverme los {price}.",
            "Cambiamos de planes y cancelé el mismo día. {seller} dice que no hay reembolso, "
            "algo que nunca se mencionó.",
        ),
        "payment_not_received": (
            "Entregué {task} el {day} y {buyer} me confirmó que estaba bien, pero el pago de "
            "{price} sigue sin liberarse. Ahora pide cambios que no estaban en el pedido.",
            "El trabajo se entregó y se aprobó en el chat. Desde entonces {buyer} retiene el "
            "pago y no responde. Tengo los mensajes de la entrega.",
        ),
        "cancellation_seller": (
            "{buyer} canceló el pedido ({task}) cuando ya había hecho casi todo. Le dediqué dos "
            "días completos y pido quedarme con una parte del pago.",
        ),
    },
    "pt": {
        "not_delivered": (
            "Paguei {price} por {task} e o prazo era {day} passada. Nada foi entregue e "
            "{seller} parou de responder. Quero o reembolso.",
            "O pedido vencia na {day}. {seller} falou 'amanhã' durante uma semana e até agora "
            "nenhum arquivo. Preciso dos {price} de volta para contratar outra pessoa.",
        ),
        "not_as_described": (
            "O que recebi não é o combinado. Pedi {task} e recebi um modelo pronto com meu nome "
            "colado. Pedi a versão combinada duas vezes.",
            "A entrega não bate com a oferta: metade dos itens da descrição não veio e "
            "{seller} diz que eram 'extras'. Estavam no anúncio.",
        ),
        "quality": (
            "Meu pedido era {task}. Foi entregue mas não dá para usar: erros de português, "
            "layout quebrado no celular e as cores combinadas não foram usadas. Peço uma parte "
            "do valor de volta.",
            "A qualidade está muito abaixo dos exemplos do portfólio de {seller}. Aceito um "
            "reembolso parcial; quase nada se aproveita.",
        ),
        "cancellation": (
            "Cancelei o pedido na {day}, duas horas depois de pagar, antes de qualquer "
            "trabalho. {seller} se recusa a devolver os {price}.",
            "Nossos planos mudaram e cancelei no mesmo dia. {seller} diz que não tem reembolso, "
            "o que nunca foi dito.",
        ),
        "payment_not_received": (
            "Entreguei {task} na {day} e {buyer} confirmou que estava bom, mas o pagamento de "
            "{price} continua retido. Agora pede mudanças que não estavam no pedido.",
            "O trabalho foi entregue e aprovado no chat. Desde então {buyer} segura o "
            "pagamento e não responde. Tenho as mensagens da entrega.",
        ),
        "cancellation_seller": (
            "{buyer} cancelou o pedido ({task}) quando eu já tinha feito quase tudo. Foram dois "
            "dias inteiros de trabalho e peço para ficar com parte do pagamento.",
        ),
    },
}

# The respondent's side: ``admit`` when the story makes them (partly) at fault, else
# ``defend``.
RESPONDENT: dict[Lang, dict[str, tuple[str, ...]]] = {
    "en": {
        "admit": (
            "I'm sorry about the delay, I had a family emergency and should have said so "
            "earlier. Most of it is done; I can deliver by {day} or refund part of it.",
            "Fair point on some of it. I can fix the issues {buyer} listed, but a full refund "
            "is not fair after the hours I put in.",
        ),
        "defend": (
            "I delivered everything in the order on time, through the platform. The changes "
            "{buyer} asks for now were never part of what we agreed; see the messages.",
            "The files were sent on {day} and {buyer} said thanks. I am happy to do one more "
            "round of small fixes, but the work is done.",
        ),
        "buyer_admit": (
            "I did hold the payment because I was travelling and could not check the files. "
            "They are fine; I just want the two small changes we discussed.",
        ),
        "buyer_defend": (
            "The work was never finished: the last version still had the problems I listed. "
            "I will release the payment when it matches the order.",
        ),
    },
    "es": {
        "admit": (
            "Disculpa el retraso, tuve una emergencia familiar y debí avisar antes. Está casi "
            "todo hecho; puedo entregarlo el {day} o devolver una parte.",
            "En parte tiene razón. Puedo corregir lo que {buyer} señaló, pero un reembolso "
            "total no es justo después de las horas que le dediqué.",
        ),
        "defend": (
            "Entregué todo lo del pedido a tiempo y por la plataforma. Los cambios que pide "
            "{buyer} ahora nunca fueron parte del acuerdo; están los mensajes.",
            "Los archivos se enviaron el {day} y {buyer} dio las gracias. Puedo hacer una ronda "
            "más de ajustes pequeños, pero el trabajo está terminado.",
        ),
        "buyer_admit": (
            "Retuve el pago porque estaba de viaje y no pude revisar los archivos. Están bien; "
            "solo quiero los dos cambios pequeños que hablamos.",
        ),
        "buyer_defend": (
            "El trabajo nunca se terminó: la última versión seguía con los problemas que "
            "señalé. Liberaré el pago cuando coincida con el pedido.",
        ),
    },
    "pt": {
        "admit": (
            "Desculpe o atraso, tive uma emergência na família e devia ter avisado antes. "
            "Quase tudo está pronto; consigo entregar na {day} ou devolver uma parte.",
            "Em parte é verdade. Posso corrigir o que {buyer} apontou, mas reembolso total não "
            "é justo depois das horas que trabalhei.",
        ),
        "defend": (
            "Entreguei tudo o que estava no pedido, no prazo e pela plataforma. As mudanças que "
            "{buyer} pede agora nunca fizeram parte do combinado; estão nas mensagens.",
            "Os arquivos foram enviados na {day} e {buyer} agradeceu. Faço mais uma rodada de "
            "ajustes pequenos, mas o trabalho está entregue.",
        ),
        "buyer_admit": (
            "Segurei o pagamento porque estava viajando e não consegui ver os arquivos. Estão "
            "bons; só quero os dois ajustes pequenos que combinamos.",
        ),
        "buyer_defend": (
            "O trabalho nunca foi concluído: a última versão ainda tinha os problemas que "
            "apontei. Libero o pagamento quando estiver de acordo com o pedido.",
        ),
    },
}

# Conversation excerpts the opener attaches: (author, text), in order.
EXCERPTS: dict[Lang, dict[str, tuple[tuple[str, str], ...]]] = {
    "en": {
        "late": (
            ("buyer", "Hi {seller}, just checking: will {task} be ready by {day}?"),
            ("seller", "Yes, on track! You'll have it {day} evening."),
            ("buyer", "It's {day} night, any news?"),
            ("seller", "Sorry, a bit behind, tomorrow for sure."),
            ("buyer", "Three days later and still nothing. Please answer."),
        ),
        "mismatch": (
            (
                "buyer",
                "The draft is quite different from the brief. Where are the pages we agreed?",
            ),
            ("seller", "That's the standard package. More pages are an extra."),
            ("buyer", "They were in your offer: 'up to 5 pages included'."),
            ("seller", "I can add them for {refund} more."),
        ),
        "quality": (
            ("buyer", "Thanks for the delivery. On my phone the menu overlaps the logo."),
            ("seller", "Works fine here, maybe clear your cache."),
            ("buyer", "Same on two phones, screenshots attached. Also several typos."),
        ),
        "unpaid": (
            ("seller", "Delivered! All files are in the order page."),
            ("buyer", "Looks good, thanks {seller}! Will check the details tonight."),
            ("seller", "Hi {buyer}, could you mark the order complete so the payment is released?"),
            ("buyer", "Actually I need a few more changes first."),
        ),
        "cancel": (
            ("buyer", "Hi {seller}, so sorry, our event was cancelled. Can we cancel the order?"),
            ("seller", "I already started on it, but let me see what I can do."),
        ),
        "off_platform": (
            (
                "seller",
                "To finish faster, pay me the rest by bank transfer outside the site, "
                "the fees here are too high.",
            ),
            ("buyer", "I'd rather keep everything on the platform."),
            ("seller", "Then it will take longer, I have other clients."),
        ),
    },
    "es": {
        "late": (
            ("buyer", "Hola {seller}, ¿{task} estará listo para el {day}?"),
            ("seller", "¡Sí, va bien! Lo tienes el {day} por la tarde."),
            ("buyer", "Ya es {day} por la noche, ¿alguna novedad?"),
            ("seller", "Perdona, voy un poco atrasado, mañana sin falta."),
            ("buyer", "Pasaron tres días y nada. Por favor responde."),
        ),
        "mismatch": (
            (
                "buyer",
                "El borrador es muy distinto del brief. ¿Dónde están las páginas que acordamos?",
            ),
            ("seller", "Ese es el paquete estándar. Más páginas se cobran aparte."),
            ("buyer", "Estaban en tu oferta: 'hasta 5 páginas incluidas'."),
            ("seller", "Puedo añadirlas por {refund} más."),
        ),
        "quality": (
            ("buyer", "Gracias por la entrega. En el móvil el menú se monta sobre el logo."),
            ("seller", "Aquí se ve bien, prueba a borrar la caché."),
            ("buyer", "Pasa en dos móviles, te mando capturas. También hay varias faltas."),
        ),
        "unpaid": (
            ("seller", "¡Entregado! Todos los archivos están en el pedido."),
            ("buyer", "Se ve bien, ¡gracias {seller}! Esta noche reviso los detalles."),
            (
                "seller",
                "Hola {buyer}, ¿puedes marcar el pedido como completado para liberar el pago?",
            ),
            ("buyer", "En realidad antes necesito algunos cambios más."),
        ),
        "cancel": (
            (
                "buyer",
                "Hola {seller}, lo siento mucho, se canceló el evento. ¿Podemos anular el pedido?",
            ),
            ("seller", "Ya empecé a trabajar, pero déjame ver qué puedo hacer."),
        ),
        "off_platform": (
            (
                "seller",
                "Para terminar antes, págame el resto por transferencia fuera de la "
                "web, aquí las comisiones son muy altas.",
            ),
            ("buyer", "Prefiero hacerlo todo por la plataforma."),
            ("seller", "Entonces tardará más, tengo otros clientes."),
        ),
    },
    "pt": {
        "late": (
            ("buyer", "Oi {seller}, {task} fica pronto até {day}?"),
            ("seller", "Sim, tudo certo! Te entrego {day} à tarde."),
            ("buyer", "Já é {day} à noite, alguma novidade?"),
            ("seller", "Desculpa, atrasei um pouco, amanhã sem falta."),
            ("buyer", "Três dias depois e nada. Por favor, responde."),
        ),
        "mismatch": (
            ("buyer", "O rascunho está bem diferente do briefing. Cadê as páginas que combinamos?"),
            ("seller", "Esse é o pacote padrão. Páginas a mais são cobradas à parte."),
            ("buyer", "Estavam na sua proposta: 'até 5 páginas incluídas'."),
            ("seller", "Posso incluir por mais {refund}."),
        ),
        "quality": (
            ("buyer", "Obrigado pela entrega. No celular o menu fica em cima do logo."),
            ("seller", "Aqui está normal, tenta limpar o cache."),
            (
                "buyer",
                "Acontece em dois celulares, mandei prints. Tem vários erros de digitação também.",
            ),
        ),
        "unpaid": (
            ("seller", "Entregue! Todos os arquivos estão no pedido."),
            ("buyer", "Ficou ótimo, valeu {seller}! Vejo os detalhes à noite."),
            ("seller", "Oi {buyer}, pode marcar o pedido como concluído para liberar o pagamento?"),
            ("buyer", "Na verdade preciso de mais alguns ajustes antes."),
        ),
        "cancel": (
            ("buyer", "Oi {seller}, desculpa, o evento foi cancelado. Podemos cancelar o pedido?"),
            ("seller", "Já comecei, mas vou ver o que dá para fazer."),
        ),
        "off_platform": (
            (
                "seller",
                "Pra terminar mais rápido, me paga o resto por Pix fora do site, as "
                "taxas aqui são muito altas.",
            ),
            ("buyer", "Prefiro manter tudo pela plataforma."),
            ("seller", "Então vai demorar mais, tenho outros clientes."),
        ),
    },
}

# Which excerpts go with which reason.
EXCERPTS_FOR = {
    "not_delivered": "late",
    "not_as_described": "mismatch",
    "quality": "quality",
    "cancellation": "cancel",
    "payment_not_received": "unpaid",
    "cancellation_seller": "cancel",
}

# What the opener writes when they withdraw.
WITHDRAW: dict[Lang, tuple[str, ...]] = {
    "en": (
        "We sorted it out in the chat: the files arrived this morning.",
        "{seller} delivered the missing part, thank you.",
    ),
    "es": (
        "Lo resolvimos por el chat: los archivos llegaron esta mañana.",
        "{seller} entregó la parte que faltaba, gracias.",
    ),
    "pt": (
        "Resolvemos pelo chat: os arquivos chegaram hoje de manhã.",
        "{seller} entregou a parte que faltava, obrigado.",
    ),
}

REJECT: dict[Lang, tuple[str, ...]] = {
    "en": ("That does not even cover what I paid for the materials.", "I did nothing wrong here."),
    "es": ("Eso ni siquiera cubre lo que pagué por los materiales.", "Yo no hice nada mal."),
    "pt": ("Isso nem cobre o que paguei pelo material.", "Eu não fiz nada de errado."),
}

ACCEPT: dict[Lang, tuple[str, ...]] = {
    "en": ("OK, I accept.", "Fine by me, let's close this.", ""),
    "es": ("De acuerdo, acepto.", "Me parece bien, cerremos esto.", ""),
    "pt": ("Ok, aceito.", "Por mim tudo bem, vamos encerrar.", ""),
}

# The mediator's note with a proposal, by outcome (told to both parties).
PROPOSAL: dict[Lang, dict[str, str]] = {
    "en": {
        "full_refund": "The work was not delivered by the agreed date and there is no sign of "
        "it in the order. I propose a full refund to the buyer.",
        "partial_refund": "Part of the work was delivered and is usable; part is missing. I "
        "propose refunding {refund} to the buyer and releasing the rest to the seller.",
        "release": "The delivery matches the order and the buyer approved it in the chat. I "
        "propose releasing the payment to the seller.",
        "redo": "The seller offered to redo the pages that do not match the brief. I propose a "
        "redo within 5 days; the payment stays held until then.",
    },
    "es": {
        "full_refund": "El trabajo no se entregó en la fecha acordada y no hay rastro de él en "
        "el pedido. Propongo el reembolso total al comprador.",
        "partial_refund": "Una parte del trabajo se entregó y se puede usar; otra falta. "
        "Propongo devolver {refund} al comprador y liberar el resto al vendedor.",
        "release": "La entrega coincide con el pedido y el comprador la aprobó en el chat. "
        "Propongo liberar el pago al vendedor.",
        "redo": "El vendedor se ofreció a rehacer las páginas que no siguen el brief. Propongo "
        "rehacerlo en 5 días; el pago sigue retenido hasta entonces.",
    },
    "pt": {
        "full_refund": "O trabalho não foi entregue no prazo combinado e não há sinal dele no "
        "pedido. Proponho o reembolso total ao comprador.",
        "partial_refund": "Parte do trabalho foi entregue e pode ser usada; parte falta. "
        "Proponho devolver {refund} ao comprador e liberar o restante ao vendedor.",
        "release": "A entrega está de acordo com o pedido e o comprador aprovou no chat. "
        "Proponho liberar o pagamento ao vendedor.",
        "redo": "O vendedor se ofereceu para refazer as páginas que não seguem o briefing. "
        "Proponho refazer em 5 dias; o pagamento fica retido até lá.",
    },
}

# The mediator's reasons for a ruling (told to both parties).
RULING: dict[Lang, dict[str, str]] = {
    "en": {
        "full_refund": "The seller did not answer by the deadline and nothing in the order "
        "shows a delivery. The payment is refunded to the buyer.",
        "partial_refund": "The parties did not agree. The delivery covers part of the order; "
        "{refund} goes back to the buyer and the rest to the seller.",
        "release": "The messages show the delivery was made and approved. The payment is "
        "released to the seller.",
        "redo": "The seller redoes the missing parts within 5 days; the payment stays held "
        "and is released once the buyer has the corrected files.",
    },
    "es": {
        "full_refund": "El vendedor no respondió en el plazo y nada en el pedido muestra una "
        "entrega. Se reembolsa el pago al comprador.",
        "partial_refund": "Las partes no llegaron a un acuerdo. La entrega cubre parte del "
        "pedido; {refund} vuelven al comprador y el resto al vendedor.",
        "release": "Los mensajes muestran que la entrega se hizo y se aprobó. Se libera el "
        "pago al vendedor.",
        "redo": "El vendedor rehace las partes que faltan en 5 días; el pago sigue retenido y "
        "se libera cuando el comprador tenga los archivos corregidos.",
    },
    "pt": {
        "full_refund": "O vendedor não respondeu no prazo e nada no pedido mostra uma entrega. "
        "O pagamento é reembolsado ao comprador.",
        "partial_refund": "As partes não chegaram a um acordo. A entrega cobre parte do "
        "pedido; {refund} voltam ao comprador e o restante vai ao vendedor.",
        "release": "As mensagens mostram que a entrega foi feita e aprovada. O pagamento é "
        "liberado ao vendedor.",
        "redo": "O vendedor refaz as partes que faltam em 5 dias; o pagamento fica retido e é "
        "liberado quando o comprador tiver os arquivos corrigidos.",
    },
}

# The account review a mediator opens when the conversation shows off-platform payment.
REVIEW = (
    "During dispute mediation the seller asked the buyer to pay the rest outside the platform "
    "(see the excerpts on the dispute). Review the seller's other conversations for fee "
    "circumvention."
)

# A plain-text file of evidence, by kind: what a party might export from their side.
FILES: dict[Lang, dict[str, tuple[str, str]]] = {
    "en": {
        "buyer": (
            "order-timeline.txt",
            "Order {contract}\nPaid: {paid}\nAgreed delivery: {day}\nDelivered: nothing as of "
            "today\nMessages sent since the deadline: 4\n",
        ),
        "seller": (
            "delivery-log.txt",
            "Order {contract}\nFiles uploaded: {paid} + 3 days\n- final.zip (24 MB)\n"
            "- preview.pdf\nBuyer viewed the delivery page: yes\n",
        ),
    },
    "es": {
        "buyer": (
            "cronologia-pedido.txt",
            "Pedido {contract}\nPagado: {paid}\nEntrega acordada: {day}\nEntregado: nada a "
            "día de hoy\nMensajes enviados desde el plazo: 4\n",
        ),
        "seller": (
            "registro-entrega.txt",
            "Pedido {contract}\nArchivos subidos: {paid} + 3 días\n- final.zip (24 MB)\n"
            "- vista-previa.pdf\nEl comprador vio la página de entrega: sí\n",
        ),
    },
    "pt": {
        "buyer": (
            "linha-do-tempo-pedido.txt",
            "Pedido {contract}\nPago: {paid}\nEntrega combinada: {day}\nEntregue: nada até "
            "hoje\nMensagens enviadas desde o prazo: 4\n",
        ),
        "seller": (
            "registro-entrega.txt",
            "Pedido {contract}\nArquivos enviados: {paid} + 3 dias\n- final.zip (24 MB)\n"
            "- previa.pdf\nO comprador viu a página de entrega: sim\n",
        ),
    },
}


def fill(template: str, slots: Mapping[str, Any]) -> str:
    return template.format_map(slots)
