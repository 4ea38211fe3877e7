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
from logs.models import TEXT_KINDS, Kind
from subscribers.serializers import GroupNumbersField

TYPES = (*Kind.values, AUDIO)  # sms mms voice email, and audio (a call playing the recording)
SMS_MAX_CHARACTERS = 1600  # Twilio's limit for one message body
MAX_MEDIA = 10  # Twilio's limit of media per MMS


class TypesField(serializers.ListField):
    child = serializers.ChoiceField(choices=TYPES)

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_empty", False)
        kwargs.setdefault("help_text", "Any of sms, mms, voice (text-to-speech), audio (a recording), email.")
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        return list(dict.fromkeys(super().to_internal_value(data)))  # once each, in order


class MediaSerializer(ConnextSerializer):
    url = HttpURLField(max_length=2048, help_text="http(s) URL of the file (image for MMS, audio for calls).")
    type = StrictCharField(max_length=100, required=False, help_text="MIME type, e.g. image/jpeg, audio/mpeg.")
    name = StrictCharField(max_length=255, required=False)


def check_text_fields(attrs: dict) -> None:
    """Merge fields name fields we have (a subject is one header line: SingleLineCharField)."""
    errors = {}
    for field in ("message", "subject"):
        unknown = rendering.unknown_fields(attrs.get(field, ""))
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
    if not message and any(t in types for t in (Kind.SMS, Kind.VOICE, Kind.EMAIL)):
        needs = ", ".join(t for t in types if t in (Kind.SMS, Kind.VOICE, Kind.EMAIL))
        errors["message"] = [f"Required for {needs}."]
    if Kind.MMS in types and not media and not message:
        errors["message"] = ["An mms needs a message or media."]
    if Kind.MMS in types and not media:
        errors["media"] = ["Required for mms."]
    if "audio" in types and not any(is_audio(m) for m in media):
        errors["media"] = ["Required for audio: a recording (audio/* type, or an .mp3/.wav URL)."]
    if Kind.EMAIL in types and not attrs.get("subject", "").strip():
        errors["subject"] = ["Required for email."]
    if set(TEXT_KINDS) & set(types) and len(message) > SMS_MAX_CHARACTERS:
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


class BlastSerializer(ConnextSerializer):
    types = TypesField()
    groups = serializers.ListField(
        child=StrictIntegerField(min_value=1), allow_empty=False, help_text="Group numbers to send to."
    )
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


class EstimateSerializer(ConnextSerializer):
    types = TypesField()
    groups = serializers.ListField(child=StrictIntegerField(min_value=1), allow_empty=False)
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
