"""Wire shapes of templates and blasts (API.md: groups by number, booleans 0/1)."""

from rest_framework import serializers

from blasts import rendering
from blasts.audience import AUDIO, is_audio
from blasts.models import Template
from connext.fields import (
    ConnextModelSerializer,
    ConnextSerializer,
    HttpURLField,
    IntBooleanField,
    SingleLineCharField,
    StrictCharField,
    StrictIntegerField,
)
from logs.models import CONTENT_KINDS, TEXT_KINDS, Kind
from subscribers.serializers import GroupNumbersField, WhereField

TYPES = (*Kind.values, AUDIO)  # sms mms voice email whatsapp rcs, and audio (a call playing the recording)
CONTENT_SID = r"^HX[0-9a-fA-F]{32}$"  # a Twilio Content template
MAX_CONTENT_VARIABLES = 100
SMS_MAX_CHARACTERS = 1600  # Twilio's limit for one message body
MAX_MEDIA = 10  # Twilio's limit of media per MMS


class TypesField(serializers.ListField):
    child = serializers.ChoiceField(choices=TYPES)

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_empty", False)
        kwargs.setdefault(
            "help_text", "Any of sms, mms, voice (text-to-speech), audio (a recording), email, whatsapp, rcs."
        )
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        return list(dict.fromkeys(super().to_internal_value(data)))  # once each, in order


class MediaSerializer(ConnextSerializer):
    url = HttpURLField(max_length=2048, help_text="http(s) URL of the file (image for MMS, audio for calls).")
    type = StrictCharField(max_length=100, required=False, help_text="MIME type, e.g. image/jpeg, audio/mpeg.")
    name = StrictCharField(max_length=255, required=False)


class ContentVariablesField(serializers.DictField):
    """Twilio Content variables: {"1": "Hi {first|there}"}; merge fields are rendered per recipient."""

    child = StrictCharField(max_length=1024, allow_blank=True)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if len(value) > MAX_CONTENT_VARIABLES:
            raise serializers.ValidationError(f"At most {MAX_CONTENT_VARIABLES} variables.")
        return value


# The fields of a WhatsApp / RCS template send, the same on blasts and schedules.
def content_sid_field(**kwargs):
    return serializers.RegexField(
        CONTENT_SID,
        source="content_sid",
        required=False,
        allow_blank=True,
        help_text="whatsapp, rcs: a Twilio Content template (HX...): a WhatsApp template approved by Meta, "
        "an RCS rich card or carousel. Required for whatsapp (outside the 24-hour session window only a "
        "template may be sent).",
        **kwargs,
    )


def content_variables_field(**kwargs):
    return ContentVariablesField(
        source="content_variables",
        required=False,
        help_text='The template\'s variables, e.g. {"1": "{first|there}", "2": "{attr.COLOR}"}: merge fields '
        "are filled per recipient.",
        **kwargs,
    )


def check_text_fields(attrs: dict) -> None:
    """Merge fields name fields we have (a subject is one header line: SingleLineCharField)."""
    errors = {}
    texts = {field: attrs.get(field, "") for field in ("message", "subject")}
    for key, value in (attrs.get("content_variables") or {}).items():
        texts[f"contentVariables.{key}"] = value
    for field, text in texts.items():
        unknown = rendering.unknown_fields(text)
        if unknown:
            names = ", ".join("{" + name + "}" for name in unknown)
            allowed = ", ".join("{" + name + "}" for name in rendering.MERGE_FIELDS)
            errors[field] = [
                f"Unknown merge field(s) {names}; use {allowed} or {{attr.NAME}}, with an optional |fallback."
            ]
    if errors:
        raise serializers.ValidationError(errors)


def check_content(attrs: dict) -> None:
    """What each type needs of a blast's content (`types message subject media ivr`), for
    `POST /blasts` and for a schedule's runs alike: a 400 naming each field that falls short."""
    types = attrs["types"]
    message = attrs.get("message", "").strip()
    media = attrs.get("media", [])
    errors = {}
    content_sid = attrs.get("content_sid", "")
    if not message and any(t in types for t in (Kind.SMS, Kind.VOICE, Kind.EMAIL)):
        needs = ", ".join(t for t in types if t in (Kind.SMS, Kind.VOICE, Kind.EMAIL))
        errors["message"] = [f"Required for {needs}."]
    if Kind.WHATSAPP in types and not content_sid:
        errors["contentSid"] = [
            "Required for whatsapp: outside the 24-hour session window WhatsApp takes only an approved "
            "template (the message, if any, goes as free text to recipients inside the window)."
        ]
    if Kind.RCS in types and not content_sid and not message:
        errors["message"] = ["Required for rcs: a message or a contentSid."]
    if (content_sid or attrs.get("content_variables")) and not set(CONTENT_KINDS) & set(types):
        errors["contentSid" if content_sid else "contentVariables"] = ["Only for whatsapp or rcs."]
    if Kind.MMS in types and not media and not message:
        errors["message"] = ["An mms needs a message or media."]
    if Kind.MMS in types and not media:
        errors["media"] = ["Required for mms."]
    if "audio" in types and not any(is_audio(m) for m in media):
        errors["media"] = ["Required for audio: a recording (audio/* type, or an .mp3/.wav URL)."]
    if Kind.EMAIL in types and not attrs.get("subject", "").strip():
        errors["subject"] = ["Required for email."]
    if {*TEXT_KINDS, *CONTENT_KINDS} & set(types) and len(message) > SMS_MAX_CHARACTERS:
        errors["message"] = [f"At most {SMS_MAX_CHARACTERS} characters for a text."]
    if attrs.get("ivr") and not ({Kind.VOICE, AUDIO} & set(types)):
        errors["ivr"] = ["Only for voice or audio."]
    if errors:
        raise serializers.ValidationError(errors)
    check_text_fields(attrs)


class TemplateSerializer(ConnextModelSerializer):
    types = TypesField()
    groups = GroupNumbersField(required=False, help_text="Group numbers.")
    dnc = GroupNumbersField(required=False, help_text="Group numbers never sent to.")
    media = MediaSerializer(many=True, required=False, write_only=True, source="files", max_length=MAX_MEDIA)
    files = serializers.ListField(read_only=True, help_text="The template's media, as sent in `media`.")
    voiceFallback = IntBooleanField(source="voice_fallback", required=False)
    shortenLinks = IntBooleanField(source="shorten_links", required=False)
    subject = SingleLineCharField(required=False, allow_blank=True, max_length=255)

    class Meta:
        model = Template
        fields = [
            "id",
            "title",
            "types",
            "message",
            "subject",
            "voiceFallback",
            "groups",
            "dnc",
            "media",
            "files",
            "shortenLinks",
            "ivr",
        ]

    def validate_title(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("This field may not be blank.")
        return value.strip()

    def validate(self, attrs):
        check_text_fields(attrs)
        return attrs


# `where` and `segment`: who, besides (or instead of) groups; the same on blasts, schedules and the estimate.
def segment_field(**kwargs):
    return StrictIntegerField(
        min_value=1,
        required=False,
        help_text="A saved segment's id (GET /segments): its filter, as it is when the blast fans out.",
        **kwargs,
    )


GROUPS_HELP = (
    "Group numbers to send to (members of any of them). Give groups, where or segment, or several: "
    "the audience is who matches all of them."
)


class BlastSerializer(ConnextSerializer):
    types = TypesField()
    groups = serializers.ListField(child=StrictIntegerField(min_value=1), required=False, help_text=GROUPS_HELP)
    where = WhereField(required=False)
    segment = segment_field()
    contentSid = content_sid_field()
    contentVariables = content_variables_field()
    dnc = serializers.ListField(
        child=StrictIntegerField(min_value=1), required=False, help_text="Group numbers whose members are left out."
    )
    message = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=10000,
        help_text="Text; merge fields {first} {last} ... with fallbacks {first|there}.",
    )
    subject = SingleLineCharField(required=False, allow_blank=True, max_length=255, help_text="Email subject line.")
    media = MediaSerializer(many=True, required=False, max_length=MAX_MEDIA)
    ivr = IntBooleanField(required=False, help_text="Calls ask for a keypress, recorded on the delivery.")
    shortenLinks = IntBooleanField(source="shorten_links", required=False)
    voiceFallback = IntBooleanField(
        source="voice_fallback", required=False, help_text="Call the phones a text can't reach."
    )
    externalId = StrictCharField(
        source="external_id",
        required=False,
        max_length=255,
        help_text="Your unique id of this send: a repeat is a 409.",
    )

    def validate(self, attrs):
        check_content(attrs)
        return attrs


class TestBlastSerializer(BlastSerializer):
    groups = serializers.ListField(
        child=StrictIntegerField(min_value=1), required=False, help_text="Ignored: a test goes to you only."
    )
    externalId = None
    voiceFallback = None
    dnc = None
    where = None
    segment = None


class EstimateSerializer(ConnextSerializer):
    types = TypesField()
    groups = serializers.ListField(child=StrictIntegerField(min_value=1), required=False, help_text=GROUPS_HELP)
    where = WhereField(required=False)
    segment = segment_field()
    dnc = serializers.ListField(child=StrictIntegerField(min_value=1), required=False)
    message = StrictCharField(required=False, allow_blank=True, max_length=10000)
    hasMedia = IntBooleanField(source="has_media")
    voiceFallback = IntBooleanField(source="voice_fallback", required=False)

    def validate(self, attrs):
        check_text_fields(attrs)
        return attrs


class BlastResultSerializer(serializers.Serializer):
    message = serializers.CharField()
    id = serializers.IntegerField(help_text="The log (message) id: GET /logs/{id}.")
    recipients = serializers.IntegerField(help_text="Deliveries: one per recipient and channel.")


class EstimateResultSerializer(serializers.Serializer):
    recipients = serializers.DictField(child=serializers.IntegerField(), help_text="Per requested type.")
    totalRecipients = serializers.IntegerField()
    segments = serializers.IntegerField(help_text="SMS segments per text (merge fields count as their fallback).")
    encoding = serializers.ChoiceField(choices=["GSM-7", "UCS-2"])
    characters = serializers.IntegerField()
    cost = serializers.DictField(
        child=serializers.FloatField(), help_text="Per requested type; sms with media is priced as MMS."
    )
    total = serializers.FloatField()
    currency = serializers.CharField()
    rcsFallback = serializers.DictField(
        required=False,
        help_text="With rcs: {recipients, cost}: what the RCS recipients would cost more at most if every "
        "handset fell back to SMS (priced as SMS segments, on top of the RCS cost in `total`).",
    )
