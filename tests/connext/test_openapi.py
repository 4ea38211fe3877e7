"""The OpenAPI 3 schema at /api/v1/openapi.json and the docs page at /api/docs."""

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(anon):
    response = anon.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.json()


def test_schema_is_openapi_3_with_bearer_auth(schema):
    assert schema["openapi"].startswith("3.")
    assert schema["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "cnxt_...",
        "description": schema["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    assert schema["paths"]["/api/v1/groups"]["get"]["security"] == [{"bearerAuth": []}]


def test_schema_documents_the_real_error_shape_and_headers(schema):
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["message"]
    listing = schema["paths"]["/api/v1/groups"]["get"]
    for code in ("400", "401", "403", "429", "500"):
        assert listing["responses"][code]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }
    assert "X-Total-Count" in listing["responses"]["200"]["headers"]
    page = listing["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    assert schema["components"]["schemas"][page]["type"] == "array"  # a bare array, no envelope
    assert {p["name"] for p in listing["parameters"]} >= {"limit", "offset"}
    one = schema["paths"]["/api/v1/groups/{id}"]
    assert "404" in one["get"]["responses"]
    assert "put" not in one


def test_schema_generation_has_no_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))


def test_docs_page_is_served_without_the_network(anon):
    response = anon.get("/api/docs")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()
    assert b"/api/v1/openapi.json" in response.content


def test_booleans_are_documented_as_0_or_1(schema):
    group = schema["components"]["schemas"]["Group"]
    assert group["properties"]["private"] == {"type": "integer", "minimum": 0, "maximum": 1, "description": "0 or 1"}
