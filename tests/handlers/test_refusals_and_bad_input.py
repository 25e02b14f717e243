"""Every step refuses a non-admin, and bad input gets a clear answer, changes nothing, and the
server keeps serving."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from storage.db import transaction
from storage.models import Settlement
from tests.handlers.test_settle_flow import ADMIN, STRANGER
from tests.harness import Harness, Response, eventually
from tests.slack_requests import get, interactive_body, post, signed_headers


@pytest.fixture
def h(acme: Harness) -> Harness:
    return acme


def alert_ref(h: Harness) -> str:
    return json.dumps({"k": "alert", "id": h.alert_row().id})


def settlement_count(h: Harness) -> int:
    with transaction(h.services.sessions) as s:
        return int(s.scalar(select(func.count()).select_from(Settlement)) or 0)


def _click(h: Harness) -> Response:
    return h.click(STRANGER)[0]


def _refresh(h: Harness) -> Response:
    view_id = h.open_modal(ADMIN)
    return h.modal_action(view_id, STRANGER, "refresh_methods", alert_ref(h))


def _check_verification(h: Harness) -> Response:
    view_id = h.settle_with(ADMIN, "pm_acme_4", "Verify with your bank")
    sid = json.loads(h.view(view_id)["private_metadata"])["id"]
    return h.modal_action(view_id, STRANGER, "check_verification", json.dumps({"k": "batch", "id": sid}))


def _pick(h: Harness) -> Response:
    view_id = h.open_modal(ADMIN)
    return h.choose(view_id, STRANGER, "pm_acme_2")


def _confirm(h: Harness) -> Response:
    view_id = h.open_modal(ADMIN)
    h.choose(view_id, ADMIN, "pm_acme_2")
    return h.confirm(view_id, STRANGER)


@pytest.mark.parametrize(
    "step",
    [_click, _refresh, _check_verification, _pick, _confirm],
    ids=["click", "refresh", "check_verification", "pick", "confirm"],
)
def test_every_step_refuses_a_non_admin(h: Harness, step: Callable[[Harness], Response]) -> None:
    before_settlements = settlement_count(h)
    resp = step(h)
    assert resp.status == 200
    time.sleep(0.2)  # give any (wrongly) started background work a moment
    assert "settle_refused" in h.audit()
    assert h.attempts() == [] or all(a.payment_method_id == "pm_acme_4" for a in h.attempts())
    inv = h.sandbox.get_invoice("in_acme_1")
    assert inv is not None and inv.status == "open"
    if step in (_pick, _click):
        assert settlement_count(h) == before_settlements
    with transaction(h.services.sessions) as s:
        statuses = set(s.scalars(select(Settlement.status)))
    assert statuses <= {"pending", "requires_action"}  # nothing the stranger did was charged


def raw(h: Harness, body: str, content_type: str = "application/x-www-form-urlencoded") -> int:
    return post(h.base + "/slack/events", body, signed_headers(body, content_type=content_type))[0]


def test_malformed_payloads_get_4xx_and_the_server_keeps_serving(h: Harness) -> None:
    assert raw(h, "payload=this-is-not-json") in range(400, 500)
    assert raw(h, "not even a form") in range(400, 500)
    assert raw(h, "{broken json", "application/json") in range(400, 500)
    assert raw(h, interactive_body({"type": "block_actions"})) in range(400, 500)  # wrong shape
    unknown_action = {
        "type": "block_actions",
        "user": {"id": ADMIN},
        "team": {"id": "T1"},
        "actions": [{"action_id": "no_such_action", "type": "button"}],
    }
    assert raw(h, interactive_body(unknown_action)) == 404
    view = {"id": "V1", "callback_id": "no_such_view", "state": {"values": {}}}
    submission = {"type": "view_submission", "user": {"id": ADMIN}, "team": {"id": "T1"}, "view": view}
    assert raw(h, interactive_body(submission)) == 400  # a view without its type
    assert raw(h, interactive_body({**submission, "view": {**view, "type": "modal"}})) == 404
    assert get(h.base + "/healthz")[0] == 200
    assert h.attempts() == []


@pytest.mark.parametrize("well_formed", [True, False])
def test_forged_and_stale_interactions_get_401(h: Harness, well_formed: bool) -> None:
    actions = [{"action_id": "settle_open", "value": "1"}] if well_formed else []
    body = interactive_body({"type": "block_actions", "user": {"id": ADMIN}, "actions": actions})
    assert post(h.base + "/slack/events", body, signed_headers(body, secret="nope"))[0] == 401
    assert post(h.base + "/slack/events", body, signed_headers(body, timestamp=int(time.time()) - 301))[0] == 401
    assert h.fake.calls_to("views.open") == []


@pytest.mark.parametrize("value", ["999999", "abc", json.dumps({"k": "batch", "id": 1}), "-1", ""])
def test_bad_button_values_open_nothing(h: Harness, value: str) -> None:
    resp, _ = h.click(ADMIN, value=value)
    assert resp.status == 200
    time.sleep(0.2)
    assert h.fake.calls_to("views.open") == []
    if value == "999999":
        eph = eventually(lambda: h.fake.calls_to("chat.postEphemeral"))
        assert "no longer exists" in eph[0].params["text"]


@pytest.mark.parametrize("metadata", ["", "garbage", json.dumps({"k": "alert", "id": 1})])
def test_confirm_with_bad_metadata_charges_nothing(h: Harness, metadata: str) -> None:
    view_id = h.open_modal(ADMIN)
    h.choose(view_id, ADMIN, "pm_acme_2")
    resp = h.submit(view_id, ADMIN, {}, view_override={"private_metadata": metadata})
    assert resp.status == 200
    eventually(lambda: "out of date" in h.view_text(view_id) + resp.body, message=h.view_text(view_id))
    assert h.attempts() == []


def test_pick_without_a_choice_is_a_field_error(h: Harness) -> None:
    view_id = h.open_modal(ADMIN)
    resp = h.submit(view_id, ADMIN, {})
    assert resp.json() == {"response_action": "errors", "errors": {"method": "Pick a payment method."}}
    resp = h.choose(view_id, ADMIN, "pm_someone_else")  # answered at once; then the card is checked
    assert resp.json()["response_action"] == "push"
    eventually(lambda: "no longer on the account" in h.view_text(view_id), message=h.view_text(view_id))
    h.back(view_id)  # Back returns to the choice, as it was
    assert h.view(view_id)["callback_id"] == "settle_pick"
    assert h.attempts() == []


def test_view_for_an_invoice_paid_meanwhile(h: Harness) -> None:
    view_id = h.open_modal(ADMIN)
    h.choose(view_id, ADMIN, "pm_acme_2")
    h.sandbox.pay_invoice("in_acme_1", "pm_acme_2", idempotency_key="paid-elsewhere")
    resp = h.confirm(view_id, ADMIN)
    assert resp.status == 200
    eventually(lambda: "already" in h.view_text(view_id).lower() or "paid" in h.view_text(view_id).lower())
    assert len(h.attempts()) == 1  # only the payment made elsewhere


def test_deleted_account_or_invoice_is_a_polite_dead_end(h: Harness) -> None:
    from bot.billing.sandbox.models import SandboxInvoice

    with transaction(h.services.sessions) as s:
        s.delete(s.get(SandboxInvoice, "in_acme_1"))
    _resp, trigger = h.click(ADMIN)
    view_id = eventually(lambda: h.fake.view_by_trigger.get(trigger))
    eventually(lambda: "no longer exists" in h.view_text(view_id), message=h.view_text(view_id))


def test_expired_trigger_is_reported_not_crashed(h: Harness) -> None:
    """Slack refuses views.open for a trigger older than 3 s: Settle tells the user to click again."""
    h.fake.errors["views.open"] = "expired_trigger_id"
    resp, _ = h.click(ADMIN)
    assert resp.status == 200
    eph = eventually(lambda: h.fake.calls_to("chat.postEphemeral"))
    assert eph[0].params["user"] == ADMIN
    assert "could not open the settle form in time" in eph[0].params["text"]
    time.sleep(0.2)
    assert h.fake.calls_to("views.update") == [] and "settle_form_opened" not in h.audit()
