"""HTTP API: messages to users, their templates and macros.

Reading a case's messages needs ``cases:read`` (and sight of the case); writing to a user
``messages:send``; editing templates and macros ``policies:write``. Every refusal is a 4xx with
a stable ``code`` and the ``field`` at fault, and writes nothing.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from vigil.accounts.service import masks_personal_data
from vigil.api.deps import DB, AppSettings, CasesRead, MessagesSend, PoliciesRead, PoliciesWrite
from vigil.auth.principal import Principal
from vigil.communications import service, templating
from vigil.communications.models import Message
from vigil.communications.schemas import (
    CaseMessageBody,
    MacroCreate,
    MacroOut,
    MacroPage,
    MacroPatch,
    MacroRenderBody,
    MessageList,
    MessageOut,
    PreviewBody,
    RenderedOut,
    TemplateCreate,
    TemplateList,
    TemplateOut,
    TemplatePatch,
    TemplateVersionList,
    TemplateVersionOut,
)

router = APIRouter(tags=["messages"])

Id = Annotated[int, Path(ge=1, le=2**63 - 1)]


def _out(db: DB, actor: Principal, messages: list[Message]) -> list[MessageOut]:
    deliveries = service.deliveries_by_message(db, messages)
    masked = masks_personal_data(actor)
    return [MessageOut.of(m, masked=masked, deliveries=deliveries.get(m.id)) for m in messages]


@router.get(
    "/cases/{case_id}/messages", response_model=MessageList, summary="Messages sent on a case"
)
def case_messages(case_id: Id, db: DB, actor: CasesRead) -> MessageList:
    return MessageList(items=_out(db, actor, service.case_messages(db, actor, case_id)))


@router.post(
    "/cases/{case_id}/messages",
    response_model=MessageList,
    status_code=status.HTTP_201_CREATED,
    summary="Write to the case's account: from a macro, or free text",
)
def send_case_message(
    case_id: Id, body: CaseMessageBody, db: DB, settings: AppSettings, actor: MessagesSend
) -> MessageList:
    sent = service.send_to_case(
        db,
        actor,
        settings,
        case_id,
        channels=[c.value for c in body.channels],
        macro_id=body.macro_id,
        subject=body.subject,
        body=body.body,
        context=body.context,
    )
    return MessageList(items=_out(db, actor, sent))


@router.get("/messages/{message_id}", response_model=MessageOut, summary="One message")
def get_message(message_id: Id, db: DB, actor: CasesRead) -> MessageOut:
    return _out(db, actor, [service.get_message(db, actor, message_id)])[0]


@router.post(
    "/messages/preview",
    response_model=RenderedOut,
    summary="Render the template for a policy, action and locale",
)
def preview(body: PreviewBody, db: DB, settings: AppSettings, actor: MessagesSend) -> RenderedOut:
    rendered = service.preview(
        db,
        actor,
        settings,
        policy_code=body.policy_code,
        action=body.action,
        locale=body.locale,
        context=body.context,
        case_id=body.case_id,
        scope=body.scope,
    )
    return RenderedOut.of(rendered)


# --- templates ------------------------------------------------------------------------------


@router.get(
    "/message-templates",
    response_model=TemplateList,
    summary="Shipped templates and the overrides that replace them",
)
def list_templates(
    db: DB,
    _actor: PoliciesRead,
    locale: Annotated[str | None, Query(max_length=8)] = None,
    action: Annotated[str | None, Query(max_length=32)] = None,
    policy_code: Annotated[str | None, Query(max_length=100)] = None,
) -> TemplateList:
    entries = templating.list_templates(db, locale=locale, action=action, policy_code=policy_code)
    return TemplateList(items=[TemplateOut.of(e) for e in entries])


@router.post(
    "/message-templates",
    response_model=TemplateOut,
    status_code=status.HTTP_201_CREATED,
    summary="Override a shipped template for one (policy, action, locale)",
)
def create_template(body: TemplateCreate, db: DB, actor: PoliciesWrite) -> TemplateOut:
    t = templating.create_template(db, actor, **body.model_dump())
    return TemplateOut.of_override(t)


@router.patch(
    "/message-templates/{template_id}",
    response_model=TemplateOut,
    summary="Change an override (a new version; the old ones are kept)",
)
def update_template(
    template_id: Id, body: TemplatePatch, db: DB, actor: PoliciesWrite
) -> TemplateOut:
    t = templating.update_template(db, actor, template_id, **body.model_dump())
    return TemplateOut.of_override(t)


@router.get(
    "/message-templates/{template_id}/versions",
    response_model=TemplateVersionList,
    summary="Every version of an override, oldest first",
)
def template_versions(template_id: Id, db: DB, _actor: PoliciesRead) -> TemplateVersionList:
    versions = templating.template_versions(db, template_id)
    return TemplateVersionList(items=[TemplateVersionOut.of(v) for v in versions])


# --- macros ---------------------------------------------------------------------------------


@router.get("/macros", response_model=MacroPage, summary="Saved replies")
def list_macros(
    db: DB,
    settings: AppSettings,
    _actor: PoliciesRead,
    locale: Annotated[str | None, Query(max_length=16)] = None,
    policy_code: Annotated[str | None, Query(max_length=100)] = None,
    include_inactive: bool = False,
    cursor: str | None = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> MacroPage:
    rows, next_cursor = service.list_macros(
        db,
        locale=locale,
        policy_code=policy_code,
        include_inactive=include_inactive,
        cursor=cursor,
        limit=min(limit or settings.page_size_default, settings.page_size_max),
    )
    return MacroPage(items=[MacroOut.of(m) for m in rows], next_cursor=next_cursor)


@router.post(
    "/macros", response_model=MacroOut, status_code=status.HTTP_201_CREATED, summary="Add a macro"
)
def create_macro(body: MacroCreate, db: DB, actor: PoliciesWrite) -> MacroOut:
    return MacroOut.of(service.create_macro(db, actor, **body.model_dump()))


@router.patch("/macros/{macro_id}", response_model=MacroOut, summary="Change a macro")
def update_macro(macro_id: Id, body: MacroPatch, db: DB, actor: PoliciesWrite) -> MacroOut:
    values = body.model_dump()
    clear_policy = values.get("policy_code") == ""
    if clear_policy:
        values["policy_code"] = None
    return MacroOut.of(
        service.update_macro(db, actor, macro_id, clear_policy=clear_policy, **values)
    )


@router.post(
    "/macros/{macro_id}/render",
    response_model=RenderedOut,
    summary="Fill in a macro with a case's context (or a given or sample one)",
)
def render_macro(
    macro_id: Id, body: MacroRenderBody, db: DB, settings: AppSettings, actor: MessagesSend
) -> RenderedOut:
    rendered = service.render_macro_for(
        db, actor, settings, macro_id, case_id=body.case_id, context=body.context
    )
    return RenderedOut.of(rendered)
