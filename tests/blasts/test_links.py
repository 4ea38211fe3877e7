"""Links in messages: which text is the link, and how it is swapped for a short one."""

import re

import pytest

from blasts.links import CODE_ALPHABET, CODE_LENGTH, find_urls, new_code, replace_urls


def urls(text):
    return [url for _, _, url in find_urls(text)]


def test_finds_a_url_with_its_position():
    text = "Vote at https://example.com/vote today"
    assert find_urls(text) == [(8, 32, "https://example.com/vote")]
    assert text[8:32] == "https://example.com/vote"


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com",
        "https://example.com/",
        "HTTPS://Example.com/Path",
        "https://example.com:8443/a/b.html",
        "https://example.com/search?q=a+b&lang=en",
        "https://example.com/page#section-2",
        "https://example.com/p?x=1&y=2#frag",
        "https://user@example.com/a",
        "https://example.com/a%20b",
        "https://ex-ample.co.uk/~user/",
        "https://en.wikipedia.org/wiki/Mercury_(planet)",
        "https://example.com/a[1]",
        "https://example.com/café",
        "https://127.0.0.1/x",
        "https://example.com/path.with.dots",
        "https://example.com/?q=a,b",
        "https://example.com/ok!/yes",
    ],
)
def test_whole_url_is_found(url):
    assert urls(f"Go to {url} now") == [url]
    assert urls(url) == [url]


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("See https://example.com.", "https://example.com"),
        ("See https://example.com/a, then", "https://example.com/a"),
        ("Really https://example.com/a!", "https://example.com/a"),
        ("Seen https://example.com/a?", "https://example.com/a"),
        ("Seen https://example.com/a?!...", "https://example.com/a"),
        ("Here: https://example.com/a;", "https://example.com/a"),
        ("(see https://example.com/a)", "https://example.com/a"),
        ("(see https://example.com/a).", "https://example.com/a"),
        ("[https://example.com/a]", "https://example.com/a"),
        ("(https://en.wikipedia.org/wiki/Mercury_(planet))", "https://en.wikipedia.org/wiki/Mercury_(planet)"),
        ("'https://example.com/a'", "https://example.com/a"),
        ('"https://example.com/a"', "https://example.com/a"),
        ("“https://example.com/a”", "https://example.com/a"),
        ("<https://example.com/a>", "https://example.com/a"),
        ("https://example.com/a?q=1.", "https://example.com/a?q=1"),
        ("https://example.com/a#top.", "https://example.com/a#top"),
    ],
)
def test_trailing_punctuation_belongs_to_the_sentence(text, url):
    assert urls(text) == [url]


def test_multiple_urls_in_order():
    text = "A: https://a.example/1, B: http://b.example/2?x=y\nC:https://c.example"
    assert urls(text) == ["https://a.example/1", "http://b.example/2?x=y", "https://c.example"]
    for start, end, url in find_urls(text):
        assert text[start:end] == url


def test_adjacent_urls_split_on_whitespace():
    assert urls("https://a.example\thttps://b.example") == ["https://a.example", "https://b.example"]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "no links here",
        "www.example.com",
        "example.com/path",
        "ftp://example.com/file",
        "mailto:a@example.com",
        "http://",
        "https:// example.com",
        "http://.",
        "xhttps://example.com",
        "https:/example.com",
    ],
)
def test_not_a_url(text):
    assert find_urls(text) == []


def test_replace_urls_keeps_the_surrounding_text():
    text = "Vote (https://example.com/vote?id=7). Info: https://example.com/info!"
    replaced = replace_urls(text, lambda url: f"<{url[-4:]}>")
    assert replaced == "Vote (<id=7>). Info: <info>!"


def test_replace_urls_shortens_each_distinct_url_once():
    calls = []

    def make_short(url):
        calls.append(url)
        return f"https://s.example/l/{len(calls)}"

    text = "https://a.example then https://b.example and https://a.example."
    assert replace_urls(text, make_short) == (
        "https://s.example/l/1 then https://s.example/l/2 and https://s.example/l/1."
    )
    assert calls == ["https://a.example", "https://b.example"]


def test_replace_urls_without_urls_does_not_call_make_short():
    def make_short(url):
        raise AssertionError("called")

    assert replace_urls("Hi {first}, no links", make_short) == "Hi {first}, no links"
    assert replace_urls("", make_short) == ""


def test_replace_urls_leaves_merge_fields_outside_links_alone():
    replaced = replace_urls("Hi {first|there}: https://example.com/x", lambda url: "https://s.example/l/abc")
    assert replaced == "Hi {first|there}: https://s.example/l/abc"


def test_new_code_is_eight_base62_characters():
    code = new_code()
    assert CODE_LENGTH == 8
    assert re.fullmatch(r"[0-9A-Za-z]{8}", code)
    assert set(CODE_ALPHABET) == set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def test_new_codes_differ_and_use_the_whole_alphabet():
    codes = {new_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert set("".join(codes)) == set(CODE_ALPHABET)  # 16,000 draws miss a character with p < 1e-100
