"""The client's models accept every real recorded response and the fixture shapes."""

import pytest
from idgraph.connector.postmark import Domain, MessageStream, SenderSignature, Server, Webhook
from idgraph.connector.postmark._models import ErrorBody
from pydantic import ValidationError

from .fixtures import recorded_responses

MODEL_FOR_PATH = [
    ("/server", Server, None),
    ("/senders/?", SenderSignature, "SenderSignatures"),
    ("/senders/", SenderSignature, None),
    ("/domains?", Domain, "Domains"),
    ("/domains", Domain, None),
]


def _model_for(entry):
    if entry["status"] != 200:
        return ErrorBody, None
    for prefix, model, key in MODEL_FOR_PATH:
        if entry["path"].startswith(prefix):
            return model, key
    raise AssertionError(f"no model for {entry['path']}")


def test_every_recorded_response_loads():
    entries = recorded_responses()
    assert len(entries) >= 10
    loaded = 0
    for entry in entries:
        model, key = _model_for(entry)
        body = entry["body"]
        items = body[key] if key else [body]
        for item in items:
            obj = model.model_validate(item)
            loaded += 1
            # nothing the API sent is lost: dumping by alias gives every key back
            assert set(item) <= set(obj.model_dump(by_alias=True))
    assert loaded >= 11


def test_old_server_shape_blank_strings_become_none():
    entry = next(e for e in recorded_responses() if e["path"] == "/server")
    server = Server.model_validate(entry["body"])
    assert server.delivery_type is None  # absent in 2016
    assert server.bounce_hook_url is None  # "" in 2016
    assert server.legacy_hook_urls == {}
    assert server.smtp_api_activated is True


def test_recorded_422_carries_error_code_that_is_not_a_status():
    errors = [e for e in recorded_responses() if e["status"] == 422]
    assert {ErrorBody.model_validate(e["body"]).error_code for e in errors} >= {505, 1101}


def test_unknown_fields_are_kept():
    server = Server.model_validate({"ID": 1, "Name": "x", "BrandNewField": {"a": 1}})
    assert server.model_extra == {"BrandNewField": {"a": 1}}
    assert server.api_dict()["BrandNewField"] == {"a": 1}


def test_fixture_objects_load(account):
    for server in account["Servers"]:
        Server.model_validate(server)
        for stream in server["MessageStreams"]:
            assert MessageStream.model_validate(stream).id
        for hook in server["Webhooks"]:
            assert Webhook.model_validate(hook).url
    for sender in account["SenderSignatures"]:
        SenderSignature.model_validate(sender)
    for domain in account["Domains"]:
        Domain.model_validate(domain)


def test_missing_identifier_is_refused():
    with pytest.raises(ValidationError):
        Server.model_validate({"Name": "no id"})
