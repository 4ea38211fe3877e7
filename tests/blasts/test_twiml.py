"""The TwiML our voice webhook answers with."""

import xml.etree.ElementTree as ET

from blasts.channels.twilio.twiml import gather_twiml, voice_twiml


def parse(twiml: str) -> ET.Element:
    assert twiml.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(twiml)
    assert root.tag == "Response"
    return root


def test_text_is_read_aloud_in_the_language():
    root = parse(voice_twiml(text="Schools close at noon & buses leave at 11 <sharp>.", language="es-MX"))

    [say] = list(root)
    assert say.tag == "Say"
    assert say.text == "Schools close at noon & buses leave at 11 <sharp>."
    assert say.get("language") == "es-MX"


def test_a_recording_is_played_instead_of_the_text():
    root = parse(voice_twiml(text="ignored", audio_url="https://cdn.example/msg.mp3?sig=a&exp=1"))

    [play] = list(root)
    assert (play.tag, play.text) == ("Play", "https://cdn.example/msg.mp3?sig=a&exp=1")


def test_ivr_wraps_the_message_in_a_one_digit_gather_then_says_goodbye():
    root = parse(voice_twiml(text="Press 1 to confirm.", ivr=True, gather_action="https://connext.example/g/5"))

    gather, goodbye = list(root)
    assert gather.tag == "Gather"
    assert gather.attrib == {"numDigits": "1", "action": "https://connext.example/g/5", "method": "POST"}
    [say] = list(gather)
    assert (say.tag, say.text) == ("Say", "Press 1 to confirm.")
    assert (goodbye.tag, goodbye.text) == ("Say", "We didn't receive any input. Goodbye.")


def test_ivr_with_a_recording_plays_it_inside_the_gather():
    root = parse(voice_twiml(text="", audio_url="https://cdn.example/ivr.wav", ivr=True, gather_action="/g"))

    gather, _ = list(root)
    assert [(c.tag, c.text) for c in gather] == [("Play", "https://cdn.example/ivr.wav")]


def test_without_ivr_there_is_no_gather():
    root = parse(voice_twiml(text="Hello"))

    assert [c.tag for c in root] == ["Say"]


def test_gather_answer_thanks_and_hangs_up():
    root = parse(gather_twiml("1"))

    assert [(c.tag, c.text) for c in root] == [("Say", "Thank you."), ("Hangup", None)]
