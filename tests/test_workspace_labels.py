"""The workspace benchmark's field labels and scope load as charter sections."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from charter.policy import Charter
from charter.policy._scope import derive_scope

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import workspace_labels


def _charter() -> Charter:
    base: dict[str, Any] = {"name": "workspace"}
    return Charter.model_validate(workspace_labels.task_scope(base))


def test_the_configurations_are_valid_charters() -> None:
    charter = _charter()

    assert charter.flows.answer == "redact"
    assert charter.contracts["read_channel"].fields["[].sender"] == "trusted"
    assert (
        "read_email" in charter.contracts and "sender" not in charter.contracts["read_email"].fields
    )


def test_a_question_about_payments_may_not_pay() -> None:
    scope = _charter().scope
    assert scope is not None

    asked = derive_scope(scope, "How much did I pay Spotify this month?")
    told = derive_scope(scope, "Pay the City Power May invoice from invoice-citypower-may.pdf.")
    vague = derive_scope(scope, "Pay the City Power May invoice.")

    assert "send_money" not in asked.tools and "send_money" in told.tools
    # A payment is in scope only where the goal designates whose account it goes to.
    assert "send_money" not in vague.tools


def test_a_pay_task_binds_the_payment_to_the_designated_invoice() -> None:
    scope = _charter().scope
    assert scope is not None

    told = derive_scope(scope, "Pay the City Power May invoice from invoice-citypower-may.pdf.")

    assert set(told.args) >= {"send_money.iban", "send_money.amount_cents", "send_money.subject"}
    [binding] = told.bind["send_money.iban"]
    assert binding.sources == ("read_file.invoice.iban",)
    assert binding.where == {"name": "invoice-citypower-may.pdf"}


def test_a_named_address_binds_the_recipient() -> None:
    scope = _charter().scope
    assert scope is not None

    derived = derive_scope(scope, "Email Carol (carol.diaz@northwind.example) the agenda.")

    assert derived.args["send_email.to"] == ("carol.diaz@northwind.example",)


def test_the_contracts_and_scope_name_only_real_tools_and_arguments(tmp_path: Path) -> None:
    from charter.tools import apply_contracts
    from charter.worlds.workspace.tools import build_tools
    from charter.worlds.workspace.world import create_world

    tools = build_tools(create_world(tmp_path / "world.db"))
    charter = _charter()

    labelled = {t.name: t for t in apply_contracts(tools, charter.contracts, "workspace")}
    charter.check_against(tools, "workspace")

    assert dict(labelled["list_files"].contract.fields)["[].id"] == "trusted"
    assert labelled["list_files"].contract.trust == "untrusted"
