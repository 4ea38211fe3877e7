"""Merge fields: what a recipient reads for each way a sender writes a placeholder."""

import pytest

from blasts.rendering import MERGE_FIELDS, compile_template, merge_values, render, unknown_fields

ANN = {"first": "Ann", "last": "Lee", "city": "Austin"}


def test_every_merge_field_renders():
    values = {name: f"<{name}>" for name in MERGE_FIELDS}
    text = " ".join(f"{{{name}}}" for name in MERGE_FIELDS)
    assert render(text, values) == " ".join(f"<{name}>" for name in MERGE_FIELDS)


def test_merge_fields_match_the_subscriber_contact_fields():
    assert MERGE_FIELDS == ("first", "last", "phone", "email", "address", "city", "state", "zip")


@pytest.mark.parametrize("placeholder", ["{first}", "{First}", "{FIRST}", "{fIrSt}"])
def test_field_names_are_case_insensitive(placeholder):
    assert render(f"Hi {placeholder}!", ANN) == "Hi Ann!"


def test_fields_repeat_and_sit_next_to_each_other():
    assert render("{first}{last} {first}", ANN) == "AnnLee Ann"


def test_fallback_replaces_a_missing_value():
    assert render("Hi {first|there},", {}) == "Hi there,"


@pytest.mark.parametrize("value", ["", " ", "\t\n", None])
def test_fallback_replaces_an_empty_or_blank_value(value):
    assert render("Hi {first|there},", {"first": value}) == "Hi there,"


def test_fallback_is_unused_when_the_value_is_present():
    assert render("Hi {first|there},", ANN) == "Hi Ann,"


def test_value_is_inserted_as_given_including_surrounding_spaces():
    assert render("[{first}]", {"first": " Ann "}) == "[ Ann ]"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hi {first|my friend}!", "Hi my friend!"),
        ("Hi {first| there }!", "Hi  there !"),
        ("Hi {first|}!", "Hi !"),
        ("Hi {first|a|b}!", "Hi a|b!"),
        ("From {city|your town, TX}", "From your town, TX"),
    ],
)
def test_fallback_is_taken_verbatim(text, expected):
    assert render(text, {}) == expected


def test_missing_value_without_fallback_is_empty():
    assert render("Hi {first}, from {city}", {"city": "Austin"}) == "Hi , from Austin"


def test_values_do_not_get_rendered_again():
    assert render("{first}", {"first": "{last}", "last": "Lee"}) == "{last}"


@pytest.mark.parametrize(
    "text",
    [
        "{foo}",
        "{foo|bar}",
        "{first_name}",
        '{"a": 1}',
        "{ first }",
        "{first }",
        "{}",
        "{|there}",
        "{first",
        "first}",
        "{1first}",
        "{first|multi\nline}",
        "{first|{nested}}",
    ],
)
def test_anything_else_in_braces_is_left_as_written(text):
    template = compile_template(text)
    assert template.render(ANN) == text
    assert template.is_static


def test_literal_braces_around_a_field_stay():
    assert render('{"name": "{first}"}', ANN) == '{"name": "Ann"}'
    assert render("{{first}}", ANN) == "{Ann}"
    assert render("{foo} {first} {", ANN) == "{foo} Ann {"


def test_template_reports_the_fields_it_uses():
    template = compile_template("Hi {First|there} {last}, {first} {foo}")
    assert template.fields == {"first", "last"}
    assert not template.is_static


def test_static_template_renders_its_text():
    template = compile_template("No fields here.")
    assert template.is_static
    assert template.fields == frozenset()
    assert template.render({}) == "No fields here."


def test_empty_text():
    assert compile_template("").is_static
    assert render("", ANN) == ""


def test_a_compiled_template_renders_many_recipients():
    template = compile_template("Hi {first|there}, see you in {city|town}.")
    recipients = [{"first": "Ann", "city": "Austin"}, {"first": ""}, {"city": "Reno"}]
    assert [template.render(r) for r in recipients] == [
        "Hi Ann, see you in Austin.",
        "Hi there, see you in town.",
        "Hi there, see you in Reno.",
    ]


def test_compile_template_is_cached():
    assert compile_template("Hi {first}") is compile_template("Hi {first}")


def test_non_ascii_text_and_values():
    assert render("¡Hola {first|amigo}! 🎉", {"first": "José"}) == "¡Hola José! 🎉"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hi {first} {last|x}", []),
        ("Hi {frist}", ["frist"]),
        ("Hi {Frist|there} {frist} {Frist}", ["Frist", "frist"]),
        ("{foo} {bar|baz} {foo}", ["foo", "bar"]),
        ("{first_name} {ZIP}", ["first_name"]),
        ('{"a": 1} { first } {} {1x}', []),
    ],
)
def test_unknown_fields_are_placeholder_shaped_names_we_do_not_support(text, expected):
    assert unknown_fields(text) == expected


# -- custom attributes -------------------------------------------------------------------------------


def test_attributes_render_by_their_exact_name_with_fallbacks():
    values = merge_values({"first": "Ada", "attributes": {"COLOR": "BLACK", "VIP": True, "ORDERS": 3.0, "RATE": 2.5}})
    text = "{first}: {attr.COLOR|none}, {ATTR.VIP}, {attr.ORDERS}, {attr.RATE}, {attr.color|lower case differs}"
    assert render(text, values) == "Ada: BLACK, true, 3, 2.5, lower case differs"
    assert render("{attr.SHOE|no size}", values) == "no size"
    assert compile_template("{attr.COLOR}").uses_attributes and not compile_template("{first}").uses_attributes


@pytest.mark.parametrize("text", ["{attr.}", "{attr.9x}", "{foo.bar}", "{attr.COLOR.x}"])
def test_dotted_text_that_is_no_attribute_stays_as_written_and_is_not_reported(text):
    assert render(text, merge_values({"attributes": {"COLOR": "RED"}})) == text
    assert unknown_fields(text) == []
