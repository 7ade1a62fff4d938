"""Imports every table so that ``Base.metadata`` is complete (Alembic, tests)."""

from vigil.accounts import models as accounts_models
from vigil.analytics.clusters import models as clusters_models
from vigil.analytics.goals import models as goals_models
from vigil.analytics.incidents import models as incidents_models
from vigil.analytics.trends import models as trends_models
from vigil.appeals import models as appeals_models
from vigil.audit import models as audit_models
from vigil.auth import models as auth_models
from vigil.cases import models as cases_models
from vigil.communications import models as communications_models
from vigil.detection import models as detection_models
from vigil.detection.links import models as links_models
from vigil.detection.rules import models as rules_models
from vigil.disputes import models as disputes_models
from vigil.dsa import models as dsa_models
from vigil.dsa import order_models as dsa_order_models
from vigil.enforcement import models as enforcement_models
from vigil.identity import models as identity_models
from vigil.integrations import models as integrations_models
from vigil.jobs import models as jobs_models
from vigil.kit.models import Base
from vigil.policies import models as policies_models
from vigil.privacy import models as privacy_models
from vigil.quality import models as quality_models
from vigil.screening import models as screening_models
from vigil.simulate import models as simulate_models

__all__ = [
    "Base",
    "accounts_models",
    "appeals_models",
    "audit_models",
    "auth_models",
    "cases_models",
    "clusters_models",
    "communications_models",
    "detection_models",
    "disputes_models",
    "dsa_models",
    "dsa_order_models",
    "enforcement_models",
    "goals_models",
    "identity_models",
    "incidents_models",
    "integrations_models",
    "jobs_models",
    "links_models",
    "policies_models",
    "privacy_models",
    "quality_models",
    "rules_models",
    "screening_models",
    "simulate_models",
    "trends_models",
]
