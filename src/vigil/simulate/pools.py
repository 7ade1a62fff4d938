"""Name, place and word pools for the simulator: small, hand-written, no extra packages.

Every value that could reach a real person is drawn from space reserved for examples:
email domains end in ``.example`` (RFC 2606), IP addresses come from the documentation
ranges (RFC 5737 / RFC 3849) and the shared carrier range (RFC 6598), and UK mobile numbers
from Ofcom's drama range. Phone numbers elsewhere are random but well-formed E.164.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from random import Random


def _digits(rng: Random, n: int) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(n))


def _us_phone(rng: Random) -> str:
    area = rng.choice(["212", "312", "415", "512", "617", "305", "206", "404", "702", "720"])
    return f"+1{area}555{_digits(rng, 4)}"


def _gb_phone(rng: Random) -> str:
    return f"+447700{_digits(rng, 6)}"


def _in_phone(rng: Random) -> str:
    return f"+91{rng.choice('6789')}{_digits(rng, 9)}"


def _ph_phone(rng: Random) -> str:
    return f"+639{rng.choice(['17', '18', '20', '27', '55', '95'])}{_digits(rng, 7)}"


def _ng_phone(rng: Random) -> str:
    return f"+234{rng.choice(['803', '806', '813', '703', '706', '810', '905'])}{_digits(rng, 7)}"


def _es_phone(rng: Random) -> str:
    return f"+34{rng.choice('67')}{_digits(rng, 8)}"


def _mx_phone(rng: Random) -> str:
    area = rng.choice(["55", "33", "81", "222", "442"])
    return f"+52{area}{_digits(rng, 10 - len(area))}"


def _ar_phone(rng: Random) -> str:
    return f"+54911{_digits(rng, 8)}"


def _co_phone(rng: Random) -> str:
    return f"+573{rng.choice(['00', '01', '10', '12', '15', '20'])}{_digits(rng, 7)}"


def _br_phone(rng: Random) -> str:
    ddd = rng.choice(["11", "21", "31", "41", "51", "61", "71", "81", "85", "19"])
    return f"+55{ddd}9{_digits(rng, 8)}"


def _pt_phone(rng: Random) -> str:
    return f"+3519{rng.choice('1236')}{_digits(rng, 7)}"


@dataclass(frozen=True)
class Country:
    code: str
    locale: str
    weight: float
    female: tuple[str, ...]
    male: tuple[str, ...]
    surnames: tuple[str, ...]
    cities: tuple[str, ...]
    phone: Callable[[Random], str]
    # Spanish-speaking countries use two surnames in legal names (paternal, maternal).
    two_surnames: bool = False

    @property
    def language(self) -> str:
        return self.locale.split("-", 1)[0]


def _t(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_ES_F = _t("María Carmen Lucía Laura Marta Paula Elena Sara Cristina Ana Alba Nuria Irene Raquel")
_ES_M = _t(
    "Antonio Manuel José David Javier Daniel Alejandro Pablo Sergio Carlos Jorge Álvaro Rubén"
)
_ES_S = _t(
    "García Fernández González Rodríguez López Martínez Sánchez Pérez Gómez Martín Jiménez "
    "Ruiz Hernández Díaz Moreno Muñoz Álvarez Romero Navarro Torres Domínguez Gil Serrano"
)
_MX_F = _t("Guadalupe Fernanda Ximena Valeria Daniela Mariana Sofía Andrea Itzel Citlali Karla")
_MX_M = _t("Juan Luis Miguel Ángel Jesús Eduardo Ricardo Fernando Óscar Emiliano Diego Arturo")
_MX_S = _t(
    "Hernández García Martínez López González Pérez Rodríguez Sánchez Ramírez Cruz Flores "
    "Gómez Morales Vázquez Reyes Jiménez Torres Díaz Gutiérrez Ruiz Mendoza Aguilar Castillo"
)
_AR_F = _t("Florencia Camila Agustina Micaela Lucía Martina Sol Julieta Rocío Milagros")
_AR_M = _t("Santiago Matías Nicolás Facundo Lautaro Tomás Franco Gonzalo Ezequiel Joaquín")
_AR_S = _t(
    "González Rodríguez Gómez Fernández López Díaz Martínez Pérez Romero Sosa Ferreyra Acosta"
)
_CO_F = _t("Valentina Isabella Natalia Carolina Juliana Paola Catalina Angélica Yuliana")
_CO_M = _t("Andrés Felipe Sebastián Camilo Esteban Mauricio Julián Alejandro Cristian")
_CO_S = _t("Rodríguez Gómez González Martínez García López Ramírez Sánchez Vargas Castro Ospina")
_BR_F = _t(
    "Ana Maria Juliana Fernanda Beatriz Larissa Camila Gabriela Letícia Patrícia Aline Bruna"
)
_BR_M = _t("João Pedro Lucas Gabriel Rafael Mateus Gustavo Felipe Thiago Rodrigo Bruno Leonardo")
_BR_S = _t(
    "Silva Santos Oliveira Souza Rodrigues Ferreira Alves Pereira Lima Gomes Costa Ribeiro "
    "Martins Carvalho Almeida Lopes Barbosa Araújo Rocha Dias Nascimento Moreira Cardoso"
)
_PT_F = _t("Inês Beatriz Mariana Leonor Matilde Carolina Joana Rita Sofia Catarina Marta")
_PT_M = _t("Tiago Diogo Duarte Rodrigo Gonçalo Miguel Francisco Tomás Afonso Rui Nuno")
_PT_S = _t(
    "Silva Santos Ferreira Pereira Oliveira Costa Rodrigues Martins Jesus Sousa Fernandes "
    "Gonçalves Gomes Lopes Marques Alves Almeida Ribeiro Pinto Carvalho Teixeira Moreira"
)
_US_F = _t("Emily Jessica Ashley Sarah Megan Hannah Olivia Madison Rachel Lauren Brittany Kayla")
_US_M = _t("Michael Christopher Matthew Joshua Tyler Andrew Ryan Brandon Justin Kevin Jason Eric")
_US_S = _t(
    "Smith Johnson Williams Brown Jones Miller Davis Wilson Anderson Taylor Thomas Moore "
    "Jackson Martin Lee Thompson White Harris Clark Lewis Walker Hall Young Allen"
)
_GB_F = _t("Olivia Amelia Charlotte Sophie Emily Jessica Chloe Lucy Eleanor Hannah Abigail Poppy")
_GB_M = _t("Oliver Harry George Jack Charlie Thomas James William Alfie Joshua Samuel Callum")
_GB_S = _t(
    "Smith Jones Taylor Brown Williams Wilson Johnson Davies Robinson Wright Thompson Evans "
    "Walker White Roberts Green Hall Wood Jackson Clarke Hughes Edwards Turner"
)
_IN_F = _t("Priya Ananya Kavya Divya Sneha Pooja Aishwarya Meera Lakshmi Neha Riya Shreya")
_IN_M = _t("Rahul Arjun Vikram Rohan Aditya Karthik Siddharth Amit Rajesh Suresh Nikhil Varun")
_IN_S = _t(
    "Sharma Verma Patel Gupta Singh Kumar Reddy Iyer Nair Rao Joshi Mehta Desai Chatterjee "
    "Banerjee Menon Pillai Agarwal Malhotra Kapoor"
)
_PH_F = _t("Maria Kristine Angelica Jasmine Princess Camille Nicole Mary Joy Rowena Lovely")
_PH_M = _t("Mark John Paul Jerome Christian Joshua Jericho Rommel Arnel Ramon Jomar Reynaldo")
_PH_S = _t(
    "Santos Reyes Cruz Bautista Ocampo Garcia Mendoza Torres Tomas Villanueva Ramos "
    "Aquino Navarro Castillo Dela_Cruz Soriano Manalo Mercado"
)
_NG_F = _t("Chiamaka Ngozi Aisha Funmilayo Adaeze Blessing Oluwaseun Chioma Halima Yetunde Amaka")
_NG_M = _t("Chinedu Emeka Oluwadamilare Ibrahim Tunde Obinna Uchenna Segun Musa Ifeanyi Babatunde")
_NG_S = _t(
    "Okafor Adeyemi Okonkwo Eze Bello Abubakar Olawale Nwosu Adebayo Ogunleye Ibekwe "
    "Chukwu Balogun Onyeka Danjuma Akinola"
)

COUNTRIES: tuple[Country, ...] = (
    Country(
        "US",
        "en-US",
        0.15,
        _US_F,
        _US_M,
        _US_S,
        _t("Austin Chicago Seattle Denver Atlanta Miami Boston Phoenix"),
        _us_phone,
    ),
    Country(
        "GB",
        "en-GB",
        0.07,
        _GB_F,
        _GB_M,
        _GB_S,
        _t("London Manchester Leeds Bristol Glasgow Liverpool Brighton"),
        _gb_phone,
    ),
    Country(
        "IN",
        "en-IN",
        0.10,
        _IN_F,
        _IN_M,
        _IN_S,
        _t("Bengaluru Mumbai Delhi Pune Hyderabad Chennai Kolkata"),
        _in_phone,
    ),
    Country(
        "PH",
        "en-PH",
        0.07,
        _PH_F,
        _PH_M,
        _PH_S,
        _t("Manila Quezon_City Cebu Davao Makati Pasig Iloilo"),
        _ph_phone,
    ),
    Country(
        "NG",
        "en-NG",
        0.06,
        _NG_F,
        _NG_M,
        _NG_S,
        _t("Lagos Abuja Ibadan Enugu Port_Harcourt Kano Benin_City"),
        _ng_phone,
    ),
    Country(
        "ES",
        "es-ES",
        0.09,
        _ES_F,
        _ES_M,
        _ES_S,
        _t("Madrid Barcelona Valencia Sevilla Zaragoza Málaga Bilbao"),
        _es_phone,
        True,
    ),
    Country(
        "MX",
        "es-MX",
        0.12,
        _MX_F,
        _MX_M,
        _MX_S,
        _t("Ciudad_de_México Guadalajara Monterrey Puebla Querétaro Mérida"),
        _mx_phone,
        True,
    ),
    Country(
        "AR",
        "es-AR",
        0.05,
        _AR_F,
        _AR_M,
        _AR_S,
        _t("Buenos_Aires Córdoba Rosario Mendoza La_Plata"),
        _ar_phone,
        True,
    ),
    Country(
        "CO",
        "es-CO",
        0.05,
        _CO_F,
        _CO_M,
        _CO_S,
        _t("Bogotá Medellín Cali Barranquilla Bucaramanga"),
        _co_phone,
        True,
    ),
    Country(
        "BR",
        "pt-BR",
        0.16,
        _BR_F,
        _BR_M,
        _BR_S,
        _t("São_Paulo Rio_de_Janeiro Belo_Horizonte Curitiba Porto_Alegre Recife Salvador"),
        _br_phone,
    ),
    Country(
        "PT",
        "pt-PT",
        0.08,
        _PT_F,
        _PT_M,
        _PT_S,
        _t("Lisboa Porto Braga Coimbra Faro Aveiro"),
        _pt_phone,
    ),
)


def place(name: str) -> str:
    """Pools keep multi-word names joined with ``_`` so they split on spaces."""
    return name.replace("_", " ")


# Ordinary mailbox providers, as reserved example domains.
MAIL_DOMAINS = {
    "en": ("mail.example", "inbox.example", "post.example", "webmail.example"),
    "es": ("correo.example", "mail.example", "buzon.example", "webmail.example"),
    "pt": ("email.example", "caixa.example", "mail.example", "correio.example"),
}
DISPOSABLE_DOMAINS = ("tempmail.example", "throwaway.example", "10minute.example", "burner.example")

# --- what people sell, by marketplace and language ------------------------------------------

SELLER_OFFERS: dict[str, dict[str, tuple[str, ...]]] = {
    "freelance": {
        "en": (
            "Web developer",
            "Logo designer",
            "Copywriter",
            "Virtual assistant",
            "Video editor",
            "WordPress expert",
            "Data analyst",
            "Mobile app developer",
            "SEO specialist",
            "Bookkeeper",
        ),
        "es": (
            "Desarrollador web",
            "Diseñadora de logos",
            "Redactor de contenidos",
            "Asistente virtual",
            "Editor de vídeo",
            "Traductora EN-ES",
            "Community manager",
            "Programador Python",
        ),
        "pt": (
            "Desenvolvedor web",
            "Designer gráfico",
            "Redator publicitário",
            "Assistente virtual",
            "Editor de vídeo",
            "Tradutora EN-PT",
            "Social media",
            "Analista de dados",
        ),
    },
    "services": {
        "en": (
            "Plumber",
            "Electrician",
            "House cleaner",
            "Handyman",
            "Painter",
            "Mover",
            "Gardener",
            "Dog walker",
            "Photographer",
            "Locksmith",
        ),
        "es": (
            "Fontanero",
            "Electricista",
            "Limpieza del hogar",
            "Manitas",
            "Pintor",
            "Mudanzas",
            "Jardinero",
            "Paseador de perros",
            "Cerrajero",
        ),
        "pt": (
            "Encanador",
            "Eletricista",
            "Diarista",
            "Marido de aluguel",
            "Pintor",
            "Mudanças",
            "Jardineiro",
            "Fotógrafo",
            "Chaveiro",
        ),
    },
    "courses": {
        "en": (
            "Excel for business",
            "Guitar for beginners",
            "Python from zero",
            "Photography basics",
            "IELTS preparation",
            "Digital marketing",
            "Yoga at home",
        ),
        "es": (
            "Excel para empresas",
            "Guitarra desde cero",
            "Python desde cero",
            "Fotografía con el móvil",
            "Inglés para el trabajo",
            "Marketing digital",
        ),
        "pt": (
            "Excel para negócios",
            "Violão para iniciantes",
            "Python do zero",
            "Fotografia com celular",
            "Inglês para o trabalho",
            "Marketing digital",
        ),
    },
}

# (buyer side, seller side) per marketplace kind.
MARKETPLACE_SIDES = {
    "freelance": ("client", "freelancer"),
    "services": ("customer", "pro"),
    "courses": ("student", "instructor"),
}

# --- what users write when they report someone ---------------------------------------------
# Keyed by report kind, then language. These are the reporter's own words.

REPORT_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "off_platform": {
        "en": (
            "He asked me to pay him through PayPal friends and family instead of here.",
            "Said we would both save on fees if I sent the money by Zelle.",
            "She gave me her WhatsApp and wants the payment outside the platform.",
            "Asked for a bank transfer directly, said the site takes too much.",
        ),
        "es": (
            "Me pidió que le pagara por fuera de la plataforma.",
            "Quería que le transfiriera por Mercado Pago directamente para no pagar comisión.",
            "Me pasó su WhatsApp y me dijo que le pagara en efectivo.",
            "Insistió en que le hiciera una transferencia bancaria fuera de la web.",
        ),
        "pt": (
            "Pediu para eu pagar por fora da plataforma via Pix.",
            "Me passou o WhatsApp e pediu pagamento direto, sem taxa.",
            "Disse que se eu pagasse por fora sairia mais barato.",
            "Quer que eu faça uma transferência direto na conta dele.",
        ),
    },
    "scam": {
        "en": (
            "I paid the deposit and the account disappeared. Never delivered anything.",
            "Sent me a fake payment screenshot and asked me to refund the difference.",
            "Took the money and blocked me on chat.",
        ),
        "es": (
            "Pagué el anticipo y nunca entregó nada. Ya no contesta.",
            "Me mandó un comprobante de pago falso y me pidió que le devolviera la diferencia.",
            "Se quedó con el dinero y me bloqueó.",
        ),
        "pt": (
            "Paguei o sinal e ele sumiu. Nunca entregou nada.",
            "Mandou um comprovante falso e pediu para eu devolver a diferença.",
            "Pegou o dinheiro e me bloqueou no chat.",
        ),
    },
    "fake_reviews": {
        "en": (
            "All the five-star reviews on this profile appeared on the same day from new accounts.",
        ),
        "es": ("Todas las reseñas de cinco estrellas salieron el mismo día y de cuentas nuevas.",),
        "pt": ("Todas as avaliações cinco estrelas apareceram no mesmo dia, de contas novas.",),
    },
    "rude": {
        "en": (
            "He was rude in the chat when I asked for a revision.",
            "Very unprofessional messages after I left a three-star review.",
        ),
        "es": (
            "Me habló de mala manera cuando le pedí cambios.",
            "Mensajes muy groseros después de que le dejé tres estrellas.",
        ),
        "pt": (
            "Foi grosseiro quando pedi ajustes no trabalho.",
            "Mandou mensagens agressivas depois da minha avaliação.",
        ),
    },
    "quality": {
        "en": (
            "Delivered three days late and the work was incomplete.",
            "The result looks nothing like the samples on the profile.",
        ),
        "es": (
            "Entregó tres días tarde y el trabajo estaba incompleto.",
            "El resultado no se parece en nada a lo que muestra en su perfil.",
        ),
        "pt": (
            "Entregou com três dias de atraso e o trabalho estava incompleto.",
            "O resultado não tem nada a ver com o portfólio do perfil.",
        ),
    },
    "impersonation": {
        "en": ("This profile uses photos and the portfolio of another person I know.",),
        "es": ("Este perfil usa las fotos y el portafolio de otra persona que conozco.",),
        "pt": ("Esse perfil usa as fotos e o portfólio de outra pessoa que eu conheço.",),
    },
    "legal_threat": {
        "en": (
            "I have filed a police report about this account and my lawyer will contact you "
            "for your records.",
        ),
        "es": (
            "Ya puse una denuncia en la policía por esta cuenta y mi abogado les pedirá los "
            "registros.",
        ),
        "pt": (
            "Já fiz um boletim de ocorrência contra essa conta e meu advogado vai pedir os "
            "registros de vocês.",
        ),
    },
}

# Internal notes, written by the team in English.
NOTES = {
    "ring": (
        "Checked linked accounts: same device and card fingerprint across the group, all "
        "registered within hours.",
        "Orders from this group were paid with the same card; two chargebacks already.",
    ),
    "scam": (
        "New account, six devices in two days, disposable email. Reporter's story matches "
        "the chat log.",
        "Payment screenshot in the chat is edited: the transaction id does not exist.",
    ),
    "off_platform": (
        "Chat log confirms the request to pay outside the platform. First offence on record.",
        "User shared a phone number in the first message; classic off-platform pattern.",
    ),
    "duplicate": (
        "Same legal name and date of birth as a suspended account; new email and phone.",
        "Selfie matches the suspended account's document photo.",
    ),
    "fake_reviews": (
        "Reviewers were created the same day and share one IP; reviews are near-identical.",
    ),
    "benign": (
        "Read the whole conversation; a disagreement about scope, not a policy violation.",
        "Nothing in the chat breaks the rules. Suggested the users use the dispute flow.",
    ),
}

# What solicitors write in chat, as flagged by the message model.
OFF_PLATFORM_MESSAGES = {
    "en": (
        "Text me on WhatsApp and pay me directly, we both skip the fees.",
        "Send it by Zelle to this number and I'll start today.",
    ),
    "es": (
        "Te paso mi WhatsApp y me pagas por Mercado Pago, así nos ahorramos la comisión.",
        "Mejor hazme una transferencia directa y empiezo hoy mismo.",
    ),
    "pt": (
        "Me chama no WhatsApp e faz um Pix direto pra mim, sai mais barato.",
        "Paga por fora que eu te dou desconto, a plataforma cobra muito.",
    ),
}
