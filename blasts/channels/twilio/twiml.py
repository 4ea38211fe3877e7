"""TwiML, the XML our Twilio hooks answer with, built one way: the SDK's response builders."""

from django.http import HttpResponse
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import Gather, VoiceResponse

NO_INPUT = "We didn't receive any input. Goodbye."


def voice_twiml(
    *, text: str, audio_url: str = "", ivr: bool = False, gather_action: str = "", language: str = "en-US"
) -> str:
    """The call's message: the recording at `audio_url` if any, else `text` read aloud. With
    `ivr` the message waits for one key press, posted to `gather_action`; no key, a goodbye."""
    response = VoiceResponse()
    target = Gather(num_digits=1, action=gather_action or None, method="POST") if ivr else response
    if audio_url:
        target.play(audio_url)
    else:
        target.say(text, language=language)
    if ivr:
        response.append(target)
        response.say(NO_INPUT, language=language)
    return str(response)


def gather_twiml(digit: str = "", *, language: str = "en-US") -> str:
    """The answer to a key press of an IVR call: thanks, then hang up."""
    response = VoiceResponse()
    response.say("Thank you.", language=language)
    response.hangup()
    return str(response)


def message_twiml(answer: str | None) -> str:
    """The answer to an inbound text: `answer` texted back, or nothing."""
    response = MessagingResponse()
    if answer:
        response.message(answer)
    return str(response)


def twiml_response(xml: str) -> HttpResponse:
    return HttpResponse(xml, content_type="application/xml")
